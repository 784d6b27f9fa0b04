"""A per-provider budget of calls per minute, shared by every worker.

Providers ration their control-plane calls (Cohere allows 50 embed-job calls
a minute on a production key), so however many tasks and workers there are,
all of them draw from one token bucket per provider kept in Redis. A bucket
holds at most a quarter-minute of calls, so bursts stay short.
"""

from common.keys import Keys
from common.settings import Settings

# KEYS: the bucket hash. ARGV: tokens per ms, capacity, wanted.
# Returns 0 when the tokens were taken, else the ms to wait for them. The
# clock is Redis's own, so workers on hosts with skewed clocks agree.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local result = 0
if tokens >= wanted then
  tokens = tokens - wanted
else
  result = math.ceil((wanted - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 120000)
return result
"""


class Budget:
    def __init__(self, redis_client, keys: Keys, settings: Settings):
        self.redis = redis_client
        self.keys = keys
        self.settings = settings
        self._take = redis_client.register_script(_TAKE)

    def take(self, provider: str, calls: int = 1) -> float:
        """Take ``calls`` from the provider's budget; return 0 when granted,
        else the seconds until that many calls are available."""
        per_minute = self.settings.calls_per_minute(provider)
        if per_minute <= 0:
            return 0.0
        capacity = max(float(calls), per_minute / 4)
        wait_ms = self._take(
            keys=[self.keys.budget(provider)],
            args=[per_minute / 60_000, capacity, calls],
        )
        return wait_ms / 1000
