"""Connector validation, trusted endpoints and provider detection."""

import copy

import pytest

from common.connectors import render_action, validate_connector
from common.endpoints import provider_of
from common.errors import InvalidRequest, UntrustedEndpoint
from common.settings import DEFAULT_TRUSTED_ENDPOINTS
from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR

TRUSTED = DEFAULT_TRUSTED_ENDPOINTS


def _connector(**changes) -> dict:
    connector = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    connector.update(changes)
    return connector


def test_the_openai_blueprint_validates():
    connector = validate_connector(_connector(), TRUSTED)

    assert [a["action_type"] for a in connector["actions"]] == [
        "predict",
        "batch_predict",
    ]


@pytest.mark.parametrize(
    "url, provider",
    [
        ("https://api.openai.com/v1/batches", "openai"),
        (
            "https://api.sagemaker.us-east-1.amazonaws.com/CreateTransformJob",
            "sagemaker",
        ),
        ("https://api.cohere.ai/v1/embed-jobs", "cohere"),
        ("https://bedrock.eu-west-1.amazonaws.com/model-invocation-job", "bedrock"),
    ],
)
def test_provider_is_read_from_the_url(url, provider):
    assert provider_of(url, "url") == provider


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1/embeddings",
        "https://api.openai.com.evil.example/v1/batches",
        "http://api.openai.com/v1/batches",
        "https://example.com/openai/v1/batches",
    ],
)
def test_urls_of_no_batch_api_are_refused(url):
    with pytest.raises(InvalidRequest):
        provider_of(url, "url")


def test_untrusted_url_is_refused_at_create():
    connector = _connector()
    connector["actions"][1]["url"] = "https://127.0.0.1:8090/v1/batches"

    with pytest.raises(UntrustedEndpoint) as caught:
        validate_connector(connector, TRUSTED)

    assert caught.value.field == "actions[1].url"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"protocol": "ftp"}, "protocol"),
        ({"name": 5}, "name"),
        ({"actions": []}, "actions"),
        ({"credential": {"openAI_key": 1}}, "credential.openAI_key"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_fields_are_named(change, field):
    with pytest.raises(InvalidRequest) as caught:
        validate_connector(_connector(**change), TRUSTED)

    assert caught.value.field == field


def test_unknown_action_type_is_named():
    connector = _connector()
    connector["actions"][1]["action_type"] = "batch_everything"

    with pytest.raises(InvalidRequest) as caught:
        validate_connector(connector, TRUSTED)

    assert caught.value.field == "actions[1].action_type"


def test_aws_connectors_need_keys_and_region():
    connector = _connector(protocol="aws_sigv4", credential={"access_key": "a"})

    with pytest.raises(InvalidRequest) as caught:
        validate_connector(connector, TRUSTED)

    assert caught.value.field == "credential.secret_key"


def test_batch_actions_must_name_one_provider():
    connector = _connector()
    connector["actions"].append(
        {
            "action_type": "batch_predict_status",
            "method": "GET",
            "url": "https://api.cohere.ai/v1/embed-jobs/${parameters.id}",
        }
    )

    with pytest.raises(InvalidRequest, match="one provider"):
        validate_connector(connector, TRUSTED)


def test_request_parameters_cannot_change_the_host():
    connector = validate_connector(_connector(), TRUSTED)
    connector["actions"][1]["url"] = "https://${parameters.host}/v1/batches"
    connector["parameters"]["host"] = "api.openai.com"

    with pytest.raises(InvalidRequest):
        render_action(
            connector,
            "batch_predict",
            {"host": "api.openai.com.evil.io"},
            {"openAI_key": "k"},
            (r"^https://.*$",),
        )


def test_rendered_action_carries_body_and_headers():
    connector = validate_connector(_connector(), TRUSTED)

    action = render_action(
        connector,
        "batch_predict",
        {"input_file_id": "file-9"},
        {"openAI_key": "sk-9"},
        TRUSTED,
    )

    assert action.provider == "openai"
    assert action.body == {
        "input_file_id": "file-9",
        "endpoint": "/v1/embeddings",
        "completion_window": "24h",
    }
    assert action.headers == {"Authorization": "Bearer sk-9"}


def test_request_region_must_be_the_urls():
    # An AWS SDK builds its host from the region: a different one would send
    # the job to a host the trusted-endpoint check never saw.
    connector = validate_connector(_connector(), TRUSTED)
    connector["actions"][1]["url"] = (
        "https://api.sagemaker.us-east-1.amazonaws.com/CreateTransformJob"
    )
    connector["actions"][1]["request_body"] = '{"TransformJobName": "j"}'

    with pytest.raises(InvalidRequest) as caught:
        render_action(
            connector,
            "batch_predict",
            {"region": "eu-west-1"},
            {"openAI_key": "k"},
            TRUSTED,
        )
    action = render_action(
        connector,
        "batch_predict",
        {"region": "us-east-1"},
        {"openAI_key": "k"},
        TRUSTED,
    )

    assert caught.value.field == "parameters.region"
    assert action.provider == "sagemaker"


@pytest.mark.parametrize(
    "host", ["api.sagemaker.global.amazonaws.com", "api.sagemaker.fips.amazonaws.com"]
)
def test_aws_urls_must_name_a_region(host):
    # The SDK would take the region from the request's parameters instead.
    with pytest.raises(InvalidRequest):
        provider_of(f"https://{host}/CreateTransformJob", "url")
