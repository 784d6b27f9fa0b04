"""Horizontal scaling: the same load with 1, 2 and 4 worker processes.

``python -m scripts.bench_scaling [--tasks N] [--refreshes K]`` (also part of
``make bench``) runs, on a private Redis and sandbox, N submissions through
``_batch_predict`` and then K refreshes of each task, queued at once, and
prints the tasks per second each worker count got through. Beside them: a
no-op Celery task on the same broker, the ceiling any batchpredict task has.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import openai
import redis

from api.queue import TaskQueue
from common.metrics import Counters
from common.settings import Settings
from common.store import Store
from scripts import procs
from scripts.stack import Stack

WORKER_COUNTS = (1, 2, 4)
# The Procfile's worker, with the no-op task registered as well.
_WORKER = (
    "import sys, scripts.bench_tasks; from workers.celery_app import app; "
    "app.worker_main(sys.argv[1:])"
)
#: The no-op task (scripts/bench_tasks.py) and the Redis key it counts in.
NOOP = "batchpredict.bench_noop"
NOOP_COUNTER = "bench:noop"


class Rig:
    """A private Redis and sandbox, and the stacks of workers put on them."""

    def __init__(self, run_dir: Path, progress=print):
        self.run_dir, self.progress = run_dir, progress
        self.redis_port, self.sandbox_port = procs.free_port(), procs.free_port()
        self.procs = [procs.start_redis(self.redis_port, run_dir / "redis")]
        self.procs.append(
            procs.start_sandbox(self.sandbox_port, run_dir, run_dir / "sandbox-data")
        )
        # Jobs stay in progress, so every refresh finds a RUNNING job.
        _post(
            f"http://127.0.0.1:{self.sandbox_port}/_sandbox/config",
            {"phases": {"openai": {"validating": 0.1, "in_progress": 86400}}},
        )
        self.stack = Stack(
            run_dir=run_dir,
            redis_port=self.redis_port,
            sandbox_port=self.sandbox_port,
            extra_env={
                "BATCHPREDICT_AUTH_ENABLED": "false",
                "BATCHPREDICT_MAX_BATCH_TASKS": "1000000",
                "BATCHPREDICT_OPENAI_CALLS_PER_MINUTE": "0",
                "BATCHPREDICT_LOG_LEVEL": "WARNING",
            },
        )
        env = self.stack.env()
        env.pop("BATCHPREDICT_MASTER_KEY_FILE")
        env["BATCHPREDICT_MASTER_KEY"] = (run_dir / "master.key").read_text()
        self.settings = Settings.from_env(env)
        self.store = Store(self.settings)

    def start_workers(self, count: int) -> None:
        for number in range(count):
            name = f"worker{number}"
            argv = [sys.executable, "-c", _WORKER, "worker", "--loglevel", "INFO"]
            argv += ["--pool", "threads", "--concurrency", "8"]
            argv += ["--hostname", f"{name}@%h", "--without-mingle", "--without-gossip"]
            self.stack.running[name] = procs.start(
                name, argv, self.run_dir, self.stack.env()
            )
        for number in range(count):
            _wait_ready(self.stack.running[f"worker{number}"])

    def stop(self) -> None:
        self.stack.stop()
        for proc in reversed(self.procs):
            proc.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def run(
    tasks: int = 200, refreshes: int = 2, workers=WORKER_COUNTS, progress=print
) -> dict:
    """Tasks per second for each worker count, and a no-op baseline."""
    rig = Rig(Path(tempfile.mkdtemp(prefix="batchpredict-bench-scaling-")), progress)
    try:
        results = {"tasks": tasks, "refreshes_per_task": refreshes}
        for count in workers:
            progress(f"scaling: {count} worker process(es)")
            results[f"{count} workers"] = _measure(rig, count, tasks, refreshes)
        results["noop"] = measure_noop(rig, tasks * (1 + refreshes))
        return results
    finally:
        rig.stop()


def _measure(rig: Rig, count: int, tasks: int, refreshes: int) -> dict:
    rig.store.redis.flushall()
    rig.start_workers(count)
    try:
        client, model_id = _model(rig)
        counters = Counters(rig.store.redis, rig.store.keys)
        started = time.perf_counter()
        ids = [
            client.post(
                f"/_plugins/_ml/models/{model_id}/_batch_predict",
                json={"parameters": {}},
            ).get_json()["task_id"]
            for _ in range(tasks)
        ]
        _wait(rig, counters, "submissions", tasks)
        submit_s = time.perf_counter() - started
        queue = TaskQueue(rig.settings)
        started = time.perf_counter()
        for _ in range(refreshes):
            for task_id in ids:
                queue.send("refresh", task_id)
        _wait(rig, counters, "refreshes", tasks * refreshes)
        refresh_s = time.perf_counter() - started
    finally:
        for number in range(count):
            rig.stack.running.pop(f"worker{number}").stop()
    errors = sum(
        v
        for (name, _, _), v in counters.snapshot().items()
        if name == "provider_errors"
    )
    return {
        "submits_per_s": round(tasks / submit_s, 1),
        "refreshes_per_s": round(tasks * refreshes / refresh_s, 1),
        "provider_errors": errors,
    }


def measure_noop(rig: Rig, messages: int) -> dict:
    """No-op tasks per second through one worker process on the same broker."""
    rig.store.redis.flushall()
    rig.start_workers(1)
    broker = redis.Redis.from_url(rig.settings.broker_url)
    try:
        queue = TaskQueue(rig.settings)
        started = time.perf_counter()
        for _ in range(messages):
            queue.celery.send_task(NOOP, queue="batchpredict")
        deadline = time.monotonic() + 300
        while int(broker.get(NOOP_COUNTER) or 0) < messages:
            if time.monotonic() > deadline:
                raise RuntimeError("the no-op tasks did not all run within 300 s")
            time.sleep(0.05)
        elapsed_s = time.perf_counter() - started
    finally:
        rig.stack.running.pop("worker0").stop()
        broker.close()
    return {"workers": 1, "tasks_per_s": round(messages / elapsed_s, 1)}


def _model(rig: Rig):
    """An in-process API client and a model on the sandbox's OpenAI."""
    from api.app import create_app

    sandbox_url = f"http://127.0.0.1:{rig.sandbox_port}"
    sdk = openai.OpenAI(api_key="sk-bench", base_url=f"{sandbox_url}/v1")
    line = {"custom_id": "x", "method": "POST", "url": "/v1/embeddings"}
    line["body"] = {"model": "text-embedding-3-small", "input": "x", "dimensions": 8}
    file_id = sdk.files.create(
        file=("in.jsonl", json.dumps(line).encode() + b"\n"), purpose="batch"
    ).id
    client = create_app(rig.settings).test_client()
    connector = {
        "name": "bench",
        "protocol": "http",
        "version": "1",
        "parameters": {"input_file_id": file_id, "endpoint": "/v1/embeddings"},
        "credential": {"openAI_key": "sk-bench"},
        "actions": [
            {
                "action_type": "batch_predict",
                "method": "POST",
                "url": "https://api.openai.com/v1/batches",
                "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
                "request_body": '{ "input_file_id": "${parameters.input_file_id}", '
                '"endpoint": "${parameters.endpoint}", "completion_window": "24h" }',
            }
        ],
    }
    connector_id = client.post(
        "/_plugins/_ml/connectors/_create", json=connector
    ).get_json()["connector_id"]
    model_id = client.post(
        "/_plugins/_ml/models/_register?deploy=true",
        json={"name": "bench", "function_name": "remote", "connector_id": connector_id},
    ).get_json()["model_id"]
    return client, model_id


def _wait(rig: Rig, counters: Counters, name: str, target: int) -> None:
    deadline = time.monotonic() + 300
    while True:
        done = sum(v for (n, _, _), v in counters.snapshot().items() if n == name)
        if done >= target:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {target} {name} within 300 s")
        time.sleep(0.05)


def _wait_ready(worker: procs.Proc, timeout_s: float = 60) -> None:
    """Wait for Celery's "ready." line, so start-up is not measured."""
    deadline = time.monotonic() + timeout_s
    while "ready." not in worker.log_tail(400):
        if worker.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{worker.name} did not start:\n{worker.log_tail()}")
        time.sleep(0.1)


def _post(url: str, body: dict) -> None:
    import urllib.request

    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--refreshes", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    print(json.dumps(run(args.tasks, args.refreshes), indent=2))


if __name__ == "__main__":
    main()
