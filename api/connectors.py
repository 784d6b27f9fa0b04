"""``/_plugins/_ml/connectors``: create, get, search, update and delete."""

from flask import Blueprint, current_app, jsonify

from api.access import (
    ACCESS_INPUT_FIELDS,
    access_fields,
    may_change,
    may_use,
    may_use_model,
)
from api.access import require as require_right
from api.auth import principal
from api.body import json_body
from api.search import parse_search, search_documents
from common.connectors import public_view, validate_connector
from common.errors import ConnectorNotFound, InvalidRequest
from common.states import ACTIVE_STATES
from common.store import now_ms
from common.tasks import new_id

blueprint = Blueprint("connectors", __name__, url_prefix="/_plugins/_ml/connectors")
INDEX = ".plugins-ml-connector"
SEARCH_FIELDS = {"name", "protocol", "version", "connector_id", "owner"}
# Fields the store keeps that a connector body does not carry.
_STORED_ONLY = (
    "connector_id",
    "created_time",
    "last_updated_time",
    "owner",
    "access",
    "backend_roles",
)


def _services():
    ext = current_app.extensions
    return ext["store"], ext["sealer"], ext["settings"]


def load_connector(connector_id: str, change: bool = False) -> dict:
    """The connector, if the caller may use it (or, with ``change``, alter it)."""
    store, _, _ = _services()
    connector = store.get_document("connector", connector_id)
    if connector is None:
        raise ConnectorNotFound(connector_id)
    allowed = may_change if change else may_use
    require_right(allowed(connector, principal()), "connector")
    return connector


@blueprint.post("/_create")
def create():
    store, sealer, settings = _services()
    body = json_body(required=True)
    connector = validate_connector(
        body,
        settings.trusted_endpoints,
        allow_private=settings.allow_private_endpoints,
    )
    access = access_fields(body, principal(), "connector")
    if body.get("dry_run") is True:
        return jsonify(connector_id="dryRunConnector")
    connector_id = new_id()
    created = now_ms()
    connector.update(
        connector_id=connector_id,
        credential=sealer.seal_all(connector_id, connector["credential"]),
        created_time=created,
        last_updated_time=created,
        **access,
    )
    store.put_document("connector", connector_id, connector, created)
    return jsonify(connector_id=connector_id)


@blueprint.get("/<connector_id>")
def get(connector_id: str):
    return jsonify(public_view(load_connector(connector_id)))


@blueprint.put("/<connector_id>")
def update(connector_id: str):
    store, sealer, settings = _services()
    current = load_connector(connector_id, change=True)
    changes = json_body(required=True)
    if "connector_id" in changes:
        raise InvalidRequest("connector_id cannot be changed", "connector_id")
    _refuse_call_changes_in_use(store, connector_id, changes)
    merged = {k: v for k, v in current.items() if k not in _STORED_ONLY}
    merged["credential"] = sealer.open_all(connector_id, current["credential"])
    merged.update(changes)
    connector = validate_connector(
        merged,
        settings.trusted_endpoints,
        allow_private=settings.allow_private_endpoints,
    )
    connector.update(
        connector_id=connector_id,
        credential=sealer.seal_all(connector_id, connector["credential"]),
        created_time=current["created_time"],
        last_updated_time=now_ms(),
        **_access_after_update(current, changes),
    )
    store.put_document("connector", connector_id, connector, current["created_time"])
    return jsonify(_write_result(connector_id, "updated"))


#: Fields a worker renders its provider calls from.
_CALL_FIELDS = frozenset({"protocol", "parameters", "credential", "actions"})


def _refuse_call_changes_in_use(store, connector_id: str, changes: dict) -> None:
    """Active tasks follow and cancel their jobs through the connector as it
    is: a change to how it calls would strand them (another provider, another
    key), so it waits until they end. Access and names may change any time."""
    changed = sorted(_CALL_FIELDS & set(changes))
    if not changed:
        return
    models = [
        i
        for i, m in store.all_documents("model")
        if m.get("connector_id") == connector_id
    ]
    if not models:
        return
    active = store.task_ids({"model_id": models, "state": sorted(ACTIVE_STATES)})
    if active:
        raise InvalidRequest(
            f"connector {connector_id} has {len(active)} active batch tasks; "
            f"{', '.join(changed)} can change once they end or are cancelled",
            changed[0],
        )


@blueprint.delete("/<connector_id>")
def delete(connector_id: str):
    store, _, _ = _services()
    load_connector(connector_id, change=True)
    users = [
        (model_id, model)
        for model_id, model in store.all_documents("model")
        if model.get("connector_id") == connector_id
    ]
    if users:
        # Name only the models the caller may see; count the others.
        caller = principal()
        shown = [i for i, m in users if may_use_model(store, m, caller)]
        hidden = len(users) - len(shown)
        names = ", ".join(shown) + (f" and {hidden} more" if hidden else "")
        raise InvalidRequest(
            f"Cannot delete the connector, it is being used by models: {names}",
            "connector_id",
        )
    store.delete_document("connector", connector_id)
    return jsonify(_write_result(connector_id, "deleted"))


@blueprint.route("/_search", methods=["GET", "POST"])
def search():
    store, _, _ = _services()
    query = parse_search(json_body(), SEARCH_FIELDS, {"created_time", "name"})
    caller = principal()
    docs = [
        (i, public_view(d))
        for i, d in store.all_documents("connector")
        if may_use(d, caller)
    ]
    return jsonify(search_documents(INDEX, docs, query, "created_time"))


def _access_after_update(current: dict, changes: dict) -> dict:
    """The connector's access fields after an update: new ones when the update
    names any, the owner always kept."""
    kept = {
        "owner": current.get("owner"),
        "access": current.get("access", "public"),
        "backend_roles": current.get("backend_roles", []),
    }
    if not any(name in changes for name in ACCESS_INPUT_FIELDS):
        return kept
    changed = access_fields(changes, principal(), "connector")
    return dict(changed, owner=kept["owner"])


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
