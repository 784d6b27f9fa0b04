"""The Bedrock adapter without a server: statuses, errors, tokens, summaries."""

import datetime as dt

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError

from common.errors import (
    ProviderJobNotFound,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from common.settings import Settings
from common.states import TaskState
from workers.providers import get_provider
from workers.providers.aws_client import client_for, json_safe, provider_errors
from workers.providers.base import ProviderCall, UnknownStatus
from workers.providers.bedrock import TOKEN_PATTERN, request_token

ARN = "arn:aws:bedrock:us-east-1:111122223333:model-invocation-job/ab12cd34ef56"


def client_error(code: str, message: str, status: int, headers=None):
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return ClientError(response, "GetModelInvocationJob")


def raised_by(exc):
    with pytest.raises(Exception) as caught, provider_errors("bedrock"):
        raise exc
    return caught.value


@pytest.fixture
def provider():
    return get_provider("bedrock", Settings())


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Submitted", TaskState.RUNNING),
        ("Validating", TaskState.RUNNING),
        ("Scheduled", TaskState.RUNNING),
        ("InProgress", TaskState.RUNNING),
        ("Completed", TaskState.COMPLETED),
        ("PartiallyCompleted", TaskState.COMPLETED_WITH_ERROR),
        ("Failed", TaskState.FAILED),
        ("Stopping", TaskState.CANCELLING),
        ("Stopped", TaskState.CANCELLED),
        ("Expired", TaskState.EXPIRED),
    ],
)
def test_every_status_maps_to_its_state(provider, status, state):
    assert provider.state_of({"status": status}) is state


def test_completed_with_failed_records_is_not_plain_success(provider):
    job = {"status": "Completed", "successRecordCount": 0, "errorRecordCount": 3}

    assert provider.state_of(job) is TaskState.COMPLETED_WITH_ERROR
    assert provider.state_of({**job, "errorRecordCount": 0}) is TaskState.COMPLETED


def test_an_unknown_status_is_not_guessed(provider):
    with pytest.raises(UnknownStatus):
        provider.state_of({"status": "Done"})


def test_throttling_is_retried_later_with_retry_after():
    error = raised_by(
        client_error(
            "ThrottlingException", "Too many requests", 429, {"retry-after": "2.5"}
        )
    )

    assert isinstance(error, ProviderThrottled)
    assert error.retry_after_s == 2.5


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (
            client_error("ResourceNotFoundException", "no such job", 404),
            ProviderJobNotFound,
        ),
        (
            client_error("ConflictException", "cannot stop a Completed job", 400),
            ProviderRejected,
        ),
        (client_error("ValidationException", "bad jobName", 400), ProviderRejected),
        (client_error("AccessDeniedException", "no", 403), ProviderRejected),
        (client_error("InternalServerException", "oops", 500), ProviderUnavailable),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), ProviderUnavailable),
    ],
)
def test_errors_are_classified(exc, kind):
    error = raised_by(exc)

    assert type(error) is kind
    assert error.provider == "bedrock"


def test_a_rejection_carries_bedrocks_message():
    error = raised_by(client_error("ValidationException", "bad jobName", 400))

    assert "bad jobName" in error.message


def test_task_ids_become_valid_stable_tokens():
    assert request_token("3f2a9c0d1e4b5a6f7c8d") == "3f2a9c0d1e4b5a6f7c8d"
    odd = request_token("task_with_underscores")
    assert odd == request_token("task_with_underscores")
    assert TOKEN_PATTERN.fullmatch(odd)


def test_summary_points_at_the_jobs_output_folder(provider):
    job = {
        "jobArn": ARN,
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/out/"}},
        "totalRecordCount": 5,
        "successRecordCount": 4,
        "errorRecordCount": 1,
    }

    summary = provider.summarize(job)

    assert summary.output_location == "s3://b/out/ab12cd34ef56/"
    assert (summary.total, summary.succeeded, summary.failed) == (5, 4, 1)
    assert provider.summarize({"jobArn": ARN}).output_location is None


def test_error_and_remote_id(provider):
    assert provider.error_of({"message": "input missing"}) == "input missing"
    assert provider.error_of({"status": "Completed"}) is None
    assert provider.remote_id({"jobArn": ARN}) == ARN


def test_job_objects_are_stored_json_safe():
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

    stored = json_safe(
        {"submitTime": stamp, "ResponseMetadata": {}, "vpcConfig": {"when": [stamp]}}
    )

    assert stored == {
        "submitTime": "2026-01-02T03:04:05+00:00",
        "vpcConfig": {"when": ["2026-01-02T03:04:05+00:00"]},
    }


def test_client_uses_the_operator_endpoint_and_session_token():
    call = ProviderCall(
        url="https://bedrock.us-west-2.amazonaws.com/model-invocation-job",
        method="POST",
        body={},
        credential={"access_key": "a", "secret_key": "b", "session_token": "t"},
        parameters={"region": "us-west-2"},
    )
    settings = Settings(bedrock_endpoint_url="http://127.0.0.1:9")

    client = client_for("bedrock", call, settings)
    credentials = client._request_signer._credentials

    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "us-west-2"
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert (credentials.access_key, credentials.token) == ("a", "t")
