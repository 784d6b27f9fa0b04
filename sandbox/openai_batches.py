"""OpenAI batches: their records and how they move through their statuses.

A batch's timeline is fixed when it is created (the phase durations are read
from the clock then) and its status is worked out lazily whenever it is read
or listed. The timestamps it reports are the moments its phases ended, not
the moments somebody happened to look.
"""

import threading
import time
from dataclasses import dataclass, field

from sandbox import openai_jsonl
from sandbox.openai_files import FileStore
from sandbox.openai_wire import ApiError, cursor_page, invalid, new_id, not_found

#: Statuses a batch never leaves.
TERMINAL = ("completed", "failed", "expired", "cancelled")

#: Statuses ``cancel`` moves to ``cancelling``.
CANCELLABLE = ("validating", "in_progress", "finalizing")

#: ``completion_window`` is always 24 hours; ``expires_at`` is that far out.
COMPLETION_WINDOW_S = 24 * 3600

PHASES = ("validating", "in_progress", "finalizing")

#: The statuses whose start a batch reports as ``<status>_at``.
STAMPED = (
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
)


@dataclass(frozen=True)
class Outcome:
    """How a batch is told to end: ``fail``, ``expire`` or ``partial``."""

    kind: str
    succeed: int = 0
    code: str = ""
    message: str = ""


@dataclass
class Batch:
    id: str
    seq: int
    endpoint: str
    input_file_id: str
    metadata: dict | None
    output_expires_after_s: int | None
    created_s: float
    phases_s: dict[str, float]
    outcome: Outcome | None = None
    status: str = "validating"
    stamps_s: dict[str, float] = field(default_factory=dict)
    errors: list[dict] | None = None
    requests: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "completed": 0, "failed": 0}
    )
    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    cancel_s: float = 0.0

    def to_json(self) -> dict:
        # Result files show only once the batch has ended, as OpenAI does.
        ended = self.status in TERMINAL
        stamps = {
            f"{name}_at": int(self.stamps_s[name]) if name in self.stamps_s else None
            for name in STAMPED
        }
        total_tokens = self.input_tokens + self.output_tokens
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id if ended else None,
            "error_file_id": self.error_file_id if ended else None,
            "created_at": int(self.created_s),
            "expires_at": int(self.created_s) + COMPLETION_WINDOW_S,
            **stamps,
            "request_counts": dict(self.counts),
            "usage": {
                "input_tokens": self.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": self.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": total_tokens,
            },
            "metadata": self.metadata,
        }


