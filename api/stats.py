"""``/_plugins/_ml/stats``: ML Commons' stats API, cluster and node level.

batchpredict is one logical node named after the API's host; its counts are
the whole deployment's, read from Redis (``common.metrics``), since every API
process and worker adds to the same counters. Only ``batch_predict`` is an
action here, under the ``remote`` algorithm, as ML Commons records it.
"""

import socket

from flask import Blueprint, current_app, jsonify

from common.errors import InvalidRequest
from common.metrics import Counters

blueprint = Blueprint("stats", __name__, url_prefix="/_plugins/_ml")

# ML Commons answers "green" for an index it can read; ours are Redis keys,
# readable whenever Redis answered the counts.
_INDEX_STATS = (
    "ml_model_index_status",
    "ml_connector_index_status",
    "ml_config_index_status",
    "ml_task_index_status",
    "ml_controller_index_status",
)
CLUSTER_STATS = (*_INDEX_STATS, "ml_model_count", "ml_connector_count", "ml_task_count")
NODE_STATS = (
    "ml_executing_task_count",
    "ml_request_count",
    "ml_failure_count",
    "ml_deployed_model_count",
    "ml_circuit_breaker_trigger_count",
)


def node_id() -> str:
    return socket.gethostname()


@blueprint.get("/stats")
@blueprint.get("/stats/<stat>")
def cluster_stats(stat: str | None = None):
    return jsonify(_stats(_wanted(stat), nodes="_all"))


@blueprint.get("/<nodes>/stats")
@blueprint.get("/<nodes>/stats/<stat>")
def node_stats(nodes: str, stat: str | None = None):
    return jsonify(_stats(_wanted(stat), nodes=nodes))


def _wanted(stat: str | None) -> set[str] | None:
    if stat is None or stat == "_all":
        return None
    wanted = {name.strip() for name in stat.split(",") if name.strip()}
    unknown = sorted(wanted - set(CLUSTER_STATS) - set(NODE_STATS))
    if unknown:
        raise InvalidRequest(
            f"unrecognized stats {', '.join(unknown)}; known stats are "
            f"{', '.join(CLUSTER_STATS + NODE_STATS)}",
            "stat",
        )
    return wanted


def _stats(wanted: set[str] | None, nodes: str) -> dict:
    store = current_app.extensions["store"]
    with store.redis.pipeline(transaction=False) as pipe:
        pipe.zcard(store.keys.models)
        pipe.zcard(store.keys.connectors)
        pipe.zcard(store.keys.tasks)
        pipe.scard(store.keys.active)
        models, connectors, tasks, executing = pipe.execute()
    cluster = dict.fromkeys(_INDEX_STATS, "green")
    cluster.update(
        ml_model_count=models, ml_connector_count=connectors, ml_task_count=tasks
    )
    body = {k: v for k, v in cluster.items() if wanted is None or k in wanted}
    body["nodes"] = {}
    if _names_this_node(nodes):
        body["nodes"][node_id()] = _node(store, executing, wanted)
    return body


def _node(store, executing: int, wanted: set[str] | None) -> dict:
    snapshot = Counters(store.redis, store.keys).snapshot()
    requests = snapshot.get(("batch_predict_requests", "", ""), 0)
    failures = snapshot.get(("batch_predict_failures", "", ""), 0)
    deployed = sum(
        1
        for _, model in store.all_documents("model")
        if model.get("model_state") == "DEPLOYED"
    )
    node = {
        "ml_executing_task_count": executing,
        "ml_request_count": requests,
        "ml_failure_count": failures,
        "ml_deployed_model_count": deployed,
        "ml_circuit_breaker_trigger_count": 0,
    }
    node = {k: v for k, v in node.items() if wanted is None or k in wanted}
    if wanted is None or wanted & {"ml_request_count", "ml_failure_count"}:
        node["algorithms"] = {
            "remote": {
                "batch_predict": {
                    "ml_action_request_count": requests,
                    "ml_action_failure_count": failures,
                }
            }
        }
    return node


def _names_this_node(nodes: str) -> bool:
    names = {name.strip() for name in nodes.split(",")}
    return bool(names & {"_all", "_local", node_id()})
