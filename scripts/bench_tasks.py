"""The no-op Celery task the benchmarks measure against; only the benchmark's
workers import it (``scripts.bench_scaling`` starts them), so the product never
registers it."""

import redis

from scripts.bench_scaling import NOOP, NOOP_COUNTER
from workers.celery_app import app

_client: list[redis.Redis] = []


@app.task(name=NOOP, ignore_result=True, acks_late=True)
def noop() -> None:
    """Nothing but a count, so the benchmark can tell when every one has run."""
    if not _client:
        _client.append(redis.Redis.from_url(app.conf.broker_url))
    _client[0].incr(NOOP_COUNTER)