class BatchBook:
    """Every batch, advanced on the wall clock under one lock."""

    def __init__(self, files: FileStore, clock):
        self._files = files
        self._clock = clock
        self._batches: dict[str, Batch] = {}
        self._lock = threading.RLock()
        self._seq = 0

    def create(
        self,
        endpoint: str,
        input_file_id: str,
        metadata: dict | None,
        output_expires_after_s: int | None,
        outcome: Outcome | None,
    ) -> dict:
        phases_s = {phase: self._clock.duration("openai", phase) for phase in PHASES}
        with self._lock:
            self._seq += 1
            batch = Batch(
                id=new_id("batch_"),
                seq=self._seq,
                endpoint=endpoint,
                input_file_id=input_file_id,
                metadata=metadata,
                output_expires_after_s=output_expires_after_s,
                created_s=time.time(),
                phases_s=phases_s,
                outcome=outcome,
            )
            self._batches[batch.id] = batch
            return batch.to_json()

    def get(self, batch_id: str) -> dict:
        with self._lock:
            batch = self._find(batch_id)
            self._advance(batch, time.time())
            return batch.to_json()

    def cancel(self, batch_id: str) -> dict:
        with self._lock:
            batch = self._find(batch_id)
            now = time.time()
            self._advance(batch, now)
            if batch.status in CANCELLABLE:
                batch.status = "cancelling"
                batch.stamps_s["cancelling"] = now
                batch.cancel_s = self._clock.duration("openai", "finalizing")
            elif batch.status != "cancelling":
                # Never 409: the SDK would resend the cancel twice.
                raise invalid(
                    f"Cannot cancel a batch with status '{batch.status}'.", None
                )
            return batch.to_json()

    def page(self, after: str | None, limit: int) -> tuple[list[dict], bool]:
        with self._lock:
            newest_first = sorted(
                self._batches.values(), key=lambda b: b.seq, reverse=True
            )
            page, has_more = cursor_page(newest_first, after, limit)
            now = time.time()
            for batch in page:
                self._advance(batch, now)
            return [batch.to_json() for batch in page], has_more

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()

    def _find(self, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise not_found("Batch", batch_id)
        return batch

    def _advance(self, batch: Batch, now: float) -> None:
        if batch.status == "cancelling":
            cancelled_s = batch.stamps_s["cancelling"] + batch.cancel_s
            if now >= cancelled_s:
                batch.status = "cancelled"
                batch.stamps_s["cancelled"] = cancelled_s
            return
        if batch.status == "validating":
            self._leave_validating(batch, now)
        if batch.status == "in_progress":
            self._leave_in_progress(batch, now)
        if batch.status == "finalizing":
            ends_s = batch.stamps_s["finalizing"] + batch.phases_s["finalizing"]
            if now >= ends_s:
                batch.status = "completed"
                batch.stamps_s["completed"] = ends_s

    def _leave_validating(self, batch: Batch, now: float) -> None:
        ends_s = batch.created_s + batch.phases_s["validating"]
        if now < ends_s:
            return
        requests, errors = self._validate(batch)
        if not errors and batch.outcome and batch.outcome.kind == "fail":
            errors = [_told_to_fail(batch.outcome, requests)]
        if errors:
            batch.status = "failed"
            batch.stamps_s["failed"] = ends_s
            batch.errors = errors
            return
        batch.requests = requests
        batch.counts["total"] = len(requests)
        model = requests[0]["body"].get("model")
        batch.model = model if isinstance(model, str) else None
        batch.status = "in_progress"
        batch.stamps_s["in_progress"] = ends_s

    def _validate(self, batch: Batch) -> tuple[list[dict], list[dict]]:
        try:
            data = self._files.content(batch.input_file_id)
        except (ApiError, OSError):
            message = f"The input file {batch.input_file_id} no longer exists."
            error = {"code": "file_not_found", "line": None, "message": message}
            return [], [{**error, "param": "input_file_id"}]
        return openai_jsonl.validate(data, batch.endpoint)

    def _leave_in_progress(self, batch: Batch, now: float) -> None:
        # An expiring batch runs out its whole window before it ends, which
        # is when it would otherwise have completed.
        expires = batch.outcome is not None and batch.outcome.kind == "expire"
        ends_s = batch.stamps_s["in_progress"] + batch.phases_s["in_progress"]
        if expires:
            ends_s += batch.phases_s["finalizing"]
        if now < ends_s:
            return
        self._run(batch, int(ends_s))
        batch.status = "expired" if expires else "finalizing"
        batch.stamps_s[batch.status] = ends_s

    def _run(self, batch: Batch, created_at: int) -> None:
        """Compute every request once and write the output and error files."""
        outcome = batch.outcome
        results = openai_jsonl.run(
            batch.requests,
            batch.endpoint,
            created_at,
            outcome.kind if outcome else None,
            outcome.succeed if outcome else 0,
        )
        batch.output_file_id = self._write(
            batch, "output", results.output_lines, created_at
        )
        batch.error_file_id = self._write(
            batch, "error", results.error_lines, created_at
        )
        batch.counts["completed"] = len(results.output_lines)
        batch.counts["failed"] = len(results.error_lines)
        batch.input_tokens = results.input_tokens
        batch.output_tokens = results.output_tokens
        batch.requests = []

    def _write(
        self, batch: Batch, kind: str, lines: list[dict], created_at: int
    ) -> str | None:
        if not lines:
            return None
        stored = self._files.add(
            openai_jsonl.encode(lines),
            f"{batch.id}_{kind}.jsonl",
            "batch_output",
            expires_after_s=batch.output_expires_after_s,
            created_at=created_at,
        )
        return stored.id


def _told_to_fail(outcome: Outcome, requests: list[dict]) -> dict:
    model = requests[0]["body"].get("model", "the model") if requests else "the model"
    message = outcome.message or (
        f"Enqueued token limit reached for {model} in organization org-sandbox. "
        "Please try again once some in_progress batches have been completed."
    )
    code = outcome.code or "token_limit_exceeded"
    return {"code": code, "line": None, "message": message, "param": None}
