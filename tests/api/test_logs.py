"""Log lines: one per API request, text or JSON, and never a secret."""

import copy
import dataclasses
import io
import json
import logging

import pytest

from api.app import create_app
from common import logs
from common.settings import Settings, SettingsError
from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR, register_remote_model

TOKEN = "bp-token-7f3a9c1e5b2d4f60"
API_KEY = "sk-proj-Zq8LmN4pR7sT1vW3"


@pytest.fixture
def captured():
    """Every line any logger writes during the test, formatted as JSON."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("web", "json"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def _lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _requests(stream) -> list[dict]:
    return [line for line in _lines(stream) if "method" in line]


def test_one_line_per_request_names_the_task(client, captured):
    # Given a remote model
    model_id = register_remote_model(client, copy.deepcopy(OPENAI_BATCH_CONNECTOR))
    captured.truncate(0)
    captured.seek(0)

    # When a batch is predicted and its task read
    task_id = client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict", json={"parameters": {}}
    ).get_json()["task_id"]
    client.get(f"/_plugins/_ml/tasks/{task_id}")
    client.get("/_plugins/_ml/tasks/no-such-task")

    # Then each request has one line with its method, path, status and task
    predict, read, missing = _requests(captured)
    assert predict["method"] == "POST"
    assert predict["path"] == f"/_plugins/_ml/models/{model_id}/_batch_predict"
    assert predict["status"] == 200
    assert predict["task_id"] == task_id
    assert predict["duration_ms"] >= 0
    assert predict["logger"] == "batchpredict.api"
    assert predict["component"] == "web"
    assert read["task_id"] == task_id
    assert missing["status"] == 404
    assert task_id in predict["message"]


@pytest.mark.parametrize("auth_enabled", [False, True])
def test_credentials_never_reach_a_log_line(
    test_settings, store, captured, auth_enabled
):
    # Given an API with or without API keys
    settings = dataclasses.replace(test_settings, auth_enabled=auth_enabled)
    client = create_app(settings).test_client()
    connector = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    connector["credential"] = {"openAI_key": API_KEY}

    # When requests carry a bearer token and a credential in their body,
    # one of them so malformed that it fails
    headers = {"Authorization": f"Bearer {TOKEN}"}
    client.post("/_plugins/_ml/connectors/_create", json=connector, headers=headers)
    client.post(
        f"/_plugins/_ml/connectors/_create?key={API_KEY}",
        data=json.dumps(connector)[:-3],
        headers={**headers, "Content-Type": "application/json"},
    )

    # Then lines were written, every request was logged, and none holds either
    text = captured.getvalue()
    assert len(_requests(captured)) == 2
    assert TOKEN not in text
    assert API_KEY not in text
    assert "Zq8LmN4p" not in text


def test_scrub_hides_what_providers_and_templates_echo():
    lines = {
        f"Incorrect API key provided: {API_KEY}": API_KEY,
        f"headers {{'Authorization': 'Bearer {TOKEN}'}}": TOKEN,
        '{"openAI_key": "plain-secret-value"}': "plain-secret-value",
        "aws_secret_access_key=wJalrXUtnFEMIK7MDENGbPxRfiCY": "wJalrXUtnFEMIK7MDENG",
        "access key AKIAIOSFODNN7EXAMPLE refused": "AKIAIOSFODNN7EXAMPLE",
    }
    for line, secret in lines.items():
        assert secret not in logs.scrub(line)
    assert logs.scrub("Task abc: RUNNING, 5 refreshes") == (
        "Task abc: RUNNING, 5 refreshes"
    )


def test_an_exception_traceback_is_scrubbed_too(captured):
    try:
        raise RuntimeError(f"provider said: bad key {API_KEY}")
    except RuntimeError:
        logging.getLogger("batchpredict.worker").exception("Task t1: failed")

    [line] = _lines(captured)
    assert "RuntimeError" in line["exception"]
    assert API_KEY not in json.dumps(line)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_configure_sets_the_one_root_handler(log_format):
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        settings = Settings(log_format=log_format, log_level="WARNING")
        handler = logs.configure("worker", settings)
        assert root.handlers == [handler]
        assert root.level == logging.WARNING
        record = logging.LogRecord("batchpredict.worker", 30, "", 0, "x %s", (1,), None)
        line = handler.format(record)
        if log_format == "json":
            assert json.loads(line)["message"] == "x 1"
        else:
            assert line.endswith("WARNING worker batchpredict.worker: x 1")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logging.captureWarnings(False)


def test_an_unknown_log_format_is_refused():
    with pytest.raises(SettingsError, match="BATCHPREDICT_LOG_FORMAT"):
        logs.configure("web", Settings(log_format="xml"))
