"""Every Redis key batchpredict writes: its type and its lifetime.

All keys start with the configured prefix (``bp`` by default). Celery's own
keys (broker queues, redbeat's schedule and lock) live in the databases named
by ``broker_url`` and ``beat_redis_url`` and are not listed here.

Key ({p} is the prefix), type: what it holds; lifetime.

- {p}:connector:{id}, string: connector JSON, credential sealed; until deleted
- {p}:connectors, zset: connector ids by create time (ms); forever
- {p}:model_group:{id}, string: model group JSON; until deleted
- {p}:model_groups, zset: model group ids by create time; forever
- {p}:model:{id}, string: model JSON; until deleted
- {p}:models, zset: model ids by create time; forever
- {p}:task:{id}, hash: task fields, each JSON-encoded; dropped with every
  index entry by the sweep once its retention after a terminal state ends
- {p}:tasks:expiry, zset: id of a finished task -> when it is dropped (ms)
- {p}:tasks, zset: task ids by create time (ms); pruned with the task
- {p}:tasks:state:{STATE}, set: task ids per state; pruned with the task
- {p}:tasks:model:{model_id}, set: task ids per model; pruned with the task
- {p}:tasks:type:{TASK_TYPE}, set: task ids per task type; pruned with the task
- {p}:tasks:active, set: ids of CREATED, RUNNING and CANCELLING tasks; an id
  leaves it with its last active state
- {p}:schedule, zset: task id -> next visit (epoch ms); an id leaves it with
  its last active state
- {p}:metrics:counters, hash: "name|provider|kind" -> count; forever
- {p}:tasks:provider:{provider}, set: batch task ids per provider; pruned
  with the task
- {p}:api_key:{sha256 of the token}, hash: an API key's key_id, user,
  backend_roles (JSON), admin ("1"/"0") and created_time; until revoked
- {p}:api_keys, hash: key_id -> sha256 of its token; an entry leaves with
  its key
- {p}:rate:{key_id}:{minute}, string: requests of one API key in one
  minute (epoch minute); expires two minutes after it starts
- {p}:budget:{provider}, hash: the provider's call budget (tokens, at ms);
  expires two minutes after its last use

A task moves between states only through the compare-and-set script in
``store.py``, which updates the hash and every index above in one step.
"""


class Keys:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.connectors = f"{prefix}:connectors"
        self.model_groups = f"{prefix}:model_groups"
        self.models = f"{prefix}:models"
        self.tasks = f"{prefix}:tasks"
        self.active = f"{prefix}:tasks:active"
        self.schedule = f"{prefix}:schedule"
        self.counters = f"{prefix}:metrics:counters"
        self.api_keys = f"{prefix}:api_keys"

    def connector(self, connector_id: str) -> str:
        return f"{self.prefix}:connector:{connector_id}"

    def model_group(self, model_group_id: str) -> str:
        return f"{self.prefix}:model_group:{model_group_id}"

    def model(self, model_id: str) -> str:
        return f"{self.prefix}:model:{model_id}"

    def budget(self, provider: str) -> str:
        return f"{self.prefix}:budget:{provider}"

    def api_key(self, token_sha256: str) -> str:
        return f"{self.prefix}:api_key:{token_sha256}"

    def rate(self, key_id: str, minute: int) -> str:
        return f"{self.prefix}:rate:{key_id}:{minute}"

    def task(self, task_id: str) -> str:
        return f"{self.prefix}:task:{task_id}"

    def tasks_in_state(self, state: str) -> str:
        return f"{self.prefix}:tasks:state:{state}"

    def tasks_of_model(self, model_id: str) -> str:
        return f"{self.prefix}:tasks:model:{model_id}"

    def tasks_of_type(self, task_type: str) -> str:
        return f"{self.prefix}:tasks:type:{task_type}"

    def tasks_of_provider(self, provider: str) -> str:
        return f"{self.prefix}:tasks:provider:{provider}"
