"""Beat's scheduler: celery-redbeat, made to ride out Redis going away.

RedBeat keeps the schedule and a lock in Redis so only one beat sweeps at a
time. Unchanged, a beat dies on the first connection error (and with it every
refresh), and a beat whose lock lapsed while Redis was down keeps failing to
extend it. Here both wait and try again instead.
"""

import logging

import redis
from redbeat import RedBeatScheduler

log = logging.getLogger("batchpredict.beat")

#: Seconds between tries while Redis does not answer.
RETRY_S = 1.0


class Scheduler(RedBeatScheduler):
    def tick(self, *args, **kwargs):
        try:
            return super().tick(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning(
                "Beat: Redis unreachable (%s); trying again in %.0fs", exc, RETRY_S
            )
            return RETRY_S
        except redis.exceptions.LockError:
            return self._regain_lock()

    def _regain_lock(self) -> float:
        # The lock lapsed (Redis was away longer than its timeout) or another
        # beat holds it now: sweep again only once it is ours.
        try:
            if self.lock is not None and self.lock.acquire(blocking=False):
                log.info("Beat: lock acquired again")
                return 0.0
        except (redis.ConnectionError, redis.TimeoutError):
            return RETRY_S
        log.info("Beat: another beat holds the lock; standing by")
        return self.max_interval
