"""``/_plugins/_ml/model_groups``: register, get, search and delete."""

from flask import Blueprint, current_app, jsonify

from api.access import access_fields, may_change, may_use, require
from api.auth import principal
from api.body import json_body
from api.connectors import write_result
from api.search import parse_search, search_documents
from common.errors import InvalidRequest, ModelGroupNotFound
from common.store import now_ms
from common.tasks import new_id
from common.validation import expect, reject_unknown

blueprint = Blueprint("model_groups", __name__, url_prefix="/_plugins/_ml/model_groups")
INDEX = ".plugins-ml-model-group"
FIELDS = {
    "name",
    "description",
    "access_mode",
    "backend_roles",
    "add_all_backend_roles",
}


def load_model_group(model_group_id: str, change: bool = False) -> dict:
    """The model group, if the caller may use it (or, with ``change``, alter it)."""
    group = current_app.extensions["store"].get_document("model_group", model_group_id)
    if group is None:
        raise ModelGroupNotFound(model_group_id)
    allowed = may_change if change else may_use
    require(allowed(group, principal()), "model group")
    return group


def register_model_group(body: dict) -> str:
    """Validate and store a model group; return its id."""
    store = current_app.extensions["store"]
    reject_unknown(body, FIELDS, "the model group")
    name = expect(body.get("name"), str, "name").strip()
    if not name:
        raise InvalidRequest("name must not be empty", "name")
    for group_id, group in store.all_documents("model_group"):
        if group["name"] == name:
            # Name the group only to someone who may see it.
            which = (
                f" with ID: {group_id}"
                if may_use(group, principal())
                else " you cannot see"
            )
            raise InvalidRequest(
                f"The name you provided is already being used by a model group{which}.",
                "name",
            )
    access = access_fields(body, principal(), "model group")
    group_id, created = new_id(), now_ms()
    group = {
        "model_group_id": group_id,
        "name": name,
        "description": expect(
            body.get("description"), str, "description", required=False, default=""
        ),
        "access": access["access"],
        "backend_roles": access["backend_roles"],
        "owner": access["owner"],
        "latest_version": 0,
        "created_time": created,
        "last_updated_time": created,
    }
    store.put_document("model_group", group_id, group, created)
    return group_id


@blueprint.post("/_register")
def register():
    group_id = register_model_group(json_body(required=True))
    return jsonify(model_group_id=group_id, status="CREATED")


@blueprint.get("/<model_group_id>")
def get(model_group_id: str):
    return jsonify(load_model_group(model_group_id))


@blueprint.delete("/<model_group_id>")
def delete(model_group_id: str):
    store = current_app.extensions["store"]
    load_model_group(model_group_id, change=True)
    members = [
        i
        for i, m in store.all_documents("model")
        if m.get("model_group_id") == model_group_id
    ]
    if members:
        raise InvalidRequest(
            "Cannot delete the model group, it still holds models: "
            + ", ".join(members),
            "model_group_id",
        )
    store.delete_document("model_group", model_group_id)
    return jsonify(write_result(INDEX, model_group_id, "deleted"))


@blueprint.route("/_search", methods=["GET", "POST"])
def search():
    store = current_app.extensions["store"]
    query = parse_search(
        json_body(), {"name", "access", "model_group_id"}, {"created_time", "name"}
    )
    caller = principal()
    docs = [(i, g) for i, g in store.all_documents("model_group") if may_use(g, caller)]
    return jsonify(search_documents(INDEX, docs, query, "created_time"))
