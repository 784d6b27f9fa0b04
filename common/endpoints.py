"""Trusted endpoints and which provider a connector URL belongs to."""

import re
from functools import lru_cache
from urllib.parse import urlsplit

from common.errors import InvalidRequest, UntrustedEndpoint

# Each provider's batch API, recognised by host and path: a connector's
# batch_predict URL must name one of them exactly, never by substring.
_PROVIDER_URLS = {
    "openai": (re.compile(r"api\.openai\.com"), re.compile(r"/v1/batches(/.*)?")),
    "sagemaker": (
        re.compile(r"api\.sagemaker\.[a-z0-9-]+\.amazonaws\.com"),
        re.compile(r"/(Create|Describe|Stop)TransformJob"),
    ),
    "cohere": (
        re.compile(r"api\.cohere\.(ai|com)"),
        re.compile(r"/v1/embed-jobs(/.*)?"),
    ),
    "bedrock": (
        re.compile(r"bedrock\.[a-z0-9-]+\.amazonaws\.com"),
        re.compile(r"/model-invocation-jobs?(/.*)?"),
    ),
}


@lru_cache(maxsize=8)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for p in patterns)


def check_trusted(url: str, patterns: tuple[str, ...], field: str) -> None:
    """Raise :class:`UntrustedEndpoint` unless ``url`` fully matches a pattern."""
    if not any(p.fullmatch(url) for p in _compiled(patterns)):
        raise UntrustedEndpoint(
            f"Connector URL is not matching the trusted connector endpoint regex: "
            f"{field} is {url!r}",
            field,
        )


def provider_of(url: str, field: str) -> str:
    """Name the provider whose batch API ``url`` addresses."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https":
        for provider, (host_pattern, path_pattern) in _PROVIDER_URLS.items():
            if host_pattern.fullmatch(host) and path_pattern.fullmatch(parts.path):
                return provider
    raise InvalidRequest(
        f"{field} {url!r} is not a batch API batchpredict supports; expected "
        "https://api.openai.com/v1/batches, "
        "https://api.sagemaker.<region>.amazonaws.com/CreateTransformJob, "
        "https://api.cohere.ai/v1/embed-jobs or "
        "https://bedrock.<region>.amazonaws.com/model-invocation-job",
        field,
    )


def same_origin(first: str, second: str) -> bool:
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
