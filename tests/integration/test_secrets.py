"""A connector's credential never leaves in plain text: after a whole job
(API in this process, a real worker and beat, the sandbox), no log line and
no Redis value holds it."""

import copy
import json
import logging
import uuid

import openai
import pytest
import redis

from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR, register_remote_model
from tests.integration.conftest import wait_for_task

pytestmark = pytest.mark.integration


def _redis_values(client: redis.Redis) -> list[bytes]:
    """Every key and every value of the current database, by type."""
    readers = {
        b"string": lambda key: [client.get(key)],
        b"hash": lambda key: [b for pair in client.hgetall(key).items() for b in pair],
        b"list": lambda key: client.lrange(key, 0, -1),
        b"set": lambda key: list(client.smembers(key)),
        b"zset": lambda key: [m for m, _ in client.zrange(key, 0, -1, withscores=True)],
        b"stream": lambda key: [
            b
            for _, fields in client.xrange(key)
            for pair in fields.items()
            for b in pair
        ],
    }
    found = []
    for key in client.scan_iter(count=500):
        kind = client.type(key)
        assert kind in readers, f"no reader for Redis type {kind!r} ({key!r})"
        found.append(key)
        found.extend(v for v in readers[kind](key) if v is not None)
    return found


def _every_redis_value(port: int) -> dict[int, list[bytes]]:
    admin = redis.Redis(host="127.0.0.1", port=port)
    databases = int(admin.config_get("databases")["databases"])
    admin.close()
    values = {}
    for db in range(databases):
        client = redis.Redis(host="127.0.0.1", port=port, db=db)
        values[db] = _redis_values(client)
        client.close()
    return values


def test_credential_is_in_no_log_line_and_no_redis_value(
    client, stack, sandbox_url, caplog
):
    # Given a connector whose credential is a value found nowhere else
    caplog.set_level(logging.DEBUG)
    secret = f"sk-plaintext-{uuid.uuid4().hex}"
    sdk = openai.OpenAI(api_key="sk-test", base_url=f"{sandbox_url}/v1", max_retries=0)
    line = {
        "custom_id": "doc-0",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "text-embedding-3-small", "input": "a secret-free text"},
    }
    uploaded = sdk.files.create(
        file=("input.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch"
    )
    connector = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    connector["credential"] = {"openAI_key": secret}
    connector["parameters"]["input_file_id"] = uploaded.id
    model_id = register_remote_model(client, connector)

    # When a whole job runs through the worker and beat
    response = client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict", json={"parameters": {}}
    )
    assert response.status_code == 200, response.get_json()
    task = wait_for_task(client, response.get_json()["task_id"])
    assert task["state"] == "COMPLETED", task

    # Then the credential is in no API answer, no captured log line, no
    # worker or beat log, and no value of any Redis database
    for path in ("connectors/_search", "models/_search", "tasks/_search"):
        answer = client.post(f"/_plugins/_ml/{path}", json={"size": 100})
        assert secret not in answer.get_data(as_text=True)
    assert caplog.records, "the API logged nothing: caplog is not capturing"
    assert secret not in caplog.text
    assert not [r for r in caplog.records if secret in r.getMessage()]
    for name in ("worker", "beat"):
        log_text = stack.running[name].log_path.read_text(errors="replace")
        assert task["task_id"] in log_text or name == "beat"
        assert secret not in log_text, f"{name} log holds the credential"
    needle = secret.encode()
    values = _every_redis_value(stack.redis_port)
    # (the search does find what is there: the task id, in its hash and indexes)
    assert any(task["task_id"].encode() in v for f in values.values() for v in f)
    leaks = {db: [v for v in found if needle in v] for db, found in values.items()}
    assert not any(leaks.values()), leaks
