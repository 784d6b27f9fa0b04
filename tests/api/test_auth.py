"""API keys: 401 without a valid one, keys kept hashed, the key CLI, and the
per-key rate limit."""

import dataclasses
import subprocess
import sys
import time

import pytest

from api.app import create_app
from api.keys import ApiKeys
from scripts import procs

TASKS = "/_plugins/_ml/tasks/_search"


def _error(response, status: int, error_type: str) -> str:
    body = response.get_json()
    assert response.status_code == status, body
    assert body["status"] == status
    assert body["error"]["type"] == error_type
    assert body["error"]["root_cause"][0]["type"] == error_type
    return body["error"]["reason"]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic YWxpY2U6c2VjcmV0",
        "Bearer bpk_000000000000_not-a-real-token",
        "Bearer not-even-our-format",
    ],
)
def test_request_without_a_valid_key_is_a_401(secure_app, header):
    # Given an app that asks for API keys
    client = secure_app.test_client()
    headers = {} if header is None else {"Authorization": header}

    # When a route is called without a valid key
    response = client.post(TASKS, json={}, headers=headers)

    # Then it is refused in OpenSearch's shape, naming the scheme to use
    reason = _error(response, 401, "security_exception")
    assert "API key" in reason
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_every_resource_route_asks_for_a_key(secure_app):
    client = secure_app.test_client()
    routes = [
        ("POST", "/_plugins/_ml/connectors/_create"),
        ("GET", "/_plugins/_ml/connectors/x"),
        ("PUT", "/_plugins/_ml/connectors/x"),
        ("DELETE", "/_plugins/_ml/connectors/x"),
        ("POST", "/_plugins/_ml/model_groups/_register"),
        ("POST", "/_plugins/_ml/models/_register"),
        ("POST", "/_plugins/_ml/models/x/_batch_predict"),
        ("POST", "/_plugins/_ml/models/x/_deploy"),
        ("GET", "/_plugins/_ml/tasks/x"),
        ("POST", "/_plugins/_ml/tasks/x/_cancel"),
        ("DELETE", "/_plugins/_ml/tasks/x"),
    ]

    for method, path in routes:
        assert client.open(path, method=method, json={}).status_code == 401, path


def test_root_and_openapi_document_need_no_key(secure_app):
    client = secure_app.test_client()

    assert client.get("/").status_code == 200
    assert client.get("/_plugins/_ml/openapi.json").status_code == 200


def test_valid_key_is_let_through(client_for):
    alice = client_for("alice", "team-a")

    response = alice.post(TASKS, json={})

    assert response.status_code == 200, response.get_json()


def test_revoked_key_is_refused(secure_app, store):
    # Given a key that worked
    api_keys = ApiKeys(store.redis, store.keys)
    key_id, token = api_keys.create("alice", [])
    headers = {"Authorization": f"Bearer {token}"}
    client = secure_app.test_client()
    assert client.post(TASKS, json={}, headers=headers).status_code == 200

    # When it is revoked
    assert api_keys.revoke(key_id)

    # Then it no longer opens anything
    assert client.post(TASKS, json={}, headers=headers).status_code == 401
    assert not api_keys.revoke(key_id)


def test_keys_are_stored_hashed_and_listed_without_tokens(store):
    api_keys = ApiKeys(store.redis, store.keys)
    key_id, token = api_keys.create("alice", ["team-b", "team-a"], admin=True)

    values = [
        str(store.redis.hgetall(key)) for key in store.redis.scan_iter(match="bp:api*")
    ]
    listed = api_keys.list()

    assert values and not any(token in value for value in values)
    assert not any(token.split("_")[-1] in value for value in values)
    assert listed == [
        {
            "key_id": key_id,
            "user": "alice",
            "backend_roles": ["team-a", "team-b"],
            "admin": True,
            "created_time": listed[0]["created_time"],
        }
    ]
    assert token not in str(listed)


def test_key_cli_creates_lists_and_revokes(secure_app, secure_settings):
    # Given the key CLI pointed at the app's Redis
    env = {"BATCHPREDICT_REDIS_URL": secure_settings.redis_url}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "api.keys", *args],
            env={**env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=procs.ROOT,
        )

    # When it makes a key for alice
    made = cli("create", "--user", "alice", "--backend-role", "team-a")

    # Then the token it prints once opens the API, list shows the key without
    # it, and after revoke the token is refused
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    client = secure_app.test_client()
    assert client.post(TASKS, json={}, headers=headers).status_code == 200
    listed = cli("list")
    assert '"user": "alice"' in listed.stdout
    assert '"team-a"' in listed.stdout
    assert token not in listed.stdout
    key_id = token.split("_")[1]
    assert cli("revoke", key_id).returncode == 0
    assert client.post(TASKS, json={}, headers=headers).status_code == 401
    assert cli("revoke", key_id).returncode == 1


def test_rate_limit_is_per_key_and_answers_429_with_retry_after(secure_settings, store):
    # Given a limit of three requests a minute
    app = create_app(dataclasses.replace(secure_settings, rate_limit_per_minute=3))
    api_keys = ApiKeys(store.redis, store.keys)
    alice = {"Authorization": f"Bearer {api_keys.create('alice', [])[1]}"}
    bob = {"Authorization": f"Bearer {api_keys.create('bob', [])[1]}"}
    client = app.test_client()

    # When alice sends four within one minute window
    for _ in range(3):
        minute = int(time.time() // 60)
        statuses = [client.post(TASKS, json={}, headers=alice).status_code]
        statuses += [client.post(TASKS, json={}, headers=alice).status_code]
        statuses += [client.post(TASKS, json={}, headers=alice).status_code]
        fourth = client.post(TASKS, json={}, headers=alice)
        if int(time.time() // 60) == minute:
            break  # the window did not turn over in the middle: a fair run
        for key in store.redis.scan_iter(match="bp:rate:*"):
            store.redis.delete(key)

    # Then the fourth is refused with Retry-After, and bob is not affected
    assert statuses == [200, 200, 200]
    reason = _error(fourth, 429, "rejected_execution_exception")
    assert "3 requests a minute" in reason
    assert 1 <= int(fourth.headers["Retry-After"]) <= 60
    assert client.post(TASKS, json={}, headers=bob).status_code == 200


def test_auth_off_lets_every_caller_through(client):
    assert client.post(TASKS, json={}).status_code == 200
