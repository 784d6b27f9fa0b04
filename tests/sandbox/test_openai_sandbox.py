"""The OpenAI stand-in, driven only through the official ``openai`` SDK.

Each test talks HTTP to a real sandbox process; ``/_sandbox/*`` is used only
to shorten the phases, switch faults on and read the call counters.
"""

import json
import math
import time

import openai
import pytest

from scripts import procs
from tests.conftest import get_json, post_json

ECHO_PREFIX = "[batchpredict sandbox] echo: "
FAST_PHASES_S = {"validating": 0.2, "in_progress": 0.3, "finalizing": 0.2}
WORLD_TEXT = "你好，世界 👋🏽 𝐛𝐨𝐥𝐝 naïve café"


@pytest.fixture
def sandbox(sandbox_url):
    """The sandbox with short OpenAI phases, put back as found afterwards."""
    before = get_json(f"{sandbox_url}/_sandbox/config")["phases"]["openai"]
    set_phases(sandbox_url, FAST_PHASES_S)
    yield sandbox_url
    set_phases(sandbox_url, before)


@pytest.fixture
def client(sandbox):
    return make_client(sandbox)


def make_client(url: str, **options) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    return openai.OpenAI(api_key="test", base_url=url + "/v1", **options)


def set_phases(url: str, phases: dict) -> None:
    post_json(f"{url}/_sandbox/config", {"phases": {"openai": phases}})


def add_fault(url: str, **rule) -> None:
    post_json(f"{url}/_sandbox/faults", {"provider": "openai", **rule})


def calls(url: str, operation: str) -> int:
    return get_json(f"{url}/_sandbox/calls")["calls"].get(f"openai.{operation}", 0)


def request_line(custom_id: str, url: str, body: dict) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def embedding_line(custom_id: str, text, **body) -> dict:
    body = {"model": "text-embedding-3-small", "input": text, **body}
    return request_line(custom_id, "/v1/embeddings", body)


def chat_line(custom_id: str, text: str) -> dict:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": text},
    ]
    body = {"model": "gpt-4o-mini", "messages": messages}
    return request_line(custom_id, "/v1/chat/completions", body)


def upload(client, lines: list, filename: str = "input.jsonl"):
    rows = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    data = "".join(row + "\n" for row in rows).encode("utf-8")
    return client.files.create(file=(filename, data), purpose="batch")


def start_batch(client, lines: list, endpoint: str = "/v1/embeddings", **options):
    input_file = upload(client, lines)
    return client.batches.create(
        input_file_id=input_file.id,
        endpoint=endpoint,
        completion_window="24h",
        **options,
    )


