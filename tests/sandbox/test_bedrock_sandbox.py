"""The Bedrock batch stand-in, driven by boto3 over HTTP with moto's S3."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from sandbox.embedder import EMBEDDER_NAME, embed
from tests.conftest import get_json, post_json
from tests.sandbox.helpers import aws_client

BUCKET = "bedrock-bucket"
ROLE = "arn:aws:iam::111122223333:role/batch"
MODEL = "amazon.titan-embed-text-v2:0"
FINAL = ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired")


@pytest.fixture
def bedrock(sandbox_url):
    phases = {
        "submitted": 0.1,
        "validating": 0.1,
        "scheduled": 0.1,
        "in_progress": 0.3,
        "stopping": 0.3,
    }
    post_json(f"{sandbox_url}/_sandbox/config", {"phases": {"bedrock": phases}})
    return aws_client("bedrock", sandbox_url)


@pytest.fixture
def s3(moto_s3_url):
    client = aws_client("s3", moto_s3_url)
    client.create_bucket(Bucket=BUCKET)
    return client


def _put(s3, key: str, records: list[dict]) -> None:
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode("utf-8"))


def _texts(*texts: str) -> list[dict]:
    return [
        {"recordId": f"r{i}", "modelInput": {"inputText": t}}
        for i, t in enumerate(texts)
    ]


def _create(bedrock, name: str, input_uri=f"s3://{BUCKET}/in/", **extra) -> str:
    return bedrock.create_model_invocation_job(
        jobName=name,
        roleArn=ROLE,
        modelId=MODEL,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/out/"}},
        **extra,
    )["jobArn"]


def _wait(bedrock, arn: str, timeout_s: float = 10.0) -> dict:
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = bedrock.get_model_invocation_job(jobIdentifier=arn)
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in FINAL:
            job["seen"] = seen
            return job
        time.sleep(0.03)
    raise AssertionError(f"{arn} did not finish; statuses {seen}")


def _read_lines(s3, key: str) -> list[dict]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines()]


def _out_keys(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_job_runs_every_status_and_writes_outputs_and_manifest(bedrock, s3):
    # Given a JSONL input of Titan embedding records, one with 𝐛𝐨𝐥𝐝 and 数据
    _put(s3, "in/records.jsonl", _texts("hello world", "数据 🚀 𝐛𝐨𝐥𝐝"))

    # When the job runs to its end
    arn = _create(bedrock, "embed-1")
    job = _wait(bedrock, arn)

    # Then it moved through each status and wrote Bedrock's output layout
    job_id = arn.rsplit("/", 1)[1]
    assert arn.startswith(
        "arn:aws:bedrock:us-east-1:111122223333:model-invocation-job/"
    )
    assert len(job_id) == 12 and job_id.isalnum() and job_id.islower()
    assert job["seen"][-1] == "Completed"
    assert set(job["seen"]) >= {"Scheduled", "InProgress", "Completed"}
    assert (
        job["totalRecordCount"],
        job["successRecordCount"],
        job["errorRecordCount"],
    ) == (2, 2, 0)
    assert job["endTime"] >= job["submitTime"]
    assert _out_keys(s3) == [
        f"out/{job_id}/manifest.json.out",
        f"out/{job_id}/records.jsonl.out",
    ]
    lines = _read_lines(s3, f"out/{job_id}/records.jsonl.out")
    by_id = {line["recordId"]: line for line in lines}
    assert by_id["r1"]["modelInput"]["inputText"] == "数据 🚀 𝐛𝐨𝐥𝐝"
    assert by_id["r1"]["modelOutput"]["embedding"] == embed("数据 🚀 𝐛𝐨𝐥𝐝", 384)
    assert by_id["r0"]["modelOutput"]["embedder"] == EMBEDDER_NAME
    assert by_id["r0"]["modelOutput"]["inputTextTokenCount"] == 2
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"out/{job_id}/manifest.json.out")[
            "Body"
        ].read()
    )
    assert manifest["totalRecordCount"] == 2
    assert manifest["successRecordCount"] == 2
    assert manifest["inputTokenCount"] > 0


def test_bad_records_are_error_lines_and_other_models_get_an_echo(bedrock, s3):
    records = [
        {"recordId": "ok", "modelInput": {"inputText": "x y", "dimensions": 8}},
        {"recordId": "bad", "modelInput": {"inputText": ""}},
        {
            "recordId": "chat",
            "modelInput": {"messages": [{"role": "user", "content": "hi"}]},
        },
    ]
    _put(s3, "in/one.jsonl", records)

    arn = _create(bedrock, "mixed", input_uri=f"s3://{BUCKET}/in/one.jsonl")
    job = _wait(bedrock, arn)

    lines = {
        line["recordId"]: line
        for line in _read_lines(s3, f"out/{arn[-12:]}/one.jsonl.out")
    }
    assert job["status"] == "Completed"
    assert (job["successRecordCount"], job["errorRecordCount"]) == (2, 1)
    assert len(lines["ok"]["modelOutput"]["embedding"]) == 8
    assert lines["bad"]["error"]["errorCode"] == 400
    assert "modelOutput" not in lines["bad"]
    assert lines["chat"]["modelOutput"]["outputText"].startswith("echo: ")


def test_missing_input_fails_the_job(bedrock, s3):
    arn = _create(bedrock, "no-input")

    job = _wait(bedrock, arn)

    assert job["status"] == "Failed"
    assert "No .jsonl input files" in job["message"]
    assert _out_keys(s3) == []


@pytest.mark.parametrize(
    ("fault", "status", "written"),
    [
        ({"kind": "fail", "message": "model exploded"}, "Failed", 0),
        ({"kind": "expire"}, "Expired", 0),
        ({"kind": "partial", "succeed": 1}, "PartiallyCompleted", 2),
    ],
)
def test_outcome_faults(bedrock, s3, sandbox_url, fault, status, written):
    _put(s3, "in/records.jsonl", _texts("a", "b", "c"))
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {"provider": "bedrock", "operation": "outcome", **fault},
    )

    job = _wait(bedrock, _create(bedrock, "outcome"))

    assert job["status"] == status
    assert len(_out_keys(s3)) == written
    if status == "PartiallyCompleted":
        assert (job["successRecordCount"], job["errorRecordCount"]) == (1, 2)
    if status == "Failed":
        assert job["message"] == "model exploded"


def test_client_request_token_makes_create_idempotent(bedrock, s3):
    first = _create(bedrock, "same", clientRequestToken="task-123")
    again = _create(bedrock, "same", clientRequestToken="task-123")

    with pytest.raises(ClientError) as taken:
        _create(bedrock, "same", clientRequestToken="another-task")

    assert again == first
    assert taken.value.response["Error"]["Code"] == "ValidationException"
    assert "already exists" in taken.value.response["Error"]["Message"]
    listed = bedrock.list_model_invocation_jobs()["invocationJobSummaries"]
    assert [job["jobArn"] for job in listed] == [first]


def test_arn_and_short_id_both_identify_a_job(bedrock, s3):
    # Case 7: an id with a slash, sent url-encoded by boto3
    _put(s3, "in/records.jsonl", _texts("a"))
    arn = _create(bedrock, "by-arn")

    by_arn = bedrock.get_model_invocation_job(jobIdentifier=arn)
    by_id = bedrock.get_model_invocation_job(jobIdentifier=arn[-12:])
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    job = _wait(bedrock, arn)

    assert by_arn["jobArn"] == by_id["jobArn"] == arn
    assert job["seen"] == ["Stopping", "Stopped"]
    assert _out_keys(s3) == []
    with pytest.raises(ClientError) as again:
        bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert again.value.response["Error"]["Code"] == "ConflictException"


def test_unknown_and_malformed_identifiers(bedrock):
    unknown = "arn:aws:bedrock:us-east-1:111122223333:model-invocation-job/" + "a" * 12

    with pytest.raises(bedrock.exceptions.ResourceNotFoundException) as missing:
        bedrock.get_model_invocation_job(jobIdentifier=unknown)
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.get_model_invocation_job(jobIdentifier="not-a-job")

    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_create_is_validated(bedrock):
    with pytest.raises(bedrock.exceptions.ValidationException) as raised:
        bedrock.create_model_invocation_job(
            jobName="bad name",
            roleArn="not-a-role",
            modelId=MODEL,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": "http://x"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/o"}},
        )

    message = raised.value.response["Error"]["Message"]
    assert message.startswith("3 validation errors detected")
    assert "'bad name' at 'jobName'" in message


def test_throttle_and_error_faults(bedrock, sandbox_url):
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {
            "provider": "bedrock",
            "operation": "ListModelInvocationJobs",
            "kind": "throttle",
            "retry_after_s": 3,
        },
    )
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {
            "provider": "bedrock",
            "operation": "ListModelInvocationJobs",
            "kind": "error",
            "status": 503,
        },
    )

    with pytest.raises(ClientError) as throttled:
        bedrock.list_model_invocation_jobs()
    with pytest.raises(ClientError) as failed:
        bedrock.list_model_invocation_jobs()

    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    headers = throttled.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["retry-after"] == "3"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    calls = get_json(f"{sandbox_url}/_sandbox/calls")["calls"]
    assert calls["bedrock.ListModelInvocationJobs"] == 2


def test_list_filters_and_pages(bedrock, s3):
    arns = [_create(bedrock, name) for name in ("alpha", "alpha-two", "beta")]
    bedrock.stop_model_invocation_job(jobIdentifier=arns[2])

    first = bedrock.list_model_invocation_jobs(maxResults=2)
    second = bedrock.list_model_invocation_jobs(
        maxResults=2, nextToken=first["nextToken"]
    )
    alphas = bedrock.list_model_invocation_jobs(
        nameContains="alpha", sortOrder="Ascending"
    )
    stopping = bedrock.list_model_invocation_jobs(statusEquals="Stopping")

    names = [j["jobName"] for j in first["invocationJobSummaries"]]
    assert names == ["beta", "alpha-two"]
    assert [j["jobName"] for j in second["invocationJobSummaries"]] == ["alpha"]
    assert "nextToken" not in second
    assert [j["jobName"] for j in alphas["invocationJobSummaries"]] == [
        "alpha",
        "alpha-two",
    ]
    assert [j["jobArn"] for j in stopping["invocationJobSummaries"]] == [arns[2]]
