"""Helpers the adapter tests share."""

import time

from common.states import TaskState
from tests.conftest import get_json


def until_final(provider, call, job: dict, timeout_s: float = 10.0) -> dict:
    """Describe the job until its state is final; return the merged job."""
    deadline = time.monotonic() + timeout_s
    while provider.state_of(job) in (TaskState.RUNNING, TaskState.CANCELLING):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = {**job, **provider.describe(call, job)}
    return job


def sandbox_calls(sandbox_url: str) -> dict:
    return get_json(f"{sandbox_url}/_sandbox/calls")["calls"]


def aws_client(service: str, url: str):
    """A boto3 client for ``service`` at ``url``, with test keys and no retry."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )
