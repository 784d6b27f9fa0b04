"""_batch_predict and the tasks API without a worker: what the API itself
checks, stores and answers."""

import copy

import pytest

from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR, register_remote_model


@pytest.fixture
def model_id(client) -> str:
    return register_remote_model(client, copy.deepcopy(OPENAI_BATCH_CONNECTOR))


def _predict(client, model_id, body=None):
    return client.post(
        f"/_plugins/_ml/models/{model_id}/_batch_predict",
        json={"parameters": {}} if body is None else body,
    )


def test_batch_predict_stores_a_created_task(client, model_id):
    response = _predict(client, model_id)

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "CREATED"
    task = client.get(f"/_plugins/_ml/tasks/{body['task_id']}").get_json()
    assert task["state"] == "CREATED"
    assert task["model_id"] == model_id
    assert task["task_type"] == "BATCH_PREDICTION"
    assert task["input_type"] == "REMOTE"
    assert task["is_async"] is False
    assert task["provider"] == "openai"
    assert not any(name.startswith("_") for name in task)


def test_missing_template_parameter_is_named(client):
    connector = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    del connector["parameters"]["input_file_id"]
    model_id = register_remote_model(client, connector)

    response = _predict(client, model_id)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == "parameters.input_file_id"


def test_parameters_must_be_an_object(client, model_id):
    response = _predict(client, model_id, {"parameters": ["a"]})

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "parameters"


def test_unknown_model_is_a_404(client):
    assert _predict(client, "no-such-model").status_code == 404


def test_active_task_limit_answers_429(client, model_id, test_settings, store):
    from api.app import create_app

    limited = create_app(
        type(test_settings)(**{**vars(test_settings), "max_batch_tasks": 2})
    )
    limited_client = limited.test_client()
    for _ in range(2):
        assert _predict(limited_client, model_id).status_code == 200

    response = _predict(limited_client, model_id)

    assert response.status_code == 429
    assert "max_batch_inference_tasks" in response.get_json()["error"]["reason"]
    assert store.active_count() == 2


def test_active_task_cannot_be_deleted(client, model_id):
    task_id = _predict(client, model_id).get_json()["task_id"]

    response = client.delete(f"/_plugins/_ml/tasks/{task_id}")

    assert response.status_code == 400
    assert "cannot be deleted" in response.get_json()["error"]["reason"]


def test_cancel_moves_to_cancelling_and_a_finished_task_refuses(
    client, model_id, store
):
    task_id = _predict(client, model_id).get_json()["task_id"]

    first = client.post(f"/_plugins/_ml/tasks/{task_id}/_cancel")
    assert first.status_code == 200
    assert client.get(f"/_plugins/_ml/tasks/{task_id}").get_json()["state"] == (
        "CANCELLING"
    )

    store.transition(task_id, {"CANCELLING"}, "CANCELLED")
    again = client.post(f"/_plugins/_ml/tasks/{task_id}/_cancel")
    assert again.status_code == 400
    assert "already CANCELLED" in again.get_json()["error"]["reason"]
    assert client.delete(f"/_plugins/_ml/tasks/{task_id}").status_code == 200


