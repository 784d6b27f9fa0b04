"""The Redis store: connectors, model groups, models and tasks.

Documents are JSON. A task is a hash of JSON-encoded fields so a state change
can be a compare-and-set in one Lua script that also keeps every index in step
(the key map is in ``keys.py``). Fields whose name starts with ``_`` are the
store's and the workers' own and never leave the API.
"""

import json
import time

import redis

from common.errors import (
    ConnectorNotFound,
    InvalidTransition,
    TaskLimitExceeded,
    TaskNotFound,
)
from common.keys import Keys
from common.settings import Settings
from common.states import TERMINAL_STATES

# KEYS: task hash, tasks zset, active set, schedule zset.
# ARGV: prefix, task id, JSON {field: encoded}, create ms, max active (-1: no
# limit), first visit ms, state, model id, task type, provider ('' for none).
_CREATE_TASK = """
if tonumber(ARGV[5]) >= 0 and redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[5]) then
  return 0
end
local fields = cjson.decode(ARGV[3])
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('SADD', ARGV[1] .. ':tasks:state:' .. ARGV[7], ARGV[2])
redis.call('SADD', ARGV[1] .. ':tasks:model:' .. ARGV[8], ARGV[2])
redis.call('SADD', ARGV[1] .. ':tasks:type:' .. ARGV[9], ARGV[2])
if ARGV[10] ~= '' then
  redis.call('SADD', ARGV[1] .. ':tasks:provider:' .. ARGV[10], ARGV[2])
end
if ARGV[6] ~= '' then
  redis.call('SADD', KEYS[3], ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[2])
end
return 1
"""

# KEYS: task hash, active set, schedule zset.
# ARGV: prefix, task id, expected states (comma-separated), new state,
# JSON {field: encoded}, now ms, terminal (1/0), retention s, next visit ms
# ('' leaves the schedule alone).
# Returns {1, old state} on success, {0, current state} when the state was
# not one of the expected ones, {0, ''} when the task does not exist.
_TRANSITION = """
local raw = redis.call('HGET', KEYS[1], 'state')
if not raw then return {0, ''} end
local current = cjson.decode(raw)
local allowed = false
for state in string.gmatch(ARGV[3], '[^,]+') do
  if state == current then allowed = true end
end
if not allowed then return {0, current} end
local fields = cjson.decode(ARGV[5])
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end
redis.call('HSET', KEYS[1], 'state', cjson.encode(ARGV[4]))
redis.call('HSET', KEYS[1], 'last_update_time', ARGV[6])
if ARGV[4] ~= current then
  redis.call('SREM', ARGV[1] .. ':tasks:state:' .. current, ARGV[2])
  redis.call('SADD', ARGV[1] .. ':tasks:state:' .. ARGV[4], ARGV[2])
end
if ARGV[7] == '1' then
  redis.call('SREM', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('ZADD', ARGV[1] .. ':tasks:expiry',
             tonumber(ARGV[6]) + tonumber(ARGV[8]) * 1000, ARGV[2])
elseif ARGV[9] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[9], ARGV[2])
end
return {1, current}
"""

# KEYS: task hash, schedule zset. ARGV: task id, now ms, lease ms.
# Starts a submit attempt unless the task left CREATED or another attempt's
# lease is still running; returns the attempt number, or 0.
_CLAIM_SUBMIT = """
local raw = redis.call('HMGET', KEYS[1], 'state', '_submit_attempts', '_lease_until')
if not raw[1] or cjson.decode(raw[1]) ~= 'CREATED' then return 0 end
local now = tonumber(ARGV[2])
if raw[3] and tonumber(cjson.decode(raw[3])) > now then return 0 end
local attempt = tonumber(cjson.decode(raw[2] or '0')) + 1
local lease_until = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], '_submit_attempts', tostring(attempt),
           '_lease_until', tostring(lease_until))
redis.call('ZADD', KEYS[2], lease_until, ARGV[1])
return attempt
"""

# Removes a task's hash and its id from every index, in one step.
_DROP = """
local function drop(prefix, id)
  local key = prefix .. ':task:' .. id
  local raw = redis.call('HMGET', key, 'state', 'model_id', 'task_type', 'provider')
  if raw[1] then
    redis.call('SREM', prefix .. ':tasks:state:' .. cjson.decode(raw[1]), id)
    redis.call('SREM', prefix .. ':tasks:model:' .. cjson.decode(raw[2]), id)
    redis.call('SREM', prefix .. ':tasks:type:' .. cjson.decode(raw[3]), id)
    if raw[4] then
      redis.call('SREM', prefix .. ':tasks:provider:' .. cjson.decode(raw[4]), id)
    end
  end
  redis.call('DEL', key)
  redis.call('ZREM', prefix .. ':tasks', id)
  redis.call('SREM', prefix .. ':tasks:active', id)
  redis.call('ZREM', prefix .. ':schedule', id)
  redis.call('ZREM', prefix .. ':tasks:expiry', id)
end
"""

