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
import sys
import tempfile
import time
import uuid
from pathlib import Path

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
    """Paragraphs of the language reference that span more than one line."""
    from pydoc_data.topics import topics

    records = []
    for topic in sorted(topics):
        paragraphs = [p.strip() for p in topics[topic].split("\n\n")]
        for number, paragraph in enumerate(p for p in paragraphs if "\n" in p):
            records.append((f"{topic}-{number}", paragraph))
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", default="openai", choices=PROVIDERS + ("all",))
    parser.add_argument(
        "--limit", type=int, default=0, help="use only the first N paragraphs (0: all)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for each task"
    )
    args = parser.parse_args(argv)

    run_dir = Path(tempfile.mkdtemp(prefix="batchpredict-demo-"))
    stack = Stack(
        run_dir=run_dir,
        redis_port=int(os.environ.get("DEMO_REDIS_PORT", "6379")),
        api_port=int(os.environ.get("BATCHPREDICT_API_PORT", "8000")),
        sandbox_port=int(os.environ.get("SANDBOX_PORT", "8090")),
        s3_port=int(os.environ.get("S3_PORT", "8091")),
    )
    _check_ports(stack)
    print(f"batchpredict demo: logs in {run_dir}")
    settings = Settings.from_env({**os.environ, **stack.env()})
    api_keys, key_id = None, None
    try:
        _step(
            "starting Redis, S3 (moto), sandbox, API, worker and beat", stack.start_all
        )
        procs.wait_for_http(f"{stack.api_url}/")
        token = None
        if settings.auth_enabled:
            api_keys = ApiKeys.from_settings(settings)
            key_id, token = api_keys.create("demo", [], admin=True)
            print(f"authentication: on (admin API key {key_id}, revoked at the end)")
        else:
            print("authentication: off (BATCHPREDICT_AUTH_ENABLED=false)")
        records = reference_paragraphs()
        if args.limit:
            records = records[: args.limit]
        records.append((QUERY_ID, QUERY_TEXT))
        providers = PROVIDERS if args.provider == "all" else (args.provider,)
        failures = [
            name
            for name in providers
            if not run_provider(name, records, stack, args.timeout, token)
        ]
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
        if key_id is not None:
            api_keys.revoke(key_id)
        _step("stopping everything", stack.stop)
    if failures:
        print(f"FAILED providers: {', '.join(failures)}")
        return 1
    print("demo finished: every step passed")
    return 0


def run_provider(
    name: str, records, stack: Stack, timeout_s: float, token: str | None
) -> bool:
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
        return False
    vectors, embedder = _step(
        "downloading the results with the official SDK", module.collect, task, env
    )
    return report(records, vectors, embedder, time.monotonic() - started)


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
            done = "" if line[3] is None else f"  {line[2] or 0}/{line[3]} done"
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
    print(f"seconds:    {seconds:.1f}")
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
        snippet = " ".join(texts[record_id].split())[:70]
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
