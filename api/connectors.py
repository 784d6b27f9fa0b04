"""``/_plugins/_ml/connectors``: create, get, search, update and delete."""

from flask import Blueprint, current_app, jsonify

from api.body import json_body
from api.search import parse_search, search_documents
from common.connectors import public_view, validate_connector
from common.errors import ConnectorNotFound, InvalidRequest
from common.store import now_ms
from common.tasks import new_id

blueprint = Blueprint("connectors", __name__, url_prefix="/_plugins/_ml/connectors")
INDEX = ".plugins-ml-connector"
SEARCH_FIELDS = {"name", "protocol", "version", "connector_id", "owner"}


def _services():
    ext = current_app.extensions
    return ext["store"], ext["sealer"], ext["settings"]


def load_connector(connector_id: str) -> dict:
    store, _, _ = _services()
    connector = store.get_document("connector", connector_id)
    if connector is None:
        raise ConnectorNotFound(connector_id)
    return connector


@blueprint.post("/_create")
def create():
    store, sealer, settings = _services()
    body = json_body(required=True)
    connector = validate_connector(body, settings.trusted_endpoints)
    if body.get("dry_run") is True:
        return jsonify(connector_id="dryRunConnector")
    connector_id = new_id()
    created = now_ms()
    connector.update(
        connector_id=connector_id,
        credential=sealer.seal_all(connector_id, connector["credential"]),
        created_time=created,
        last_updated_time=created,
    )
    store.put_document("connector", connector_id, connector, created)
    return jsonify(connector_id=connector_id)


@blueprint.get("/<connector_id>")
def get(connector_id: str):
    return jsonify(public_view(load_connector(connector_id)))


@blueprint.put("/<connector_id>")
def update(connector_id: str):
    store, sealer, settings = _services()
    current = load_connector(connector_id)
    changes = json_body(required=True)
    if "connector_id" in changes:
        raise InvalidRequest("connector_id cannot be changed", "connector_id")
    merged = {
        k: v
        for k, v in current.items()
        if k not in ("connector_id", "created_time", "last_updated_time")
    }
    merged["credential"] = sealer.open_all(connector_id, current["credential"])
    merged.update(changes)
    connector = validate_connector(merged, settings.trusted_endpoints)
    connector.update(
        connector_id=connector_id,
        credential=sealer.seal_all(connector_id, connector["credential"]),
        created_time=current["created_time"],
        last_updated_time=now_ms(),
    )
    store.put_document("connector", connector_id, connector, current["created_time"])
    return jsonify(_write_result(connector_id, "updated"))


@blueprint.delete("/<connector_id>")
def delete(connector_id: str):
    store, _, _ = _services()
    load_connector(connector_id)
    users = [
        model_id
        for model_id, model in store.all_documents("model")
        if model.get("connector_id") == connector_id
    ]
    if users:
        raise InvalidRequest(
            "Cannot delete the connector, it is being used by models: "
            + ", ".join(users),
            "connector_id",
        )
    store.delete_document("connector", connector_id)
    return jsonify(_write_result(connector_id, "deleted"))


@blueprint.route("/_search", methods=["GET", "POST"])
def search():
    store, _, _ = _services()
    query = parse_search(json_body(), SEARCH_FIELDS, {"created_time", "name"})
    docs = [(i, public_view(d)) for i, d in store.all_documents("connector")]
    return jsonify(search_documents(INDEX, docs, query, "created_time"))


def _write_result(doc_id: str, result: str) -> dict:
    return {
        "_index": INDEX,
        "_id": doc_id,
        "_version": 1,
        "result": result,
        "_shards": {"total": 1, "successful": 1, "failed": 0},
        "_seq_no": 0,
        "_primary_term": 1,
    }


def write_result(index: str, doc_id: str, result: str) -> dict:
    return dict(_write_result(doc_id, result), _index=index)
