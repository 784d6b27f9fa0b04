"""boto3 clients for the AWS adapters (SageMaker, Bedrock) and their errors.

A client is built only from the connector's credential and the operator's
endpoint: no profile, no environment keys, no instance metadata. botocore's
own retries are off because the worker retries on its own schedule, and
every botocore failure becomes one of the provider errors in
``common.errors``.
"""

import contextlib
import datetime as dt
import functools
import threading

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from common.endpoints import region_of
from common.errors import (
    ProviderJobNotFound,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from common.settings import Settings
from workers.providers.base import ProviderCall

#: Error codes AWS services use for "slow down", whatever the HTTP status:
#: SageMaker sends ThrottlingException as a 400, at times with no message.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
SERVER_CODES = frozenset(
    {"InternalFailure", "InternalServerException", "ServiceUnavailable"}
)

_build_lock = threading.Lock()


def client_for(service: str, call: ProviderCall, settings: Settings):
    """A boto3 client for ``service`` signed with the connector's credential."""
    credential = call.credential or {}
    if not credential.get("access_key") or not credential.get("secret_key"):
        raise ProviderRejected(
            "the connector's credential needs access_key and secret_key for "
            f"aws_sigv4; it has {sorted(credential) or 'none'}",
            service,
        )
    # The URL's host names the region (the API checked that the request's
    # parameters agree with it); the parameters only for URLs without one.
    region = (
        region_of(call.url) or call.parameters.get("region") or credential.get("region")
    )
    if not region:
        raise ProviderRejected(
            "the connector names no region: set parameters.region or credential.region",
            service,
        )
    return _cached_client(
        service,
        region,
        credential["access_key"],
        credential["secret_key"],
        credential.get("session_token"),
        settings.provider_endpoint(service),
        settings.provider_timeout_s,
    )


@functools.lru_cache(maxsize=64)
def _cached_client(service, region, access_key, secret_key, token, endpoint, timeout_s):
    config = Config(
        # total_max_attempts, not max_attempts: botocore reads the latter as
        # retries *after* the first call, so max_attempts=1 still retries once.
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        # Only the operator's setting may redirect calls (AWS_ENDPOINT_URL_*
        # in the environment must not).
        ignore_configured_endpoint_urls=True,
    )
    # boto3 sessions are not safe to build from several threads at once.
    with _build_lock:
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=token,
            region_name=region,
        )
        return session.client(service, endpoint_url=endpoint, config=config)


@contextlib.contextmanager
def provider_errors(provider: str, not_found=lambda code, message: False):
    """Turn botocore failures inside the block into provider errors.

    ``not_found(code, message)`` lets an adapter recognise its service's own
    way of saying "no such job" (SageMaker uses ValidationException).
    """
    try:
        yield
    except ClientError as exc:
        raise classify(exc, provider, not_found) from exc
    except (HTTPClientError, BotoConnectionError) as exc:
        raise ProviderUnavailable(
            f"{provider} could not be reached: {exc}", provider
        ) from exc
    except ParamValidationError as exc:
        raise ProviderRejected(
            f"the request does not fit {provider}'s API: {exc}",
            provider,
            "ParamValidationError",
        ) from exc
    except NoCredentialsError as exc:
        raise ProviderRejected(f"{provider}: {exc}", provider) from exc


def classify(exc: ClientError, provider: str, not_found) -> Exception:
    error = exc.response.get("Error", {})
    code = error.get("Code") or "Unknown"
    message = error.get("Message") or ""
    metadata = exc.response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode") or 0
    said = f"{provider} answered {status} {code}: {message or '(no message)'}"
    if code in THROTTLING_CODES or status == 429:
        retry_after = _retry_after_s(metadata.get("HTTPHeaders", {}))
        return ProviderThrottled(said, provider, code, retry_after_s=retry_after)
    if status >= 500 or code in SERVER_CODES:
        return ProviderUnavailable(said, provider, code)
    if code in NOT_FOUND_CODES or not_found(code, message):
        return ProviderJobNotFound(said, provider, code)
    return ProviderRejected(said, provider, code)


def _retry_after_s(headers: dict) -> float | None:
    raw = headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP date; AWS services send seconds


def json_safe(answer: dict) -> dict:
    """An SDK answer as stored in ``remote_job``: ISO times, no metadata."""
    return {
        key: _plain(value) for key, value in answer.items() if key != "ResponseMetadata"
    }


def _plain(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
