"""Jobs you can trust: exactly once at the provider, a shared call budget,
list refreshes, two beats, and Redis going away while jobs are in flight.
Each test provokes the fault with real processes."""

import time

import pytest

from scripts import procs
from tests.conftest import get_json, post_json
from tests.integration.conftest import client_for, runtime_for, wait_for_task
from tests.integration.test_openai_e2e import (
    _embedding_lines,
    _model_for,
    _sdk,
    _upload,
)
from workers import lifecycle, list_refresh

pytestmark = pytest.mark.integration


def _phases(url: str, **phases) -> None:
    post_json(f"{url}/_sandbox/config", {"phases": {"openai": phases}})


@pytest.fixture
def sandbox(sandbox_url):
    before = get_json(f"{sandbox_url}/_sandbox/config")["phases"]["openai"]
    _phases(sandbox_url, validating=0.2, in_progress=0.5, finalizing=0.2)
    yield sandbox_url
    post_json(f"{sandbox_url}/_sandbox/config", {"phases": {"openai": before}})


def _calls(url: str) -> dict:
    return get_json(f"{url}/_sandbox/calls")["calls"]


def _predict(client, model_id: str) -> str:
    response = client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict", json={"parameters": {}}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["task_id"]


def _wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_during_create_leaves_exactly_one_job(private_stack, sandbox):
    # Given a worker whose create call the provider holds open
    stack = private_stack()
    client = client_for(stack)
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a", "b"])))
    post_json(
        f"{sandbox}/_sandbox/faults",
        {
            "provider": "openai",
            "operation": "batches.create",
            "kind": "slow",
            "phase": "after",
            "delay_s": 5,
        },
    )
    worker = stack.start_worker("doomed")
    stack.start_beat()
    task_id = _predict(client, model_id)
    _wait_for(
        lambda: _calls(sandbox).get("openai.batches.create"),
        30,
        "the create call to reach the provider",
    )

    # When the worker is SIGKILLed before it hears the answer, and restarted
    worker.kill()
    stack.start_worker("phoenix")

    # Then the task completes on the one job the first attempt made
    task = wait_for_task(client, task_id, timeout_s=90)
    assert task["state"] == "COMPLETED", task
    mine = [
        b
        for b in sdk.batches.list(limit=100)
        if (b.metadata or {}).get("batchpredict_task_id") == task_id
    ]
    assert len(mine) == 1
    assert _calls(sandbox)["openai.batches.create"] == 1


def test_list_refresh_replaces_one_status_call_per_task(private_stack, sandbox):
    # Given six running jobs on one connector, submitted by the lifecycle
    _phases(sandbox, in_progress=2)
    stack = private_stack()
    client = client_for(stack)
    runtime = runtime_for(stack)
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a"])))
    task_ids = [_predict(client, model_id) for _ in range(6)]
    for task_id in task_ids:
        lifecycle.submit(runtime, task_id)
    before = _calls(sandbox)

    # When they are refreshed together until they finish
    def all_done():
        list_refresh.refresh_many(runtime, task_ids)
        states = {
            client.get(f"/_plugins/_ml/tasks/{i}").get_json()["state"] for i in task_ids
        }
        return states == {"COMPLETED"}

    _wait_for(all_done, 30, "the jobs to complete")

    # Then listings did the refreshing: no status call per task
    after = _calls(sandbox)
    lists = after.get("openai.batches.list", 0) - before.get("openai.batches.list", 0)
    assert lists >= 1
    assert after.get("openai.batches.retrieve", 0) == before.get(
        "openai.batches.retrieve", 0
    )
    task = client.get(f"/_plugins/_ml/tasks/{task_ids[0]}").get_json()
    assert task["results"]["request_counts"]["succeeded"] == 1


def test_call_budget_holds_however_many_tasks(private_stack, sandbox):
    # Given a budget of 12 calls a minute (3 at once, one every 5 s after)
    _phases(sandbox, in_progress=1)
    stack = private_stack(
        {
            "BATCHPREDICT_OPENAI_CALLS_PER_MINUTE": "12",
            "BATCHPREDICT_LIST_REFRESH_MIN_TASKS": "1000",
        }
    )
    client = client_for(stack)
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a"])))
    task_ids = [_predict(client, model_id) for _ in range(3)]
    before = sum(v for k, v in _calls(sandbox).items() if k.startswith("openai.b"))

    # When they run
    started = time.monotonic()
    stack.start_worker()
    stack.start_beat()
    tasks = [wait_for_task(client, task_id, timeout_s=120) for task_id in task_ids]
    elapsed = time.monotonic() - started

    # Then they finish, and the provider never saw more than the budget allows
    assert {t["state"] for t in tasks} == {"COMPLETED"}
    made = sum(v for k, v in _calls(sandbox).items() if k.startswith("openai.b"))
    allowed = 3 + elapsed * 12 / 60
    assert made - before <= allowed + 1, (made - before, allowed)
    assert made - before >= 6  # three creates and at least one status each


def test_two_beats_sweep_from_one_leader(private_stack, sandbox):
    # Given two beats on one schedule
    stack = private_stack()
    client = client_for(stack)
    stack.start_worker()
    first = stack.start_beat("beat-a")
    _wait_for(
        lambda: "Sending due task" in first.log_tail(200),
        30,
        "the first beat to send a sweep",
    )
    second = stack.start_beat("beat-b")
    time.sleep(3)

    # When jobs run meanwhile
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a"])))
    task_ids = [_predict(client, model_id) for _ in range(3)]
    tasks = [wait_for_task(client, task_id) for task_id in task_ids]

    # Then only the lock holder sent sweeps, and the jobs all completed
    assert {t["state"] for t in tasks} == {"COMPLETED"}
    assert "Sending due task" not in second.log_tail(500)

    # And when the leader dies without releasing its lock, the other takes over
    first.kill()
    _wait_for(
        lambda: "Sending due task" in second.log_tail(500),
        60,
        "the second beat to take over",
    )


def test_redis_restart_loses_no_job(private_stack, sandbox, run_dir):
    # Given a system on a Redis of its own that keeps an append-only file
    _phases(sandbox, in_progress=4)
    port = procs.free_port()
    redis_dir = run_dir / f"redis-restart-{port}"
    redis_proc = procs.start_redis(port, redis_dir, persistent=True)
    stack = private_stack(port=port)
    client = client_for(stack)
    stack.start_worker()
    stack.start_beat()
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a", "b"])))
    in_flight = [_predict(client, model_id) for _ in range(3)]
    for task_id in in_flight:
        wait_for_task(client, task_id, states={"RUNNING"})

    # When Redis restarts while the jobs run
    redis_proc.stop()
    time.sleep(1)
    redis_proc = procs.start_redis(port, redis_dir, persistent=True)
    try:
        # Then every job reaches its end and new work is consumed, with the
        # same worker and beat processes
        later = _predict(client, model_id)
        tasks = [
            wait_for_task(client, task_id, timeout_s=90)
            for task_id in in_flight + [later]
        ]
        assert {t["state"] for t in tasks} == {"COMPLETED"}
        assert stack.running["worker"].popen.poll() is None
    finally:
        stack.stop()
        redis_proc.stop()
