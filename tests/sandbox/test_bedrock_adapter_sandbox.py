"""The Bedrock adapter over boto3 against the real sandbox and moto's S3."""

import json

import boto3
import pytest
from botocore.config import Config

from common.errors import ProviderRejected, ProviderThrottled, ProviderUnavailable
from common.settings import Settings
from common.states import TaskState
from sandbox.embedder import embed
from tests.conftest import post_json
from tests.sandbox.helpers import sandbox_calls, until_final
from workers.providers import get_provider
from workers.providers.base import ProviderCall

BUCKET = "bedrock-adapter"
CREDENTIAL = {"access_key": "AKIDEXAMPLE", "secret_key": "secret"}


def _call(job_name: str) -> ProviderCall:
    """The connector body of mlcommons.md section 2.3, rendered."""
    body = {
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/in/"}},
        "jobName": job_name,
        "modelId": "amazon.titan-embed-text-v2:0",
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/out/"}},
        "roleArn": "arn:aws:iam::111122223333:role/batch",
    }
    return ProviderCall(
        url="https://bedrock.us-east-1.amazonaws.com/model-invocation-job",
        method="POST",
        body=body,
        credential=CREDENTIAL,
        parameters={"region": "us-east-1", "service_name": "bedrock"},
    )


@pytest.fixture
def s3(moto_s3_url):
    client = boto3.client(
        "s3",
        endpoint_url=moto_s3_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    client.create_bucket(Bucket=BUCKET)
    records = [
        {"recordId": f"r{i}", "modelInput": {"inputText": text}}
        for i, text in enumerate(["green tea", "té verde 🍵", "绿茶"])
    ]
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    client.put_object(Bucket=BUCKET, Key="in/tea.jsonl", Body=body.encode())
    return client


@pytest.fixture
def provider(sandbox_url):
    phases = {
        "submitted": 0.1,
        "validating": 0.1,
        "scheduled": 0.1,
        "in_progress": 0.4,
        "stopping": 0.3,
    }
    post_json(f"{sandbox_url}/_sandbox/config", {"phases": {"bedrock": phases}})
    return _adapter(sandbox_url)


def _adapter(sandbox_url, timeout_s: float = 10.0):
    settings = Settings(bedrock_endpoint_url=sandbox_url, provider_timeout_s=timeout_s)
    return get_provider("bedrock", settings)


def test_submit_is_exactly_once_and_the_job_completes(sandbox_url, provider, s3):
    call = _call("tea-1")

    job = provider.submit(call, "3f2a9c0d1e4b5a6f7c8d")
    again = provider.submit(call, "3f2a9c0d1e4b5a6f7c8d")
    done = until_final(provider, call, job)

    assert again["jobArn"] == job["jobArn"]
    assert provider.find(call, "3f2a9c0d1e4b5a6f7c8d")["jobArn"] == job["jobArn"]
    assert provider.find(call, "another-task") is None
    assert provider.state_of(done) is TaskState.COMPLETED
    summary = provider.summarize(done)
    job_id = job["jobArn"].rsplit("/", 1)[1]
    assert summary.output_location == f"s3://{BUCKET}/out/{job_id}/"
    assert (summary.total, summary.succeeded, summary.failed) == (3, 3, 0)
    body = s3.get_object(Bucket=BUCKET, Key=f"out/{job_id}/tea.jsonl.out")["Body"]
    lines = {
        json.loads(line)["recordId"]: json.loads(line)
        for line in body.read().decode("utf-8").splitlines()
    }
    assert lines["r1"]["modelInput"]["inputText"] == "té verde 🍵"
    assert lines["r2"]["modelOutput"]["embedding"] == embed("绿茶", 384)


def test_cancel_and_refresh_by_arn_with_a_slash(sandbox_url, provider, s3):
    # Case 7: the job id is an ARN holding a "/"
    call = _call("tea-cancel")
    job = provider.submit(call, "task-cancel")
    assert "/" in job["jobArn"]

    provider.cancel(call, job)
    stopping = provider.describe(call, job)
    done = until_final(provider, call, stopping)

    assert provider.state_of(stopping) is TaskState.CANCELLING
    assert provider.state_of(done) is TaskState.CANCELLED
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")["KeyCount"] == 0


def test_a_timed_out_submit_is_carried_on_not_repeated(sandbox_url, provider, s3):
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {
            "provider": "bedrock",
            "operation": "CreateModelInvocationJob",
            "kind": "slow",
            "delay_s": 2.0,
            "phase": "after",
        },
    )
    slow, call = _adapter(sandbox_url, timeout_s=0.5), _call("tea-slow")

    with pytest.raises(ProviderUnavailable):
        slow.submit(call, "task-slow")
    job = slow.submit(call, "task-slow")

    assert job["jobName"] == "tea-slow"
    assert sandbox_calls(sandbox_url)["bedrock.CreateModelInvocationJob"] == 2
    assert provider.find(call, "task-slow")["jobArn"] == job["jobArn"]


def test_a_name_used_by_another_task_is_rejected(sandbox_url, provider, s3):
    provider.submit(_call("tea-name"), "task-a")

    with pytest.raises(ProviderRejected) as raised:
        provider.submit(_call("tea-name"), "task-b")

    assert "already exists" in raised.value.message


def test_throttled_refresh_keeps_retry_after(sandbox_url, provider, s3):
    call = _call("tea-throttled")
    job = provider.submit(call, "task-t")
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {
            "provider": "bedrock",
            "operation": "GetModelInvocationJob",
            "kind": "throttle",
            "retry_after_s": 4,
        },
    )

    with pytest.raises(ProviderThrottled) as raised:
        provider.describe(call, job)

    assert raised.value.retry_after_s == 4.0
    assert provider.describe(call, job)["jobArn"] == job["jobArn"]


def test_partial_results_complete_with_error(sandbox_url, provider, s3):
    post_json(
        f"{sandbox_url}/_sandbox/faults",
        {
            "provider": "bedrock",
            "operation": "outcome",
            "kind": "partial",
            "succeed": 2,
        },
    )
    call = _call("tea-partial")

    done = until_final(provider, call, provider.submit(call, "task-p"))

    summary = provider.summarize(done)
    assert done["status"] == "PartiallyCompleted"
    assert provider.state_of(done) is TaskState.COMPLETED_WITH_ERROR
    assert (summary.total, summary.succeeded, summary.failed) == (3, 2, 1)
