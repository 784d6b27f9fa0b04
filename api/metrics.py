"""``GET /metrics``: Prometheus text exposition read from Redis at scrape time.

The API runs as several gunicorn workers on several hosts; a counter kept in
one process would show that process's share only. Everything here comes from
Redis when Prometheus asks: tasks by state and provider, the shared counters
of ``common.metrics`` and how far the refresh schedule is behind.
"""

import time

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from common.metrics import Counters
from common.settings import PROVIDERS
from common.states import TaskState
from common.store import Store

blueprint = Blueprint("metrics", __name__)

ERROR_KINDS = ("throttled", "unavailable", "rejected", "not_found")
_PER_PROVIDER = {
    "submissions": "Remote jobs submitted to a provider.",
    "refreshes": "Remote jobs described by a provider.",
    "cancels": "Cancels sent to a provider.",
}


class StoreCollector:
    """A Prometheus collector whose every sample is read from the store."""

    def __init__(self, store: Store):
        self.store = store

    def collect(self):
        yield self._tasks()
        yield GaugeMetricFamily(
            "batchpredict_tasks_active",
            "Tasks counting against the active-task limit.",
            value=self.store.active_count(),
        )
        yield from self._refresh_lag()
        yield from self._counters()

    def _tasks(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "batchpredict_tasks",
            "Batch prediction tasks kept in the store, by state and provider.",
            labels=["state", "provider"],
        )
        for state, provider, count in tasks_by_state_and_provider(self.store):
            family.add_metric([state, provider], count)
        return family

    def _refresh_lag(self):
        now_ms = time.time() * 1000
        with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.zcount(self.store.keys.schedule, "-inf", now_ms)
            pipe.zrange(self.store.keys.schedule, 0, 0, withscores=True)
            overdue, oldest = pipe.execute()
        lag_s = max(0.0, (now_ms - oldest[0][1]) / 1000) if oldest else 0.0
        yield GaugeMetricFamily(
            "batchpredict_refresh_overdue_tasks",
            "Tasks whose visit (submit or refresh) is due and not yet handed out.",
            value=overdue,
        )
        yield GaugeMetricFamily(
            "batchpredict_refresh_lag_seconds",
            "How long the most overdue task has waited past its visit time.",
            value=lag_s,
        )

    def _counters(self):
        snapshot = Counters(self.store.redis, self.store.keys).snapshot()
        for name, help_text in _PER_PROVIDER.items():
            family = CounterMetricFamily(
                f"batchpredict_{name}", help_text, labels=["provider"]
            )
            for provider in PROVIDERS:
                family.add_metric([provider], snapshot.get((name, provider, ""), 0))
            yield family
        errors = CounterMetricFamily(
            "batchpredict_provider_errors",
            "Failed provider calls, by provider and kind of failure.",
            labels=["provider", "kind"],
        )
        for provider in PROVIDERS:
            for kind in ERROR_KINDS:
                value = snapshot.get(("provider_errors", provider, kind), 0)
                errors.add_metric([provider, kind], value)
        yield errors
        for name, help_text in (
            ("batch_predict_requests", "_batch_predict requests the API received."),
            ("batch_predict_failures", "_batch_predict requests that failed."),
        ):
            value = snapshot.get((name, "", ""), 0)
            yield CounterMetricFamily(f"batchpredict_{name}", help_text, value=value)


def tasks_by_state_and_provider(store: Store) -> list[tuple[str, str, int]]:
    """Every (state, provider) pair's count: an intersection of two of the
    store's indexes, counted inside Redis without reading a task."""
    pairs = [(state.value, p) for p in PROVIDERS for state in TaskState]
    with store.redis.pipeline(transaction=True) as pipe:
        for state, provider in pairs:
            pipe.sintercard(
                2,
                [
                    store.keys.tasks_in_state(state),
                    store.keys.tasks_of_provider(provider),
                ],
            )
        counts = pipe.execute()
    return [(s, p, int(c)) for (s, p), c in zip(pairs, counts, strict=True)]


@blueprint.get("/metrics")
def metrics():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(current_app.extensions["store"]))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
