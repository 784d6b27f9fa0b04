"""The Celery tasks: thin wrappers that hand a task id to ``lifecycle``."""

import logging
import threading

from celery.signals import worker_process_init

import workers.logs  # noqa: F401 -- connects logging and per-task log lines
from common.errors import TaskNotFound
from common.settings import Settings
from workers import lifecycle, list_refresh
from workers.celery_app import app
from workers.runtime import Runtime

log = logging.getLogger("batchpredict.worker")

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """One Runtime per process, made after the fork (Redis clients and SDK
    clients must not cross a fork)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime.from_settings(Settings.from_env())
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


@app.task(name="batchpredict.refresh_many", **_TASK_OPTIONS)
def refresh_many(task_ids: list[str]) -> None:
    list_refresh.refresh_many(runtime(), task_ids)


@app.task(name="batchpredict.sweep", ignore_result=True)
def sweep() -> int:
    """Hand out every task due for a visit: CREATED ones to submit, groups
    of one connector's running tasks to one list refresh, the rest to
    refresh one by one. Returns how many tasks were handed out."""
    rt = runtime()
    lease_ms = int(rt.settings.lease_s * 1000)
    purged = rt.store.purge_expired(rt.settings.sweep_batch_size)
    if purged:
        log.info("Sweep: dropped %d finished tasks past their retention", purged)
    due = rt.store.claim_due(rt.settings.sweep_batch_size, lease_ms)
    if not due:
        return 0
    singles, groups = plan_sweep(rt, due)
    for name, task_id in singles:
        (submit if name == "submit" else refresh).delay(task_id)
    for group in groups:
        refresh_many.delay(group)
    log.info(
        "Sweep: handed out %d tasks (%d in %d list refreshes)",
        len(due),
        sum(map(len, groups)),
        len(groups),
    )
    return len(due)


_GROUP_FIELDS = ["provider", "model_id", "_connector_id", "_remote_id"]
# One listing answers for every job of a connector, so a connector's due
# tasks go in one group: splitting them would list the same pages again.
_LIST_CHUNK = 10_000


def plan_sweep(rt: Runtime, due: list[tuple[str, str]]):
    """Split due tasks into single steps and list-refresh groups."""
    singles, by_connector = [], {}
    running = [(i, s) for i, s in due if s != "CREATED"]
    fields = rt.store.task_fields([i for i, _ in running], _GROUP_FIELDS)
    for task_id, state in due:
        if state == "CREATED":
            singles.append(("submit", task_id))
    for (task_id, _), row in zip(running, fields, strict=True):
        if not row.get("_remote_id"):
            singles.append(("refresh", task_id))
            continue
        owner = row.get("_connector_id") or f"model:{row.get('model_id')}"
        by_connector.setdefault((row.get("provider"), owner), []).append(task_id)
    groups = []
    for ids in by_connector.values():
        if len(ids) < rt.settings.list_refresh_min_tasks:
            singles.extend(("refresh", task_id) for task_id in ids)
            continue
        groups.extend(ids[i : i + _LIST_CHUNK] for i in range(0, len(ids), _LIST_CHUNK))
    return singles, groups
