"""Refreshing many tasks of one connector with one provider list call."""

import logging

from common.errors import BatchPredictError, BudgetExhausted, ProviderError
from common.states import TaskState
from workers.lifecycle import apply_job, merge_job, refresh, wait_for_budget
from workers.providers.base import Provider, UnknownStatus
from workers.runtime import Runtime

log = logging.getLogger("batchpredict.worker")


def refresh_many(rt: Runtime, task_ids: list[str]) -> None:
    """Refresh tasks of one connector with the provider's list call.

    One listing answers for many jobs; a job the listing does not show, or
    a task that needs more than a status (a cancel to send), is refreshed on
    its own.
    """
    tasks = [t for t in rt.store.get_tasks(task_ids) if t is not None]
    listable = [t for t in tasks if _listable(t)]
    for task in tasks:
        if not _listable(task):
            refresh(rt, task["task_id"])
    if not listable:
        return
    try:
        provider, call = rt.call_for(listable[0])
    except BatchPredictError:
        for task in listable:
            refresh(rt, task["task_id"])  # each fails with its own error
        return
    pages = []

    def spend() -> bool:
        # A listing is worth it only while it costs fewer calls than
        # describing each job would.
        if len(pages) >= max(1, len(listable) // 2):
            return False
        rt.spend(provider.name)
        pages.append(1)
        return True

    try:
        found = provider.list_jobs(call, [t["remote_job"] for t in listable], spend)
        rt.counters.incr("list_refreshes", provider.name)
    except BudgetExhausted as exc:
        for task in listable:
            wait_for_budget(rt, task, task["state"], exc)
        return
    except ProviderError as exc:
        log.warning(
            "List refresh of %d %s tasks failed (%s); refreshing each",
            len(listable),
            provider.name,
            exc,
        )
        rt.count_error(provider.name, exc)
        found = {}
    for task in listable:
        job = found.get(task["_remote_id"])
        if job is None or _needs_describe(provider, task, job):
            refresh(rt, task["task_id"])
        else:
            apply_job(rt, task, provider, job, task["state"], call)


def _listable(task: dict) -> bool:
    if not task.get("_remote_id"):
        return False
    if task["state"] == TaskState.CANCELLING:
        return bool(task.get("_cancel_sent"))
    return task["state"] == TaskState.RUNNING


def _needs_describe(provider: Provider, task: dict, job: dict) -> bool:
    """A listing without every detail is enough while nothing changes; once
    the job reaches a new state its full object is read."""
    if provider.listing_is_complete:
        return False
    try:
        new_state = provider.state_of(merge_job(task["remote_job"], job))
    except UnknownStatus:
        return True
    return new_state != task["state"]
