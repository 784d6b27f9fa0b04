"""Worker and beat logging: ``common.logs``' handler in place of Celery's, and
one line per finished Celery task carrying the batchpredict task id.

Importing this module connects the signal handlers; ``workers.tasks`` imports
it so every worker and beat process has them before Celery sets up logging.
"""

import logging
import sys
import time

from celery.signals import setup_logging, task_failure, task_postrun, task_prerun

from common import logs

log = logging.getLogger("batchpredict.worker")

# Per Celery task id, filled by prerun and failure, emptied by postrun. The
# thread pool runs tasks concurrently; each id is touched by one thread only.
_started: dict[str, float] = {}
_errors: dict[str, str] = {}


@setup_logging.connect
def _configure(loglevel=None, **_) -> None:
    # A connected receiver stops Celery from installing its own handlers.
    component = "beat" if "beat" in sys.argv else "worker"
    logs.configure(component, level=loglevel)
    # Celery's own "received" and "succeeded" lines say again what the one
    # line per finished task below says.
    for name in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(name).setLevel(logging.WARNING)


@task_prerun.connect
def _task_started(task_id: str | None = None, **_) -> None:
    _started[task_id] = time.perf_counter()


@task_failure.connect
def _task_failed(task_id: str | None = None, exception=None, **_) -> None:
    _errors[task_id] = type(exception).__name__


@task_postrun.connect
def _task_finished(
    task_id=None, task=None, args=None, state=None, retval=None, **_
) -> None:
    started = _started.pop(task_id, None)
    if task is not None and task.name == "batchpredict.sweep" and retval == 0:
        # A sweep that handed nothing out runs every few seconds for ever:
        # at INFO it would bury every other line.
        _errors.pop(task_id, None)
        return
    duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    error = _errors.pop(task_id, None)
    subject = args[0] if args and isinstance(args[0], str) else None
    log.info(
        "Celery task %s %s: %s in %.1f ms, task %s, error %s",
        task.name if task else "?",
        task_id,
        state,
        duration_ms,
        subject or "-",
        error or "-",
        extra={
            "celery_task": task.name if task else None,
            "celery_task_id": task_id,
            "state": state,
            "duration_ms": round(duration_ms, 3),
            "task_id": subject,
            "error": error,
        },
    )
