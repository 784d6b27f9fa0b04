"""The SageMaker adapter over boto3 against the real sandbox and moto's S3."""

import json

import boto3
import pytest
from botocore.config import Config

from common.errors import (
    ProviderJobNotFound,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from common.settings import Settings
from common.states import TaskState
from sandbox.embedder import embed
from tests.conftest import post_json
from tests.sandbox.helpers import sandbox_calls, until_final
from workers.providers import get_provider
from workers.providers.base import TASK_ID_TAG, ProviderCall

BUCKET = "adapter-bucket"
CREDENTIAL = {"access_key": "AKIDEXAMPLE", "secret_key": "secret"}


def _aws(service: str, url: str):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _body(job_name: str) -> dict:
    """The blueprint's request_body, rendered."""
    return {
        "BatchStrategy": "SingleRecord",
        "ModelName": "minilm",
        "TransformJobName": job_name,
        "DataProcessing": {
            "InputFilter": "$.content",
            "JoinSource": "Input",
            "OutputFilter": "$",
        },
        "TransformInput": {
            "ContentType": "application/json",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{BUCKET}/in/",
                }
            },
            "SplitType": "Line",
        },
        "TransformOutput": {
            "AssembleWith": "Line",
            "Accept": "application/json",
            "S3OutputPath": f"s3://{BUCKET}/out/",
        },
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.c5.xlarge"},
    }


def _call(job_name: str) -> ProviderCall:
    return ProviderCall(
        url="https://api.sagemaker.us-east-1.amazonaws.com/CreateTransformJob",
        method="POST",
        body=_body(job_name),
        credential=CREDENTIAL,
        parameters={"region": "us-east-1", "service_name": "sagemaker"},
    )


@pytest.fixture
def s3(moto_s3_url):
    client = _aws("s3", moto_s3_url)
    client.create_bucket(Bucket=BUCKET)
    lines = [{"id": "a", "content": "red apples"}, {"id": "b", "content": "蓝色 🍇"}]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    client.put_object(Bucket=BUCKET, Key="in/fruit.jsonl", Body=body.encode())
    return client


@pytest.fixture
def sm(sandbox_url):
    post_json(
        f"{sandbox_url}/_sandbox/config",
        {"phases": {"sagemaker": {"in_progress": 0.5, "stopping": 0.3}}},
    )
    client = _aws("sagemaker", sandbox_url)
    client.create_model(ModelName="minilm", PrimaryContainer={"Image": "djl"})
    return client


def _adapter(sandbox_url, timeout_s: float = 10.0):
    settings = Settings(
        sagemaker_endpoint_url=sandbox_url, provider_timeout_s=timeout_s
    )
    return get_provider("sagemaker", settings)


def test_submit_is_exactly_once_and_the_job_completes(sandbox_url, sm, s3):
    provider, call = _adapter(sandbox_url), _call("adapter-job-1")

    # When the submit is retried after the first attempt reached SageMaker
    job = provider.submit(call, "task-1")
    again = provider.submit(call, "task-1")
    done = until_final(provider, call, job)

    # Then both answers are the one job, and it ran to completion
    assert job["TransformJobStatus"] == "InProgress"
    assert again["TransformJobArn"] == job["TransformJobArn"]
    assert len(sm.list_transform_jobs()["TransformJobSummaries"]) == 1
    assert provider.find(call, "task-1")["TransformJobArn"] == job["TransformJobArn"]
    assert provider.state_of(done) is TaskState.COMPLETED
    assert provider.remote_id(done) == "adapter-job-1"
    assert provider.summarize(done).output_location == f"s3://{BUCKET}/out/"
    tags = sm.list_tags(ResourceArn=job["TransformJobArn"])["Tags"]
    assert {"Key": TASK_ID_TAG, "Value": "task-1"} in tags
    body = s3.get_object(Bucket=BUCKET, Key="out/fruit.jsonl.out")["Body"].read()
    lines = [json.loads(line) for line in body.decode("utf-8").splitlines()]
    assert [line["content"] for line in lines] == ["red apples", "蓝色 🍇"]
    assert lines[1]["SageMakerOutput"]["embedding"] == embed("蓝色 🍇", 384)


