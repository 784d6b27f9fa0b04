"""The main job end to end: _batch_predict through Flask, Celery and the
OpenAI Batch API (the sandbox), driven by the official SDK."""

import copy
import json

import openai
import pytest

from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR, register_remote_model
from tests.integration.conftest import wait_for_task

pytestmark = pytest.mark.integration


def _sdk(sandbox_url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=f"{sandbox_url}/v1", max_retries=0)


def _upload(sdk, lines: list[dict]) -> str:
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    uploaded = sdk.files.create(
        file=("input.jsonl", data.encode("utf-8")), purpose="batch"
    )
    return uploaded.id


def _embedding_lines(texts: list[str]) -> list[dict]:
    return [
        {
            "custom_id": f"doc-{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {
                "model": "text-embedding-3-small",
                "input": text,
                "dimensions": 64,
            },
        }
        for i, text in enumerate(texts)
    ]


def _model_for(client, file_id: str, endpoint: str = "/v1/embeddings") -> str:
    connector = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    connector["parameters"].update(input_file_id=file_id, endpoint=endpoint)
    return register_remote_model(client, connector)


def test_batch_predict_runs_to_completion_with_every_result(client, sandbox_url):
    # Given an uploaded input file and a model on the blueprint connector
    sdk = _sdk(sandbox_url)
    texts = [f"paragraph number {i} about batch inference" for i in range(25)]
    model_id = _model_for(client, _upload(sdk, _embedding_lines(texts)))

    # When the batch is predicted
    response = client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict", json={"parameters": {}}
    )

    # Then a task is created at once and later completes with every result
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "CREATED"
    task = wait_for_task(client, body["task_id"])
    assert task["state"] == "COMPLETED", task
    assert task["task_type"] == "BATCH_PREDICTION"
    assert task["function_name"] == "REMOTE"
    assert task["remote_job"]["status"] == "completed"
    assert task["remote_job"]["metadata"]["batchpredict_task_id"] == body["task_id"]
    assert task["results"]["request_counts"] == {
        "total": 25,
        "succeeded": 25,
        "failed": 0,
    }
    assert task["last_update_time"] >= task["create_time"]
    output = sdk.files.content(task["results"]["output_location"]).text
    ids = [json.loads(line)["custom_id"] for line in output.splitlines()]
    assert sorted(ids) == sorted(f"doc-{i}" for i in range(25))


def test_request_parameters_override_the_connector(client, sandbox_url):
    # Given a connector whose input_file_id is a placeholder
    sdk = _sdk(sandbox_url)
    model_id = _model_for(client, "file-does-not-exist")
    file_id = _upload(sdk, _embedding_lines(["one", "two"]))

    # When the request names the real file
    response = client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict",
        json={"parameters": {"input_file_id": file_id}},
    )

    # Then the request's parameter wins
    task = wait_for_task(client, response.get_json()["task_id"])
    assert task["state"] == "COMPLETED", task
    assert task["remote_job"]["input_file_id"] == file_id


def test_unknown_input_file_fails_the_task_with_the_providers_words(client):
    # Given a model whose file does not exist at the provider
    model_id = _model_for(client, "file-missing")

    # When it is predicted
    response = client.post(f"/_plugins/_ml/models/{model_id}/_batch_predict", json={})

    # Then the task fails and says why
    task = wait_for_task(client, response.get_json()["task_id"])
    assert task["state"] == "FAILED"
    assert "file-missing" in task["error"]
