"""Fixtures every test package shares: loopback servers and a clean slate.

Servers are started once per session on free ports and reset before each
test that uses them.
"""

import json
import os
import urllib.request
from pathlib import Path

import pytest

from scripts import procs


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="session")
def redis_port(run_dir):
    """A private redis-server for the session; tests own every database."""
    port = procs.free_port()
    proc = procs.start_redis(port, run_dir / "redis")
    yield port
    proc.stop()


@pytest.fixture
def test_settings(redis_port):
    """Settings for in-process tests: database 3 of the private Redis."""
    from common.settings import Settings

    return Settings(
        redis_url=f"redis://127.0.0.1:{redis_port}/3",
        broker_url=f"redis://127.0.0.1:{redis_port}/4",
        master_key="A" * 43 + "=",
        # Authentication has tests of its own (tests/api/test_auth*.py).
        auth_enabled=False,
    )


@pytest.fixture
def store(test_settings):
    """A Store on a freshly emptied database."""
    from common.store import Store

    store = Store(test_settings)
    store.redis.flushdb()
    yield store
    store.redis.close()


@pytest.fixture(scope="session")
def moto_s3_url(run_dir):
    """moto's S3 in server mode on loopback."""
    port = procs.free_port()
    proc = procs.start_moto(port, run_dir)
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="session")
def sandbox_server(run_dir, moto_s3_url):
    port = procs.free_port()
    proc = procs.start_sandbox(
        port, run_dir, run_dir / "sandbox-data", s3_endpoint_url=moto_s3_url
    )
    yield proc, f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture
def sandbox_url(sandbox_server, moto_s3_url) -> str:
    """The sandbox's base URL, with every job, file, fault and counter reset."""
    _, url = sandbox_server
    post_json(f"{url}/_sandbox/reset", {})
    post_json(f"{moto_s3_url}/moto-api/reset", {})
    return url


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """Tests start from the same environment whatever the shell exported."""
    for name in list(os.environ):
        if name.startswith(("BATCHPREDICT_", "OPENAI_", "CO_", "AWS_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def post_json(url: str, body) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else {}


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())
