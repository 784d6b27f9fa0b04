"""Cases from the field on the OpenAI path, through the whole system:
answers that look like success but are not, text from everywhere, duplicate
ids, cancellation, throttling and a submit that outlives its lease."""

import json
import time

import pytest

from tests.conftest import get_json, post_json
from tests.integration.conftest import wait_for_task
from tests.integration.test_openai_e2e import (
    _embedding_lines,
    _model_for,
    _sdk,
    _upload,
)
from workers import lifecycle
from workers.runtime import Runtime

pytestmark = pytest.mark.integration

FAST = {"validating": 0.2, "in_progress": 0.5, "finalizing": 0.2}


@pytest.fixture
def sandbox(sandbox_url):
    before = get_json(f"{sandbox_url}/_sandbox/config")["phases"]["openai"]
    post_json(f"{sandbox_url}/_sandbox/config", {"phases": {"openai": FAST}})
    yield sandbox_url
    post_json(f"{sandbox_url}/_sandbox/config", {"phases": {"openai": before}})


def _fault(url: str, **rule) -> None:
    post_json(f"{url}/_sandbox/faults", {"provider": "openai", **rule})


def _predict(client, model_id: str) -> str:
    response = client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict", json={"parameters": {}}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["task_id"]


def test_every_request_failed_is_completed_with_error(client, sandbox, settings):
    # Case 1: completed, 0 of 3 succeeded, no output file, an error file
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a", "b", "c"])))
    _fault(sandbox, operation="batches.outcome", kind="partial", succeed=0)

    task = wait_for_task(client, _predict(client, model_id))

    assert task["state"] == "COMPLETED_WITH_ERROR"
    assert task["results"]["request_counts"] == {
        "total": 3,
        "succeeded": 0,
        "failed": 3,
    }
    assert task["results"]["output_location"] is None
    assert task["results"]["error_location"]
    assert "3 of 3 requests failed" in task["error"]
    # Refreshing a finished task again does nothing and raises nothing.
    runtime = Runtime.from_settings(settings)
    lifecycle.refresh(runtime, task["task_id"])
    assert client.get(f"/_plugins/_ml/tasks/{task['task_id']}").get_json() == task


def test_clean_batch_has_no_error_location(client, sandbox):
    # Case 2: no error file means None, never an empty id to read
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a"])))

    task = wait_for_task(client, _predict(client, model_id))

    assert task["state"] == "COMPLETED"
    assert task["results"]["error_location"] is None
    assert "error" not in task


def test_expired_with_partial_results_keeps_them_reachable(client, sandbox):
    # Case 4: expired, 2 of 5 done, 3 lines with batch_expired
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(list("abcde"))))
    _fault(sandbox, operation="batches.outcome", kind="expire", succeed=2)

    task = wait_for_task(client, _predict(client, model_id))

    assert task["state"] == "EXPIRED"
    assert task["results"]["request_counts"] == {
        "total": 5,
        "succeeded": 2,
        "failed": 3,
    }
    output = sdk.files.content(task["results"]["output_location"]).text
    errors = sdk.files.content(task["results"]["error_location"]).text
    assert len(output.splitlines()) == 2
    codes = [json.loads(line)["error"]["code"] for line in errors.splitlines()]
    assert codes == ["batch_expired"] * 3


def test_text_from_everywhere_comes_back_byte_for_byte(client, sandbox):
    # Case 8: Chinese, emoji and mathematical bold, workers under LC_ALL=C
    texts = ["中文的句子", "emoji 🎉👩‍💻 end", "𝐛𝐨𝐥𝐝 𝒊𝒕𝒂𝒍𝒊𝒄"]
    lines = [
        {
            "custom_id": f"c{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": text}],
            },
        }
        for i, text in enumerate(texts)
    ]
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, lines), "/v1/chat/completions")

    task = wait_for_task(client, _predict(client, model_id))

    assert task["state"] == "COMPLETED", task
    output = sdk.files.content(task["results"]["output_location"]).content
    replies = {}
    for line in output.decode("utf-8").splitlines():
        row = json.loads(line)
        body = row["response"]["body"]
        replies[row["custom_id"]] = body["choices"][0]["message"]["content"]
    for i, text in enumerate(texts):
        assert replies[f"c{i}"].endswith(text)
        assert replies[f"c{i}"].encode("utf-8").endswith(text.encode("utf-8"))


