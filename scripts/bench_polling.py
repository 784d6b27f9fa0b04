"""Polling at scale: 10,000 RUNNING tasks against the sandbox.

``python -m scripts.bench_polling [--tasks N]`` (also part of ``make bench``)
prints, for one sweep of every task, refreshed one status call each (the
baseline) and by list calls under the default call budget (what batchpredict
does): the time the sweep takes, Redis commands and provider calls per
refreshed task, and provider calls per minute against the budget. Then it
lets the jobs finish at the provider and prints the delay until each task
showed it, and Redis memory per task.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import openai
import redis

from common.settings import Settings
from common.states import TaskState
from common.store import Store, now_ms
from common.tasks import new_batch_task
from scripts import procs
from scripts.stack import Stack

MODEL_TEXT = "a short paragraph to embed"


def run(
    tasks: int = 10_000, finish_after_s: float | None = None, progress=print
) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="batchpredict-bench-polling-"))
    redis_port, sandbox_port = procs.free_port(), procs.free_port()
    redis_proc = procs.start_redis(redis_port, run_dir / "redis")
    sandbox = procs.start_sandbox(sandbox_port, run_dir, run_dir / "sandbox-data")
    try:
        return _run(tasks, finish_after_s, progress, run_dir, redis_port, sandbox_port)
    finally:
        sandbox.stop()
        redis_proc.stop()


def _run(tasks, finish_after_s, progress, run_dir, redis_port, sandbox_port) -> dict:
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    # Jobs finish once both sweeps are done; seeding takes ~3 ms a job.
    finish_after_s = finish_after_s or 60 + tasks * 0.012
    _post(
        f"{sandbox_url}/_sandbox/config",
        {
            "phases": {
                "openai": {
                    "validating": 0.1,
                    "in_progress": finish_after_s,
                    "finalizing": 0.1,
                }
            }
        },
    )
    stack = Stack(
        run_dir=run_dir,
        redis_port=redis_port,
        sandbox_port=sandbox_port,
        extra_env={"BATCHPREDICT_AUTH_ENABLED": "false"},
    )
    settings = _settings(stack)
    # The sweep runs in this process and sends to the stack's broker.
    os.environ.update(stack.env())
    store = Store(settings)
    store.redis.flushall()
    memory_before = store.redis.info("memory")["used_memory"]
    ids = _seed(store, settings, sandbox_url, tasks, progress)
    memory_per_task = (
        store.redis.info("memory")["used_memory"] - memory_before
    ) / tasks

    results = {"tasks": tasks, "redis_bytes_per_task": round(memory_per_task)}
    for mode, env in (
        (
            "one status call per task",
            {
                "BATCHPREDICT_LIST_REFRESH_MIN_TASKS": "1000000",
                "BATCHPREDICT_OPENAI_CALLS_PER_MINUTE": "0",
            },
        ),
        ("list calls, default budget", {}),
    ):
        results[mode] = _sweep_once(stack, store, sandbox_url, ids, env, progress)
    results["finish_delay_s"] = _finish_delay(stack, store, ids, progress)
    results["budget_per_minute"] = Settings().openai_calls_per_minute
    return results


def _settings(stack: Stack) -> Settings:
    env = stack.env()
    env.pop("BATCHPREDICT_MASTER_KEY_FILE", None)
    env["BATCHPREDICT_MASTER_KEY"] = (stack.run_dir / "master.key").read_text()
    return Settings.from_env(env)


def _seed(
    store: Store, settings: Settings, sandbox_url: str, tasks: int, progress
) -> list[str]:
    """Make ``tasks`` batches at the sandbox and a RUNNING task for each."""
    from api.app import create_app
    from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR

    sdk = openai.OpenAI(api_key="sk-bench", base_url=f"{sandbox_url}/v1", max_retries=3)
    line = {
        "custom_id": "x",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {
            "model": "text-embedding-3-small",
            "input": MODEL_TEXT,
            "dimensions": 8,
        },
    }
    file_id = sdk.files.create(
        file=("in.jsonl", json.dumps(line).encode() + b"\n"), purpose="batch"
    ).id
    client = create_app(settings).test_client()
    connector = dict(
        OPENAI_BATCH_CONNECTOR,
        parameters={"input_file_id": file_id, "endpoint": "/v1/embeddings"},
    )
    connector_id = client.post(
        "/_plugins/_ml/connectors/_create", json=connector
    ).get_json()["connector_id"]
    model_id = client.post(
        "/_plugins/_ml/models/_register?deploy=true",
        json={"name": "bench", "function_name": "remote", "connector_id": connector_id},
    ).get_json()["model_id"]
    ids = []

    def make(_):
        batch = sdk.batches.create(
            input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
        )
        task = new_batch_task(model_id, connector_id, "openai", {}, owner=None)
        store.create_task(task, limit=None, first_visit_ms=None)
        store.transition(
            task["task_id"],
            {TaskState.CREATED},
            TaskState.RUNNING,
            {"remote_job": batch.model_dump(mode="json"), "_remote_id": batch.id},
        )
        return task["task_id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for count, task_id in enumerate(pool.map(make, range(tasks)), 1):
            ids.append(task_id)
            if count % 1000 == 0 or count == tasks:
                progress(f"  seeded {count}/{tasks} RUNNING tasks")
    return ids


def _sweep_once(stack, store, sandbox_url, ids, env, progress) -> dict:
    """Make every task due, run one sweep through a real worker, and wait
    until every task was refreshed."""
    stack.extra_env = {"BATCHPREDICT_AUTH_ENABLED": "false", **env}
    worker = stack.start_worker()
    procs.wait_for_http(f"{sandbox_url}/_sandbox/health")
    time.sleep(3)  # the worker connects to the broker
    started_ms = now_ms()
    store.redis.zadd(store.keys.schedule, dict.fromkeys(ids, started_ms))
    commands, calls = _redis_commands(store.redis), _provider_calls(sandbox_url)
    started = time.monotonic()
    from workers import tasks as celery_tasks
    from workers.runtime import Runtime

    runtime = Runtime.from_settings(_settings(stack))
    due = runtime.store.claim_due(len(ids), int(runtime.settings.lease_s * 1000))
    singles, groups = celery_tasks.plan_sweep(runtime, due)
    for _, task_id in singles:
        celery_tasks.refresh.delay(task_id)
    for group in groups:
        celery_tasks.refresh_many.delay(group)
    _wait_refreshed(store, ids, started_ms, progress)
    seconds = time.monotonic() - started
    worker.stop()
    made = _provider_calls(sandbox_url) - calls
    figures = {
        "sweep_seconds": round(seconds, 2),
        "redis_commands_per_task": round(
            (_redis_commands(store.redis) - commands) / len(ids), 2
        ),
        "provider_calls": made,
        "provider_calls_per_task": round(made / len(ids), 4),
        "provider_calls_per_minute": round(made / seconds * 60, 1),
    }
    progress(f"  {figures}")
    return figures


def _wait_refreshed(store, ids, since_ms, progress, timeout_s=1800) -> None:
    deadline = time.monotonic() + timeout_s
    last = -1
    while time.monotonic() < deadline:
        times = [
            row.get("last_update_time", 0)
            for row in store.task_fields(ids, ["last_update_time"])
        ]
        done = sum(1 for t in times if t >= since_ms)
        if done != last:
            progress(f"  refreshed {done}/{len(ids)}")
            last = done
        if done == len(ids):
            return
        time.sleep(1)
    raise RuntimeError("the sweep did not refresh every task in time")


def _finish_delay(stack, store, ids, progress) -> dict:
    """Let beat drive refreshes until every job finished; report how long
    after the provider's completed_at each task showed COMPLETED."""
    stack.extra_env = {
        k: v for k, v in stack.extra_env.items() if k == "BATCHPREDICT_AUTH_ENABLED"
    }
    stack.extra_env.update(
        BATCHPREDICT_REFRESH_MIN_S="5", BATCHPREDICT_REFRESH_MAX_S="30"
    )
    worker, beat = stack.start_worker(), stack.start_beat()
    try:
        deadline, last = time.monotonic() + 1800, -1
        while time.monotonic() < deadline:
            rows = store.task_fields(ids, ["state"])
            done = sum(1 for r in rows if r.get("state") == "COMPLETED")
            if done != last:
                progress(f"  completed {done}/{len(ids)}")
                last = done
            if done == len(ids):
                break
            time.sleep(2)
    finally:
        beat.stop()
        worker.stop()
    delays = []
    for row in store.task_fields(ids, ["remote_job", "last_update_time"]):
        finished = row["remote_job"].get("completed_at")
        if finished:
            delays.append(max(0.0, row["last_update_time"] / 1000 - finished))
    delays.sort()
    return {
        "median": round(statistics.median(delays), 2),
        "p95": round(delays[int(len(delays) * 0.95) - 1], 2),
        "max": round(delays[-1], 2),
    }


def _redis_commands(client: redis.Redis) -> int:
    return sum(v["calls"] for k, v in client.info("commandstats").items())


def _provider_calls(sandbox_url: str) -> int:
    with urllib.request.urlopen(f"{sandbox_url}/_sandbox/calls") as response:
        calls = json.loads(response.read())["calls"]
    return sum(
        v
        for k, v in calls.items()
        if k.startswith("openai.batches.") and k != "openai.batches.create"
    )


def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    results = run(args.tasks)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
