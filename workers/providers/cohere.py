"""Cohere embed jobs through the official ``cohere`` SDK (datasets in, datasets out).

Embed jobs take no idempotency key, so the task id travels in the job's
``name``: ``submit`` lists the embed jobs first and carries on with the one
bearing that name, if an earlier attempt already made it.
"""

import email.utils
import json
import logging
import time

import cohere
import httpx
from cohere.core.api_error import ApiError
from cohere.core.parse_error import ParsingError
from cohere.environment import ClientEnvironment

from common.errors import (
    ProviderJobNotFound,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from common.states import TaskState
from workers.providers.base import Provider, ProviderCall, ResultSummary

log = logging.getLogger("batchpredict.provider.cohere")

#: The arguments ``embed_jobs.create`` takes; anything else in a rendered
#: request body is a connector mistake we name instead of passing on.
CREATE_ARGUMENTS = frozenset(
    {"model", "dataset_id", "input_type", "name", "embedding_types", "truncate"}
)
#: Prefix of the job name that carries the task id.
NAME_PREFIX = "bp-"
#: Statuses with 4xx codes that still mean "try again later".
_RETRYABLE_4XX = frozenset({408, 499})


def job_name(body: dict, task_id: str) -> str:
    """The embed job's name: the connector's own, if any, plus the task id."""
    given = body.get("name")
    return f"{given}-{NAME_PREFIX}{task_id}" if given else f"{NAME_PREFIX}{task_id}"


class CohereProvider(Provider):
    name = "cohere"
    status_field = "status"
    submit_calls = 3  # list (to find an earlier attempt's job), create, get
    listing_is_complete = True
    status_table = {
        "processing": TaskState.RUNNING,
        # Cohere spells it "complete", not "completed" (field case 3).
        "complete": TaskState.COMPLETED,
        "failed": TaskState.FAILED,
        "cancelling": TaskState.CANCELLING,
        "cancelled": TaskState.CANCELLED,
    }

    def submit(self, call: ProviderCall, task_id: str) -> dict:
        # The body is checked before any call: a bad connector costs nothing.
        arguments = _create_arguments(call.body)
        arguments["name"] = job_name(call.body, task_id)
        existing = self.find(call, task_id)
        if existing is not None:
            log.info(
                "Task %s: carrying on with cohere embed job %s",
                task_id,
                existing["job_id"],
            )
            return existing

        with self._client(call) as client:
            created = _calling(lambda: client.embed_jobs.create(**arguments))
            job = _calling(lambda: client.embed_jobs.get(created.job_id))
        log.info("Task %s: submitted to cohere as %s", task_id, created.job_id)
        return _as_dict(job)

    def find(self, call: ProviderCall, task_id: str) -> dict | None:
        wanted = job_name(call.body, task_id)
        with self._client(call) as client:
            listing = _calling(client.embed_jobs.list)
        for job in listing.embed_jobs or []:
            if job.name == wanted:
                return _as_dict(job)
        return None

    def list_jobs(self, call, remote_jobs, spend) -> dict[str, dict]:
        # Cohere lists every embed job in one answer, with no paging.
        wanted = {_job_id(job) for job in remote_jobs}
        if not spend():
            return {}
        with self._client(call) as client:
            listing = _calling(client.embed_jobs.list)
        return {
            job.job_id: _as_dict(job)
            for job in listing.embed_jobs or []
            if job.job_id in wanted
        }

    def describe(self, call: ProviderCall, remote_job: dict) -> dict:
        job_id = _job_id(remote_job)
        with self._client(call) as client:
            job = _calling(lambda: client.embed_jobs.get(job_id), job_id=job_id)
        return _as_dict(job)

    def cancel(self, call: ProviderCall, remote_job: dict) -> dict:
        # The SDK returns None for the empty 200; the next refresh reads the
        # job's "cancelling" or "cancelled".
        job_id = _job_id(remote_job)
        with self._client(call) as client:
            _calling(lambda: client.embed_jobs.cancel(job_id), job_id=job_id)
        log.info("Cohere embed job %s: cancel asked", job_id)
        return {}

    def summarize(self, remote_job: dict) -> ResultSummary:
        # Embed jobs report no per-record counts; an empty id means no output.
        return ResultSummary(
            output_location=remote_job.get("output_dataset_id") or None
        )

    def remote_id(self, remote_job: dict) -> str | None:
        return remote_job.get("job_id") or None

    def error_of(self, remote_job: dict) -> str | None:
        if remote_job.get(self.status_field) != "failed":
            return None
        warnings = (remote_job.get("meta") or {}).get("warnings") or []
        reason = "; ".join(warnings) if warnings else "Cohere gave no reason"
        return f"Cohere embed job {remote_job.get('job_id')} failed: {reason}"

    def _client(self, call: ProviderCall) -> cohere.ClientV2:
        # base_url is always explicit: the SDK's default is CO_API_URL as it was
        # when cohere.client was first imported.
        base_url = (
            self.settings.provider_endpoint("cohere")
            or ClientEnvironment.PRODUCTION.value
        )
        return cohere.ClientV2(
            api_key=_api_key(call),
            base_url=base_url,
            timeout=self.settings.provider_timeout_s,
            max_retries=0,  # the worker retries with its own backoff
        )


def _api_key(call: ProviderCall) -> str:
    """The key from the credential, else the connector's bearer header.

    Never None: the SDK would fall back to CO_API_KEY from the environment.
    """
    key = call.credential.get("cohere_key") or call.credential.get("api_key")
    if key:
        return key
    for header, value in call.headers.items():
        if header.lower() == "authorization" and value.lower().startswith("bearer "):
            token = value[len("bearer ") :].strip()
            if token:
                return token
    raise ProviderRejected(
        "no Cohere API key: set credential.cohere_key (or credential.api_key) "
        "or an 'Authorization: Bearer ...' header on the connector action",
        "cohere",
    )


def _create_arguments(body: dict) -> dict:
    unknown = sorted(set(body) - CREATE_ARGUMENTS)
    if unknown:
        raise ProviderRejected(
            f"the request body holds {', '.join(unknown)}, which embed_jobs.create "
            f"does not take; allowed: {', '.join(sorted(CREATE_ARGUMENTS))}",
            "cohere",
        )
    return {k: v for k, v in body.items() if k != "name"}


def _job_id(remote_job: dict) -> str:
    job_id = remote_job.get("job_id")
    if not job_id:
        raise ProviderJobNotFound("the remote job has no job_id", "cohere")
    return job_id


def _as_dict(model) -> dict:
    """The SDK object as JSON-safe data, datetimes as the API's ISO strings."""
    return json.loads(model.json())


# --- errors ---------------------------------------------------------------


def _calling(operation, job_id: str | None = None):
    """Run one SDK call and turn its failures into batchpredict's errors.

    ``job_id`` is set for calls about one job, where a 404 means that job is
    unknown; on create a 404 is about the dataset, a plain rejection.
    """
    try:
        return operation()
    except ApiError as exc:
        raise classify(exc, job_id) from exc
    except ParsingError as exc:
        raise ProviderUnavailable(
            f"Cohere answered HTTP {exc.status_code} with a body the SDK could "
            f"not read",
            "cohere",
        ) from exc
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(
            f"Cohere did not answer in time: {type(exc).__name__}", "cohere"
        ) from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(
            f"Cohere could not be reached: {type(exc).__name__}: {exc}", "cohere"
        ) from exc


def classify(exc: ApiError, job_id: str | None = None):
    """The batchpredict error for an SDK ``ApiError``."""
    status = exc.status_code
    message = _message(exc)
    code = str(status) if status is not None else None
    if status == 429:
        retry_after_s = retry_after(exc.headers or {})
        return ProviderThrottled(
            f"Cohere throttled the call: {message}", "cohere", code, retry_after_s
        )
    if status is None or status >= 500 or status in _RETRYABLE_4XX:
        return ProviderUnavailable(f"Cohere failed: {message}", "cohere", code)
    if status == 404 and job_id is not None:
        return ProviderJobNotFound(
            f"Cohere has no embed job {job_id}: {message}", "cohere", code
        )
    return ProviderRejected(f"Cohere refused the call: {message}", "cohere", code)


def _message(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return f"HTTP {exc.status_code} without a message"


def retry_after(headers: dict) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or a date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        if "retry-after" in lowered:
            return max(0.0, float(lowered["retry-after"]))
    except ValueError:
        pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


ADAPTER = CohereProvider
