"""The main job on real input: ``make demo [PROVIDER=openai|sagemaker|cohere|
bedrock|all]``.

It embeds the paragraphs of the Python language reference that ship with
CPython (``pydoc_data.topics``) through the whole stack: the sandbox provider,
the REST API under gunicorn, a Celery worker and beat. It checks that every
record came back exactly once, prints a summary and a nearest-neighbour
query, stops everything it started, and exits non-zero if a step failed.
"""

import argparse
import functools
import importlib
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

from api.keys import ApiKeys
from common.settings import Settings
from scripts import procs
from scripts.demo_providers import DemoEnv
from scripts.http import HttpError
from scripts.http import call as _call
from scripts.stack import Stack

PROVIDERS = ("openai", "sagemaker", "cohere", "bedrock")
QUERY_ID = "query"
QUERY_TEXT = "catch an exception raised in a try statement and handle it"


def reference_paragraphs() -> list[tuple[str, str]]:
    """Paragraphs of the language reference that span more than one line,
    each text once (a few topics repeat a paragraph)."""
    from pydoc_data.topics import topics

    records, seen = [], set()
    for topic in sorted(topics):
        paragraphs = [p.strip() for p in topics[topic].split("\n\n")]
        for number, paragraph in enumerate(p for p in paragraphs if "\n" in p):
            if paragraph not in seen:
                seen.add(paragraph)
                records.append((f"{topic}-{number}", paragraph))
    return records


def main(argv=None) -> int:
    args = _arguments(argv)
    run_id = uuid.uuid4().hex[:8]
    run_dir = Path(tempfile.mkdtemp(prefix="batchpredict-demo-"))
    stack = Stack(
        run_dir=run_dir,
        redis_port=int(os.environ.get("DEMO_REDIS_PORT", "6379")),
        api_port=int(os.environ.get("BATCHPREDICT_API_PORT", "8000")),
        sandbox_port=int(os.environ.get("SANDBOX_PORT", "8090")),
        s3_port=int(os.environ.get("S3_PORT", "8091")),
        # Its own key prefix: the demo removes what it wrote when it ends.
        extra_env={"BATCHPREDICT_KEY_PREFIX": f"bp-demo-{run_id}"},
    )
    _check_ports(stack)
    print(f"batchpredict demo: logs in {run_dir}")
    try:
        results = _run(args, stack)
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    except Exception as exc:  # the demo reports and stops whatever went wrong
        print(f"\nFAILED: {exc}")
        for name, proc in stack.running.items():
            print(
                f"--- last lines of {name} ({proc.log_path}) ---\n{proc.log_tail(15)}"
            )
        return 1
    finally:
        _step("stopping everything", _stop, stack)
    return _summary(results, run_dir)


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", default="openai", choices=PROVIDERS + ("all",))
    parser.add_argument(
        "--limit", type=int, default=0, help="use only the first N paragraphs (0: all)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for each task"
    )
    return parser.parse_args(argv)


def _run(args, stack: Stack) -> dict[str, float | None]:
    """Start the stack, run each provider; ``{provider: seconds or None}``."""
    if procs.port_open(stack.redis_port):
        print(f"using the Redis on 127.0.0.1:{stack.redis_port}")
    _step("starting S3 (moto), sandbox, API, worker and beat", stack.start_all)
    procs.wait_for_http(f"{stack.api_url}/")
    settings = Settings.from_env({**os.environ, **stack.env()})
    token = None
    if settings.auth_enabled:
        _, token = ApiKeys.from_settings(settings).create("demo", [], admin=True)
        print(
            "authentication: on (an admin API key for this run; the demo's "
            "data, key included, is removed at the end)"
        )
    else:
        print("authentication: off (BATCHPREDICT_AUTH_ENABLED=false)")
    records = reference_paragraphs()
    if args.limit:
        records = records[: args.limit]
    records.append((QUERY_ID, QUERY_TEXT))
    providers = PROVIDERS if args.provider == "all" else (args.provider,)
    return {
        name: run_provider(name, records, stack, args.timeout, token)
        for name in providers
    }


def _stop(stack: Stack) -> None:
    """Stop the processes, then remove every key the demo wrote."""
    env = stack.env()
    prefix = env["BATCHPREDICT_KEY_PREFIX"]
    stack.stop()
    for url in (env["BATCHPREDICT_REDIS_URL"], env["BATCHPREDICT_BEAT_REDIS_URL"]):
        try:
            with redis.Redis.from_url(url) as client:
                for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                    client.delete(key)
        except redis.ConnectionError:
            pass  # the Redis the demo started is gone with its data


def _summary(results: dict, run_dir: Path) -> int:
    if len(results) > 1:
        print("\nsummary:")
        for name, seconds in results.items():
            outcome = "FAILED" if seconds is None else f"passed in {seconds:.1f}s"
            print(f"  {name:<10} {outcome}")
    failures = [name for name, seconds in results.items() if seconds is None]
    if failures:
        print(f"FAILED providers: {', '.join(failures)}; logs in {run_dir}")
        return 1
    shutil.rmtree(run_dir, ignore_errors=True)
    print("demo finished: every step passed")
    return 0


