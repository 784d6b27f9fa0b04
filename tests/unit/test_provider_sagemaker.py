"""The SageMaker adapter without a server: statuses, errors, client, arguments."""

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

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
from workers.providers.base import TASK_ID_TAG, ProviderCall, UnknownStatus
from workers.providers.sagemaker import _create_arguments, _unknown_job

CREDENTIAL = {"access_key": "AKIDEXAMPLE", "secret_key": "secret"}


URL = "https://api.sagemaker.us-east-1.amazonaws.com/CreateTransformJob"


def make_call(body=None, credential=None, parameters=None, url=URL) -> ProviderCall:
    return ProviderCall(
        url=url,
        method="POST",
        body=body if body is not None else {"TransformJobName": "job-1"},
        credential=CREDENTIAL if credential is None else credential,
        parameters={"region": "us-east-1"} if parameters is None else parameters,
    )


def client_error(code: str, message: str = "", status: int = 400, headers=None):
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return ClientError(response, "DescribeTransformJob")


def raised_by(exc, not_found=_unknown_job):
    with pytest.raises(Exception) as caught, provider_errors("sagemaker", not_found):
        raise exc
    return caught.value


@pytest.fixture
def provider():
    return get_provider("sagemaker", Settings())


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("InProgress", TaskState.RUNNING),
        ("Completed", TaskState.COMPLETED),
        ("Failed", TaskState.FAILED),
        ("Stopping", TaskState.CANCELLING),
        ("Stopped", TaskState.CANCELLED),
    ],
)
def test_every_status_maps_to_its_state(provider, status, state):
    assert provider.state_of({"TransformJobStatus": status}) is state


def test_an_unknown_status_is_not_guessed(provider):
    with pytest.raises(UnknownStatus):
        provider.state_of({"TransformJobStatus": "Completing"})


def test_throttling_as_a_400_with_no_message_is_throttling():
    # Case 6: the code says throttling although the status says bad request
    error = raised_by(client_error("ThrottlingException", "", 400))

    assert isinstance(error, ProviderThrottled)
    assert error.retryable
    assert error.code == "ThrottlingException"
    assert error.retry_after_s is None


def test_throttling_keeps_retry_after():
    error = raised_by(
        client_error("TooManyRequestsException", "slow", 429, {"retry-after": "7"})
    )

    assert isinstance(error, ProviderThrottled)
    assert error.retry_after_s == 7.0


@pytest.mark.parametrize(
    "exc",
    [
        client_error("InternalFailure", "boom", 500),
        client_error("ServiceUnavailable", "", 503),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_server_errors_and_timeouts_are_unavailable(exc):
    error = raised_by(exc)

    assert isinstance(error, ProviderUnavailable)
    assert not error.reached


def test_an_unknown_job_is_not_found():
    # SageMaker says so with a ValidationException, not ResourceNotFound
    unknown = client_error(
        "ValidationException", "Could not find transform job 'arn:...:transform-job/x'."
    )

    assert isinstance(raised_by(unknown), ProviderJobNotFound)
    assert isinstance(
        raised_by(client_error("ResourceNotFound", "gone")), ProviderJobNotFound
    )


def test_other_client_errors_are_rejected_with_the_message():
    error = raised_by(
        client_error("ValidationException", "1 validation error detected: bad name")
    )

    assert type(error) is ProviderRejected
    assert "1 validation error detected: bad name" in error.message
    assert error.code == "ValidationException"


def test_a_body_that_does_not_fit_the_api_is_rejected():
    error = raised_by(ParamValidationError(report="Unknown parameter Foo"))

    assert type(error) is ProviderRejected
    assert "Unknown parameter Foo" in error.message


def test_create_arguments_add_the_task_tag_once():
    body = {
        "TransformJobName": "job-1",
        "Tags": [
            {"Key": "team", "Value": "search"},
            {"Key": TASK_ID_TAG, "Value": "stale"},
        ],
    }

    arguments = _create_arguments(body, "task-9")

    assert arguments["Tags"] == [
        {"Key": "team", "Value": "search"},
        {"Key": TASK_ID_TAG, "Value": "task-9"},
    ]
    assert body["Tags"][1]["Value"] == "stale"  # the connector's body is untouched


def test_a_body_without_a_job_name_is_rejected(provider):
    with pytest.raises(ProviderRejected, match="TransformJobName"):
        provider.submit(make_call(body={"ModelName": "m"}), "task-1")


def test_client_has_no_retries_and_the_operator_endpoint():
    settings = Settings(
        sagemaker_endpoint_url="http://127.0.0.1:9", provider_timeout_s=4.5
    )

    client = client_for("sagemaker", make_call(), settings)

    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.config.read_timeout == 4.5
    assert client.meta.config.connect_timeout == 4.5
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "us-east-1"


def test_no_endpoint_setting_means_the_real_one(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:9")
    call = make_call(
        parameters={"region": "us-east-1"},
        url="https://api.sagemaker.eu-west-1.amazonaws.com/CreateTransformJob",
    )

    client = client_for("sagemaker", call, Settings())

    assert client.meta.endpoint_url == "https://api.sagemaker.eu-west-1.amazonaws.com"
    assert client.meta.region_name == "eu-west-1"


@pytest.mark.parametrize(
    ("credential", "parameters", "named"),
    [
        ({"access_key": "a"}, {"region": "us-east-1"}, "secret_key"),
        (CREDENTIAL, {}, "region"),
    ],
)
def test_missing_credential_or_region_is_rejected(credential, parameters, named):
    # A URL without a region leaves the parameters and credential to name it.
    url = "https://sagemaker.example/CreateTransformJob"
    with pytest.raises(ProviderRejected, match=named):
        client_for(
            "sagemaker",
            make_call(credential=credential, parameters=parameters, url=url),
            Settings(),
        )


def test_summary_error_and_remote_id(provider):
    job = json_safe(
        {
            "TransformJobName": "job-1",
            "TransformJobStatus": "Failed",
            "FailureReason": "ClientError: bad line",
            "TransformOutput": {"S3OutputPath": "s3://b/out/"},
            "ResponseMetadata": {"RequestId": "x"},
        }
    )

    summary = provider.summarize(job)

    assert "ResponseMetadata" not in job
    assert summary.output_location == "s3://b/out/"
    assert (summary.total, summary.succeeded, summary.failed) == (None, None, None)
    assert provider.error_of(job) == "ClientError: bad line"
    assert provider.error_of({"FailureReason": ""}) is None
    assert provider.remote_id(job) == "job-1"
