"""The demo's OpenAI path: one ``/v1/embeddings`` request per record."""

import json

import openai

from scripts.demo_providers import DemoEnv

MODEL = "text-embedding-3-small"
DIMENSIONS = 256


def _client(env: DemoEnv) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-demo", base_url=f"{env.sandbox_url}/v1", max_retries=2
    )


def prepare(records: list[tuple[str, str]], env: DemoEnv) -> tuple[dict, dict]:
    lines = [
        {
            "custom_id": record_id,
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": MODEL, "input": text, "dimensions": DIMENSIONS},
        }
        for record_id, text in records
    ]
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    uploaded = _client(env).files.create(
        file=(f"demo-{env.run_id}.jsonl", data.encode("utf-8")), purpose="batch"
    )
    connector = {
        "name": "OpenAI embedding model for offline batch",
        "description": "The OpenAI batch blueprint, as ML Commons publishes it",
        "version": "1",
        "protocol": "http",
        "parameters": {
            "model": MODEL,
            "input_file_id": uploaded.id,
            "endpoint": "/v1/embeddings",
        },
        "credential": {"openAI_key": "sk-demo"},
        "actions": [
            {
                "action_type": "batch_predict",
                "method": "POST",
                "url": "https://api.openai.com/v1/batches",
                "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
                "request_body": '{ "input_file_id": "${parameters.input_file_id}", '
                '"endpoint": "${parameters.endpoint}", '
                '"completion_window": "24h" }',
            }
        ],
    }
    return connector, {}


def collect(task: dict, env: DemoEnv) -> tuple[dict[str, list[float]], str]:
    file_id = task["remote_job"].get("output_file_id")
    if not file_id:
        raise RuntimeError(f"the batch has no output file: {task['remote_job']}")
    content = _client(env).files.content(file_id).content.decode("utf-8")
    vectors, embedder = {}, "unknown"
    for line in content.splitlines():
        row = json.loads(line)
        body = row["response"]["body"]
        if row["custom_id"] in vectors:
            raise RuntimeError(f"custom_id {row['custom_id']} came back twice")
        vectors[row["custom_id"]] = body["data"][0]["embedding"]
        embedder = body.get("x_sandbox_embedder") or body.get("model") or embedder
    return vectors, embedder
