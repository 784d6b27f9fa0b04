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
