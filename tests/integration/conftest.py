"""The running system for integration tests: a private Redis, the sandbox,
moto's S3, a Celery worker and Celery beat as real processes, and the Flask
app in this process talking to the same Redis."""

import base64
import itertools
import os
import time

import pytest
import redis

from api.app import create_app
from common.settings import Settings
from common.states import TERMINAL_STATES
from scripts.stack import Stack


@pytest.fixture(scope="session")
def stack(run_dir, redis_port, sandbox_server, moto_s3_url):
    """A worker and a beat for the whole session, sharing Redis and the sandbox."""
    _, sandbox_url = sandbox_server
    stack = Stack(
        run_dir=run_dir,
        redis_port=redis_port,
        sandbox_port=int(sandbox_url.rsplit(":", 1)[1]),
        s3_port=int(moto_s3_url.rsplit(":", 1)[1]),
        extra_env={
            "BATCHPREDICT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "BATCHPREDICT_REFRESH_MIN_S": "0.3",
            "BATCHPREDICT_REFRESH_MAX_S": "2",
            "BATCHPREDICT_SWEEP_INTERVAL_S": "0.5",
            "BATCHPREDICT_LEASE_S": "8",
            "BATCHPREDICT_PROVIDER_TIMEOUT_S": "6",
            "LC_ALL": "C",
        },
    )
    stack.start_worker()
    stack.start_beat()
    yield stack
    stack.stop()


@pytest.fixture
def settings(stack) -> Settings:
    env = stack.env()
    env.pop("BATCHPREDICT_MASTER_KEY_FILE")
    # The in-process API skips API keys unless a test turns them on.
    env.setdefault("BATCHPREDICT_AUTH_ENABLED", "false")
    return Settings.from_env(env)


@pytest.fixture
def state_redis(settings, sandbox_url):
    """The state database, emptied before the test (the broker's is not)."""
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def app(settings, state_redis):
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def wait_for_task(
    client, task_id: str, timeout_s: float = 60.0, states=TERMINAL_STATES
) -> dict:
    """Poll the tasks API until the task reaches one of ``states``."""
    deadline = time.monotonic() + timeout_s
    task = None
    while time.monotonic() < deadline:
        response = client.get(f"/_plugins/_ml/tasks/{task_id}")
        assert response.status_code == 200, response.get_json()
        task = response.get_json()
        if task["state"] in states:
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} still {task and task['state']}: {task}")


_DB_BASES = itertools.cycle([6, 9, 12])


@pytest.fixture
def private_stack(request, run_dir, redis_port, sandbox_url, moto_s3_url):
    """A second system on the same Redis server but its own databases, for
    tests that kill, restart or reconfigure workers and beats. Call it with
    extra settings; start its worker and beat yourself."""
    made = []

    def make(extra_env: dict | None = None, port: int | None = None) -> Stack:
        db_base = 6 if port else next(_DB_BASES)
        stack = Stack(
            run_dir=run_dir / f"private-{len(made)}-{request.node.name[:40]}",
            redis_port=port or redis_port,
            sandbox_port=int(sandbox_url.rsplit(":", 1)[1]),
            s3_port=int(moto_s3_url.rsplit(":", 1)[1]),
            db_base=db_base,
            extra_env={
                "BATCHPREDICT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
                "BATCHPREDICT_REFRESH_MIN_S": "0.3",
                "BATCHPREDICT_REFRESH_MAX_S": "2",
                "BATCHPREDICT_SWEEP_INTERVAL_S": "0.5",
                "BATCHPREDICT_LEASE_S": "5",
                "BATCHPREDICT_PROVIDER_TIMEOUT_S": "4",
                **(extra_env or {}),
            },
        )
        for db in range(db_base, db_base + 3):
            with redis.Redis(port=stack.redis_port, db=db) as client:
                client.flushdb()
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop()


def client_for(stack: Stack):
    """A Flask test client on a private stack's settings."""
    env = stack.env()
    env.pop("BATCHPREDICT_MASTER_KEY_FILE", None)
    env.setdefault("BATCHPREDICT_AUTH_ENABLED", "false")
    app = create_app(Settings.from_env(env))
    app.config["TESTING"] = True
    return app.test_client()


def runtime_for(stack: Stack):
    """A worker Runtime in this process, on a private stack's settings."""
    from workers.runtime import Runtime

    env = stack.env()
    env.pop("BATCHPREDICT_MASTER_KEY_FILE", None)
    return Runtime.from_settings(Settings.from_env(env))
