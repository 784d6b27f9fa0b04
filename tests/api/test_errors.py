"""Bad input is a 4xx that names what was wrong, never a 500 (case 10)."""

import pytest


def _reason(response) -> str:
    body = response.get_json()
    assert body["status"] == response.status_code
    assert body["error"]["root_cause"][0]["reason"] == body["error"]["reason"]
    return body["error"]["reason"]


def test_unknown_task_is_a_404_naming_the_id(client):
    response = client.get("/_plugins/_ml/tasks/does-not-exist")

    assert response.status_code == 404
    assert "does-not-exist" in _reason(response)


def test_body_that_is_not_json_is_a_400_that_says_so(client):
    response = client.post(
        "/_plugins/_ml/connectors/_create",
        data="{not json",
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "not valid JSON" in _reason(response)


@pytest.mark.parametrize(
    "data, words",
    [
        (b'{"name": "\xff\xfe"}', "UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b'{"a": NaN}', "NaN"),
        (b"", "required"),
        (b"[" * 100 + b"]" * 100, "JSON object"),
        (b'{"a":' * 50 + b"1" + b"}" * 50, "nested deeper"),
    ],
)
def test_malformed_bodies_are_named(client, data, words):
    response = client.post(
        "/_plugins/_ml/connectors/_create", data=data, content_type="application/json"
    )

    assert response.status_code == 400
    assert words in _reason(response)


def test_oversized_body_is_a_413(client, test_settings):
    data = b'{"name": "' + b"x" * test_settings.max_body_bytes + b'"}'

    response = client.post(
        "/_plugins/_ml/connectors/_create", data=data, content_type="application/json"
    )

    assert response.status_code == 413
    assert "limit" in _reason(response)


def test_unknown_route_and_method_use_the_error_shape(client):
    assert client.get("/_plugins/_ml/nothing").status_code == 404
    response = client.put("/_plugins/_ml/tasks/_search", json={})

    assert response.status_code == 405
    assert response.get_json()["status"] == 405


GARBAGE = [
    None,
    1,
    "x",
    [],
    {},
    {"parameters": "x"},
    {"query": 5},
    {"name": {"a": 1}},
    {"actions": [1]},
    {"size": -1},
    {"from": "a"},
    {"protocol": ["http"]},
    {"connector": "x", "name": "m", "function_name": "remote"},
]
ROUTES = [
    ("POST", "/_plugins/_ml/connectors/_create"),
    ("POST", "/_plugins/_ml/connectors/_search"),
    ("PUT", "/_plugins/_ml/connectors/some-id"),
    ("POST", "/_plugins/_ml/model_groups/_register"),
    ("POST", "/_plugins/_ml/models/_register"),
    ("POST", "/_plugins/_ml/models/_search"),
    ("POST", "/_plugins/_ml/models/some-id/_batch_predict"),
    ("POST", "/_plugins/_ml/tasks/_search"),
    ("POST", "/_plugins/_ml/tasks/some-id/_cancel"),
    ("DELETE", "/_plugins/_ml/tasks/some-id"),
]


@pytest.mark.parametrize("method, path", ROUTES)
def test_no_garbage_body_gets_a_500(client, method, path):
    for body in GARBAGE:
        response = client.open(path, method=method, json=body)

        assert response.status_code < 500, (body, response.get_json())
        assert response.is_json, body
