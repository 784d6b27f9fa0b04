"""The SageMaker stand-in, driven by boto3 over HTTP with moto's S3 behind it."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from sandbox.embedder import EMBEDDER_NAME, embed
from tests.conftest import get_json, post_json
from tests.sandbox.helpers import aws_client

BUCKET = "transform-bucket"
TEXTS = {
    "1": "the quick brown fox",
    "2": "数据 and 🚀 and 𝐛𝐨𝐥𝐝",
    "3": "a third record",
}


@pytest.fixture
def sm(sandbox_url):
    post_json(
        f"{sandbox_url}/_sandbox/config",
        {"phases": {"sagemaker": {"in_progress": 0.4, "stopping": 0.3}}},
    )
    client = aws_client("sagemaker", sandbox_url)
    client.create_model(ModelName="minilm", PrimaryContainer={"Image": "djl"})
    return client


@pytest.fixture
def s3(moto_s3_url):
    client = aws_client("s3", moto_s3_url)
    client.create_bucket(Bucket=BUCKET)
    return client


def _put_records(s3, key: str, texts: dict) -> None:
    lines = [
        json.dumps({"id": rid, "content": t}, ensure_ascii=False)
        for rid, t in texts.items()
    ]
    s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode("utf-8"))


def _job(name: str, **overrides) -> dict:
    job = {
        "TransformJobName": name,
        "ModelName": "minilm",
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "ContentType": "application/json",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{BUCKET}/input/",
                }
            },
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{BUCKET}/output/",
            "AssembleWith": "Line",
            "Accept": "application/json",
        },
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge"},
        "DataProcessing": {
            "InputFilter": "$.content",
            "JoinSource": "Input",
            "OutputFilter": "$",
        },
    }
    job.update(overrides)
    return job


def _wait(sm, name: str, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = sm.describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish")


def _lines(s3, key: str) -> list[dict]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines()]


def _output_keys(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="output/")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_blueprint_job_joins_input_and_embeddings(sm, s3):
    # Given the ML Commons blueprint's data processing over JSON lines
    _put_records(s3, "input/records.jsonl", TEXTS)

    # When the job runs to its end
    arn = sm.create_transform_job(**_job("blueprint-1"))["TransformJobArn"]
    first = sm.describe_transform_job(TransformJobName="blueprint-1")
    done = _wait(sm, "blueprint-1")

    # Then it went InProgress -> Completed and wrote one .out per input object
    assert arn.endswith(":transform-job/blueprint-1")
    assert first["TransformJobStatus"] == "InProgress"
    assert done["TransformJobStatus"] == "Completed"
    assert done["TransformEndTime"] >= done["CreationTime"]
    assert _output_keys(s3) == ["output/records.jsonl.out"]
    lines = _lines(s3, "output/records.jsonl.out")
    assert [line["id"] for line in lines] == list(TEXTS)
    for line in lines:
        # the input travels with its output, text byte for byte
        assert line["content"] == TEXTS[line["id"]]
        assert line["SageMakerOutput"]["embedding"] == embed(line["content"], 384)
        assert line["SageMakerOutput"]["embedder"] == EMBEDDER_NAME


@pytest.mark.parametrize(
    ("output_filter", "expected_keys"),
    [
        ("$['id','SageMakerOutput']", {"id", "SageMakerOutput"}),
        ("$.SageMakerOutput", {"embedding", "embedder"}),
    ],
)
def test_output_filter_selects_from_the_joined_record(
    sm, s3, output_filter, expected_keys
):
    _put_records(s3, "input/a.jsonl", TEXTS)
    processing = {
        "InputFilter": "$.content",
        "JoinSource": "Input",
        "OutputFilter": output_filter,
    }
    sm.create_transform_job(
        **_job("filtered", DataProcessing=processing, BatchStrategy="MultiRecord")
    )

    assert _wait(sm, "filtered")["TransformJobStatus"] == "Completed"
    lines = _lines(s3, "output/a.jsonl.out")
    assert len(lines) == 3
    assert all(set(line) == expected_keys for line in lines)


def test_without_join_each_record_gives_only_the_prediction(sm, s3):
    s3.put_object(
        Bucket=BUCKET,
        Key="input/t.jsonl",
        Body=b'{"text": "alpha beta"}\n{"text": "gamma"}\n',
    )
    sm.create_transform_job(**_job("plain", DataProcessing={"InputFilter": "$"}))

    assert _wait(sm, "plain")["TransformJobStatus"] == "Completed"
    lines = _lines(s3, "output/t.jsonl.out")
    assert [line["embedding"] for line in lines] == [
        embed("alpha beta"),
        embed("gamma"),
    ]


def test_manifest_file_names_the_inputs(sm, s3):
    _put_records(s3, "data/one.jsonl", {"1": "one"})
    _put_records(s3, "data/two.jsonl", {"2": "two"})
    manifest = [{"prefix": f"s3://{BUCKET}/data/"}, "two.jsonl"]
    s3.put_object(Bucket=BUCKET, Key="manifest.json", Body=json.dumps(manifest))
    source = {"S3DataType": "ManifestFile", "S3Uri": f"s3://{BUCKET}/manifest.json"}
    transform_input = {
        **_job("x")["TransformInput"],
        "DataSource": {"S3DataSource": source},
    }
    sm.create_transform_job(**_job("manifest", TransformInput=transform_input))

    assert _wait(sm, "manifest")["TransformJobStatus"] == "Completed"
    assert _output_keys(s3) == ["output/two.jsonl.out"]


def test_bad_record_fails_the_job_and_writes_nothing(sm, s3):
    # Given one good object and one holding a line that is not JSON
    _put_records(s3, "input/good.jsonl", TEXTS)
    s3.put_object(Bucket=BUCKET, Key="input/zbad.jsonl", Body=b"not json at all\n")

    sm.create_transform_job(**_job("broken"))
    done = _wait(sm, "broken")

    assert done["TransformJobStatus"] == "Failed"
    assert "zbad.jsonl" in done["FailureReason"]
    assert done["FailureReason"].startswith("ClientError:")
    assert _output_keys(s3) == []


def test_empty_prefix_fails_the_job(sm, s3):
    sm.create_transform_job(**_job("nothing"))

    done = _wait(sm, "nothing")

    assert done["TransformJobStatus"] == "Failed"
    assert "no objects found" in done["FailureReason"]


def test_stop_moves_through_stopping_and_writes_nothing(sm, s3, sandbox_url):
    post_json(
        f"{sandbox_url}/_sandbox/config",
        {"phases": {"sagemaker": {"in_progress": 1.5}}},
    )
    _put_records(s3, "input/records.jsonl", TEXTS)
    sm.create_transform_job(**_job("stopped"))

    sm.stop_transform_job(TransformJobName="stopped")
    stopping = sm.describe_transform_job(TransformJobName="stopped")
    done = _wait(sm, "stopped")
    time.sleep(1.5)  # past the time the job would have completed

    assert stopping["TransformJobStatus"] == "Stopping"
    assert done["TransformJobStatus"] == "Stopped"
    assert (
        sm.describe_transform_job(TransformJobName="stopped")["TransformJobStatus"]
        == "Stopped"
    )
    assert _output_keys(s3) == []
    with pytest.raises(ClientError) as raised:
        sm.stop_transform_job(TransformJobName="stopped")
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_validation_answers_like_sagemaker(sm, s3):
    with pytest.raises(ClientError) as bad_name:
        sm.create_transform_job(**_job("bad_name!"))
    with pytest.raises(ClientError) as no_model:
        sm.create_transform_job(**_job("fine", ModelName="missing"))
    sm.create_transform_job(**_job("taken"))
    with pytest.raises(sm.exceptions.ResourceInUse) as taken:
        sm.create_transform_job(**_job("taken"))
    with pytest.raises(ClientError) as unknown:
        sm.describe_transform_job(TransformJobName="never-made")

    error = bad_name.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "'bad_name!' at 'transformJobName'" in error["Message"]
    assert bad_name.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert no_model.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find model" in no_model.value.response["Error"]["Message"]
    assert "already exists" in taken.value.response["Error"]["Message"]
    assert unknown.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find transform job" in unknown.value.response["Error"]["Message"]


def test_bad_filter_and_strategy_are_rejected_at_create(sm, s3):
    processing = {"InputFilter": "content"}
    no_split = {**_job("x")["TransformInput"], "SplitType": "None"}

    with pytest.raises(ClientError) as raised:
        sm.create_transform_job(
            **_job(
                "bad-filter",
                DataProcessing=processing,
                BatchStrategy="MultiRecord",
                TransformInput=no_split,
            )
        )

    message = raised.value.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected")
    assert "inputFilter" in message and "batchStrategy" in message


def test_throttle_is_a_400_with_an_empty_message(sm, sandbox_url):
    # Case 6: throttling that does not look like throttling
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {
            "provider": "sagemaker",
            "operation": "DescribeTransformJob",
            "kind": "throttle",
        },
    )

    with pytest.raises(ClientError) as raised:
        sm.describe_transform_job(TransformJobName="whatever")

    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["Error"]["Message"] == ""
    calls = get_json(f"{sandbox_url}/_sandbox/calls")["calls"]
    assert calls["sagemaker.DescribeTransformJob"] == 1


def test_error_fault_is_a_500_internal_failure(sm, sandbox_url):
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {"provider": "sagemaker", "operation": "ListTransformJobs", "kind": "error"},
    )

    with pytest.raises(ClientError) as raised:
        sm.list_transform_jobs()

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert raised.value.response["Error"]["Code"] == "InternalFailure"


def test_fail_outcome_fails_the_job(sm, s3, sandbox_url):
    _put_records(s3, "input/records.jsonl", TEXTS)
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {"provider": "sagemaker", "operation": "outcome", "kind": "fail"},
    )
    sm.create_transform_job(**_job("doomed"))

    done = _wait(sm, "doomed")

    assert done["TransformJobStatus"] == "Failed"
    assert done["FailureReason"]
    assert _output_keys(s3) == []


def test_list_sorts_filters_and_pages(sm, s3):
    for name in ("alpha-1", "alpha-2", "beta-1"):
        sm.create_transform_job(**_job(name))
        time.sleep(0.01)
    sm.stop_transform_job(TransformJobName="alpha-2")

    newest_first = sm.list_transform_jobs()["TransformJobSummaries"]
    first = sm.list_transform_jobs(MaxResults=2, SortOrder="Ascending")
    second = sm.list_transform_jobs(
        MaxResults=2, SortOrder="Ascending", NextToken=first["NextToken"]
    )
    alphas = sm.list_transform_jobs(NameContains="ALPHA")["TransformJobSummaries"]
    stopping = sm.list_transform_jobs(StatusEquals="Stopping")

    assert [j["TransformJobName"] for j in newest_first] == [
        "beta-1",
        "alpha-2",
        "alpha-1",
    ]
    assert [j["TransformJobName"] for j in first["TransformJobSummaries"]] == [
        "alpha-1",
        "alpha-2",
    ]
    assert [j["TransformJobName"] for j in second["TransformJobSummaries"]] == [
        "beta-1"
    ]
    assert "NextToken" not in second
    assert {j["TransformJobName"] for j in alphas} == {"alpha-1", "alpha-2"}
    assert [j["TransformJobName"] for j in stopping["TransformJobSummaries"]] == [
        "alpha-2"
    ]
    with pytest.raises(ClientError):
        sm.list_transform_jobs(MaxResults=101)


def test_tags_are_listed_by_arn(sm, s3):
    tags = [{"Key": "batchpredict_task_id", "Value": "task-1"}]
    arn = sm.create_transform_job(**_job("tagged", Tags=tags))["TransformJobArn"]

    assert sm.list_tags(ResourceArn=arn)["Tags"] == tags
    with pytest.raises(ClientError):
        sm.list_tags(ResourceArn=arn + "-other")


def test_models_are_described_and_never_overwritten(sm):
    with pytest.raises(ClientError) as again:
        sm.create_model(ModelName="minilm", PrimaryContainer={"Image": "other"})

    described = sm.describe_model(ModelName="minilm")

    assert "already existing model" in again.value.response["Error"]["Message"]
    assert described["PrimaryContainer"] == {"Image": "djl"}
    assert described["ModelArn"].endswith(":model/minilm")