def test_duplicate_custom_id_fails_naming_code_and_line(client, sandbox):
    # Case 9: two lines share a custom_id
    lines = _embedding_lines(["a", "b", "c"])
    lines[2]["custom_id"] = lines[0]["custom_id"]
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, lines))

    task = wait_for_task(client, _predict(client, model_id))

    assert task["state"] == "FAILED"
    assert "duplicate_custom_id" in task["error"]
    assert "line 3" in task["error"]


def test_cancel_is_confirmed_by_a_refresh(client, sandbox):
    # Given a batch that would run for a minute
    post_json(f"{sandbox}/_sandbox/config", {"phases": {"openai": {"in_progress": 60}}})
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a", "b"])))
    task_id = _predict(client, model_id)
    wait_for_task(client, task_id, states={"RUNNING"})

    # When it is cancelled
    response = client.post(f"/_plugins/_ml/tasks/{task_id}/_cancel")

    # Then it is CANCELLING at once and CANCELLED once the provider agrees
    assert response.status_code == 200
    assert client.get(f"/_plugins/_ml/tasks/{task_id}").get_json()["state"] in (
        "CANCELLING",
        "CANCELLED",
    )
    task = wait_for_task(client, task_id)
    assert task["state"] == "CANCELLED"
    assert sdk.batches.retrieve(task["remote_job"]["id"]).status == "cancelled"


def test_throttled_refreshes_are_retried_not_failed(client, sandbox):
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a"])))
    _fault(
        sandbox,
        operation="batches.retrieve",
        kind="throttle",
        count=3,
        retry_after_s=0.2,
    )
    _fault(sandbox, operation="batches.retrieve", kind="error", status=503, count=2)

    task = wait_for_task(client, _predict(client, model_id))

    assert task["state"] == "COMPLETED"
    calls = get_json(f"{sandbox}/_sandbox/calls")["calls"]
    assert calls["openai.batches.retrieve"] >= 6


def test_submit_outliving_its_lease_makes_one_batch(client, sandbox, settings):
    # Given a provider that holds the create call open past the task's lease
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a"])))
    _fault(
        sandbox,
        operation="batches.create",
        kind="slow",
        phase="after",
        delay_s=settings.lease_s + 2,
    )

    # When the sweep hands the task out again meanwhile
    task = wait_for_task(client, _predict(client, model_id), timeout_s=90)

    # Then the second attempt adopted the first attempt's batch
    assert task["state"] == "COMPLETED"
    mine = [
        b
        for b in sdk.batches.list(limit=100)
        if (b.metadata or {}).get("batchpredict_task_id") == task["task_id"]
    ]
    assert len(mine) == 1
    assert get_json(f"{sandbox}/_sandbox/calls")["calls"]["openai.batches.create"] == 1


def test_unreachable_after_consecutive_failures(client, sandbox, stack):
    # Given a provider that answers every status call with a 500
    post_json(f"{sandbox}/_sandbox/config", {"phases": {"openai": {"in_progress": 60}}})
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a"])))
    _fault(sandbox, operation="batches.retrieve", kind="error", status=500, count=None)

    task = wait_for_task(client, _predict(client, model_id), timeout_s=120)

    assert task["state"] == "UNREACHABLE"
    assert "10 times in a row" in task["error"]


def test_cancel_during_a_slow_submit_stops_the_job_even_if_cancel_fails_once(
    client, sandbox
):
    # Given a create call the provider holds open, and a cancel that fails once
    post_json(f"{sandbox}/_sandbox/config", {"phases": {"openai": {"in_progress": 60}}})
    sdk = _sdk(sandbox)
    model_id = _model_for(client, _upload(sdk, _embedding_lines(["a"])))
    _fault(sandbox, operation="batches.create", kind="slow", phase="after", delay_s=3)
    _fault(sandbox, operation="batches.cancel", kind="error", status=500)
    task_id = _predict(client, model_id)

    # When the task is cancelled while the create call is in flight
    time.sleep(1)
    assert client.post(f"/_plugins/_ml/tasks/{task_id}/_cancel").status_code == 200

    # Then the job the create made is stopped, and the task says so
    task = wait_for_task(client, task_id, timeout_s=90)
    assert task["state"] == "CANCELLED", task
    assert task["remote_job"]["id"]
    assert sdk.batches.retrieve(task["remote_job"]["id"]).status == "cancelled"
