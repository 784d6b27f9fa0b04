"""``make bench``: every benchmark in one run, each figure beside a baseline
measured in the same run on the same machine.

1. The API: ``_batch_predict`` requests per second under gunicorn with the
   Procfile's server settings, beside a bare Flask endpoint on the same
   settings (``make_bare_app``).
2. Celery: refreshes per second, beside a no-op task on the same broker, with
   1, 2 and 4 worker processes (``scripts.bench_scaling``).
3. Polling at scale (``scripts.bench_polling``), with fewer tasks by default.

Everything runs on loopback against a private Redis and sandbox; request
counts are bounded. The figures in docs/BENCHMARKS.md come from this command.
"""

import argparse
import http.client
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from flask import Flask, jsonify, request

from scripts import bench_scaling, procs
from scripts.stack import BIN

# The Procfile's web line, minus the bind address.
GUNICORN_SETTINGS = [
    "--workers",
    "2",
    "--worker-class",
    "gthread",
    "--threads",
    "4",
    "--no-control-socket",
]


def make_bare_app() -> Flask:
    """The baseline: reads a JSON body and answers like _batch_predict, with
    no store, no template and no queue behind it."""
    app = Flask("bare")

    @app.post("/bare")
    def bare():
        request.get_json()
        return jsonify(task_id="0" * 20, status="CREATED")

    return app


def load(port: int, path: str, body: bytes, requests: int, threads: int) -> dict:
    """POST ``body`` ``requests`` times from ``threads`` keep-alive clients."""
    per_thread = requests // threads
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        seen = []
        for _ in range(per_thread):
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            seen.append(response.status)
        conn.close()
        with lock:
            statuses.extend(seen)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed_s = time.perf_counter() - started
    ok = sum(1 for status in statuses if status == 200)
    return {"requests_per_s": round(len(statuses) / elapsed_s, 1), "ok": ok}


def bench_api(rig: bench_scaling.Rig, requests: int, threads: int, progress) -> dict:
    rig.store.redis.flushall()
    _, model_id = bench_scaling._model(rig)
    env = rig.stack.env()
    results = {}
    for name, target, path in (
        ("bare flask", "scripts.bench:make_bare_app()", "/bare"),
        ("_batch_predict", "api.wsgi:app", f"/_plugins/_ml/models/{model_id}"),
    ):
        port = procs.free_port()
        argv = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}"]
        server = procs.start(
            f"gunicorn-{port}", argv + GUNICORN_SETTINGS + [target], rig.run_dir, env
        )
        try:
            procs.wait_for_port(server, port)
            path = path if path == "/bare" else f"{path}/_batch_predict"
            body = json.dumps({"parameters": {}}).encode()
            load(port, path, body, min(200, requests), threads)  # warm-up
            progress(f"api: {requests} POST {path} from {threads} threads")
            results[name] = load(port, path, body, requests, threads)
        finally:
            server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--refreshes", type=int, default=2)
    parser.add_argument("--polling-tasks", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    progress = _progress

    results = {}
    rig = bench_scaling.Rig(Path(tempfile.mkdtemp(prefix="batchpredict-bench-")))
    try:
        results["api"] = bench_api(rig, args.requests, args.threads, progress)
    finally:
        rig.stop()
    results["celery"] = bench_scaling.run(args.tasks, args.refreshes, progress=progress)
    results["polling"] = bench_polling(args.polling_tasks, progress)
    print(json.dumps(results, indent=2))
    _summary(results)


def bench_polling(tasks: int, progress) -> dict:
    """Issue 4's polling benchmark, when it is there."""
    try:
        from scripts import bench_polling
    except ImportError:
        return {"skipped": "scripts/bench_polling.py is not there"}
    progress(f"polling: {tasks} RUNNING tasks")
    return bench_polling.run(tasks, progress=progress)


def _summary(results: dict) -> None:
    api = results["api"]
    ratio = (
        api["_batch_predict"]["requests_per_s"] / api["bare flask"]["requests_per_s"]
    )
    print(f"_batch_predict runs at {ratio:.0%} of a bare Flask endpoint's rate")
    celery = results["celery"]
    noop = celery["noop"]["tasks_per_s"]
    for count in bench_scaling.WORKER_COUNTS:
        figures = celery[f"{count} workers"]
        print(
            f"{count} worker(s): {figures['refreshes_per_s']} refreshes/s "
            f"({figures['refreshes_per_s'] / noop:.0%} of 1 worker's no-op rate), "
            f"{figures['submits_per_s']} submits/s"
        )


def _progress(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


if __name__ == "__main__":
    main()
