"""Who is calling: the bearer API key of every request, and its rate limit.

Every route asks for a key except the service root and the OpenAPI document.
With ``BATCHPREDICT_AUTH_ENABLED=false`` every caller is an anonymous admin
who owns nothing (local development only). The rate limit is a fixed
one-minute window per key, counted in Redis so every API process shares it.
"""

import logging
import time

from flask import Flask, current_app, g, request

from api.keys import ANONYMOUS, ApiKeys, Principal
from common.errors import RateLimited, Unauthenticated

log = logging.getLogger("batchpredict.api.auth")

#: Routes anyone may call: a health check and the API's description.
PUBLIC_PATHS = frozenset({"/", "/_plugins/_ml/openapi.json"})


def install(app: Flask) -> None:
    store, settings = app.extensions["store"], app.extensions["settings"]
    app.extensions["api_keys"] = ApiKeys(store.redis, store.keys)
    if not settings.auth_enabled:
        log.warning("Authentication is off: every caller is an anonymous admin")
    app.before_request(_authenticate)


def principal() -> Principal:
    """The caller of the current request."""
    return g.get("principal", ANONYMOUS)


def _authenticate() -> None:
    settings = current_app.extensions["settings"]
    if not settings.auth_enabled or request.path in PUBLIC_PATHS:
        g.principal = ANONYMOUS
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "authentication required: send an API key as "
            "'Authorization: Bearer <token>'; make one with "
            "`.venv/bin/python -m api.keys create --user NAME`"
        )
    found = current_app.extensions["api_keys"].lookup(token.strip())
    if found is None:
        log.info("Request to %s refused: unknown API key", request.path)
        raise Unauthenticated("the API key is not valid (unknown or revoked)")
    g.principal = found
    _check_rate(found, settings.rate_limit_per_minute)


def _check_rate(caller: Principal, per_minute: int) -> None:
    if per_minute <= 0:
        return
    store = current_app.extensions["store"]
    now = time.time()
    minute = int(now // 60)
    key = store.keys.rate(caller.key_id, minute)
    with store.redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = pipe.execute()
    if count > per_minute:
        retry_after_s = max(1, int(60 - now % 60))
        log.warning(
            "API key %s of %s: rate limit of %d a minute reached",
            caller.key_id,
            caller.user,
            per_minute,
        )
        raise RateLimited(
            f"rate limit reached: {per_minute} requests a minute per API key "
            f"(BATCHPREDICT_RATE_LIMIT_PER_MINUTE); retry in {retry_after_s}s",
            retry_after_s,
        )