def wait_until(client, batch_id: str, statuses: tuple, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, f"batch stuck in {batch.status}"
        time.sleep(0.05)


def finished(client, batch_id: str):
    return wait_until(client, batch_id, ("completed", "failed", "expired", "cancelled"))


def read_lines(client, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    text = client.files.content(file_id).content.decode("utf-8")
    return [json.loads(row) for row in text.splitlines()]


# --- real work ---------------------------------------------------------------


def test_embeddings_batch_answers_every_request_once(client):
    # Given three embedding requests with different models and sizes
    lines = [
        embedding_line("small", "the cat sat"),
        embedding_line("two", ["the cat sat", "a dog ran"], dimensions=8),
        embedding_line("other", "hello", model="my-embedder"),
    ]

    # When the batch runs to its end
    created = start_batch(client, lines, metadata={"task": "t-1"})
    batch = finished(client, created.id)

    # Then it completed, with one output line per request and no error file
    assert created.status == "validating"
    assert batch.status == "completed"
    assert batch.metadata == {"task": "t-1"}
    assert batch.model == "text-embedding-3-small"
    assert batch.request_counts.model_dump() == {
        "total": 3,
        "completed": 3,
        "failed": 0,
    }
    assert batch.error_file_id is None
    assert batch.errors is None
    assert batch.usage.input_tokens > 0
    assert (
        batch.created_at
        <= batch.in_progress_at
        <= batch.finalizing_at
        <= batch.completed_at
    )
    assert batch.expires_at == batch.created_at + 24 * 3600
    assert batch.failed_at is None and batch.cancelled_at is None

    output = client.files.retrieve(batch.output_file_id)
    assert output.purpose == "batch_output"
    by_id = {line["custom_id"]: line for line in read_lines(client, output.id)}
    assert sorted(by_id) == ["other", "small", "two"]
    assert len(read_lines(client, output.id)) == 3
    sizes = {
        custom_id: [len(item["embedding"]) for item in line["response"]["body"]["data"]]
        for custom_id, line in by_id.items()
    }
    assert sizes == {"small": [1536], "two": [8, 8], "other": [384]}

    line = by_id["two"]
    assert line["id"].startswith("batch_req_")
    assert line["error"] is None
    assert line["response"]["status_code"] == 200
    body = line["response"]["body"]
    assert body["x_sandbox_embedder"] == "sandbox-hashing-embedder-v1"
    assert body["usage"]["prompt_tokens"] > 0
    vector = body["data"][0]["embedding"]
    assert math.isclose(sum(v * v for v in vector), 1.0, rel_tol=1e-4)


def test_chat_replies_echo_text_from_everywhere_byte_for_byte(client):
    # Given a chat request holding Chinese, emoji and mathematical bold letters
    batch = start_batch(
        client, [chat_line("world", WORLD_TEXT)], endpoint="/v1/chat/completions"
    )

    # When it completes
    batch = finished(client, batch.id)

    # Then the reply is the fixed prefix plus the text, byte for byte
    raw = client.files.content(batch.output_file_id).content
    assert (ECHO_PREFIX + WORLD_TEXT).encode("utf-8") in raw
    (line,) = read_lines(client, batch.output_file_id)
    body = line["response"]["body"]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == ECHO_PREFIX + WORLD_TEXT
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


@pytest.fixture(scope="module")
def c_locale_sandbox(tmp_path_factory):
    """A second sandbox whose locale really is ASCII (no UTF-8 coercion)."""
    run_dir = tmp_path_factory.mktemp("c-locale")
    port = procs.free_port()
    env = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    proc = procs.start_sandbox(port, run_dir, run_dir / "data", env=env)
    url = f"http://127.0.0.1:{port}"
    procs.wait_for_http(f"{url}/_sandbox/health")
    set_phases(url, FAST_PHASES_S)
    yield url
    proc.stop()


def test_completions_round_trip_under_the_c_locale(c_locale_sandbox):
    # Given a sandbox running with LC_ALL=C and a prompt outside ASCII
    client = make_client(c_locale_sandbox)
    line = request_line(
        "p1", "/v1/completions", {"model": "gpt-3.5-turbo", "prompt": WORLD_TEXT}
    )

    # When the completions batch runs
    batch = finished(client, start_batch(client, [line], "/v1/completions").id)

    # Then the text came back intact
    (result,) = read_lines(client, batch.output_file_id)
    assert result["response"]["body"]["object"] == "text_completion"
    assert result["response"]["body"]["choices"][0]["text"] == ECHO_PREFIX + WORLD_TEXT


def test_a_request_the_endpoint_rejects_goes_to_the_error_file(client):
    lines = [chat_line("good", "hi"), request_line("bad", "/v1/chat/completions", {})]

    batch = finished(client, start_batch(client, lines, "/v1/chat/completions").id)

    assert batch.status == "completed"
    assert batch.request_counts.completed == 1
    assert batch.request_counts.failed == 1
    (error_line,) = read_lines(client, batch.error_file_id)
    assert error_line["custom_id"] == "bad"
    assert error_line["response"]["status_code"] == 400
    assert error_line["response"]["body"]["error"]["param"] == "model"


# --- validation of the input file ---------------------------------------------


def failed_batch(client, lines: list, endpoint: str = "/v1/embeddings"):
    batch = finished(client, start_batch(client, lines, endpoint).id)
    assert batch.status == "failed"
    assert batch.failed_at is not None
    assert batch.in_progress_at is None
    assert batch.output_file_id is None and batch.error_file_id is None
    return batch


def test_duplicate_custom_id_fails_the_batch_naming_both_lines(client):
    lines = [
        embedding_line("a", "one"),
        embedding_line("b", "two"),
        embedding_line("a", "three"),
    ]

    batch = failed_batch(client, lines)

    (error,) = batch.errors.data
    assert error.code == "duplicate_custom_id"
    assert error.line == 3
    assert "'a'" in error.message
    assert "line 3" in error.message and "line 1" in error.message


def test_a_line_for_another_endpoint_is_a_url_mismatch(client):
    lines = [embedding_line("a", "one"), chat_line("b", "two")]

    batch = failed_batch(client, lines)

    assert [(e.code, e.line) for e in batch.errors.data] == [("url_mismatch", 2)]


def test_a_line_that_is_not_json_fails_the_batch(client):
    lines = [embedding_line("a", "one"), '{"custom_id": "b", "method":', "[1, 2]"]

    batch = failed_batch(client, lines)

    assert [(e.code, e.line) for e in batch.errors.data] == [
        ("invalid_json_line", 2),
        ("invalid_json_line", 3),
    ]


def test_an_empty_input_file_fails_the_batch(client):
    batch = failed_batch(client, [])

    assert [e.code for e in batch.errors.data] == ["empty_file"]


# --- cancel ---------------------------------------------------------------------


def test_cancel_moves_through_cancelling_to_cancelled(client, sandbox):
    # Given a batch that is in progress for a long time
    set_phases(sandbox, {"in_progress": 30})
    batch = start_batch(client, [embedding_line("a", "one")])
    wait_until(client, batch.id, ("in_progress",))

    # When it is cancelled
    cancelling = client.batches.cancel(batch.id)

    # Then it is cancelling, then cancelled, with nothing computed
    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at is not None
    cancelled = finished(client, batch.id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at >= cancelled.cancelling_at
    assert cancelled.output_file_id is None and cancelled.error_file_id is None
    assert cancelled.request_counts.completed == 0


def test_cancelling_a_finished_batch_is_a_400_sent_once(client, sandbox):
    batch = finished(client, start_batch(client, [embedding_line("a", "x")]).id)
    retrying = make_client(sandbox, max_retries=2)
    before = calls(sandbox, "batches.cancel")

    with pytest.raises(openai.BadRequestError) as caught:
        retrying.batches.cancel(batch.id)

    assert caught.value.status_code == 400
    assert caught.value.type == "invalid_request_error"
    assert "completed" in caught.value.message
    assert calls(sandbox, "batches.cancel") == before + 1


def test_an_unknown_batch_is_not_found(client):
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_does_not_exist")


# --- listing --------------------------------------------------------------------


def test_batch_list_walks_every_page_newest_first(client, sandbox):
    input_file = upload(client, [embedding_line("a", "x")])
    created = [
        client.batches.create(
            input_file_id=input_file.id,
            endpoint="/v1/embeddings",
            completion_window="24h",
        ).id
        for _ in range(5)
    ]

    first_page = client.batches.list(limit=2)
    listed = [batch.id for batch in client.batches.list(limit=2)]

    assert first_page.has_more is True
    assert [batch.id for batch in first_page.data] == created[::-1][:2]
    assert listed == created[::-1]
    # One call for the first page alone, three for the walk across all five.
    assert calls(sandbox, "batches.list") == 4


def test_batch_list_rejects_a_limit_out_of_range(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.list(limit=101)

    assert caught.value.param == "limit"


# --- faults -------------------------------------------------------------------------


def test_throttling_is_a_rate_limit_error_with_retry_after(client, sandbox):
    batch = start_batch(client, [embedding_line("a", "x")])
    add_fault(sandbox, operation="batches.retrieve", kind="throttle", retry_after_s=0.3)

    with pytest.raises(openai.RateLimitError) as caught:
        client.batches.retrieve(batch.id)

    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after-ms"] == "300"
    assert caught.value.response.headers["retry-after"] == "1"


def test_the_sdk_honours_retry_after_when_it_may_retry(client, sandbox):
    batch = start_batch(client, [embedding_line("a", "x")])
    add_fault(sandbox, operation="batches.retrieve", kind="throttle", retry_after_s=0.4)
    retrying = make_client(sandbox, max_retries=1)
    before = calls(sandbox, "batches.retrieve")

    started = time.monotonic()
    retrieved = retrying.batches.retrieve(batch.id)

    assert retrieved.id == batch.id
    assert time.monotonic() - started >= 0.4
    assert calls(sandbox, "batches.retrieve") == before + 2


def test_an_error_fault_answers_with_its_status(client, sandbox):
    add_fault(sandbox, operation="files.create", kind="error", status=503)

    with pytest.raises(openai.InternalServerError) as caught:
        upload(client, [embedding_line("a", "x")])

    assert caught.value.status_code == 503
    assert caught.value.type == "server_error"


def test_a_slow_create_makes_the_batch_before_it_answers(client, sandbox):
    # Given batches.create holds its answer after the batch is made
    input_file = upload(client, [embedding_line("a", "x")])
    add_fault(sandbox, operation="batches.create", kind="slow", delay_s=1.0)
    impatient = make_client(sandbox, timeout=0.3)

    # When the caller gives up waiting
    with pytest.raises(openai.APITimeoutError):
        impatient.batches.create(
            input_file_id=input_file.id,
            endpoint="/v1/embeddings",
            completion_window="24h",
            metadata={"task": "t-slow"},
        )

    # Then the batch exists all the same
    batches = client.batches.list().data
    assert [b.metadata for b in batches] == [{"task": "t-slow"}]


def test_an_expired_batch_keeps_its_finished_lines(client, sandbox):
    # Given a batch told to expire after two of its five requests
    add_fault(sandbox, operation="batches.outcome", kind="expire", succeed=2)
    lines = [embedding_line(f"r{i}", f"text {i}") for i in range(5)]

    # When it ends
    batch = finished(client, start_batch(client, lines).id)

    # Then it expired with 2 results kept and 3 lines marked batch_expired
    assert batch.status == "expired"
    assert batch.expired_at is not None and batch.completed_at is None
    assert batch.request_counts.model_dump() == {
        "total": 5,
        "completed": 2,
        "failed": 3,
    }
    done = read_lines(client, batch.output_file_id)
    assert sorted(line["custom_id"] for line in done) == ["r0", "r1"]
    expired = read_lines(client, batch.error_file_id)
    assert sorted(line["custom_id"] for line in expired) == ["r2", "r3", "r4"]
    assert {line["error"]["code"] for line in expired} == {"batch_expired"}
    assert all(line["response"] is None for line in expired)


def test_a_partial_batch_completes_with_server_errors(client, sandbox):
    add_fault(sandbox, operation="batches.outcome", kind="partial", succeed=1)
    lines = [embedding_line(f"r{i}", f"text {i}") for i in range(3)]

    batch = finished(client, start_batch(client, lines).id)

    assert batch.status == "completed"
    assert batch.request_counts.model_dump() == {
        "total": 3,
        "completed": 1,
        "failed": 2,
    }
    assert len(read_lines(client, batch.output_file_id)) == 1
    failed = read_lines(client, batch.error_file_id)
    assert [line["response"]["status_code"] for line in failed] == [500, 500]
    assert all(line["error"] is None for line in failed)


def test_a_batch_where_every_request_failed_has_no_output_file(client, sandbox):
    add_fault(sandbox, operation="batches.outcome", kind="partial", succeed=0)
    lines = [embedding_line(f"r{i}", "x") for i in range(3)]

    batch = finished(client, start_batch(client, lines).id)

    assert batch.status == "completed"
    assert batch.output_file_id is None
    assert batch.request_counts.failed == 3
    assert len(read_lines(client, batch.error_file_id)) == 3


def test_a_batch_told_to_fail_reports_the_rule_code(client, sandbox):
    add_fault(
        sandbox,
        operation="batches.outcome",
        kind="fail",
        code="token_limit_exceeded",
        message="Enqueued token limit reached.",
    )

    batch = failed_batch(client, [embedding_line("a", "x")])

    (error,) = batch.errors.data
    assert (error.code, error.message) == (
        "token_limit_exceeded",
        "Enqueued token limit reached.",
    )


# --- create-time validation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"endpoint": "/v1/videos"}, "endpoint"),
        ({"completion_window": "48h"}, "completion_window"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        ({"input_file_id": "file-missing"}, "input_file_id"),
    ],
)
def test_create_rejects_bad_arguments_naming_the_param(client, options, param):
    input_file = upload(client, [embedding_line("a", "x")])
    arguments = {
        "input_file_id": input_file.id,
        "endpoint": "/v1/embeddings",
        "completion_window": "24h",
        **options,
    }

    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(**arguments)

    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"


def test_create_needs_an_input_file_with_purpose_batch(client):
    other = client.files.create(file=("notes.txt", b"hello"), purpose="user_data")

    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=other.id,
            endpoint="/v1/embeddings",
            completion_window="24h",
        )

    assert caught.value.param == "input_file_id"
    assert "user_data" in caught.value.message


# --- files ----------------------------------------------------------------------------


def test_file_objects_list_and_delete(client):
    uploaded = [upload(client, [embedding_line(f"r{i}", "x")]) for i in range(3)]
    client.files.create(file=("notes.txt", b"hello"), purpose="user_data")

    listed = [f.id for f in client.files.list(purpose="batch", limit=2, order="asc")]
    content = client.files.content(uploaded[0].id).content
    deleted = client.files.delete(uploaded[0].id)

    assert listed == [f.id for f in uploaded]
    first = uploaded[0]
    assert (first.object, first.purpose, first.status) == ("file", "batch", "processed")
    assert first.filename == "input.jsonl"
    assert first.expires_at == first.created_at + 30 * 24 * 3600
    assert first.bytes == len(content)
    assert json.loads(content)["custom_id"] == "r0"
    assert deleted.deleted is True and deleted.id == first.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(first.id)


def test_file_upload_checks_purpose_and_expiry(client):
    with pytest.raises(openai.BadRequestError) as bad_purpose:
        client.files.create(file=("a.jsonl", b"{}"), purpose="batch_output")
    with pytest.raises(openai.BadRequestError) as bad_expiry:
        client.files.create(
            file=("a.jsonl", b"{}"),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 60},
        )
    kept = client.files.create(
        file=("a.jsonl", b"{}"),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )

    assert bad_purpose.value.param == "purpose"
    assert bad_expiry.value.param == "expires_after[seconds]"
    assert kept.expires_at == kept.created_at + 3600
