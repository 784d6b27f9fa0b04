"""The Cohere adapter without a server: status table, errors, keys, names."""

import httpx
import pytest
from cohere.core.api_error import ApiError
from cohere.core.parse_error import ParsingError
from cohere.errors import (
    BadRequestError,
    GatewayTimeoutError,
    InternalServerError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)

from common.errors import (
    ProviderJobNotFound,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from common.settings import Settings
from common.states import TaskState
from scripts import procs
from workers.providers import get_provider
from workers.providers.base import ProviderCall, UnknownStatus
from workers.providers.cohere import _calling, classify, job_name, retry_after


def make_call(body=None, credential=None, headers=None) -> ProviderCall:
    return ProviderCall(
        url="https://api.cohere.ai/v1/embed-jobs",
        method="POST",
        body=body
        or {
            "model": "embed-english-v3.0",
            "dataset_id": "d",
            "input_type": "search_document",
        },
        credential=credential or {},
        headers=headers or {},
    )


def wrapper_of(provider, call):
    """The SDK client's settings, read after the client is closed again."""
    with provider._client(call) as client:
        return client._client_wrapper


@pytest.fixture
def provider():
    return get_provider("cohere", Settings())


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("processing", TaskState.RUNNING),
        ("complete", TaskState.COMPLETED),
        ("failed", TaskState.FAILED),
        ("cancelling", TaskState.CANCELLING),
        ("cancelled", TaskState.CANCELLED),
    ],
)
def test_every_documented_status_maps(provider, status, state):
    assert provider.state_of({"status": status}) is state


def test_completed_is_not_cohere_spelling(provider):
    with pytest.raises(UnknownStatus, match="'completed'"):
        provider.state_of({"status": "completed"})


def test_throttle_carries_retry_after_seconds():
    error = TooManyRequestsError(
        body={"id": "r", "message": "slow down"}, headers={"retry-after": "12"}
    )

    mapped = classify(error)

    assert isinstance(mapped, ProviderThrottled)
    assert mapped.retry_after_s == 12.0
    assert "slow down" in mapped.message


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({}, None),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_forms(headers, seconds):
    assert retry_after(headers) == seconds


def test_retry_after_as_http_date_is_in_the_future():
    seconds = retry_after({"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"})

    assert seconds > 365 * 24 * 3600


@pytest.mark.parametrize(
    "error",
    [
        InternalServerError(body={"message": "boom"}),
        ServiceUnavailableError(body={"message": "down"}),
        GatewayTimeoutError(body={"message": "slow"}),
        ApiError(status_code=502, body="<html>bad gateway</html>"),
        ApiError(status_code=499, body={"message": "closed"}),
    ],
)
def test_server_side_failures_are_unavailable(error):
    assert isinstance(classify(error), ProviderUnavailable)


def test_404_is_job_not_found_only_for_a_job_call():
    error = NotFoundError(body={"message": "The embed job with id 'j' was not found."})

    about_job = classify(error, job_id="j")
    about_create = classify(error)

    assert isinstance(about_job, ProviderJobNotFound)
    assert "j" in about_job.message
    assert type(about_create) is ProviderRejected


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError(body={"id": "x", "message": "dataset not validated"}),
        UnauthorizedError(body={"id": "x", "message": "dataset not validated"}),
    ],
)
def test_other_4xx_are_rejections_with_cohere_message(error):
    mapped = classify(error)

    assert type(mapped) is ProviderRejected
    assert "dataset not validated" in mapped.message
    assert mapped.code == str(error.status_code)


def test_non_json_error_body_still_gives_a_message():
    mapped = classify(ApiError(status_code=400, body="plain text problem"))

    assert "plain text problem" in mapped.message


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ConnectError("refused"), ProviderUnavailable),
        (httpx.ReadTimeout("late"), ProviderUnavailable),
        (httpx.RemoteProtocolError("cut"), ProviderUnavailable),
        (ParsingError(status_code=200, body={}), ProviderUnavailable),
        (TooManyRequestsError(body={"message": "x"}), ProviderThrottled),
    ],
)
def test_calling_translates_transport_failures(raised, expected):
    def operation():
        raise raised

    with pytest.raises(expected) as caught:
        _calling(operation)

    assert caught.value.__cause__ is raised


def test_key_sources_in_order(provider):
    from_credential = make_call(
        credential={"cohere_key": "a", "api_key": "b"},
        headers={"Authorization": "Bearer c"},
    )
    from_api_key = make_call(credential={"api_key": "b"})
    from_header = make_call(headers={"authorization": "Bearer c"})

    sent = [
        wrapper_of(provider, c).get_headers()["Authorization"]
        for c in (from_credential, from_api_key, from_header)
    ]

    assert sent == ["Bearer a", "Bearer b", "Bearer c"]


def test_no_key_is_rejected_even_with_one_in_the_environment(provider, monkeypatch):
    monkeypatch.setenv("CO_API_KEY", "from-env")

    with pytest.raises(ProviderRejected, match="cohere_key"):
        provider._client(make_call())


def test_client_has_no_retries_and_the_operator_endpoint():
    settings = Settings(cohere_base_url="http://127.0.0.1:9", provider_timeout_s=4.0)
    provider = get_provider("cohere", settings)

    wrapper = wrapper_of(provider, make_call(credential={"cohere_key": "k"}))

    assert wrapper.get_max_retries() == 0
    assert wrapper.get_timeout() == 4.0
    assert wrapper.get_base_url() == "http://127.0.0.1:9"


def test_default_endpoint_is_cohere_whatever_co_api_url_says(monkeypatch, provider):
    monkeypatch.setenv("CO_API_URL", "http://127.0.0.1:1")

    wrapper = wrapper_of(provider, make_call(credential={"cohere_key": "k"}))

    assert wrapper.get_base_url() == "https://api.cohere.com"


def test_job_name_carries_the_task_id():
    assert job_name({}, "t1") == "bp-t1"
    assert job_name({"name": "nightly"}, "t1") == "nightly-bp-t1"


def test_unknown_body_fields_are_rejected_before_any_call():
    nowhere = Settings(cohere_base_url=f"http://127.0.0.1:{procs.free_port()}")
    body = {"model": "m", "dataset_id": "d", "input_type": "x", "texts": ["a"]}

    with pytest.raises(ProviderRejected, match="texts"):
        get_provider("cohere", nowhere).submit(
            make_call(body=body, credential={"cohere_key": "k"}), "t1"
        )


def test_refused_connection_is_unavailable():
    nowhere = Settings(cohere_base_url=f"http://127.0.0.1:{procs.free_port()}")

    with pytest.raises(ProviderUnavailable, match="reached"):
        get_provider("cohere", nowhere).describe(
            make_call(credential={"cohere_key": "k"}), {"job_id": "j"}
        )


@pytest.mark.parametrize(
    ("job", "location"),
    [
        ({"status": "complete", "output_dataset_id": "out-1"}, "out-1"),
        ({"status": "complete", "output_dataset_id": ""}, None),
        ({"status": "cancelled"}, None),
    ],
)
def test_summary_points_at_the_output_dataset(provider, job, location):
    summary = provider.summarize(job)

    assert summary.output_location == location
    assert (summary.total, summary.succeeded, summary.failed) == (None, None, None)


def test_error_of_a_failed_job_quotes_the_warnings(provider):
    job = {"job_id": "j1", "status": "failed", "meta": {"warnings": ["input gone"]}}

    assert "j1" in provider.error_of(job) and "input gone" in provider.error_of(job)
    assert provider.error_of({"job_id": "j1", "status": "complete"}) is None
