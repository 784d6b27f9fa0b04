"""Trusted endpoints: internal hosts in every spelling, and hosts that request
parameters try to move."""

import pytest

from common.connectors import render_action, validate_connector
from common.endpoints import check_trusted, is_internal_host, url_host
from common.errors import InvalidRequest, UntrustedEndpoint

ANY_HTTPS = (r"^https://.*$",)

INTERNAL = [
    "https://127.0.0.1/v1/batches",
    "https://127.1/v1/batches",
    "https://2130706433/v1/batches",
    "https://0x7f000001/v1/batches",
    "https://0x7f.0.0.1/v1/batches",
    "https://0177.0.0.1/v1/batches",
    "https://0/v1/batches",
    "https://0.0.0.0/v1/batches",
    "https://10.0.0.8/v1/batches",
    "https://172.16.3.4/v1/batches",
    "https://192.168.1.1/v1/batches",
    "https://169.254.169.254/latest/meta-data/",
    "https://2852039166/latest/meta-data/",
    "https://100.100.100.200/latest/meta-data/",
    "https://[::1]/v1/batches",
    "https://[::]/v1/batches",
    "https://[::ffff:127.0.0.1]/v1/batches",
    "https://[::ffff:7f00:1]/v1/batches",
    "https://[::ffff:169.254.169.254]/v1/batches",
    "https://[::127.0.0.1]/v1/batches",
    "https://[64:ff9b::a9fe:a9fe]/v1/batches",
    "https://[2002:a9fe:a9fe::]/v1/batches",
    "https://[fe80::1]/v1/batches",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://localhost/v1/batches",
    "https://LOCALHOST./v1/batches",
    "https://api.localhost/v1/batches",
    "https://localhost.localdomain/v1/batches",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata/computeMetadata/v1/",
    "https://printer.local/v1/batches",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_hosts_are_refused_even_when_a_regex_matches(url):
    with pytest.raises(UntrustedEndpoint) as caught:
        check_trusted(url, ANY_HTTPS, "url")

    assert "internal host" in caught.value.message
    assert caught.value.field == "url"


@pytest.mark.parametrize("url", INTERNAL)
def test_the_operator_may_allow_internal_hosts(url):
    check_trusted(url, ANY_HTTPS, "url", allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1/batches",
        "https://8.8.8.8/v1/batches",
        "https://0x08080808/v1/batches",
        "https://[2606:4700:4700::1111]/v1/batches",
        "https://api.sagemaker.us-east-1.amazonaws.com/CreateTransformJob",
    ],
)
def test_public_hosts_pass(url):
    check_trusted(url, ANY_HTTPS, "url")


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com@127.0.0.1/v1/batches",
        "https://user:pw@api.openai.com/v1/batches",
        "https://api.openai.com\\@127.0.0.1/v1/batches",
        "https://%31%32%37.0.0.1/v1/batches",
        "https://１２７.０.０.１/v1/batches",
    ],
)
def test_hosts_clients_could_read_two_ways_are_refused_even_when_allowed(url):
    with pytest.raises(UntrustedEndpoint):
        check_trusted(url, ANY_HTTPS, "url", allow_private=True)


def test_host_is_read_without_trailing_dots_and_in_lower_case():
    assert url_host("https://API.OpenAI.com./v1/batches", "url") == "api.openai.com"
    assert is_internal_host("intranet")
    assert not is_internal_host("api.cohere.ai")


def _connector(url: str, parameters: dict | None = None) -> dict:
    return {
        "name": "c",
        "protocol": "http",
        "parameters": parameters or {},
        "credential": {"key": "k"},
        "actions": [
            {
                "action_type": "batch_predict",
                "method": "POST",
                "url": url,
                "request_body": '{"input_file_id": "f"}',
            }
        ],
    }


def test_connector_on_an_internal_host_is_refused_at_create():
    trusted = (r"^https://.*/v1/batches$",)

    with pytest.raises(UntrustedEndpoint) as caught:
        validate_connector(_connector("https://[::ffff:a9fe:a9fe]/v1/batches"), trusted)

    assert caught.value.field == "actions[0].url"


def test_the_connectors_own_parameters_cannot_name_an_internal_host():
    trusted = (r"^https://.*/v1/batches$",)
    connector = _connector("https://${parameters.host}/v1/batches", {"host": "127.1"})

    with pytest.raises(UntrustedEndpoint):
        validate_connector(connector, trusted)


@pytest.mark.parametrize(
    "value",
    [
        "evil.example",
        "api.openai.com@evil.example",
        "evil.example/v1/batches#",
        "api.openai.com:1@127.0.0.1",
        "${parameters.other}",
        "127.0.0.1",
    ],
)
def test_request_parameters_never_change_the_host(value):
    # Given a connector whose host comes from a parameter the request overrides
    trusted = (r"^https://[^/]+/v1/batches$",)
    connector = validate_connector(
        _connector("https://${parameters.host}/v1/batches", {"host": "api.openai.com"}),
        trusted,
    )

    # When a request supplies its own host, Then it is refused
    with pytest.raises(InvalidRequest):
        render_action(
            connector,
            "batch_predict",
            {"host": value, "other": "127.0.0.1"},
            {"key": "k"},
            trusted,
        )


@pytest.mark.parametrize(
    "value", ["../../evil.example/x", "a/../../b", "x?y=1#z", "%2e%2e", "@evil"]
)
def test_path_parameters_are_percent_encoded_and_stay_on_the_host(value):
    trusted = (r"^https://api\.openai\.com/v1/batches(/.*)?$",)
    connector = validate_connector(
        _connector("https://api.openai.com/v1/batches/${parameters.id}"), trusted
    )
    action = render_action(connector, "batch_predict", {"id": value}, {}, trusted)

    assert action.url.startswith("https://api.openai.com/v1/batches/")
    assert url_host(action.url, "url") == "api.openai.com"
    assert "/" not in action.url.removeprefix("https://api.openai.com/v1/batches/")
