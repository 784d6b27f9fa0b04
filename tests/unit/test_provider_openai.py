"""The OpenAI adapter's status table and result summary, one status each."""

import pytest

from common.settings import Settings
from common.states import TaskState
from workers.providers.base import UnknownStatus
from workers.providers.openai import OpenAIProvider

ADAPTER = OpenAIProvider(Settings())


@pytest.mark.parametrize(
    "status, state",
    [
        ("validating", TaskState.RUNNING),
        ("in_progress", TaskState.RUNNING),
        ("finalizing", TaskState.RUNNING),
        ("completed", TaskState.COMPLETED),
        ("failed", TaskState.FAILED),
        ("expired", TaskState.EXPIRED),
        ("cancelling", TaskState.CANCELLING),
        ("cancelled", TaskState.CANCELLED),
    ],
)
def test_every_status_maps_to_one_state(status, state):
    assert ADAPTER.state_of({"status": status}) == state


@pytest.mark.parametrize("status", ["complete", "Completed", "done", None])
def test_unknown_statuses_are_never_guessed(status):
    with pytest.raises(UnknownStatus):
        ADAPTER.state_of({"status": status})


def test_completed_with_failed_requests_is_completed_with_error():
    job = {
        "status": "completed",
        "request_counts": {"total": 3, "completed": 0, "failed": 3},
    }

    assert ADAPTER.state_of(job) == TaskState.COMPLETED_WITH_ERROR


def test_empty_file_ids_mean_no_file():
    summary = ADAPTER.summarize(
        {
            "status": "completed",
            "output_file_id": "file-1",
            "error_file_id": "",
            "request_counts": {"total": 2, "completed": 2, "failed": 0},
        }
    )

    assert summary.output_location == "file-1"
    assert summary.error_location is None
    assert (summary.total, summary.succeeded, summary.failed) == (2, 2, 0)


def test_batch_errors_name_code_and_line():
    job = {
        "status": "failed",
        "errors": {
            "object": "list",
            "data": [
                {
                    "code": "duplicate_custom_id",
                    "line": 3,
                    "message": "The custom_id 'a' is duplicated.",
                    "param": None,
                }
            ],
        },
    }

    assert ADAPTER.error_of(job) == (
        "duplicate_custom_id at line 3: The custom_id 'a' is duplicated."
    )
