"""Celery Flower beside a real worker: it sees the worker and the submit and
refresh tasks of a job, through its own REST API and behind basic auth."""

import base64
import copy
import json
import secrets
import time
import urllib.error
import urllib.request

import openai
import pytest

from scripts import procs
from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR, register_remote_model
from tests.integration.conftest import wait_for_task

pytestmark = pytest.mark.integration


@pytest.fixture
def flower(stack):
    port, password = procs.free_port(), secrets.token_urlsafe(12)
    proc = stack.start_flower(port, password)
    yield f"http://127.0.0.1:{port}", ("admin", password)
    proc.stop()
    stack.running.pop("flower", None)


def _get(url: str, login: tuple[str, str] | None):
    request = urllib.request.Request(url)
    if login:
        token = base64.b64encode(":".join(login).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _poll(fetch, done, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def _run_job(client, sandbox_url: str) -> str:
    sdk = openai.OpenAI(api_key="sk-test", base_url=f"{sandbox_url}/v1", max_retries=0)
    line = {
        "custom_id": "doc-0",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "text-embedding-3-small", "input": "flower", "dimensions": 8},
    }
    file_id = sdk.files.create(
        file=("input.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch"
    ).id
    connector = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    connector["parameters"]["input_file_id"] = file_id
    model_id = register_remote_model(client, connector)
    response = client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict", json={"parameters": {}}
    )
    task_id = response.get_json()["task_id"]
    assert wait_for_task(client, task_id)["state"] == "COMPLETED"
    return task_id


def test_flower_shows_the_worker_and_a_jobs_tasks(stack, flower, client, sandbox_url):
    # Given Flower beside the worker, with a password
    url, login = flower

    # When a job runs to completion
    task_id = _run_job(client, sandbox_url)

    # Then Flower's API lists the worker and the job's submit and refresh tasks
    workers = _poll(
        lambda: _get(f"{url}/api/workers?refresh=1", login),
        lambda found: any(name.startswith("worker@") for name in found),
    )
    assert any(name.startswith("worker@") for name in workers), workers

    def tasks_of_job():
        found = _get(f"{url}/api/tasks?limit=1000", login).values()
        return {t["name"] for t in found if task_id in (t.get("args") or "")}

    names = _poll(
        tasks_of_job, lambda n: {"batchpredict.submit", "batchpredict.refresh"} <= n
    )
    assert {"batchpredict.submit", "batchpredict.refresh"} <= names
    submits = _get(f"{url}/api/tasks?taskname=batchpredict.submit", login).values()
    assert any(t["state"] == "SUCCESS" and task_id in t["args"] for t in submits)


def test_flower_api_refuses_a_caller_without_the_password(flower):
    url, (user, _) = flower

    for login in (None, (user, "wrong")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(f"{url}/api/workers", login)
        refused.value.close()
        assert refused.value.code == 401