def test_a_timed_out_submit_is_carried_on_not_repeated(sandbox_url, sm, s3):
    # Given SageMaker makes the job but answers too late for our timeout
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {
            "provider": "sagemaker",
            "operation": "CreateTransformJob",
            "kind": "slow",
            "delay_s": 2.0,
            "phase": "after",
        },
    )
    provider, call = _adapter(sandbox_url, timeout_s=0.5), _call("slow-job")

    with pytest.raises(ProviderUnavailable):
        provider.submit(call, "task-2")
    job = provider.submit(call, "task-2")

    # Then the retry finds the job the first attempt made (case 5)
    assert job["TransformJobName"] == "slow-job"
    assert sandbox_calls(sandbox_url)["sagemaker.CreateTransformJob"] == 2
    assert len(sm.list_transform_jobs()["TransformJobSummaries"]) == 1


def test_a_name_taken_by_someone_else_is_rejected_saying_so(sandbox_url, sm, s3):
    sm.create_transform_job(
        **_body("taken-name"), Tags=[{"Key": TASK_ID_TAG, "Value": "other-task"}]
    )
    sm.create_transform_job(**_body("untagged-name"))
    provider = _adapter(sandbox_url)

    with pytest.raises(ProviderRejected) as tagged:
        provider.submit(_call("taken-name"), "task-3")
    with pytest.raises(ProviderRejected) as untagged:
        provider.submit(_call("untagged-name"), "task-3")

    assert "already taken" in tagged.value.message
    assert "already taken" in untagged.value.message
    assert provider.find(_call("taken-name"), "task-3") is None
    assert provider.find(_call("never-made"), "task-3") is None


def test_cancel_stops_the_job_and_nothing_is_written(sandbox_url, sm, s3):
    post_json(
        f"{sandbox_url}/_sandbox/config",
        {"phases": {"sagemaker": {"in_progress": 2.0}}},
    )
    provider, call = _adapter(sandbox_url), _call("cancelled-job")
    job = provider.submit(call, "task-4")

    provider.cancel(call, job)
    stopping = provider.describe(call, job)
    done = until_final(provider, call, stopping)

    assert provider.state_of(stopping) is TaskState.CANCELLING
    assert provider.state_of(done) is TaskState.CANCELLED
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")["KeyCount"] == 0
    with pytest.raises(ProviderRejected):
        provider.cancel(call, done)


def test_throttled_describe_is_throttled_not_failed(sandbox_url, sm, s3):
    provider, call = _adapter(sandbox_url), _call("throttled-job")
    job = provider.submit(call, "task-5")
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {
            "provider": "sagemaker",
            "operation": "DescribeTransformJob",
            "kind": "throttle",
        },
    )
    before = sandbox_calls(sandbox_url)["sagemaker.DescribeTransformJob"]

    # Case 6: HTTP 400, ThrottlingException, empty message
    with pytest.raises(ProviderThrottled) as raised:
        provider.describe(call, job)
    later = provider.describe(call, job)

    assert raised.value.code == "ThrottlingException"
    # boto3 made one attempt only: the worker owns retries
    assert sandbox_calls(sandbox_url)["sagemaker.DescribeTransformJob"] == before + 2
    assert later["TransformJobName"] == "throttled-job"


def test_unknown_job_and_failed_job(sandbox_url, sm, s3):
    provider, call = _adapter(sandbox_url), _call("doomed-job")
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {"provider": "sagemaker", "operation": "outcome", "kind": "fail"},
    )

    with pytest.raises(ProviderJobNotFound):
        provider.describe(call, {"TransformJobName": "no-such-job"})
    done = until_final(provider, call, provider.submit(call, "task-6"))

    assert provider.state_of(done) is TaskState.FAILED
    assert provider.error_of(done).startswith("ClientError:")
