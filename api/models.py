"""``/_plugins/_ml/models``: register, deploy, undeploy, get, search, delete,
and ``_batch_predict``."""

from flask import Blueprint, current_app, jsonify, request

from api.access import (
    ACCESS_INPUT_FIELDS,
    may_use,
    may_use_model,
    require,
    visible_models,
)
from api.auth import principal
from api.body import json_body
from api.connectors import load_connector, write_result
from api.model_groups import load_model_group, register_model_group
from api.search import parse_search, search_documents
from common.connectors import public_view as connector_view
from common.connectors import render_action, validate_connector
from common.errors import InvalidRequest, ModelNotFound
from common.metrics import Counters
from common.states import ACTIVE_STATES
from common.store import now_ms
from common.tasks import (
    DEPLOY_MODEL,
    REGISTER_MODEL,
    new_batch_task,
    new_id,
    new_model_task,
)
from common.validation import expect, expect_choice, reject_unknown

blueprint = Blueprint("models", __name__, url_prefix="/_plugins/_ml/models")
INDEX = ".plugins-ml-model"
REGISTER_FIELDS = {
    "name",
    "function_name",
    "model_group_id",
    "description",
    "connector_id",
    "connector",
    "version",
    "model_format",
    "interface",
    "is_enabled",
    "rate_limiter",
    "guardrails",
    "access_mode",
    "backend_roles",
    "add_all_backend_roles",
}
BATCH_PREDICT_FIELDS = {"parameters", "dlq"}


def _ext(name: str):
    return current_app.extensions[name]


def load_model(model_id: str) -> dict:
    store = _ext("store")
    model = store.get_document("model", model_id)
    if model is None:
        raise ModelNotFound(model_id)
    require(may_use_model(store, model, principal()), "model")
    return model


def model_view(model: dict) -> dict:
    view = dict(model)
    if "connector" in view:
        view["connector"] = connector_view(view["connector"])
    return view


@blueprint.post("/_register")
def register():
    store, settings = _ext("store"), _ext("settings")
    body = json_body(required=True)
    reject_unknown(body, REGISTER_FIELDS, "the model")
    name = expect(body.get("name"), str, "name")
    function_name = expect(body.get("function_name"), str, "function_name")
    if function_name.lower() != "remote":
        raise InvalidRequest(
            f"function_name must be remote: batchpredict serves remote models only, "
            f"got {function_name!r}",
            "function_name",
        )
    deploy = request.args.get("deploy", "false").lower()
    deploy = expect_choice(deploy, ("true", "false"), "deploy") == "true"
    model_id, created = new_id(), now_ms()
    model = {
        "model_id": model_id,
        "name": name,
        "algorithm": "REMOTE",
        "model_version": "1",
        "model_state": "REGISTERED",
        "description": expect(
            body.get("description"), str, "description", required=False, default=""
        ),
        "created_time": created,
        "last_updated_time": created,
        "last_registered_time": created,
        "owner": principal().owner(),
    }
    model.update(_model_connector(body, model_id, settings))
    group_id = body.get("model_group_id")
    if group_id is None:
        # ML Commons makes a group for the model, with the access it asked for.
        access = {k: body[k] for k in ACCESS_INPUT_FIELDS if k in body}
        group_id = register_model_group(dict(access, name=f"{name}_{model_id}"))
    load_model_group(expect(group_id, str, "model_group_id"))
    model["model_group_id"] = group_id
    if deploy:
        model.update(model_state="DEPLOYED", last_deployed_time=created)
    store.put_document("model", model_id, model, created)
    task = new_model_task(model_id, REGISTER_MODEL, principal().user)
    store.create_task(task, limit=None, first_visit_ms=None)
    return jsonify(task_id=task["task_id"], status="CREATED", model_id=model_id)


def _model_connector(body: dict, model_id: str, settings) -> dict:
    connector_id, inline = body.get("connector_id"), body.get("connector")
    if (connector_id is None) == (inline is None):
        raise InvalidRequest(
            "a remote model needs exactly one of connector_id or connector",
            "connector_id",
        )
    if connector_id is not None:
        load_connector(expect(connector_id, str, "connector_id"))
        return {"connector_id": connector_id}
    connector = validate_connector(
        expect(inline, dict, "connector"),
        settings.trusted_endpoints,
        where="connector",
        allow_private=settings.allow_private_endpoints,
    )
    connector["credential"] = _ext("sealer").seal_all(model_id, connector["credential"])
    return {"connector": connector}


