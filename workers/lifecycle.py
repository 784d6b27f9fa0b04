"""What the worker does for a task: submit it, refresh it, cancel it.

Each step reads the task, makes at most one or two provider calls, and writes
the outcome with a compare-and-set on the state it read, so a step that lost
a race (a cancel arrived, another worker got there first) changes nothing.
"""

import logging
import random
import time

from common.errors import (
    BatchPredictError,
    BudgetExhausted,
    InvalidTransition,
    ProviderError,
    ProviderJobNotFound,
    ProviderRejected,
    ProviderThrottled,
)
from common.states import TaskState, is_terminal
from common.store import now_ms
from common.tasks import refresh_delay_s, retry_delay_s
from workers.providers.base import Provider, ProviderCall, UnknownStatus
from workers.runtime import Runtime

log = logging.getLogger("batchpredict.worker")

_MAX_WORKER_NODES = 8


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
    try:
        rt.spend(provider.name, provider.submit_calls + 1)
    except BudgetExhausted as exc:
        wait_for_budget(rt, task, TaskState.CREATED, exc)
        return
    # Claim the attempt first, under a lease: a second submit message (the
    # sweep's, a redelivery) stands back while this one may be mid-call, and
    # if this worker dies the sweep hands the task out when the lease ends;
    # the next attempt looks for the job this one may have made.
    attempt = rt.store.claim_submit(task_id, int(rt.settings.lease_s * 1000))
    if not attempt:
        log.info("Task %s: another submit attempt holds the lease", task_id)
        return
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
    apply_job(rt, task, provider, job, TaskState.CREATED, call)


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
        wait_for_budget(rt, task, state, exc)
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
    apply_job(rt, task, provider, job, state, call)


def cancel(rt: Runtime, task_id: str) -> None:
    """Tell the provider to stop; the refreshes that follow confirm it."""
    refresh(rt, task_id)


def wait_for_budget(rt, task, state: str, exc: BudgetExhausted) -> None:
    log.debug("Task %s: %s; waiting", task["task_id"], exc)
    revisit(rt, task, state, budget_time_ms(exc))


def budget_time_ms(exc: BudgetExhausted) -> int:
    """When the calls will be there, spread so waiters do not all return at
    once."""
    return now_ms() + int(exc.wait_s * 1000 * random.uniform(1.0, 1.5)) + 1


def revisit(rt, task, state: str, at_ms: int) -> None:
    """Visit the task again at ``at_ms``, if it is still in ``state``."""
    _write(rt, task["task_id"], state, state, {}, at_ms)


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
    remote_job = merge_job(task["remote_job"], answer or {})
    _write(
        rt,
        task_id,
        TaskState.CANCELLING,
        TaskState.CANCELLING,
        {"remote_job": remote_job, "_cancel_sent": True},
        now_ms() + int(rt.settings.refresh_min_s * 1000),
    )


def apply_job(
    rt, task, provider: Provider, job: dict, expected: str, call, next_ms=None
) -> None:
    """Merge the provider's job object into the task and move its state."""
    task_id = task["task_id"]
    remote_job = merge_job(task["remote_job"], job)
    new_state = _mapped_state(provider, remote_job, expected, task_id)
    fields = {
        "remote_job": remote_job,
        "results": provider.summarize(remote_job).as_dict(),
        "worker_node": _nodes(task, rt.hostname),
        "_remote_id": provider.remote_id(remote_job),
        "_unreachable_count": 0,
        "_throttle_count": 0,
    }
    if new_state in _STATES_WITH_ERRORS:
        fields["error"] = provider.error_of(remote_job)
    if next_ms is None:
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
    if expected == TaskState.CREATED and current == TaskState.CANCELLING:
        # Cancelled while the create call was in flight: keep the job, and
        # the refreshes that follow stop it (with retries) and confirm it.
        log.info(
            "Task %s: cancelled during submit; %s job %s to stop",
            task_id,
            provider.name,
            provider.remote_id(remote_job),
        )
        _record_job_to_cancel(rt, task_id, provider, remote_job)
    elif expected == TaskState.CREATED and current == TaskState.CANCELLED:
        log.warning(
            "Task %s: ended before its %s job existed; stopping it",
            task_id,
            provider.name,
        )
        _cancel_quietly(provider, call, remote_job, task_id)
        _write(rt, task_id, current, current, {"remote_job": remote_job}, None)


