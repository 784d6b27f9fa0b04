"""Refreshing many tasks of one connector with one provider list call."""

import logging
import time

from common.errors import BatchPredictError, BudgetExhausted, ProviderError
from common.states import TaskState
from common.store import now_ms
from common.tasks import refresh_delay_s
from workers.lifecycle import (
    apply_job,
    budget_time_ms,
    merge_job,
    refresh,
    revisit,
)
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
    listing = _Listing(rt, provider.name, cap=max(1, len(listable) // 2))
    try:
        found = provider.list_jobs(
            call, [t["remote_job"] for t in listable], listing.spend
        )
        rt.counters.incr("list_refreshes", provider.name)
    except ProviderError as exc:
        log.warning(
            "List refresh of %d %s tasks failed (%s); refreshing each",
            len(listable),
            provider.name,
            exc,
        )
        rt.count_error(provider.name, exc)
        found, listing.budget_out = {}, None
    # The group keeps one visit time, so it stays one group: split up, every
    # part would page through the same listing again.
    next_ms = now_ms() + int(_group_delay_s(rt, listable) * 1000)
    retry_ms = budget_time_ms(listing.budget_out) if listing.budget_out else 0
    for task in listable:
        job = found.get(task["_remote_id"])
        if job is not None and not _needs_describe(provider, task, job):
            apply_job(rt, task, provider, job, task["state"], call, next_ms)
        elif job is None and listing.budget_out is not None:
            # The budget ran out before the listing reached this job: the
            # group tries again together when the calls are there.
            revisit(rt, task, task["state"], retry_ms)
        else:
            refresh(rt, task["task_id"])


class _Listing:
    """Counts a listing's pages against its cap and the call budget."""

    def __init__(self, rt: Runtime, provider: str, cap: int):
        self.rt, self.provider, self.cap = rt, provider, cap
        self.pages = 0
        self.budget_out: BudgetExhausted | None = None

    def spend(self) -> bool:
        # A listing is worth it only while it costs fewer calls than
        # describing each job would (past the cap, the jobs it has not
        # reached are described), and only while the budget lasts.
        if self.pages >= self.cap:
            return False
        try:
            self.rt.spend(self.provider)
        except BudgetExhausted as exc:
            self.budget_out = exc
            return False
        self.pages += 1
        return True


def _group_delay_s(rt: Runtime, tasks: list[dict]) -> float:
    """The youngest job sets the pace: it needs the closest look."""
    youngest = max(t["create_time"] for t in tasks)
    return refresh_delay_s(time.time() - youngest / 1000, rt.settings)


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
