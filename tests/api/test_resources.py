"""Connectors, model groups and models in ML Commons' shapes."""

import copy

from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR, register_remote_model


def _create_connector(client, **changes) -> str:
    body = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    body.update(changes)
    response = client.post("/_plugins/_ml/connectors/_create", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["connector_id"]


def test_connector_round_trip_never_shows_the_credential(client, store):
    connector_id = _create_connector(client)

    shown = client.get(f"/_plugins/_ml/connectors/{connector_id}").get_json()

    assert shown["name"] == OPENAI_BATCH_CONNECTOR["name"]
    assert "credential" not in shown
    raw = store.redis.get(store.keys.connector(connector_id))
    assert OPENAI_BATCH_CONNECTOR["credential"]["openAI_key"] not in raw


def test_connector_search_filters_by_term(client):
    wanted = _create_connector(client, name="wanted")
    _create_connector(client, name="other")

    hits = client.post(
        "/_plugins/_ml/connectors/_search", json={"query": {"term": {"name": "wanted"}}}
    ).get_json()

    assert hits["hits"]["total"]["value"] == 1
    assert hits["hits"]["hits"][0]["_id"] == wanted
    assert "credential" not in hits["hits"]["hits"][0]["_source"]


def test_connector_update_is_validated_and_kept(client):
    connector_id = _create_connector(client)

    bad = client.put(
        f"/_plugins/_ml/connectors/{connector_id}", json={"protocol": "carrier-pigeon"}
    )
    good = client.put(
        f"/_plugins/_ml/connectors/{connector_id}", json={"description": "updated"}
    )

    assert bad.status_code == 400
    assert good.status_code == 200
    shown = client.get(f"/_plugins/_ml/connectors/{connector_id}").get_json()
    assert shown["description"] == "updated"
    assert shown["protocol"] == "http"


def test_connector_in_use_cannot_be_deleted(client):
    connector = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    model_id = register_remote_model(client, connector)
    connector_id = client.get(f"/_plugins/_ml/models/{model_id}").get_json()[
        "connector_id"
    ]

    response = client.delete(f"/_plugins/_ml/connectors/{connector_id}")

    assert response.status_code == 400
    assert model_id in response.get_json()["error"]["reason"]


def test_model_register_answers_like_ml_commons(client):
    connector_id = _create_connector(client)

    response = client.post(
        "/_plugins/_ml/models/_register?deploy=true",
        json={"name": "m", "function_name": "remote", "connector_id": connector_id},
    )

    body = response.get_json()
    assert set(body) == {"task_id", "status", "model_id"}
    assert body["status"] == "CREATED"
    model = client.get(f"/_plugins/_ml/models/{body['model_id']}").get_json()
    assert model["model_state"] == "DEPLOYED"
    assert model["algorithm"] == "REMOTE"
    task = client.get(f"/_plugins/_ml/tasks/{body['task_id']}").get_json()
    assert (task["task_type"], task["state"]) == ("REGISTER_MODEL", "COMPLETED")


def test_model_with_an_inline_connector_hides_its_credential(client):
    response = client.post(
        "/_plugins/_ml/models/_register",
        json={
            "name": "m",
            "function_name": "remote",
            "connector": copy.deepcopy(OPENAI_BATCH_CONNECTOR),
        },
    )

    model_id = response.get_json()["model_id"]
    model = client.get(f"/_plugins/_ml/models/{model_id}").get_json()
    assert model["model_state"] == "REGISTERED"
    assert "credential" not in model["connector"]


def test_model_needs_a_known_connector(client):
    response = client.post(
        "/_plugins/_ml/models/_register",
        json={"name": "m", "function_name": "remote", "connector_id": "nope"},
    )

    assert response.status_code == 404
    assert "nope" in response.get_json()["error"]["reason"]


def test_model_group_names_are_unique(client):
    first = client.post("/_plugins/_ml/model_groups/_register", json={"name": "g"})
    second = client.post("/_plugins/_ml/model_groups/_register", json={"name": "g"})

    assert first.status_code == 200
    assert second.status_code == 400
    assert first.get_json()["model_group_id"] in second.get_json()["error"]["reason"]


def test_deployed_model_must_be_undeployed_before_delete(client):
    model_id = register_remote_model(client, copy.deepcopy(OPENAI_BATCH_CONNECTOR))

    refused = client.delete(f"/_plugins/_ml/models/{model_id}")
    client.post(f"/_plugins/_ml/models/{model_id}/_undeploy")
    deleted = client.delete(f"/_plugins/_ml/models/{model_id}")

    assert refused.status_code == 400
    assert deleted.status_code == 200
    assert client.get(f"/_plugins/_ml/models/{model_id}").status_code == 404
