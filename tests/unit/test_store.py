"""The store's state machine on a real Redis: every change a compare-and-set."""

import pytest

from common.errors import InvalidTransition, TaskLimitExceeded, TaskNotFound
from common.states import ACTIVE_STATES, TaskState
from common.store import now_ms
from common.tasks import new_batch_task


def _task(store, limit=None) -> dict:
    task = new_batch_task("model-1", "conn-1", "openai", {"a": "b"}, owner=None)
    store.create_task(task, limit=limit, first_visit_ms=now_ms())
    return task


def test_created_task_reads_back_with_every_field(store):
    task = _task(store)

    stored = store.get_task(task["task_id"])

    assert stored == task
    assert store.active_count() == 1


def test_transition_applies_when_the_state_matches(store):
    task = _task(store)

    left = store.transition(
        task["task_id"],
        {TaskState.CREATED},
        TaskState.RUNNING,
        {"remote_job": {"id": "batch_1"}},
    )

    stored = store.get_task(task["task_id"])
    assert left == TaskState.CREATED
    assert stored["state"] == TaskState.RUNNING
    assert stored["remote_job"] == {"id": "batch_1"}
    assert stored["last_update_time"] >= task["create_time"]


def test_stale_writer_cannot_overwrite_a_newer_state(store):
    # Given a task a cancel moved to CANCELLING
    task = _task(store)
    store.transition(task["task_id"], {TaskState.CREATED}, TaskState.RUNNING)
    store.transition(task["task_id"], {TaskState.RUNNING}, TaskState.CANCELLING)

    # When a refresh that read RUNNING tries to write COMPLETED
    with pytest.raises(InvalidTransition) as caught:
        store.transition(
            task["task_id"],
            {TaskState.RUNNING},
            TaskState.COMPLETED,
            {"remote_job": {"status": "completed"}},
        )

    # Then nothing it wanted is written
    assert caught.value.state == TaskState.CANCELLING
    stored = store.get_task(task["task_id"])
    assert stored["state"] == TaskState.CANCELLING
    assert stored["remote_job"] == {}


def test_terminal_state_leaves_the_active_set_and_schedule(store):
    task = _task(store)
    store.transition(
        task["task_id"], {TaskState.CREATED}, TaskState.FAILED, {"error": "boom"}
    )

    assert store.active_count() == 0
    assert store.redis.zscore(store.keys.schedule, task["task_id"]) is None
    expiry = store.redis.zscore(f"{store.keys.prefix}:tasks:expiry", task["task_id"])
    assert expiry > now_ms() + (store.settings.task_retention_s - 60) * 1000
    with pytest.raises(InvalidTransition):
        store.transition(task["task_id"], ACTIVE_STATES, TaskState.RUNNING)


def test_indexes_follow_the_state(store):
    task = _task(store)
    store.transition(task["task_id"], {TaskState.CREATED}, TaskState.RUNNING)

    assert store.task_ids({"state": ["RUNNING"]}) == [task["task_id"]]
    assert store.task_ids({"state": ["CREATED"]}) == []
    assert store.task_ids({"model_id": ["model-1"], "state": ["RUNNING"]}) == [
        task["task_id"]
    ]


def test_active_limit_is_a_real_count(store):
    for _ in range(3):
        _task(store, limit=3)

    with pytest.raises(TaskLimitExceeded, match="max_batch_inference_tasks"):
        _task(store, limit=3)
    assert store.active_count() == 3


def test_claim_hands_each_due_task_out_once(store):
    tasks = [_task(store) for _ in range(5)]

    first = store.claim_due(limit=10, lease_ms=60_000)
    second = store.claim_due(limit=10, lease_ms=60_000)

    assert sorted(i for i, _ in first) == sorted(t["task_id"] for t in tasks)
    assert {state for _, state in first} == {"CREATED"}
    assert second == []


def test_claim_drops_tasks_that_no_longer_exist(store):
    task = _task(store)
    store.redis.delete(store.keys.task(task["task_id"]))

    assert store.claim_due(limit=10, lease_ms=1000) == []
    assert store.redis.zcard(store.keys.schedule) == 0


def test_delete_is_refused_while_active(store):
    task = _task(store)

    with pytest.raises(InvalidTransition, match="cannot be deleted"):
        store.delete_task(task["task_id"], refuse_states=ACTIVE_STATES)
    store.transition(task["task_id"], {TaskState.CREATED}, TaskState.CANCELLED)
    store.delete_task(task["task_id"], refuse_states=ACTIVE_STATES)

    with pytest.raises(TaskNotFound):
        store.get_task(task["task_id"])
    assert store.task_ids({"state": ["CANCELLED"]}) == []


def test_unknown_task_is_not_found(store):
    with pytest.raises(TaskNotFound) as caught:
        store.transition("nope", {TaskState.CREATED}, TaskState.RUNNING)

    assert caught.value.resource_id == "nope"


def test_purge_drops_finished_tasks_and_every_index_entry(test_settings):
    # Given a store that keeps finished tasks for no time at all
    from common.store import Store

    store = Store(type(test_settings)(**{**vars(test_settings), "task_retention_s": 0}))
    store.redis.flushdb()
    finished, running = _task(store), _task(store)
    store.transition(finished["task_id"], {TaskState.CREATED}, TaskState.FAILED)
    store.transition(running["task_id"], {TaskState.CREATED}, TaskState.RUNNING)

    # When the sweep purges
    dropped = store.purge_expired(limit=100)

    # Then the finished task is gone from every key, the running one stays
    assert dropped == 1
    keys = set(store.redis.keys("*"))
    members = set()
    for key in keys:
        kind = store.redis.type(key)
        if kind == "set":
            members |= store.redis.smembers(key)
        elif kind == "zset":
            members |= set(store.redis.zrange(key, 0, -1))
    assert finished["task_id"] not in members
    assert store.keys.task(finished["task_id"]) not in keys
    assert running["task_id"] in members
    assert store.get_task(running["task_id"])["state"] == TaskState.RUNNING
