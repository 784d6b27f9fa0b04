"""What the worker does for a task: submit it, refresh it, cancel it.

Each step reads the task, makes at most one or two provider calls, and writes
the outcome with a compare-and-set on the state it read, so a step that lost
a race (a cancel arrived, another worker got there first) changes nothing.
"""

import logging
import random
import socket
import time
from dataclasses import dataclass, field

from common.budget import Budget
from common.connectors import render_action
from common.crypto import Sealer
from common.errors import (
    BatchPredictError,
    BudgetExhausted,
    InvalidTransition,
    ProviderError,
    ProviderJobNotFound,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from common.metrics import Counters
from common.settings import Settings
from common.states import TaskState, is_terminal
from common.store import Store, now_ms
from common.tasks import refresh_delay_s, retry_delay_s
from workers.providers import get_provider
from workers.providers.base import Provider, ProviderCall, UnknownStatus

log = logging.getLogger("batchpredict.worker")

_MAX_WORKER_NODES = 8


@dataclass
class Runtime:
    """Everything a worker process shares between tasks."""

    settings: Settings
    store: Store
    sealer: Sealer
    hostname: str = field(default_factory=socket.gethostname)
    _providers: dict[str, Provider] = field(default_factory=dict)
    budget: Budget = field(init=False)
    counters: Counters = field(init=False)

    def __post_init__(self):
        self.budget = Budget(self.store.redis, self.store.keys, self.settings)
        self.counters = Counters(self.store.redis, self.store.keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Runtime":
        return cls(settings, Store(settings), Sealer.from_settings(settings))

    def spend(self, provider: str, calls: int = 1) -> None:
        """Take calls from the provider's shared budget or raise."""
        wait_s = self.budget.take(provider, calls)
        if wait_s > 0:
            raise BudgetExhausted(provider, wait_s)

    def count_error(self, provider: str, exc: ProviderError) -> None:
        if isinstance(exc, ProviderThrottled):
            kind = "throttled"
        elif isinstance(exc, ProviderUnavailable):
            kind = "unavailable"
        elif isinstance(exc, ProviderJobNotFound):
            kind = "not_found"
        else:
            kind = "rejected"
        self.counters.incr("provider_errors", provider, kind)

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = get_provider(name, self.settings)
        return self._providers[name]

    def call_for(self, task: dict) -> tuple[Provider, ProviderCall]:
        """Render the task's batch_predict action with decrypted credentials."""
        model = self.store.get_document("model", task["model_id"])
        if model is None:
            raise BatchPredictError(
                f"model {task['model_id']} was deleted; the task cannot reach its "
                "provider"
            )
        connector, owner_id = self.store.connector_for_model(model)
        credential = self.sealer.open_all(owner_id, connector["credential"])
        action = render_action(
            connector,
            "batch_predict",
            task["_parameters"],
            credential,
            self.settings.trusted_endpoints,
        )
        call = ProviderCall(
            url=action.url,
            method=action.method,
            body=action.body,
            headers=action.headers,
            credential=credential,
            parameters=action.parameters,
        )
        return self.provider(action.provider), call


def submit(rt: Runtime, task_id: str) -> None:
    task = rt.store.get_task(task_id)
    if task["state"] == TaskState.CANCELLING and not task.get("_remote_id"):
        _finish_unsubmitted_cancel(rt, task)
        return
    if task["state"] != TaskState.CREATED:
        log.debug("Task %s: already %s, nothing to submit", task_id, task["state"])
        return
    try:
        provider, call = rt.call_for(task)
    except BatchPredictError as exc:
        _fail(rt, task, TaskState.CREATED, f"cannot build the provider call: {exc}")
        return
    attempt = task["_submit_attempts"] + 1
    try:
        rt.spend(provider.name, provider.submit_calls + (1 if attempt > 1 else 0))
    except BudgetExhausted as exc:
        _wait_for_budget(rt, task, TaskState.CREATED, exc)
        return
    # Claim the attempt first: if this worker dies in the SDK call, the sweep
    # hands the task out again when the lease ends, and the next attempt looks
    # for the job this one may have made before making one.
    lease_ms = int(rt.settings.lease_s * 1000)
    rt.store.update_task(
        task_id,
        TaskState.CREATED,
        {"_submit_attempts": attempt},
        next_visit_ms=now_ms() + lease_ms,
    )
    try:
        job = provider.find(call, task_id) if attempt > 1 else None
        if job is None:
            job = provider.submit(call, task_id)
            rt.counters.incr("submissions", provider.name)
        else:
            log.info("Task %s: found the job an earlier attempt made", task_id)
    except ProviderError as exc:
        rt.count_error(provider.name, exc)
        if not isinstance(exc, ProviderRejected):
            _back_off(rt, task, TaskState.CREATED, exc, "submit")
            return
        _fail(rt, task, TaskState.CREATED, f"{provider.name} refused the job: {exc}")
        return
    log.info(
        "Task %s: submitted to %s as %s",
        task_id,
        provider.name,
        provider.remote_id(job),
    )
    _apply(rt, task, provider, job, TaskState.CREATED, call)


def refresh(rt: Runtime, task_id: str) -> None:
    task = rt.store.get_task(task_id)
    state = task["state"]
    if is_terminal(state):
        rt.store.redis.zrem(rt.store.keys.schedule, task_id)
        return
    if state == TaskState.CREATED:
        submit(rt, task_id)
        return
    if not task.get("_remote_id"):
        if state == TaskState.CANCELLING:
            _finish_unsubmitted_cancel(rt, task)
        return
    try:
        provider, call = rt.call_for(task)
    except BatchPredictError as exc:
        _fail(rt, task, state, f"cannot build the provider call: {exc}")
        return
    try:
        rt.spend(provider.name)
    except BudgetExhausted as exc:
        _wait_for_budget(rt, task, state, exc)
        return
    if state == TaskState.CANCELLING and not task.get("_cancel_sent"):
        _send_cancel(rt, task, provider, call)
        return
    try:
        job = provider.describe(call, task["remote_job"])
        rt.counters.incr("refreshes", provider.name)
    except ProviderError as exc:
        rt.count_error(provider.name, exc)
        if isinstance(exc, ProviderJobNotFound):
            _fail(rt, task, state, f"{provider.name} no longer knows the job: {exc}")
        else:
            _back_off(rt, task, state, exc, "refresh")
        return
    _apply(rt, task, provider, job, state, call)


def cancel(rt: Runtime, task_id: str) -> None:
    """Tell the provider to stop; the refreshes that follow confirm it."""
    refresh(rt, task_id)


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
            _wait_for_budget(rt, task, task["state"], exc)
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
            _apply(rt, task, provider, job, task["state"], call)


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
        new_state = provider.state_of(_merge(task["remote_job"], job))
    except UnknownStatus:
        return True
    return new_state != task["state"]


def _wait_for_budget(rt, task, state: str, exc: BudgetExhausted) -> None:
    log.debug("Task %s: %s; waiting", task["task_id"], exc)
    delay_ms = int(exc.wait_s * 1000 * random.uniform(1.0, 1.5)) + 1
    _write(rt, task["task_id"], state, state, {}, now_ms() + delay_ms)


def _send_cancel(rt, task, provider: Provider, call: ProviderCall) -> None:
    task_id = task["task_id"]
    try:
        answer = provider.cancel(call, task["remote_job"])
        rt.counters.incr("cancels", provider.name)
    except ProviderError as exc:
        rt.count_error(provider.name, exc)
        if not isinstance(exc, ProviderRejected):
            _back_off(rt, task, TaskState.CANCELLING, exc, "cancel")
            return
        # Typically the job ended before the cancel arrived; the refresh
        # that follows reads its real final status.
        log.warning("Task %s: %s refused the cancel: %s", task_id, provider.name, exc)
        answer = {}
    log.info("Task %s: cancel sent to %s", task_id, provider.name)
    remote_job = _merge(task["remote_job"], answer or {})
    _write(
        rt,
        task_id,
        TaskState.CANCELLING,
        TaskState.CANCELLING,
        {"remote_job": remote_job, "_cancel_sent": True},
        now_ms() + int(rt.settings.refresh_min_s * 1000),
    )


def _apply(rt, task, provider: Provider, job: dict, expected: str, call) -> None:
    """Merge the provider's job object into the task and move its state."""
    task_id = task["task_id"]
    remote_job = _merge(task["remote_job"], job)
    try:
        new_state = provider.state_of(remote_job)
    except UnknownStatus as exc:
        log.warning("Task %s: %s; keeping %s", task_id, exc, expected)
        new_state = TaskState(expected)
    if expected == TaskState.CANCELLING and new_state == TaskState.RUNNING:
        new_state = TaskState.CANCELLING  # the provider has not caught up yet
    fields = {
        "remote_job": remote_job,
        "results": provider.summarize(remote_job).as_dict(),
        "worker_node": _nodes(task, rt.hostname),
        "_remote_id": provider.remote_id(remote_job),
        "_unreachable_count": 0,
        "_throttle_count": 0,
    }
    if new_state in (
        TaskState.FAILED,
        TaskState.EXPIRED,
        TaskState.COMPLETED_WITH_ERROR,
    ):
        fields["error"] = provider.error_of(remote_job)
    age_s = time.time() - task["create_time"] / 1000
    next_ms = now_ms() + int(refresh_delay_s(age_s, rt.settings) * 1000)
    if _write(rt, task_id, expected, new_state, fields, next_ms):
        if new_state != expected:
            log.info(
                "Task %s: %s -> %s (%s status %r)",
                task_id,
                expected,
                new_state,
                provider.name,
                remote_job.get(provider.status_field),
            )
        return
    current = rt.store.get_task(task_id)["state"]
    if current in (TaskState.CANCELLING, TaskState.CANCELLED) and expected == "CREATED":
        # Cancelled while the create call was in flight: the job exists now,
        # so stop it and keep its record.
        log.info(
            "Task %s: cancelled during submit; stopping %s job", task_id, provider.name
        )
        _cancel_quietly(provider, call, remote_job, task_id)
        _write(
            rt,
            task_id,
            current,
            current,
            {"remote_job": remote_job, "_cancel_sent": True},
            None,
        )


def _back_off(rt, task, state: str, exc: ProviderError, step: str) -> None:
    task_id = task["task_id"]
    count = task["_unreachable_count"]
    throttles = task.get("_throttle_count", 0)
    throttled = isinstance(exc, ProviderThrottled)
    if throttled:
        throttles += 1
    else:
        count += 1
    if count >= rt.settings.unreachable_after:
        log.warning(
            "Task %s: %s failed %d times in a row; UNREACHABLE: %s",
            task_id,
            step,
            count,
            exc,
        )
        _write(
            rt,
            task_id,
            state,
            TaskState.UNREACHABLE,
            {
                "error": f"{step} could not reach {exc.provider} {count} times in "
                f"a row; last error: {exc}",
                "_unreachable_count": count,
            },
            None,
        )
        return
    delay = retry_delay_s(
        count if not throttled else task["_submit_attempts"],
        rt.settings,
        getattr(exc, "retry_after_s", None),
    )
    log.warning(
        "Task %s: %s %s (%s); next try in %.1fs",
        task_id,
        step,
        "throttled" if throttled else "failed",
        exc,
        delay,
    )
    _write(
        rt,
        task_id,
        state,
        state,
        {"_unreachable_count": count},
        now_ms() + int(delay * 1000),
    )


def _fail(rt, task, state: str, message: str) -> None:
    log.info("Task %s: FAILED: %s", task["task_id"], message)
    _write(rt, task["task_id"], state, TaskState.FAILED, {"error": message}, None)


def _finish_unsubmitted_cancel(rt, task) -> None:
    """A task cancelled before any job existed ends CANCELLED, unless a submit
    may still be in flight (its lease has not run out)."""
    in_flight = task["_submit_attempts"] > 0 and (
        now_ms() - task["last_update_time"] < rt.settings.lease_s * 1000
    )
    if in_flight:
        return
    _write(rt, task["task_id"], TaskState.CANCELLING, TaskState.CANCELLED, {}, None)


def _write(rt, task_id, expected, new_state, fields, next_visit_ms) -> bool:
    try:
        rt.store.transition(task_id, {expected}, new_state, fields, next_visit_ms)
    except InvalidTransition as exc:
        log.info("Task %s: left alone, it moved to %s meanwhile", task_id, exc.state)
        return False
    return True


def _cancel_quietly(provider, call, remote_job, task_id) -> None:
    try:
        provider.cancel(call, remote_job)
    except ProviderError as exc:
        log.warning("Task %s: could not stop the job: %s", task_id, exc)


def _merge(old: dict, new: dict) -> dict:
    merged = dict(old)
    merged.update(new)
    return merged


def _nodes(task: dict, hostname: str) -> list[str]:
    nodes = [n for n in task.get("worker_node") or [] if n != hostname]
    return (nodes + [hostname])[-_MAX_WORKER_NODES:]
