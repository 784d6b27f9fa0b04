"""``GET /metrics`` and ML Commons' stats API: figures read from Redis, so
they agree whichever API process answers."""

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from common.metrics import Counters
from common.states import ACTIVE_STATES, TaskState
from common.tasks import new_batch_task


def _scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _tasks(samples, state: str, provider: str) -> float:
    labels = (("provider", provider), ("state", state))
    return samples[("batchpredict_tasks", labels)]


def _add_task(store, provider: str, state: str = TaskState.CREATED) -> str:
    task = new_batch_task("model-1", "connector-1", provider, {}, owner=None)
    active = state in ACTIVE_STATES
    store.create_task(task, limit=None, first_visit_ms=task["create_time"] + 60_000)
    if state != TaskState.CREATED:
        store.transition(
            task["task_id"],
            {TaskState.CREATED},
            state,
            next_visit_ms=task["create_time"] + 60_000 if active else None,
        )
    return task["task_id"]


def test_tasks_are_counted_by_state_and_provider(client, store):
    # Given tasks of two providers in several states
    _add_task(store, "openai", TaskState.RUNNING)
    _add_task(store, "openai", TaskState.RUNNING)
    _add_task(store, "openai", TaskState.COMPLETED)
    gone = _add_task(store, "sagemaker", TaskState.FAILED)
    _add_task(store, "cohere")

    # When Prometheus scrapes twice, a task deleted in between
    first = _scrape(client)
    store.delete_task(gone, refuse_states=frozenset())
    second = _scrape(client)

    # Then each pair is counted once, and the deleted task leaves every count
    assert _tasks(first, "RUNNING", "openai") == 2
    assert _tasks(first, "COMPLETED", "openai") == 1
    assert _tasks(first, "FAILED", "sagemaker") == 1
    assert _tasks(first, "CREATED", "cohere") == 1
    assert _tasks(first, "RUNNING", "bedrock") == 0
    assert first[("batchpredict_tasks_active", ())] == 3
    assert _tasks(second, "FAILED", "sagemaker") == 0
    assert _tasks(second, "RUNNING", "openai") == 2
    assert not store.redis.sismember(store.keys.tasks_of_provider("sagemaker"), gone)


def test_counters_of_every_process_are_exposed(client, store):
    # Given counts written as the workers and the API write them
    counters = Counters(store.redis, store.keys)
    counters.incr("submissions", "openai", by=3)
    counters.incr("refreshes", "bedrock", by=7)
    counters.incr("provider_errors", "cohere", "throttled", by=2)
    counters.incr("batch_predict_requests", by=5)
    counters.incr("batch_predict_failures")

    # When Prometheus scrapes
    samples = _scrape(client)

    # Then every counter appears with its labels, absent ones as zero
    assert samples[("batchpredict_submissions_total", (("provider", "openai"),))] == 3
    assert samples[("batchpredict_refreshes_total", (("provider", "bedrock"),))] == 7
    assert samples[("batchpredict_cancels_total", (("provider", "openai"),))] == 0
    throttled = (("kind", "throttled"), ("provider", "cohere"))
    assert samples[("batchpredict_provider_errors_total", throttled)] == 2
    rejected = (("kind", "rejected"), ("provider", "cohere"))
    assert samples[("batchpredict_provider_errors_total", rejected)] == 0
    assert samples[("batchpredict_batch_predict_requests_total", ())] == 5
    assert samples[("batchpredict_batch_predict_failures_total", ())] == 1


def test_refresh_lag_is_the_oldest_overdue_visit(client, store):
    # Given one task overdue by about 90 s, one by 10 s and one not yet due
    now_ms = int(time.time() * 1000)
    store.redis.zadd(
        store.keys.schedule,
        {"late": now_ms - 90_000, "later": now_ms - 10_000, "due": now_ms + 60_000},
    )

    # When Prometheus scrapes
    samples = _scrape(client)

    # Then two are overdue and the lag is the oldest one's wait
    assert samples[("batchpredict_refresh_overdue_tasks", ())] == 2
    assert 90 <= samples[("batchpredict_refresh_lag_seconds", ())] < 3600


def test_no_refresh_lag_when_nothing_is_due(client, store):
    store.redis.zadd(store.keys.schedule, {"due": int(time.time() * 1000) + 60_000})

    samples = _scrape(client)

    assert samples[("batchpredict_refresh_overdue_tasks", ())] == 0
    assert samples[("batchpredict_refresh_lag_seconds", ())] == 0


def test_two_apps_on_one_redis_report_the_same_figures(client, store, test_settings):
    # Given a second API process on the same Redis (another gunicorn worker)
    other = create_app(test_settings).test_client()
    _add_task(store, "bedrock", TaskState.RUNNING)
    Counters(store.redis, store.keys).incr("submissions", "bedrock")

    # When both are scraped
    # Then they agree
    assert _scrape(client) == _scrape(other)


def test_stats_count_batch_predict_requests_and_failures(client, store):
    # Given one failed _batch_predict (no such model) and one counted earlier
    Counters(store.redis, store.keys).incr("batch_predict_requests")
    assert (
        client.post(
            "/_plugins/_ml/models/nope/_batch_predict", json={"parameters": {}}
        ).status_code
        == 404
    )
    _add_task(store, "openai", TaskState.RUNNING)

    # When the stats are read
    body = client.get("/_plugins/_ml/stats").get_json()

    # Then ML Commons' shape carries the counts under remote/batch_predict
    assert body["ml_task_index_status"] == "green"
    assert body["ml_task_count"] == 1
    assert body["ml_model_count"] == 0
    [node] = body["nodes"].values()
    assert node["ml_request_count"] == 2
    assert node["ml_failure_count"] == 1
    assert node["ml_executing_task_count"] == 1
    assert node["algorithms"]["remote"]["batch_predict"] == {
        "ml_action_request_count": 2,
        "ml_action_failure_count": 1,
    }


def test_one_stat_and_one_node_can_be_asked_for(client, store):
    Counters(store.redis, store.keys).incr("batch_predict_requests", by=4)
    node_id = next(iter(client.get("/_plugins/_ml/stats").get_json()["nodes"]))

    one_stat = client.get("/_plugins/_ml/stats/ml_request_count").get_json()
    one_node = client.get(f"/_plugins/_ml/{node_id}/stats").get_json()
    local = client.get("/_plugins/_ml/_local/stats/ml_model_count").get_json()
    other = client.get("/_plugins/_ml/no-such-node/stats").get_json()

    assert one_stat["nodes"][node_id]["ml_request_count"] == 4
    assert "ml_failure_count" not in one_stat["nodes"][node_id]
    assert "ml_model_count" not in one_stat
    assert one_node["nodes"][node_id]["ml_request_count"] == 4
    assert local["ml_model_count"] == 0
    assert local["nodes"][node_id] == {}
    assert other["nodes"] == {}


@pytest.mark.parametrize("stat", ["ml_nothing", "ml_request_count,bogus"])
def test_unknown_stat_is_named(client, stat):
    response = client.get(f"/_plugins/_ml/stats/{stat}")

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "stat"
    assert stat.split(",")[-1] in response.get_json()["error"]["reason"]
