"""Bad input through the API: each route answers a 4xx naming the field, and
parameter values can neither break nor extend what a connector renders."""

import copy

import pytest

from common.connectors import render_action
from common.crypto import Sealer
from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR, register_remote_model

ML = "/_plugins/_ml"
SEARCHES = ["connectors", "model_groups", "models", "tasks"]


def _field(response, status: int = 400) -> str:
    body = response.get_json()
    assert response.status_code == status, body
    assert body["status"] == status
    return body["error"].get("field")


@pytest.mark.parametrize("kind", SEARCHES)
@pytest.mark.parametrize(
    "body, field",
    [
        ({"size": 10_001}, "size"),
        ({"size": -1}, "size"),
        ({"from": -5}, "from"),
        ({"from": 1.5}, "from"),
        ({"size": True}, "size"),
        ({"from": 9_999, "size": 2}, "from"),
        ({"sort": [{"created_time": {"order": "sideways"}}]}, "sort"),
        ({"query": {"match": {"name": "x"}}}, "query"),
        ({"_source": 5}, "_source"),
        ({"aggs": {}}, "aggs"),
    ],
)
def test_search_paging_and_query_out_of_range_is_named(client, kind, body, field):
    response = client.post(f"{ML}/{kind}/_search", json=body)

    assert _field(response) == field


def test_terms_with_no_values_finds_nothing_instead_of_failing(client):
    response = client.post(
        f"{ML}/tasks/_search", json={"query": {"terms": {"state": []}}}
    )

    assert response.status_code == 200
    assert response.get_json()["hits"]["total"]["value"] == 0


@pytest.mark.parametrize(
    "change, field",
    [
        ({"version": {"major": 1}}, "version"),
        ({"name": 5}, "name"),
        ({"credential": {"openAI_key": 5}}, "credential.openAI_key"),
        ({"parameters": ["a"]}, "parameters"),
        ({"actions": [{"action_type": "teleport"}]}, "actions[0].action_type"),
        ({"actions": "batch_predict"}, "actions"),
        ({"protocol": "ftp"}, "protocol"),
    ],
)
def test_connector_fields_of_the_wrong_kind_are_named(client, change, field):
    body = dict(copy.deepcopy(OPENAI_BATCH_CONNECTOR), **change)

    response = client.post(f"{ML}/connectors/_create", json=body)

    assert _field(response) == field


def test_action_with_an_unknown_action_type_is_named(client):
    body = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    body["actions"][1]["action_type"] = "batch_everything"

    response = client.post(f"{ML}/connectors/_create", json=body)

    assert _field(response) == "actions[1].action_type"
    assert "batch_everything" in response.get_json()["error"]["reason"]


def test_deploy_flag_must_be_true_or_false(client):
    response = client.post(
        f"{ML}/models/_register?deploy=maybe",
        json={"name": "m", "function_name": "remote", "connector_id": "x"},
    )

    assert _field(response) == "deploy"


def test_template_parameter_with_no_value_is_named(client):
    connector = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    del connector["parameters"]["endpoint"]
    model_id = register_remote_model(client, connector)

    response = client.post(f"{ML}/models/{model_id}/_batch_predict", json={})

    assert _field(response) == "parameters.endpoint"


def test_invalid_utf8_in_a_batch_predict_body_is_named(client):
    response = client.post(
        f"{ML}/models/some-model/_batch_predict",
        data=b'{"parameters": {"input_file_id": "\xc3\x28"}}',
        content_type="application/json",
    )

    assert _field(response) == "body"


@pytest.mark.parametrize(
    "value",
    [
        'file-1", "endpoint": "/v1/chat/completions',
        '"}, "completion_window": "1h", "x": {"',
        "${credential.openAI_key}",
        "${parameters.endpoint}",
        "{}",
        "\\",
        "}}}",
        "\u2028\u0000",
    ],
)
def test_parameter_values_cannot_break_or_extend_the_rendered_json(
    client, store, test_settings, value
):
    # Given a model on the OpenAI blueprint
    model_id = register_remote_model(client, copy.deepcopy(OPENAI_BATCH_CONNECTOR))

    # When a request's parameter holds quotes, braces or a placeholder
    response = client.post(
        f"{ML}/models/{model_id}/_batch_predict",
        json={"parameters": {"input_file_id": value}},
    )

    # Then the task is accepted and renders with the value as one string,
    # the body keeps its own fields and no credential comes through
    assert response.status_code == 200, response.get_json()
    task = store.get_task(response.get_json()["task_id"])
    model = store.get_document("model", model_id)
    connector = store.get_document("connector", model["connector_id"])
    credential = Sealer.from_settings(test_settings).open_all(
        model["connector_id"], connector["credential"]
    )
    action = render_action(
        connector,
        "batch_predict",
        task["_parameters"],
        credential,
        test_settings.trusted_endpoints,
    )
    assert action.body == {
        "input_file_id": value,
        "endpoint": "/v1/embeddings",
        "completion_window": "24h",
    }
    assert action.url == "https://api.openai.com/v1/batches"


def test_numbers_too_large_for_json_are_refused(client):
    response = client.post(
        "/_plugins/_ml/connectors/_create",
        data=b'{"name": "c", "parameters": {"x": 1e400}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "1e400" in response.get_json()["error"]["reason"]


def test_long_urls_are_refused_before_the_trusted_patterns_run(client):
    body = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    body["actions"][1]["url"] = (
        "https://api.sagemaker." + "a.amazonaws.com/" * 8000 + "\n\n"
    )

    response = client.post("/_plugins/_ml/connectors/_create", json=body)

    assert response.status_code == 400
    assert "at most 2048" in response.get_json()["error"]["reason"]


def test_search_sorts_by_name_whatever_the_names(client):
    for name in ("", "zz", "aa"):
        body = dict(copy.deepcopy(OPENAI_BATCH_CONNECTOR), name=name)
        assert (
            client.post("/_plugins/_ml/connectors/_create", json=body).status_code
            == 200
        )

    hits = client.post(
        "/_plugins/_ml/connectors/_search", json={"sort": "name"}
    ).get_json()["hits"]["hits"]

    assert [h["_source"]["name"] for h in hits] == ["", "aa", "zz"]
