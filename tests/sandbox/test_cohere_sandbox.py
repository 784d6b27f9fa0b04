"""The Cohere stand-in through the official SDK, and the adapter against it."""

import json
import time

import cohere
import pytest
import requests
from cohere.errors import BadRequestError, NotFoundError, TooManyRequestsError

from scripts import procs
from tests.conftest import get_json, post_json

TEXTS = [
    "The quick brown fox",
    "北京是中国的首都",
    "rocket launch 🚀 tonight",
    "𝐛𝐨𝐥𝐝 letters outside the BMP",
]
KEY = "test-key"


@pytest.fixture
def fast_cohere(sandbox_url):
    """Short validation and processing phases, restored afterwards."""
    before = get_json(f"{sandbox_url}/_sandbox/config")["phases"]["cohere"]
    phases = {"validating": 0.3, "processing": 0.6}
    post_json(f"{sandbox_url}/_sandbox/config", {"phases": {"cohere": phases}})
    yield sandbox_url
    post_json(f"{sandbox_url}/_sandbox/config", {"phases": {"cohere": before}})


@pytest.fixture
def co(fast_cohere):
    with cohere.ClientV2(api_key=KEY, base_url=fast_cohere, max_retries=0) as client:
        yield client


def add_fault(url: str, **rule) -> None:
    post_json(f"{url}/_sandbox/faults", {"provider": "cohere", **rule})


def calls(url: str, operation: str) -> int:
    return get_json(f"{url}/_sandbox/calls")["calls"].get(f"cohere.{operation}", 0)


