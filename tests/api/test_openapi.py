"""The OpenAPI document, and schemathesis fuzzing every operation in it:
whatever it sends, the API never answers 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.keys import ApiKeys
from api.openapi import document

DOCUMENT = "/_plugins/_ml/openapi.json"


@pytest.fixture
def user_headers(store) -> dict:
    _, token = ApiKeys(store.redis, store.keys).create("fuzzer", ["team-f"])
    return {"Authorization": f"Bearer {token}"}


def test_document_is_served_and_names_every_route(secure_app):
    # Given the app's own routes
    rules = {
        rule.rule.replace("<", "{").replace(">", "}")
        for rule in secure_app.url_map.iter_rules()
        if rule.endpoint != "static"
    }

    # When the document is fetched without a key
    served = secure_app.test_client().get(DOCUMENT)

    # Then it is OpenAPI 3 and describes each of them
    assert served.status_code == 200
    body = served.get_json()
    assert body == document()
    assert body["openapi"].startswith("3.")
    assert rules <= set(body["paths"])


_FUZZ = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def _fuzz(app, headers: dict) -> set[str]:
    """Run every operation of the served document through schemathesis; fail
    on the first 5xx. Returns the operations that ran.

    Cases are drawn with hypothesis directly: schemathesis' own pytest
    integration does not run under pytest 9 (it reads ``Function._nodeid``).
    """
    schema = schemathesis.openapi.from_wsgi(DOCUMENT, app)
    ran = set()
    for result in schema.get_all_operations():
        operation = result.ok()

        @_FUZZ
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        run()
        ran.add(operation.label)
    return ran


def test_fuzzed_requests_with_a_key_get_no_5xx(secure_app, user_headers):
    assert _fuzz(secure_app, user_headers) == _operations()


def test_fuzzed_requests_without_auth_get_no_5xx(test_settings, store):
    assert _fuzz(create_app(test_settings), {}) == _operations()


def _operations() -> set[str]:
    """Every operation in the document but the one serving it, which
    schemathesis leaves out when it loads the document from that path."""
    methods = ("get", "put", "post", "delete")
    return {
        f"{method.upper()} {path}"
        for path, item in document()["paths"].items()
        for method in methods
        if method in item and path != DOCUMENT
    }
