"""The one interface every provider adapter implements.

An adapter turns a rendered connector action into official-SDK calls and the
provider's answers into task states. It never touches Redis or Celery: the
worker owns the task record, the adapter owns the conversation with the
provider.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from common.errors import ProviderError
from common.settings import Settings
from common.states import TaskState

#: The metadata key or tag under which a task id travels to the provider, so
#: a retried submit can find the job it already made.
TASK_ID_TAG = "batchpredict_task_id"


@dataclass(frozen=True)
class ProviderCall:
    """A connector's ``batch_predict`` action rendered for one task.

    ``body`` is the rendered request body parsed as JSON: it becomes the
    arguments of the SDK's create call. ``credential`` is decrypted and must
    never be logged or stored.
    """

    url: str
    method: str
    body: dict
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    credential: dict[str, str] = field(default_factory=dict, repr=False)
    parameters: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ResultSummary:
    """Where a finished job's results are and how many records made it.

    Locations are provider ids or URIs (an OpenAI file id, an S3 prefix, a
    Cohere dataset id); None where the provider reports none. Counts are None
    where the provider does not report them.
    """

    output_location: str | None = None
    error_location: str | None = None
    total: int | None = None
    succeeded: int | None = None
    failed: int | None = None

    def as_dict(self) -> dict:
        return {
            "output_location": self.output_location,
            "error_location": self.error_location,
            "request_counts": {
                "total": self.total,
                "succeeded": self.succeeded,
                "failed": self.failed,
            },
        }


class UnknownStatus(ProviderError):
    """The provider reported a status missing from the adapter's table."""


class Provider(ABC):
    """One provider's batch API, spoken through its official SDK."""

    #: Short name used in settings, metrics and logs: "openai", "sagemaker"...
    name: str
    #: The field of the provider's job object that holds its status.
    status_field: str
    #: Every status the provider documents, mapped to a task state.
    status_table: dict[str, TaskState]

    #: Provider calls one submit makes, for the shared call budget.
    submit_calls: int = 1
    #: Whether a job object from the list call holds everything describe
    #: returns; when not, a job the listing shows finished is described once.
    listing_is_complete: bool = False

    def __init__(self, settings: Settings):
        self.settings = settings

    def list_jobs(
        self, call: ProviderCall, remote_jobs: list[dict], spend: Callable[[], bool]
    ) -> dict[str, dict]:
        """Find many jobs with the provider's list call: ``{remote_id: job}``.

        ``spend()`` is called before each page: False means stop listing and
        answer with what was found (the listing would cost more than it
        saves); it raises when the call budget is out. Jobs the listing does
        not show are missing from the answer; the caller describes them.
        """
        return {}

    @abstractmethod
    def submit(self, call: ProviderCall, task_id: str) -> dict:
        """Create the provider job for ``task_id`` and return its job object.

        The task id travels as the provider's idempotency key (or in the job's
        metadata, name or tags), so a second call for the same task returns
        the job the first one made instead of making another.
        """

    @abstractmethod
    def find(self, call: ProviderCall, task_id: str) -> dict | None:
        """Return the job already made for ``task_id``, or None."""

    @abstractmethod
    def describe(self, call: ProviderCall, remote_job: dict) -> dict:
        """Return the provider's current job object for ``remote_job``."""

    @abstractmethod
    def cancel(self, call: ProviderCall, remote_job: dict) -> dict:
        """Ask the provider to stop the job; return what it answered."""

    @abstractmethod
    def summarize(self, remote_job: dict) -> ResultSummary:
        """Say where the job's results are and how many records succeeded."""

    def state_of(self, remote_job: dict) -> TaskState:
        """Map the job's status through the table; never guess."""
        status = remote_job.get(self.status_field)
        try:
            return self.status_table[status]
        except KeyError:
            raise UnknownStatus(
                f"{self.name} reported status {status!r}, which is not in its "
                f"status table ({', '.join(self.status_table)})",
                self.name,
            ) from None

    def error_of(self, remote_job: dict) -> str | None:
        """The provider's own words on why the job failed, if it gave any."""
        return None

    def remote_id(self, remote_job: dict) -> str | None:
        """The provider's id for the job, once it has one."""
        return None
