"""The Celery tasks: thin wrappers that hand a task id to ``lifecycle``."""

import logging
import threading

from celery.signals import worker_process_init

from common.errors import TaskNotFound
from common.settings import Settings
from workers import lifecycle
from workers.celery_app import app

log = logging.getLogger("batchpredict.worker")

_runtime: lifecycle.Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> lifecycle.Runtime:
    """One Runtime per process, made after the fork (Redis clients and SDK
    clients must not cross a fork)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = lifecycle.Runtime.from_settings(Settings.from_env())
        return _runtime


@worker_process_init.connect
def _reset_after_fork(**_):
    global _runtime
    _runtime = None


_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
}


@app.task(name="batchpredict.submit", **_TASK_OPTIONS)
def submit(task_id: str) -> None:
    try:
        lifecycle.submit(runtime(), task_id)
    except TaskNotFound:
        log.info("Task %s: gone (deleted or expired); nothing to submit", task_id)


@app.task(name="batchpredict.refresh", **_TASK_OPTIONS)
def refresh(task_id: str) -> None:
    try:
        lifecycle.refresh(runtime(), task_id)
    except TaskNotFound:
        log.info("Task %s: gone (deleted or expired); nothing to refresh", task_id)


@app.task(name="batchpredict.cancel", **_TASK_OPTIONS)
def cancel(task_id: str) -> None:
    try:
        lifecycle.cancel(runtime(), task_id)
    except TaskNotFound:
        log.info("Task %s: gone (deleted or expired); nothing to cancel", task_id)


@app.task(name="batchpredict.sweep", ignore_result=True)
def sweep() -> int:
    """Hand out every task due for a visit: CREATED ones to submit, the
    others to refresh. Returns how many were handed out."""
    rt = runtime()
    lease_ms = int(rt.settings.lease_s * 1000)
    due = rt.store.claim_due(rt.settings.sweep_batch_size, lease_ms)
    for task_id, state in due:
        (submit if state == "CREATED" else refresh).delay(task_id)
    if due:
        log.info("Sweep: handed out %d tasks", len(due))
    return len(due)
