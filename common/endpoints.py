"""Trusted endpoints and which provider a connector URL belongs to.

A URL is trusted when it fully matches one of the operator's regexes and its
host is not an internal address: loopback, private, link-local, cloud
metadata and other non-global addresses are refused in every spelling an HTTP
client would accept (``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``,
``localhost.``), unless the operator allows them. Host names are not
resolved: a public name that resolves inward must be stopped at the egress.
"""

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

from common.errors import InvalidRequest, UntrustedEndpoint

# Each provider's batch API, recognised by host and path: a connector's
# batch_predict URL must name one of them exactly, never by substring.
# An AWS region as it stands in a regional endpoint: us-east-1, us-gov-west-1.
# The SDK builds its host from the region, so the URL must name one.
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"

_PROVIDER_URLS = {
    "openai": (re.compile(r"api\.openai\.com"), re.compile(r"/v1/batches(/.*)?")),
    "sagemaker": (
        re.compile(rf"api\.sagemaker\.{_REGION}\.amazonaws\.com"),
        re.compile(r"/(Create|Describe|Stop)TransformJob"),
    ),
    "cohere": (
        re.compile(r"api\.cohere\.(ai|com)"),
        re.compile(r"/v1/embed-jobs(/.*)?"),
    ),
    "bedrock": (
        re.compile(rf"bedrock\.{_REGION}\.amazonaws\.com"),
        re.compile(r"/model-invocation-jobs?(/.*)?"),
    ),
}


#: Longest connector URL accepted, before or after rendering.
MAX_URL_CHARS = 2048

# Names that always mean this machine or a cloud's metadata service.
_INTERNAL_NAMES = frozenset({"localhost.localdomain", "metadata.goog"})
# Special-use and private-use suffixes (RFC 6761, RFC 6762, RFC 8375's
# home.arpa, ICANN's .internal that GCP's metadata host uses): none of them
# names a provider.
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".arpa")
_HOST_CHARS = re.compile(r"[a-z0-9.\-]+|[0-9a-f:.]+")
# NAT64's well-known prefix (RFC 6052) carries an IPv4 address in its low bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            return None
    return _legacy_ipv4(host)


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse ``host`` as inet_aton and WHATWG URL parsers do: one to four
    parts, each decimal, octal (leading 0) or hex (0x), the last one filling
    the remaining bytes, so ``127.1`` and ``0x7f000001`` are 127.0.0.1."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, number in enumerate(leading):
        value += number << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_number(part: str) -> int | None:
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _embedded(address) -> list:
    """The address and every IPv4 address an IPv6 one carries."""
    found = [address]
    if isinstance(address, ipaddress.IPv6Address):
        for inner in (address.ipv4_mapped, address.sixtofour):
            if inner is not None:
                found.append(inner)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in _NAT64 or int(address) >> 32 == 0:
            # NAT64 and the deprecated IPv4-compatible form (::a.b.c.d).
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


@lru_cache(maxsize=8)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for p in patterns)


def check_trusted(
    url: str, patterns: tuple[str, ...], field: str, allow_private: bool = False
) -> None:
    """Raise :class:`UntrustedEndpoint` unless ``url`` fully matches a pattern
    and, unless ``allow_private``, names no internal host."""
    if len(url) > MAX_URL_CHARS:
        # The trusted patterns backtrack: their cost grows with the square of
        # the URL's length, so a long one is refused before they run.
        raise UntrustedEndpoint(
            f"{field} is {len(url)} characters long; at most {MAX_URL_CHARS} are "
            "allowed",
            field,
        )
    if not any(p.fullmatch(url) for p in _compiled(patterns)):
        raise UntrustedEndpoint(
            f"Connector URL is not matching the trusted connector endpoint regex: "
            f"{field} is {url!r}",
            field,
        )
    host = url_host(url, field)
    if not allow_private and is_internal_host(host):
        raise UntrustedEndpoint(
            f"{field} {url!r} addresses an internal host ({host}): loopback, "
            "private, link-local and metadata addresses are refused unless the "
            "operator sets BATCHPREDICT_ALLOW_PRIVATE_ENDPOINTS",
            field,
        )


def url_host(url: str, field: str) -> str:
    """The URL's host, lower-cased without trailing dots; a URL whose
    authority clients could read two ways (user info, backslashes, escapes,
    characters outside plain host names) is refused."""
    authority = urlsplit(url).netloc
    host = (urlsplit(url).hostname or "").rstrip(".")
    if "@" in authority or "\\" in authority:
        raise UntrustedEndpoint(
            f"{field} {url!r} carries user info or a backslash in its host part",
            field,
        )
    if not _HOST_CHARS.fullmatch(host):
        raise UntrustedEndpoint(
            f"{field} {url!r} has a host that is not a plain host name or IP "
            f"address: {host!r}",
            field,
        )
    return host


def is_internal_host(host: str) -> bool:
    """Whether ``host`` (as :func:`url_host` returns it) is not a public one."""
    address = _ip_address(host)
    if address is not None:
        return any(not a.is_global for a in _embedded(address))
    labels = host.split(".")
    if len(labels) == 1 or host in _INTERNAL_NAMES:
        # A single label resolves through the search domains: an inside name.
        return True
    return any(host.endswith(suffix) for suffix in _INTERNAL_SUFFIXES)


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


_REGIONAL_HOST = re.compile(
    rf"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.({_REGION})\.amazonaws\.com"
)


def region_of(url: str) -> str | None:
    """The AWS region an endpoint URL names: us-east-1 in
    https://api.sagemaker.us-east-1.amazonaws.com/CreateTransformJob."""
    match = _REGIONAL_HOST.fullmatch((urlsplit(url).hostname or "").lower())
    return match.group(1) if match else None
