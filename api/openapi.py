"""The API described as OpenAPI 3, served at ``/_plugins/_ml/openapi.json``.

The schemas say what each route accepts; the routes themselves still check
every field, so the document is a description for clients and the fuzz
tests, not a second validator.
"""

from flask import Blueprint, jsonify

blueprint = Blueprint("openapi", __name__, url_prefix="/_plugins/_ml")

ML = "/_plugins/_ml"
_OBJECT = {"type": "object"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_ACCESS = {
    "access_mode": {"type": "string", "enum": ["public", "private", "restricted"]},
    "backend_roles": _STRINGS,
    "add_all_backend_roles": {"type": "boolean"},
}

_ACTION = {
    "type": "object",
    "required": ["action_type", "method", "url"],
    "properties": {
        "action_type": {
            "type": "string",
            "enum": [
                "predict",
                "execute",
                "batch_predict",
                "batch_predict_status",
                "cancel_batch_predict",
            ],
        },
        "method": {"type": "string", "enum": ["GET", "POST", "PUT", "DELETE"]},
        "url": {"type": "string"},
        "headers": _STRING_MAP,
        "request_body": {"type": "string"},
        "pre_process_function": {"type": "string"},
        "post_process_function": {"type": "string"},
    },
}
_CONNECTOR = {
    "type": "object",
    "required": ["name", "protocol", "actions"],
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "version": {"type": "string"},
        "protocol": {"type": "string", "enum": ["http", "aws_sigv4"]},
        "parameters": _OBJECT,
        "credential": _STRING_MAP,
        "client_config": _OBJECT,
        "actions": {"type": "array", "items": _ACTION, "minItems": 1},
        "dry_run": {"type": "boolean"},
        **_ACCESS,
    },
}
_MODEL_GROUP = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        **_ACCESS,
    },
}
_MODEL = {
    "type": "object",
    "required": ["name", "function_name"],
    "properties": {
        "name": {"type": "string"},
        "function_name": {"type": "string", "enum": ["remote"]},
        "model_group_id": {"type": "string"},
        "description": {"type": "string"},
        "connector_id": {"type": "string"},
        "connector": _CONNECTOR,
        **_ACCESS,
    },
}
_BATCH_PREDICT = {
    "type": "object",
    "properties": {
        "parameters": _OBJECT,
        "dlq": {
            "type": "object",
            "required": ["bucket", "region"],
            "properties": {"bucket": {"type": "string"}, "region": {"type": "string"}},
        },
    },
}
_SEARCH = {
    "type": "object",
    "properties": {
        "query": _OBJECT,
        "sort": {"oneOf": [{"type": "array", "maxItems": 1}, _OBJECT]},
        "from": {"type": "integer", "minimum": 0, "maximum": 10000},
        "size": {"type": "integer", "minimum": 0, "maximum": 10000},
        "_source": {"oneOf": [{"type": "boolean"}, _STRINGS, _OBJECT]},
        "track_total_hits": {"type": "boolean"},
    },
}
_ERROR = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "reason"],
            "properties": {
                "type": {"type": "string"},
                "reason": {"type": "string"},
                "root_cause": {"type": "array", "items": _OBJECT},
            },
        },
        "status": {"type": "integer"},
    },
}


def _operation(summary: str, body: dict | None = None, *errors: int) -> dict:
    responses = {"200": {"description": "done", "content": _json(_OBJECT)}}
    for status in sorted({400, 401, 403, 429, *errors}):
        responses[str(status)] = {
            "description": "an error in OpenSearch's shape",
            "content": _json({"$ref": "#/components/schemas/Error"}),
        }
    operation = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    return operation


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _id_param(name: str) -> list[dict]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    ]


def _resource(kind: str, id_name: str, *methods: str) -> dict:
    item = {"parameters": _id_param(id_name)}
    summaries = {"get": "Get", "put": "Update", "delete": "Delete"}
    for method in methods:
        body = _CONNECTOR if method == "put" else None
        item[method] = _operation(f"{summaries[method]} a {kind}", body, 404)
    return item


def _search(kind: str) -> dict:
    return {
        "get": _operation(f"Search {kind} (match all)"),
        "post": _operation(f"Search {kind}", _SEARCH),
    }


def _action(summary: str, id_name: str, body: dict | None = None) -> dict:
    return {
        "parameters": _id_param(id_name),
        "post": _operation(summary, body, 404),
    }


def _get_with(summary: str, *names: str) -> dict:
    parameters = [p for name in names for p in _id_param(name)]
    return {"parameters": parameters, "get": _operation(summary, None, 404)}


def _paths() -> dict:
    register_model = _operation("Register a remote model", _MODEL, 404)
    register_model["parameters"] = [
        {"name": "deploy", "in": "query", "schema": {"type": "boolean"}}
    ]
    return {
        "/": {"get": _operation("Service name")},
        f"{ML}/openapi.json": {"get": _operation("This document")},
        f"{ML}/connectors/_create": {
            "post": _operation("Create a connector", _CONNECTOR)
        },
        f"{ML}/connectors/{{connector_id}}": _resource(
            "connector", "connector_id", "get", "put", "delete"
        ),
        f"{ML}/connectors/_search": _search("connectors"),
        f"{ML}/model_groups/_register": {
            "post": _operation("Register a model group", _MODEL_GROUP)
        },
        f"{ML}/model_groups/{{model_group_id}}": _resource(
            "model group", "model_group_id", "get", "delete"
        ),
        f"{ML}/model_groups/_search": _search("model groups"),
        f"{ML}/models/_register": {"post": register_model},
        f"{ML}/models/{{model_id}}": _resource("model", "model_id", "get", "delete"),
        f"{ML}/models/{{model_id}}/_deploy": _action("Deploy a model", "model_id"),
        f"{ML}/models/{{model_id}}/_undeploy": _action("Undeploy a model", "model_id"),
        f"{ML}/models/{{model_id}}/_batch_predict": _action(
            "Start a batch predict task", "model_id", _BATCH_PREDICT
        ),
        f"{ML}/models/_search": _search("models"),
        f"{ML}/tasks/{{task_id}}": _resource("task", "task_id", "get", "delete"),
        f"{ML}/tasks/{{task_id}}/_cancel": _action("Cancel a task", "task_id"),
        f"{ML}/tasks/_search": _search("tasks"),
        f"{ML}/stats": {"get": _operation("Statistics")},
        f"{ML}/stats/{{stat}}": _get_with("Some statistics", "stat"),
        f"{ML}/{{nodes}}/stats": _get_with("Node statistics", "nodes"),
        f"{ML}/{{nodes}}/stats/{{stat}}": _get_with(
            "Some node statistics", "nodes", "stat"
        ),
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "the text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


def document() -> dict:
    """The OpenAPI 3 document of every route."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "batchpredict",
            "version": "1",
            "description": "OpenSearch ML Commons' batch predict API: connectors, "
            "model groups, remote models, _batch_predict and tasks.",
        },
        "paths": _paths(),
        "components": {
            "schemas": {"Error": _ERROR},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }


@blueprint.get("/openapi.json")
def serve():
    return jsonify(document())
