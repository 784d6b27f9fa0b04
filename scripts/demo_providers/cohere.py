"""The demo's Cohere side: records in as an embed-input dataset, vectors out.

Both ends use the official SDK against the sandbox, the way a user would
against Cohere: ``datasets.create`` before the task, ``datasets.get`` and the
SDK's Avro part reader after it.
"""

import json
import re
import time

import cohere
from cohere.utils import dataset_generator

from scripts.demo_providers import DemoEnv

#: The model the demo's connector names (384 dimensions).
MODEL = "embed-english-light-v3.0"
#: Any non-empty key: the sandbox checks that one is sent, not which.
DEMO_KEY = "sandbox-demo-key"
VALIDATION_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.2

_REQUEST_BODY = (
    '{ "model": "${parameters.model}", "dataset_id": "${parameters.dataset_id}", '
    '"input_type": "${parameters.input_type}", "embedding_types": ["float"] }'
)
_EMBEDDER = re.compile(r"embedder: (\S+)")


def _client(env: DemoEnv) -> cohere.ClientV2:
    # base_url is explicit: the SDK's default is frozen at its first import.
    return cohere.ClientV2(api_key=DEMO_KEY, base_url=env.sandbox_url)


def prepare(records: list[tuple[str, str]], env: DemoEnv) -> tuple[dict, dict]:
    """Upload ``records`` as a jsonl dataset and return connector and parameters."""
    lines = [
        json.dumps({"text": text, "id": record_id}, ensure_ascii=False)
        for record_id, text in records
    ]
    upload = ("\n".join(lines) + "\n").encode("utf-8")
    with _client(env) as client:
        created = client.datasets.create(
            name=f"demo-{env.run_id}"[:49],
            type="embed-input",
            data=(f"demo-{env.run_id}.jsonl", upload),
            keep_fields=["id"],
        )
        _wait_validated(client, created.id)
    return _connector(), {"dataset_id": created.id}


def _wait_validated(client: cohere.ClientV2, dataset_id: str) -> None:
    deadline = time.monotonic() + VALIDATION_TIMEOUT_S
    while time.monotonic() < deadline:
        dataset = client.datasets.get(dataset_id).dataset
        if dataset.validation_status == "validated":
            return
        if dataset.validation_status in ("failed", "skipped", "unknown"):
            raise RuntimeError(
                f"dataset {dataset_id} ended {dataset.validation_status}: "
                f"{dataset.validation_error}"
            )
        time.sleep(POLL_INTERVAL_S)
    raise RuntimeError(
        f"dataset {dataset_id} was not validated within {VALIDATION_TIMEOUT_S:.0f}s"
    )


def _connector() -> dict:
    return {
        "name": "Cohere embed jobs (demo)",
        "description": "Batch embeddings through Cohere embed jobs",
        "version": "1",
        "protocol": "http",
        "credential": {"cohere_key": DEMO_KEY},
        "parameters": {"model": MODEL, "input_type": "search_document"},
        "actions": [
            {
                "action_type": "batch_predict",
                "method": "POST",
                "url": "https://api.cohere.ai/v1/embed-jobs",
                "headers": {"Authorization": "Bearer ${credential.cohere_key}"},
                "request_body": _REQUEST_BODY,
            }
        ],
    }


def collect(task: dict, env: DemoEnv) -> tuple[dict[str, list[float]], str]:
    """Read the task's output dataset and return vectors by record id."""
    output_id = (task.get("remote_job") or {}).get("output_dataset_id") or (
        (task.get("results") or {}).get("output_location")
    )
    if not output_id:
        raise RuntimeError(f"task {task.get('task_id')} names no output dataset")
    with _client(env) as client:
        dataset = client.datasets.get(output_id).dataset
    vectors = {}
    for row in dataset_generator(dataset):
        vectors[str(row["id"])] = row["embeddings"]["float"]
    return vectors, _embedder_of(dataset, task)


def _embedder_of(dataset, task: dict) -> str:
    """The sandbox names its embedder in a warning; Cohere itself does not."""
    meta = (task.get("remote_job") or {}).get("meta") or {}
    warnings = list(dataset.validation_warnings or []) + list(
        meta.get("warnings") or []
    )
    for warning in warnings:
        found = _EMBEDDER.search(warning)
        if found:
            return found.group(1)
    return (task.get("remote_job") or {}).get("model") or MODEL
