"""Every provider end to end through the REST API: the demo's own provider
modules upload the input and read the output with each official SDK, and
the job in between runs through Flask, Celery and the sandbox."""

import importlib
import os
import subprocess
import sys
import uuid

import pytest

from scripts import procs
from scripts.demo_providers import DemoEnv
from tests.integration.conftest import wait_for_task

pytestmark = pytest.mark.integration

RECORDS = [
    ("r-0", "The with statement wraps a block in a context manager."),
    ("r-1", "中文的句子 with emoji 🎉 and 𝐛𝐨𝐥𝐝 letters"),
    ("r-2", "A try statement catches exceptions raised in its suite."),
    ("r-3", "Augmented assignment combines a binary operation and assignment."),
]


@pytest.mark.parametrize("provider", ["openai", "sagemaker", "cohere", "bedrock"])
def test_provider_runs_end_to_end(provider, client, sandbox_url, moto_s3_url):
    # Given the input where the provider reads it and its connector
    module = importlib.import_module(f"scripts.demo_providers.{provider}")
    env = DemoEnv(
        sandbox_url=sandbox_url,
        s3_endpoint_url=moto_s3_url,
        run_id=uuid.uuid4().hex[:10],
    )
    connector, parameters = module.prepare(RECORDS, env)
    connector_id = client.post(
        "/_plugins/_ml/connectors/_create", json=connector
    ).get_json()["connector_id"]
    model_id = client.post(
        "/_plugins/_ml/models/_register?deploy=true",
        json={
            "name": provider,
            "function_name": "remote",
            "connector_id": connector_id,
        },
    ).get_json()["model_id"]

    # When the batch is predicted
    response = client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict",
        json={"parameters": parameters},
    )

    # Then it completes, says where its results are, and every record is back
    assert response.status_code == 200, response.get_json()
    task = wait_for_task(client, response.get_json()["task_id"])
    assert task["state"] == "COMPLETED", task
    assert task["provider"] == provider
    assert task["results"]["output_location"]
    vectors, embedder = module.collect(task, env)
    assert sorted(vectors) == [record_id for record_id, _ in RECORDS]
    assert len({len(v) for v in vectors.values()}) == 1
    assert "sandbox" in embedder


def test_demo_runs_under_gunicorn_and_exits_zero(run_dir):
    # Given free ports, so the demo starts its own Redis and servers
    env = dict(os.environ)
    env.update(
        DEMO_REDIS_PORT=str(procs.free_port()),
        BATCHPREDICT_API_PORT=str(procs.free_port()),
        SANDBOX_PORT=str(procs.free_port()),
        S3_PORT=str(procs.free_port()),
    )

    # When the demo runs on a slice of the real input
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo", "--limit", "40"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=procs.ROOT,
    )

    # Then it reports every record back and stops cleanly
    assert result.returncode == 0, result.stdout + result.stderr
    assert "41, every id back exactly once" in result.stdout
    assert "demo finished: every step passed" in result.stdout
    assert "authentication: on (an admin API key" in result.stdout
    for port in ("BATCHPREDICT_API_PORT", "SANDBOX_PORT", "S3_PORT"):
        assert not procs.port_open(int(env[port]))
