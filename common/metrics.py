"""Counters every process adds to and any process can read: they live in one
Redis hash, so the API's metrics show what all workers did.

Counter names: ``submissions``, ``refreshes``, ``cancels`` (per provider),
``provider_errors`` (per provider and kind: throttled, unavailable, rejected,
not_found), ``batch_predict_requests`` and ``batch_predict_failures`` (the
API's, for ML Commons' stats).
"""

from common.keys import Keys

_SEPARATOR = "|"


class Counters:
    def __init__(self, redis_client, keys: Keys):
        self.redis = redis_client
        self.key = keys.counters

    def incr(self, name: str, provider: str = "", kind: str = "", by: int = 1) -> None:
        field = _SEPARATOR.join((name, provider, kind))
        self.redis.hincrby(self.key, field, by)

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        """Every counter as ``{(name, provider, kind): value}``."""
        result = {}
        for field, value in self.redis.hgetall(self.key).items():
            name, provider, kind = field.split(_SEPARATOR)
            result[(name, provider, kind)] = int(value)
        return result