def wait_for(read, done, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not done after {timeout_s}s: {value}")
        time.sleep(0.1)


def jsonl(rows: list[dict]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode("utf-8")


def upload(co, rows, **options) -> str:
    created = co.datasets.create(
        name="docs", type="embed-input", data=("docs.jsonl", jsonl(rows)), **options
    )
    return created.id


def settled(co, dataset_id):
    return wait_for(
        lambda: co.datasets.get(dataset_id).dataset,
        lambda d: d.validation_status in ("validated", "failed"),
    )


def validated_dataset(co, texts=TEXTS) -> str:
    rows = [{"text": t, "id": f"doc-{i}"} for i, t in enumerate(texts)]
    dataset_id = upload(co, rows, keep_fields=["id"])
    assert settled(co, dataset_id).validation_status == "validated"
    return dataset_id


def finished(co, job_id):
    return wait_for(
        lambda: co.embed_jobs.get(job_id),
        lambda j: j.status not in ("processing", "cancelling"),
    )


# --- datasets -------------------------------------------------------------


def test_sdk_upload_with_query_string_options_validates_later(co):
    rows = [{"text": t, "id": i, "lang": "x"} for i, t in enumerate(TEXTS)]
    dataset_id = upload(co, rows, keep_fields=["id"], optional_fields=["topic"])

    first = co.datasets.get(dataset_id).dataset
    dataset = settled(co, dataset_id)

    assert first.validation_status in ("queued", "processing")
    assert first.dataset_parts is None
    assert dataset.validation_status == "validated"
    assert dataset.preserve_fields == ["id", "topic"]
    assert [f["name"] for f in json.loads(dataset.schema_)["fields"]] == [
        "text",
        "id",
        "topic",
    ]
    assert sum(p.num_rows for p in dataset.dataset_parts) == len(TEXTS)
    assert dataset.dataset_parts[0].url.startswith(co._client_wrapper.get_base_url())


def test_form_field_upload_like_the_docs_curl_example(fast_cohere):
    csv_bytes = "id,text\n1,first row\n2,二番目の行\n".encode()

    answer = requests.post(
        f"{fast_cohere}/v1/datasets",
        headers={"Authorization": f"Bearer {KEY}"},
        data={"name": "from-curl", "type": "embed-input", "keep_fields": "id"},
        files={"data": ("rows.csv", csv_bytes, "text/csv")},
        timeout=10,
    )

    assert answer.status_code == 200
    with cohere.ClientV2(api_key=KEY, base_url=fast_cohere, max_retries=0) as co:
        dataset = settled(co, answer.json()["id"])
        rows = list(cohere.utils.dataset_generator(dataset))
    assert dataset.name == "from-curl"
    assert rows == [{"text": "first row", "id": "1"}, {"text": "二番目の行", "id": "2"}]


def test_validation_failure_names_the_line(co):
    rows = [{"text": "fine", "id": 1}, {"text": "also fine", "id": 2}, {"id": 3}]

    dataset = settled(co, upload(co, rows, keep_fields=["id"]))

    assert dataset.validation_status == "failed"
    assert "text" in dataset.validation_error
    assert "(line: 3)" in dataset.validation_error
    with pytest.raises(Exception, match="failed"):
        co.wait(co.datasets.get(dataset.id), interval=0.1)


def test_missing_keep_field_fails_and_skip_malformed_drops_the_row(co):
    rows = [{"text": "has id", "id": 1}, {"text": "no id"}]

    failing = settled(co, upload(co, rows, keep_fields=["id"]))
    skipping = settled(
        co, upload(co, rows, keep_fields=["id"], skip_malformed_input=True)
    )

    assert failing.validation_status == "failed"
    assert "id" in failing.validation_error and "(line: 2)" in failing.validation_error
    assert skipping.validation_status == "validated"
    assert skipping.dataset_parts[0].num_rows == 1
    assert any("line: 2" in w for w in skipping.validation_warnings)


def test_csv_without_text_header_fails(co):
    created = co.datasets.create(
        name="bad", type="embed-input", data=("bad.csv", b"body,id\nhello,1\n")
    )

    dataset = settled(co, created.id)

    assert dataset.validation_status == "failed"
    assert "header" in dataset.validation_error


def test_upload_errors_are_cohere_400s_and_404s(co):
    with pytest.raises(BadRequestError) as too_long:
        co.datasets.create(name="n" * 50, type="embed-input", data=("a.jsonl", b"{}"))
    with pytest.raises(BadRequestError) as bad_type:
        co.datasets.create(name="ok", type="not-a-type", data=("a.jsonl", b"{}"))
    with pytest.raises(NotFoundError) as missing:
        co.datasets.get("no-such-dataset")

    assert "less than 50" in too_long.value.body["message"]
    assert bad_type.value.body["message"] == "The dataset type is invalid."
    assert "no-such-dataset" in missing.value.body["message"]


def test_list_filters_use_camel_case_and_delete_removes(co):
    good = validated_dataset(co)
    bad = settled(co, upload(co, [{"no_text": 1}])).id

    validated = co.datasets.list(validation_status="validated")
    failed = co.datasets.list(dataset_type="embed-input", validation_status="failed")
    co.datasets.delete(good)

    assert [d.id for d in validated.datasets] == [good]
    assert [d.id for d in failed.datasets] == [bad]
    assert [d.id for d in co.datasets.list().datasets] == [bad]
    with pytest.raises(NotFoundError):
        co.datasets.get(good)


# --- embed jobs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "dimensions"),
    [("embed-english-light-v3.0", 384), ("embed-english-v3.0", 1024)],
)
def test_embed_job_completes_with_readable_output(co, tmp_path, model, dimensions):
    dataset_id = validated_dataset(co)

    created = co.embed_jobs.create(
        model=model,
        dataset_id=dataset_id,
        input_type="search_document",
        embedding_types=["float", "int8"],
        name="nightly",
    )
    job = finished(co, created.job_id)
    output = co.datasets.get(job.output_dataset_id).dataset
    path = tmp_path / "out.jsonl"
    co.utils.save_dataset(output, str(path), format="jsonl")
    rows = [json.loads(line) for line in path.read_bytes().decode().splitlines()]

    assert job.status == "complete"
    assert output.dataset_type == "embed-result"
    assert "sandbox-hashing-embedder-v1" in output.name
    assert [r["text"].encode("utf-8") for r in rows] == [t.encode() for t in TEXTS]
    assert [r["id"] for r in rows] == [f"doc-{i}" for i in range(len(TEXTS))]
    assert {len(r["embeddings"]["float"]) for r in rows} == {dimensions}
    assert {len(r["embeddings"]["int8"]) for r in rows} == {dimensions}
    assert rows[0]["embeddings"]["binary"] is None
    assert job.meta.billed_units.input_tokens > 0


def test_output_reads_back_as_avro_with_the_schema(co, tmp_path):
    dataset_id = validated_dataset(co)
    created = co.embed_jobs.create(
        model="embed-v4.0",
        dataset_id=dataset_id,
        input_type="clustering",
        embedding_types=["ubinary"],
    )
    output = co.datasets.get(finished(co, created.job_id).output_dataset_id).dataset

    co.utils.save_dataset(output, str(tmp_path / "out.avro"), format="avro")

    import fastavro

    with open(tmp_path / "out.avro", "rb") as source:
        rows = list(fastavro.reader(source))
    assert [r["text"] for r in rows] == TEXTS
    assert {len(r["embeddings"]["ubinary"]) for r in rows} == {1536 // 8}
    assert rows[0]["embeddings"]["float"] is None


def test_sandbox_keeps_text_intact_under_a_c_locale(tmp_path):
    port = procs.free_port()
    env = {
        "LC_ALL": "C",
        "LANG": "C",
        "PYTHONUTF8": "0",
        "PYTHONCOERCECLOCALE": "0",
        "SANDBOX_COHERE_VALIDATING_S": "0.1",
        "SANDBOX_COHERE_PROCESSING_S": "0.2",
    }
    proc = procs.start_sandbox(port, tmp_path, tmp_path / "data", env=env)
    try:
        with cohere.ClientV2(
            api_key=KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0
        ) as co:
            dataset_id = validated_dataset(co)
            job = co.embed_jobs.create(
                model="embed-multilingual-light-v3.0",
                dataset_id=dataset_id,
                input_type="search_query",
            )
            output = co.datasets.get(finished(co, job.job_id).output_dataset_id)
            rows = list(cohere.utils.dataset_generator(output.dataset))
    finally:
        proc.stop()

    assert [r["text"] for r in rows] == TEXTS


def test_create_rejects_unvalidated_and_unknown_datasets(co):
    pending = upload(co, [{"text": "x"}])

    with pytest.raises(BadRequestError) as not_ready:
        co.embed_jobs.create(
            model="embed-english-v3.0", dataset_id=pending, input_type="search_document"
        )
    with pytest.raises(NotFoundError):
        co.embed_jobs.create(
            model="embed-english-v3.0", dataset_id="nope", input_type="search_document"
        )
    with pytest.raises(BadRequestError) as old_model:
        co.embed_jobs.create(
            model="embed-english-v2.0", dataset_id=pending, input_type="search_document"
        )

    assert "validated" in not_ready.value.body["message"]
    assert "embed-english-v2.0" in old_model.value.body["message"]


def test_cancel_ends_cancelled_without_output(co):
    created = co.embed_jobs.create(
        model="embed-english-v3.0",
        dataset_id=validated_dataset(co),
        input_type="classification",
    )

    assert co.embed_jobs.cancel(created.job_id) is None
    cancelling = co.embed_jobs.get(created.job_id)
    job = finished(co, created.job_id)
    time.sleep(0.7)  # past the processing phase: still nothing is made

    assert cancelling.status == "cancelling"
    assert job.status == "cancelled"
    assert co.embed_jobs.get(created.job_id).output_dataset_id is None
    assert co.datasets.list(dataset_type="embed-result").datasets == []


def test_cancel_after_complete_is_a_400_not_a_409(co):
    created = co.embed_jobs.create(
        model="embed-english-v3.0",
        dataset_id=validated_dataset(co),
        input_type="classification",
    )
    finished(co, created.job_id)

    with pytest.raises(BadRequestError, match="already complete"):
        co.embed_jobs.cancel(created.job_id)


def test_outcome_fault_fails_the_job(co, fast_cohere):
    add_fault(fast_cohere, operation="embed_jobs.outcome", kind="fail")

    created = co.embed_jobs.create(
        model="embed-english-v3.0",
        dataset_id=validated_dataset(co),
        input_type="search_document",
    )

    job = finished(co, created.job_id)
    assert job.status == "failed"
    assert job.output_dataset_id is None


def test_throttle_fault_is_a_429_with_retry_after(co, fast_cohere):
    add_fault(
        fast_cohere, operation="embed_jobs.list", kind="throttle", retry_after_s=3
    )

    with pytest.raises(TooManyRequestsError) as throttled:
        co.embed_jobs.list()

    assert throttled.value.headers["retry-after"] == "3"
    assert "message" in throttled.value.body and "id" in throttled.value.body
    assert co.embed_jobs.list().embed_jobs == []
    assert calls(fast_cohere, "embed_jobs.list") == 2


def test_missing_api_key_is_a_401(fast_cohere):
    answer = requests.get(f"{fast_cohere}/v1/embed-jobs", timeout=10)

    assert answer.status_code == 401
    assert set(answer.json()) == {"id", "message"}