def run_provider(
    name: str, records, stack: Stack, timeout_s: float, token: str | None
) -> float | None:
    """Run the job through one provider; its seconds, or None if it failed."""
    print(f"\n== {name}: {len(records)} requests ==")
    call = functools.partial(_call, token=token)
    module = importlib.import_module(f"scripts.demo_providers.{name}")
    env = DemoEnv(
        sandbox_url=stack.sandbox_url,
        s3_endpoint_url=stack.s3_url,
        run_id=uuid.uuid4().hex[:10],
    )
    api = f"{stack.api_url}/_plugins/_ml"
    started = time.monotonic()
    connector, parameters = _step(
        "uploading the input with the official SDK", module.prepare, records, env
    )
    connector_id = call("POST", f"{api}/connectors/_create", connector)["connector_id"]
    group = call(
        "POST", f"{api}/model_groups/_register", {"name": f"demo-{name}-{env.run_id}"}
    )
    model = call(
        "POST",
        f"{api}/models/_register?deploy=true",
        {
            "name": f"demo {name}",
            "function_name": "remote",
            "model_group_id": group["model_group_id"],
            "connector_id": connector_id,
        },
    )
    print(f"connector {connector_id}, model {model['model_id']}")
    answer = call(
        "POST",
        f"{api}/models/{model['model_id']}/_batch_predict",
        {"parameters": parameters},
    )
    print(f"task {answer['task_id']}: {answer['status']}")
    task = follow(api, answer["task_id"], timeout_s, call)
    if task["state"] != "COMPLETED":
        print(f"task ended {task['state']}: {task.get('error')}")
        return None
    vectors, embedder = _step(
        "downloading the results with the official SDK", module.collect, task, env
    )
    seconds = time.monotonic() - started
    return seconds if report(records, vectors, embedder, seconds) else None


def follow(api: str, task_id: str, timeout_s: float, call=None) -> dict:
    """Poll the tasks API, printing each change, until the task ends."""
    call = call or _call
    deadline = time.monotonic() + timeout_s
    started, last = time.monotonic(), None
    while True:
        task = call("GET", f"{api}/tasks/{task_id}")
        counts = (task.get("results") or {}).get("request_counts") or {}
        status = task.get("remote_job", {}) or {}
        line = (
            task["state"],
            _provider_status(status),
            counts.get("succeeded"),
            counts.get("total"),
        )
        if line != last:
            done = "" if not line[3] else f"  {line[2] or 0}/{line[3]} done"
            print(
                f"  {time.monotonic() - started:6.1f}s  {line[0]:<21} "
                f"{line[1] or '':<12}{done}",
                flush=True,
            )
            last = line
        if task["state"] not in ("CREATED", "RUNNING", "CANCELLING"):
            return task
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"task {task_id} still {task['state']} after "
                f"{timeout_s:.0f}s; see the worker log"
            )
        time.sleep(0.5)


def _provider_status(remote_job: dict):
    for name in ("status", "TransformJobStatus"):
        if remote_job.get(name):
            return remote_job[name]
    return None


def report(records, vectors: dict, embedder: str, seconds: float) -> bool:
    wanted = {record_id for record_id, _ in records}
    missing, extra = wanted - set(vectors), set(vectors) - wanted
    if missing or extra:
        print(
            f"results do not match the requests: {len(missing)} missing "
            f"(e.g. {sorted(missing)[:3]}), {len(extra)} unexpected"
        )
        return False
    dims = {len(v) for v in vectors.values()}
    print(f"requests:   {len(records)}, every id back exactly once")
    print(f"seconds:    {seconds:.1f} (upload to results downloaded)")
    print(f"dimension:  {', '.join(map(str, sorted(dims)))}")
    print(f"embedder:   {embedder}")
    texts = dict(records)
    query = vectors[QUERY_ID]
    ranked = sorted(
        ((_cosine(query, v), k) for k, v in vectors.items() if k != QUERY_ID),
        reverse=True,
    )[:3]
    print(f'nearest to "{QUERY_TEXT}":')
    for score, record_id in ranked:
        text = " ".join(texts[record_id].split())
        snippet = text if len(text) <= 70 else text[:69].rsplit(" ", 1)[0] + " …"
        print(f"  {score:.3f}  {record_id:<24} {snippet}")
    return True


def _cosine(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _step(title: str, function, *args):
    print(f"{title} ...", flush=True)
    return function(*args)


def _check_ports(stack: Stack) -> None:
    for name, port in (
        ("API", stack.api_port),
        ("sandbox", stack.sandbox_port),
        ("S3", stack.s3_port),
    ):
        if procs.port_open(port):
            raise SystemExit(
                f"port {port} for the {name} is taken; stop what runs there "
                "(`make up`?) and try again"
            )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HttpError as exc:
        print(f"FAILED: {exc}")
        sys.exit(1)