def _record_job_to_cancel(rt, task_id: str, provider, remote_job: dict) -> None:
    fields = {
        "remote_job": remote_job,
        "_remote_id": provider.remote_id(remote_job),
        "_cancel_sent": False,
        "_lease_until": 0,
    }
    _write(rt, task_id, TaskState.CANCELLING, TaskState.CANCELLING, fields, now_ms())


_STATES_WITH_ERRORS = (
    TaskState.FAILED,
    TaskState.EXPIRED,
    TaskState.COMPLETED_WITH_ERROR,
)


def _mapped_state(provider, remote_job: dict, expected: str, task_id: str):
    try:
        new_state = provider.state_of(remote_job)
    except UnknownStatus as exc:
        log.warning("Task %s: %s; keeping %s", task_id, exc, expected)
        return TaskState(expected)
    if expected == TaskState.CANCELLING and new_state == TaskState.RUNNING:
        return TaskState.CANCELLING  # the provider has not caught up yet
    return new_state


def _back_off(rt, task, state: str, exc: ProviderError, step: str) -> None:
    """Try the step again later; UNREACHABLE after too many misses in a row.

    A throttle is an answer, so it delays but never counts as a miss.
    """
    task_id = task["task_id"]
    throttled = isinstance(exc, ProviderThrottled)
    misses = task["_unreachable_count"] + (0 if throttled else 1)
    throttles = task.get("_throttle_count", 0) + (1 if throttled else 0)
    if misses >= rt.settings.unreachable_after:
        log.warning(
            "Task %s: %s missed %s %d times in a row; UNREACHABLE: %s",
            task_id,
            step,
            exc.provider,
            misses,
            exc,
        )
        error = (
            f"{step} could not reach {exc.provider} {misses} times in a row; "
            f"last error: {exc}"
        )
        _write(
            rt,
            task_id,
            state,
            TaskState.UNREACHABLE,
            {"error": error, "_unreachable_count": misses},
            None,
        )
        return
    delay = retry_delay_s(
        throttles if throttled else misses,
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
        # This attempt is over: the retry need not wait out its lease.
        {"_unreachable_count": misses, "_throttle_count": throttles, "_lease_until": 0},
        now_ms() + int(delay * 1000),
    )


def _fail(rt, task, state: str, message: str) -> None:
    log.info("Task %s: FAILED: %s", task["task_id"], message)
    _write(rt, task["task_id"], state, TaskState.FAILED, {"error": message}, None)


def _finish_unsubmitted_cancel(rt, task) -> None:
    """A task cancelled before its job was known ends CANCELLED, once no
    submit can still be in flight and no earlier attempt left a job behind
    (a create call can time out after the provider made the job)."""
    if int(task.get("_lease_until") or 0) > now_ms():
        return
    if task["_submit_attempts"]:
        try:
            provider, call = rt.call_for(task)
            rt.spend(provider.name)
            job = provider.find(call, task["task_id"])
        except BudgetExhausted as exc:
            wait_for_budget(rt, task, TaskState.CANCELLING, exc)
            return
        except ProviderError as exc:
            _back_off(rt, task, TaskState.CANCELLING, exc, "cancel")
            return
        except BatchPredictError:
            job = None  # the model or connector is gone: nothing to look in
        if job is not None:
            remote_job = merge_job(task["remote_job"], job)
            _record_job_to_cancel(rt, task["task_id"], provider, remote_job)
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


def merge_job(old: dict, new: dict) -> dict:
    merged = dict(old)
    merged.update(new)
    return merged


def _nodes(task: dict, hostname: str) -> list[str]:
    nodes = [n for n in task.get("worker_node") or [] if n != hostname]
    return (nodes + [hostname])[-_MAX_WORKER_NODES:]