def test_task_search_filters_sorts_and_pages(client, model_id, store):
    ids = [_predict(client, model_id).get_json()["task_id"] for _ in range(4)]
    store.transition(ids[0], {"CREATED"}, "RUNNING")

    running = client.post(
        "/_plugins/_ml/tasks/_search",
        json={
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"state": "RUNNING"}},
                        {"term": {"task_type": "BATCH_PREDICTION"}},
                    ]
                }
            },
        },
    ).get_json()
    page = client.post(
        "/_plugins/_ml/tasks/_search",
        json={
            "query": {"terms": {"state": ["CREATED", "RUNNING"]}},
            "sort": [{"create_time": {"order": "asc"}}],
            "from": 1,
            "size": 2,
            "_source": ["state", "model_id"],
        },
    ).get_json()

    assert [h["_id"] for h in running["hits"]["hits"]] == [ids[0]]
    assert page["hits"]["total"]["value"] == 4
    assert [h["_id"] for h in page["hits"]["hits"]] == ids[1:3]
    assert set(page["hits"]["hits"][0]["_source"]) == {"state", "model_id"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"size": 10001}, "size"),
        ({"from": -1}, "from"),
        ({"from": 9999, "size": 5}, "from"),
        ({"query": {"term": {"owner": "x"}}}, "query.term.owner"),
        ({"query": {"match": {"state": "x"}}}, "query"),
        ({"sort": [{"state": "asc"}]}, "sort"),
    ],
)
def test_task_search_rejects_what_it_cannot_do(client, body, field):
    response = client.post("/_plugins/_ml/tasks/_search", json=body)

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_model_with_active_tasks_cannot_be_deleted(client, model_id, store):
    # Given a model with a task its provider still runs
    task_id = _predict(client, model_id).get_json()["task_id"]
    client.post(f"/_plugins/_ml/models/{model_id}/_undeploy")

    # When it is deleted, then it is refused and names the task
    refused = client.delete(f"/_plugins/_ml/models/{model_id}")
    assert refused.status_code == 400
    assert task_id in refused.get_json()["error"]["reason"]

    # And once the task ended it can go
    store.transition(task_id, {"CREATED"}, "COMPLETED")
    assert client.delete(f"/_plugins/_ml/models/{model_id}").status_code == 200


def test_refused_batch_predict_leaves_the_model_undeployed(client):
    connector = copy.deepcopy(OPENAI_BATCH_CONNECTOR)
    del connector["parameters"]["input_file_id"]
    model_id = register_remote_model(client, connector)
    client.post(f"/_plugins/_ml/models/{model_id}/_undeploy")

    assert _predict(client, model_id).status_code == 400

    model = client.get(f"/_plugins/_ml/models/{model_id}").get_json()
    assert model["model_state"] == "UNDEPLOYED"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "g\\ud800"}',
        b'{"m\\udc00": 1}',
        b'{"size": ' + b"1" * 5000 + b"}",
    ],
)
def test_text_that_is_not_unicode_and_huge_numbers_are_refused(client, raw):
    response = client.post(
        "/_plugins/_ml/model_groups/_register",
        data=raw,
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "body"
    assert client.post("/_plugins/_ml/model_groups/_search", json={}).status_code == 200


def test_call_fields_wait_while_the_connector_has_active_tasks(client, model_id):
    # Given a task still running through the model's connector
    _predict(client, model_id)
    connector_id = client.get(f"/_plugins/_ml/models/{model_id}").get_json()[
        "connector_id"
    ]

    # When its URL is changed, it is refused; its description may change
    moved = client.put(
        f"/_plugins/_ml/connectors/{connector_id}",
        json={
            "actions": [
                dict(
                    OPENAI_BATCH_CONNECTOR["actions"][1],
                    url="https://api.cohere.ai/v1/embed-jobs",
                )
            ]
        },
    )
    renamed = client.put(
        f"/_plugins/_ml/connectors/{connector_id}", json={"description": "still fine"}
    )

    assert moved.status_code == 400
    assert "active batch tasks" in moved.get_json()["error"]["reason"]
    assert renamed.status_code == 200


def test_limit_refusal_leaves_the_model_undeployed(client, test_settings, store):
    from api.app import create_app

    limited = create_app(
        type(test_settings)(**{**vars(test_settings), "max_batch_tasks": 1})
    ).test_client()
    first = register_remote_model(limited, copy.deepcopy(OPENAI_BATCH_CONNECTOR))
    second = register_remote_model(limited, copy.deepcopy(OPENAI_BATCH_CONNECTOR))
    assert _predict(limited, first).status_code == 200
    limited.post(f"/_plugins/_ml/models/{second}/_undeploy")

    assert _predict(limited, second).status_code == 429

    model = limited.get(f"/_plugins/_ml/models/{second}").get_json()
    assert model["model_state"] == "UNDEPLOYED"
