"""``/_plugins/_ml/tasks``: get, search, delete and ``_cancel``.

Reads come from the stored task and never call a provider: a task is at most
one refresh old.
"""

from flask import Blueprint, current_app, jsonify

from api.access import may_use_task, require, visible_models
from api.auth import principal
from api.body import json_body
from api.connectors import write_result
from api.search import hits_response, parse_search
from common.errors import InvalidRequest, InvalidTransition
from common.states import ACTIVE_STATES, TaskState, is_terminal
from common.tasks import BATCH_PREDICTION, public_view

blueprint = Blueprint("tasks", __name__, url_prefix="/_plugins/_ml/tasks")
INDEX = ".plugins-ml-task"
SEARCH_FIELDS = {"state", "model_id", "task_type"}


def _store():
    return current_app.extensions["store"]


def load_task(task_id: str) -> dict:
    """The task, if the caller may use its model."""
    store = _store()
    task = store.get_task(task_id)
    require(may_use_task(store, task, principal()), "task")
    return task


@blueprint.get("/<task_id>")
def get(task_id: str):
    return jsonify(public_view(load_task(task_id)))


@blueprint.delete("/<task_id>")
def delete(task_id: str):
    load_task(task_id)
    _store().delete_task(task_id, refuse_states=ACTIVE_STATES)
    return jsonify(write_result(INDEX, task_id, "deleted"))


@blueprint.post("/<task_id>/_cancel")
def cancel(task_id: str):
    store = _store()
    task = load_task(task_id)
    if task["task_type"] != BATCH_PREDICTION:
        raise InvalidRequest(
            f"The task ID you provided does not have any associated batch job "
            f"(task {task_id} is a {task['task_type']} task)",
            "task_id",
        )
    if is_terminal(task["state"]):
        raise InvalidTransition(
            f"Task {task_id} is already {task['state']}; there is nothing to cancel",
            task_id,
            task["state"],
        )
    if task["state"] != TaskState.CANCELLING:
        store.transition(
            task_id,
            {TaskState.CREATED, TaskState.RUNNING},
            TaskState.CANCELLING,
            next_visit_ms=task["last_update_time"],
        )
    current_app.extensions["queue"].send("cancel", task_id)
    return jsonify(status="OK")


@blueprint.route("/_search", methods=["GET", "POST"])
def search():
    store = _store()
    query = parse_search(json_body(), SEARCH_FIELDS, {"create_time"})
    _limit_to_visible_models(store, query)
    if any(values == [] for values in query.filters.values()):
        ids = []  # no model the caller may use, or filters that exclude each other
    else:
        ids = store.task_ids(query.filters)
    if query.ids is not None:
        wanted = set(query.ids)
        ids = [i for i in (ids if ids is not None else query.ids) if i in wanted]
    ranked = sorted(
        store.task_create_times(ids), key=lambda pair: pair[1], reverse=query.descending
    )
    page = ranked[query.offset : query.offset + query.size]
    tasks = store.get_tasks([task_id for task_id, _ in page])
    hits = []
    for (task_id, created), task in zip(page, tasks, strict=True):
        if task is None:
            continue  # dropped by the sweep between the ranking and the read
        sort_value = int(created) if query.sort_field else None
        hits.append((task_id, public_view(task, query.source), sort_value))
    return jsonify(hits_response(INDEX, hits, len(ranked), query))


def _limit_to_visible_models(store, query) -> None:
    """Narrow a search to the tasks of models the caller may use."""
    caller = principal()
    if caller.admin:
        return
    visible = [model_id for model_id, _ in visible_models(store, caller)]
    wanted = query.filters.get("model_id")
    if wanted is not None:
        visible = [model_id for model_id in visible if model_id in set(wanted)]
    query.filters["model_id"] = visible