# ARGV: prefix, task id, states that refuse deletion (comma-separated).
# Returns 1 when deleted, 0 when missing, the state when it refused.
_DELETE_TASK = (
    _DROP
    + """
local raw = redis.call('HGET', ARGV[1] .. ':task:' .. ARGV[2], 'state')
if not raw then return 0 end
local state = cjson.decode(raw)
for refused in string.gmatch(ARGV[3], '[^,]+') do
  if refused == state then return state end
end
drop(ARGV[1], ARGV[2])
return 1
"""
)

# ARGV: prefix, now ms, limit. Drops the finished tasks whose retention ran
# out; returns how many.
_PURGE_EXPIRED = (
    _DROP
    + """
local ids = redis.call('ZRANGEBYSCORE', ARGV[1] .. ':tasks:expiry', '-inf', ARGV[2],
                       'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do drop(ARGV[1], id) end
return #ids
"""
)

# KEYS: schedule zset. ARGV: prefix, now ms, limit, lease ms.
# Hands out the tasks due for a visit and pushes each one lease ms into the
# future, so a second sweep (another beat) cannot hand out the same task.
_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local claimed = {}
for _, id in ipairs(due) do
  local raw = redis.call('HGET', ARGV[1] .. ':task:' .. id, 'state')
  if raw then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[4]), id)
    table.insert(claimed, id)
    table.insert(claimed, cjson.decode(raw))
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return claimed
"""


def now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    """Typed access to everything batchpredict keeps in Redis."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None):
        self.settings = settings
        self.redis = client or redis.Redis.from_url(
            settings.redis_url, decode_responses=True, health_check_interval=30
        )
        self.keys = Keys(settings.key_prefix)
        self._create_task = self.redis.register_script(_CREATE_TASK)
        self._transition = self.redis.register_script(_TRANSITION)
        self._claim_due = self.redis.register_script(_CLAIM_DUE)
        self._claim_submit = self.redis.register_script(_CLAIM_SUBMIT)
        self._delete_task = self.redis.register_script(_DELETE_TASK)
        self._purge_expired = self.redis.register_script(_PURGE_EXPIRED)

    # --- documents (connectors, model groups, models) ---------------------

    def put_document(self, kind: str, doc_id: str, doc: dict, created_ms: int) -> None:
        key, index = self._document_keys(kind, doc_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, json.dumps(doc))
            pipe.zadd(index, {doc_id: created_ms})
            pipe.execute()

    def get_document(self, kind: str, doc_id: str) -> dict | None:
        key, _ = self._document_keys(kind, doc_id)
        raw = self.redis.get(key)
        return json.loads(raw) if raw is not None else None

    def delete_document(self, kind: str, doc_id: str) -> bool:
        key, index = self._document_keys(kind, doc_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zrem(index, doc_id)
            deleted, _ = pipe.execute()
        return bool(deleted)

    def all_documents(self, kind: str) -> list[tuple[str, dict]]:
        """Every document of ``kind``, newest first."""
        _, index = self._document_keys(kind, "")
        ids = self.redis.zrevrange(index, 0, -1)
        if not ids:
            return []
        raws = self.redis.mget([self._document_keys(kind, i)[0] for i in ids])
        return [(i, json.loads(r)) for i, r in zip(ids, raws, strict=True) if r]

    def connector_for_model(self, model: dict) -> tuple[dict, str]:
        """The model's connector and the id its credential is sealed under."""
        if "connector" in model:
            return model["connector"], model["model_id"]
        connector = self.get_document("connector", model["connector_id"])
        if connector is None:
            raise ConnectorNotFound(model["connector_id"])
        return connector, model["connector_id"]

    def _document_keys(self, kind: str, doc_id: str) -> tuple[str, str]:
        if kind == "connector":
            return self.keys.connector(doc_id), self.keys.connectors
        if kind == "model_group":
            return self.keys.model_group(doc_id), self.keys.model_groups
        if kind == "model":
            return self.keys.model(doc_id), self.keys.models
        raise ValueError(f"unknown document kind {kind!r}")

    # --- tasks ------------------------------------------------------------

    def create_task(self, task: dict, limit: int | None, first_visit_ms: int | None):
        """Store a new task; with ``limit``, refuse it past that many active."""
        task_id = task["task_id"]
        encoded = {name: json.dumps(value) for name, value in task.items()}
        created = self._create_task(
            keys=[
                self.keys.task(task_id),
                self.keys.tasks,
                self.keys.active,
                self.keys.schedule,
            ],
            args=[
                self.keys.prefix,
                task_id,
                json.dumps(encoded),
                task["create_time"],
                -1 if limit is None else limit,
                "" if first_visit_ms is None else first_visit_ms,
                task["state"],
                task["model_id"],
                task["task_type"],
                task.get("provider") or "",
            ],
        )
        if not created:
            raise TaskLimitExceeded(
                "Exceeded maximum limit for BATCH_PREDICTION tasks. To increase the "
                "limit, update the plugins.ml_commons.max_batch_inference_tasks "
                f"setting (BATCHPREDICT_MAX_BATCH_TASKS, now {limit})."
            )

    def get_task(self, task_id: str) -> dict:
        raw = self.redis.hgetall(self.keys.task(task_id))
        if not raw:
            raise TaskNotFound(task_id)
        return {name: json.loads(value) for name, value in raw.items()}

    def get_tasks(self, task_ids: list[str]) -> list[dict | None]:
        with self.redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hgetall(self.keys.task(task_id))
            raws = pipe.execute()
        return [
            {n: json.loads(v) for n, v in raw.items()} if raw else None for raw in raws
        ]

    def task_fields(self, task_ids: list[str], names: list[str]) -> list[dict]:
        """Some fields of many tasks in one round trip; {} for a missing task."""
        with self.redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hmget(self.keys.task(task_id), names)
            rows = pipe.execute()
        return [
            {n: json.loads(v) for n, v in zip(names, row, strict=True) if v is not None}
            for row in rows
        ]

    def transition(
        self,
        task_id: str,
        expected: set[str] | frozenset[str] | tuple[str, ...],
        new_state: str,
        fields: dict | None = None,
        next_visit_ms: int | None = None,
    ) -> str:
        """Compare-and-set the task's state; return the state it left.

        Raises :class:`InvalidTransition` when the task is not in one of the
        ``expected`` states, so a stale writer can never overwrite a newer state.
        """
        encoded = {name: json.dumps(value) for name, value in (fields or {}).items()}
        ok, state = self._transition(
            keys=[self.keys.task(task_id), self.keys.active, self.keys.schedule],
            args=[
                self.keys.prefix,
                task_id,
                ",".join(sorted(expected)),
                new_state,
                json.dumps(encoded),
                now_ms(),
                "1" if new_state in TERMINAL_STATES else "0",
                self.settings.task_retention_s,
                "" if next_visit_ms is None else next_visit_ms,
            ],
        )
        if not ok:
            if state == "":
                raise TaskNotFound(task_id)
            raise InvalidTransition(
                f"Task {task_id} is {state}; it can move to {new_state} only from "
                f"{', '.join(sorted(expected))}",
                task_id,
                state,
            )
        return state

    def update_task(
        self, task_id: str, state: str, fields: dict, next_visit_ms: int | None = None
    ) -> None:
        """Write fields while the task stays in ``state`` (checked atomically)."""
        self.transition(task_id, {state}, state, fields, next_visit_ms)

    def claim_submit(self, task_id: str, lease_ms: int) -> int:
        """Start a submit attempt: its number, or 0 when the task is no longer
        CREATED or another attempt holds the lease (it may be mid-call)."""
        return self._claim_submit(
            keys=[self.keys.task(task_id), self.keys.schedule],
            args=[task_id, now_ms(), lease_ms],
        )

    def schedule(self, task_id: str, visit_ms: int) -> None:
        self.redis.zadd(self.keys.schedule, {task_id: visit_ms})

    def claim_due(self, limit: int, lease_ms: int) -> list[tuple[str, str]]:
        """Hand out up to ``limit`` tasks due for a visit, with their states."""
        flat = self._claim_due(
            keys=[self.keys.schedule],
            args=[self.keys.prefix, now_ms(), limit, lease_ms],
        )
        return list(zip(flat[0::2], flat[1::2], strict=True))

    def active_count(self) -> int:
        return self.redis.scard(self.keys.active)

    def delete_task(self, task_id: str, refuse_states: frozenset[str]) -> None:
        """Delete a task unless it is in one of ``refuse_states`` (checked in
        the same script, so a concurrent state change cannot slip through)."""
        result = self._delete_task(
            args=[self.keys.prefix, task_id, ",".join(sorted(refuse_states))]
        )
        if result == 0:
            raise TaskNotFound(task_id)
        if result != 1:
            raise InvalidTransition(
                f"Task cannot be deleted in {result.lower()} state. Try after "
                f"some time. (task {task_id})",
                task_id,
                result,
            )

    def purge_expired(self, limit: int) -> int:
        """Drop finished tasks past their retention, index entries and all."""
        return self._purge_expired(args=[self.keys.prefix, now_ms(), limit])

    def task_ids(self, filters: dict[str, list[str]]) -> list[str] | None:
        """Ids matching every ``{field: [values]}`` filter, or None for all."""
        index = {
            "state": self.keys.tasks_in_state,
            "model_id": self.keys.tasks_of_model,
            "task_type": self.keys.tasks_of_type,
        }
        if not filters:
            return None
        groups = []
        for name, values in filters.items():
            groups.append(set(self.redis.sunion([index[name](v) for v in values])))
        return list(set.intersection(*groups))

    def task_create_times(self, task_ids: list[str] | None) -> list[tuple[str, float]]:
        if task_ids is None:
            return self.redis.zrange(self.keys.tasks, 0, -1, withscores=True)
        if not task_ids:
            return []
        scores = self.redis.zmscore(self.keys.tasks, task_ids)
        return [(i, s) for i, s in zip(task_ids, scores, strict=True) if s is not None]
