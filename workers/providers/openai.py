"""OpenAI Batch API through the official ``openai`` SDK.

The task id travels in the batch's ``metadata``: OpenAI has no idempotency
key, so a retried submit lists recent batches and adopts the one whose
metadata names its task.
"""

import functools
import logging

import openai

from common.errors import (
    ProviderError,
    ProviderJobNotFound,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from common.states import TaskState
from workers.providers.base import TASK_ID_TAG, Provider, ProviderCall, ResultSummary

log = logging.getLogger("batchpredict.provider.openai")

#: How many recent batches a retried submit looks through for its own.
_FIND_LIMIT = 1000
_CREATE_ARGS = (
    "input_file_id",
    "endpoint",
    "completion_window",
    "metadata",
    "output_expires_after",
)


class OpenAIProvider(Provider):
    name = "openai"
    status_field = "status"
    listing_is_complete = True
    # https://platform.openai.com/docs/api-reference/batch/object
    status_table = {
        "validating": TaskState.RUNNING,
        "in_progress": TaskState.RUNNING,
        "finalizing": TaskState.RUNNING,
        "completed": TaskState.COMPLETED,
        "failed": TaskState.FAILED,
        "expired": TaskState.EXPIRED,
        "cancelling": TaskState.CANCELLING,
        "cancelled": TaskState.CANCELLED,
    }

    def _client(self, call: ProviderCall) -> openai.OpenAI:
        return _client(
            _api_key(call),
            self.settings.provider_endpoint("openai"),
            self.settings.provider_timeout_s,
        )

    def submit(self, call: ProviderCall, task_id: str) -> dict:
        body = dict(call.body)
        metadata = dict(body.get("metadata") or {})
        metadata[TASK_ID_TAG] = task_id
        body["metadata"] = metadata
        known = {k: v for k, v in body.items() if k in _CREATE_ARGS}
        extra = {k: v for k, v in body.items() if k not in _CREATE_ARGS}
        with _errors():
            batch = self._client(call).batches.create(**known, extra_body=extra or None)
        return batch.model_dump(mode="json")

    def find(self, call: ProviderCall, task_id: str) -> dict | None:
        with _errors():
            for seen, batch in enumerate(self._client(call).batches.list(limit=100)):
                if (batch.metadata or {}).get(TASK_ID_TAG) == task_id:
                    return batch.model_dump(mode="json")
                if seen >= _FIND_LIMIT:
                    break
        return None

    def list_jobs(self, call, remote_jobs, spend) -> dict[str, dict]:
        wanted = {job["id"] for job in remote_jobs if job.get("id")}
        oldest = min((job.get("created_at") or 0) for job in remote_jobs)
        client, found, cursor = self._client(call), {}, {}
        with _errors():
            while wanted - found.keys():
                if not spend():
                    break
                page = client.batches.list(limit=100, **cursor)
                for batch in page.data:
                    if batch.id in wanted:
                        found[batch.id] = batch.model_dump(mode="json")
                # Newest first: past the oldest wanted job nothing more is ours.
                if not page.has_more or not page.data:
                    break
                if page.data[-1].created_at < oldest:
                    break
                cursor = {"after": page.data[-1].id}
        return found

    def describe(self, call: ProviderCall, remote_job: dict) -> dict:
        with _errors():
            batch = self._client(call).batches.retrieve(remote_job["id"])
        return batch.model_dump(mode="json")

    def cancel(self, call: ProviderCall, remote_job: dict) -> dict:
        with _errors():
            batch = self._client(call).batches.cancel(remote_job["id"])
        return batch.model_dump(mode="json")

    def state_of(self, remote_job: dict) -> TaskState:
        state = super().state_of(remote_job)
        counts = remote_job.get("request_counts") or {}
        if state == TaskState.COMPLETED and counts.get("failed"):
            return TaskState.COMPLETED_WITH_ERROR
        return state

    def summarize(self, remote_job: dict) -> ResultSummary:
        counts = remote_job.get("request_counts") or {}
        return ResultSummary(
            # An empty string means "no file", exactly like null.
            output_location=remote_job.get("output_file_id") or None,
            error_location=remote_job.get("error_file_id") or None,
            total=counts.get("total"),
            succeeded=counts.get("completed"),
            failed=counts.get("failed"),
        )

    def error_of(self, remote_job: dict) -> str | None:
        errors = (remote_job.get("errors") or {}).get("data") or []
        if errors:
            return "; ".join(_describe_error(e) for e in errors)
        counts = remote_job.get("request_counts") or {}
        if counts.get("failed"):
            where = remote_job.get("error_file_id") or "no error file"
            return (
                f"{counts['failed']} of {counts.get('total')} requests failed "
                f"(status {remote_job.get('status')}; errors in {where})"
            )
        return None

    def remote_id(self, remote_job: dict) -> str | None:
        return remote_job.get("id")


@functools.lru_cache(maxsize=64)
def _client(api_key: str, base_url: str | None, timeout_s: float) -> openai.OpenAI:
    # A client holds a connection pool; making one per call costs more than
    # the call. Clients are thread-safe, one per key and endpoint is enough.
    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,  # the worker backs off and retries on its schedule
        timeout=timeout_s,
    )


def _describe_error(error: dict) -> str:
    line = f" at line {error['line']}" if error.get("line") is not None else ""
    return f"{error.get('code') or 'error'}{line}: {error.get('message') or ''}".strip()


def _api_key(call: ProviderCall) -> str:
    """The key from the rendered Authorization header, as the blueprint sends
    it, else from the credential."""
    header = call.headers.get("Authorization") or call.headers.get("authorization")
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    for name in ("openAI_key", "openai_key", "api_key"):
        if call.credential.get(name):
            return call.credential[name]
    raise ProviderRejected(
        "the connector gives no OpenAI key: set credential.openAI_key and an "
        "Authorization: Bearer ${credential.openAI_key} header",
        "openai",
    )


class _errors:
    """Translate the SDK's exceptions into batchpredict's provider errors."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, openai.OpenAIError):
            return False
        raise _translate(exc) from exc


def _translate(exc: openai.OpenAIError) -> ProviderError:
    if isinstance(exc, openai.RateLimitError):
        return ProviderThrottled(
            _message(exc),
            "openai",
            _code(exc),
            retry_after_s=_retry_after(exc.response),
        )
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return ProviderUnavailable(str(exc) or type(exc).__name__, "openai")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            return ProviderUnavailable(_message(exc), "openai", _code(exc))
        if exc.status_code == 404:
            return ProviderJobNotFound(_message(exc), "openai", _code(exc))
        return ProviderRejected(_message(exc), "openai", _code(exc))
    return ProviderRejected(str(exc), "openai")


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    return body.get("message") or exc.message


def _code(exc) -> str | None:
    return getattr(exc, "code", None)


def _retry_after(response) -> float | None:
    headers = response.headers
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


ADAPTER = OpenAIProvider