def _set_state(model_id: str, state: str) -> dict:
    model = load_model(model_id)
    stamp = now_ms()
    model.update(model_state=state, last_updated_time=stamp)
    if state == "DEPLOYED":
        model["last_deployed_time"] = stamp
    else:
        model["last_undeployed_time"] = stamp
    _ext("store").put_document("model", model_id, model, model["created_time"])
    return model


@blueprint.post("/<model_id>/_deploy")
def deploy(model_id: str):
    _set_state(model_id, "DEPLOYED")
    task = new_model_task(model_id, DEPLOY_MODEL, principal().user)
    _ext("store").create_task(task, limit=None, first_visit_ms=None)
    return jsonify(task_id=task["task_id"], task_type=DEPLOY_MODEL, status="COMPLETED")


@blueprint.post("/<model_id>/_undeploy")
def undeploy(model_id: str):
    _set_state(model_id, "UNDEPLOYED")
    return jsonify({"batchpredict": {"stats": {model_id: "UNDEPLOYED"}}})


@blueprint.get("/<model_id>")
def get(model_id: str):
    return jsonify(model_view(load_model(model_id)))


@blueprint.delete("/<model_id>")
def delete(model_id: str):
    model = load_model(model_id)
    if model["model_state"] == "DEPLOYED":
        raise InvalidRequest(
            f"Model cannot be deleted in deployed state; undeploy {model_id} first",
            "model_id",
        )
    store = _ext("store")
    active = store.task_ids({"model_id": [model_id], "state": sorted(ACTIVE_STATES)})
    if active:
        # Its tasks need the model's connector to follow or cancel their jobs.
        raise InvalidRequest(
            f"Model {model_id} still has {len(active)} active batch tasks "
            f"({', '.join(sorted(active)[:5])}); cancel them or let them finish",
            "model_id",
        )
    store.delete_document("model", model_id)
    return jsonify(write_result(INDEX, model_id, "deleted"))


@blueprint.route("/_search", methods=["GET", "POST"])
def search():
    query = parse_search(
        json_body(),
        {"name", "model_state", "model_group_id", "connector_id", "algorithm"},
        {"created_time", "name"},
    )
    visible = visible_models(_ext("store"), principal())
    docs = [(i, model_view(m)) for i, m in visible]
    return jsonify(search_documents(INDEX, docs, query, "created_time"))


@blueprint.post("/<model_id>/_batch_predict")
def batch_predict(model_id: str):
    counters = Counters(_ext("store").redis, _ext("store").keys)
    counters.incr("batch_predict_requests")
    try:
        return _batch_predict(model_id)
    except Exception:
        counters.incr("batch_predict_failures")
        raise


def _batch_predict(model_id: str):
    store, sealer, settings = _ext("store"), _ext("sealer"), _ext("settings")
    body = json_body(required=True)
    reject_unknown(body, BATCH_PREDICT_FIELDS, "the batch predict request")
    parameters = expect(
        body.get("parameters"), dict, "parameters", required=False, default={}
    )
    _check_dlq(body.get("dlq"))
    model = load_model(model_id)
    connector, owner_id = store.connector_for_model(model)
    if "connector_id" in model:
        # The connector's owner may have closed it since the model was made:
        # its credential is spent only for callers who may use it now.
        require(may_use(connector, principal()), "connector")
    credential = sealer.open_all(owner_id, connector["credential"])
    action = render_action(
        connector,
        "batch_predict",
        parameters,
        credential,
        settings.trusted_endpoints,
        allow_private=settings.allow_private_endpoints,
    )
    task = new_batch_task(
        model_id,
        model.get("connector_id", ""),
        action.provider,
        parameters,
        owner=principal().user,
    )
    if body.get("dlq"):
        task["remote_job"] = {"dlq": body["dlq"]}
    lease_ms = int(settings.lease_s * 1000)
    store.create_task(
        task,
        limit=settings.max_batch_tasks,
        first_visit_ms=task["create_time"] + lease_ms,
    )
    if model["model_state"] != "DEPLOYED":
        # Remote models deploy themselves on first use, as ML Commons does,
        # once the task is stored (the request was good and under the limit).
        _set_state(model_id, "DEPLOYED")
    _ext("queue").send("submit", task["task_id"])
    return jsonify(task_id=task["task_id"], status="CREATED")


def _check_dlq(dlq) -> None:
    if dlq is None:
        return
    dlq = expect(dlq, dict, "dlq")
    for name in ("bucket", "region"):
        expect(dlq.get(name), str, f"dlq.{name}")
