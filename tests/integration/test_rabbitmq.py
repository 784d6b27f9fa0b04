"""RabbitMQ as the broker, Redis kept for the state and beat's schedule: a job
runs end to end with every message through a vhost of its own."""

import json
import os
import secrets
import shutil
import subprocess

import openai
import pytest
import redis

from scripts import procs
from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR, register_remote_model
from tests.integration.conftest import client_for, wait_for_task

pytestmark = pytest.mark.integration

RABBITMQ_PORT = 5672


def _rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def vhost():
    """A RabbitMQ vhost of the test's own, so no queue of anyone else's is
    touched. CI starts RabbitMQ (.ci/run); elsewhere the test is skipped."""
    if not procs.port_open(RABBITMQ_PORT) or shutil.which("rabbitmqctl") is None:
        message = f"RabbitMQ is not running on 127.0.0.1:{RABBITMQ_PORT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"batchpredict-test-{secrets.token_hex(4)}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield name
    _rabbitmqctl("delete_vhost", name)


def test_a_job_runs_end_to_end_over_rabbitmq(private_stack, vhost, sandbox_url):
    # Given a worker and a beat whose broker is RabbitMQ and an API sending there
    broker = f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}/{vhost}"
    stack = private_stack({"BATCHPREDICT_BROKER_URL": broker})
    worker = stack.start_worker()
    stack.start_beat()
    client = client_for(stack)
    sdk = openai.OpenAI(api_key="sk-test", base_url=f"{sandbox_url}/v1", max_retries=0)
    lines = [
        {
            "custom_id": f"doc-{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": f"text {i}"},
        }
        for i in range(5)
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    connector = OPENAI_BATCH_CONNECTOR | {
        "parameters": {
            **OPENAI_BATCH_CONNECTOR["parameters"],
            "input_file_id": sdk.files.create(
                file=("in.jsonl", data), purpose="batch"
            ).id,
        }
    }
    model_id = register_remote_model(client, connector)

    # When a batch is predicted
    response = client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict", json={"parameters": {}}
    )

    # Then it completes, its queue lives in the vhost and Redis carried no
    # message; the worker took the Redis-only transport options in its stride
    task = wait_for_task(client, response.get_json()["task_id"])
    assert task["state"] == "COMPLETED", task
    assert task["results"]["request_counts"]["succeeded"] == 5
    queues = _rabbitmqctl("list_queues", "-p", vhost, "name", "--no-table-headers")
    assert "batchpredict" in queues.split()
    redis_broker_db = stack.db_base + 1
    with redis.Redis(port=stack.redis_port, db=redis_broker_db) as broker_db:
        assert broker_db.dbsize() == 0
    assert "amqp://guest:**@127.0.0.1:5672/" in worker.log_tail(200)
    assert "Traceback" not in worker.log_tail(200)
