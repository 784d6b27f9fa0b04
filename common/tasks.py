"""Task records as ML Commons shapes them, and when each is next refreshed."""

import random
import uuid

from common.settings import Settings
from common.states import TaskState
from common.store import now_ms

BATCH_PREDICTION = "BATCH_PREDICTION"
REGISTER_MODEL = "REGISTER_MODEL"
DEPLOY_MODEL = "DEPLOY_MODEL"
TASK_TYPES = (BATCH_PREDICTION, REGISTER_MODEL, DEPLOY_MODEL)

#: The fields ML Commons' task document has, in its order; anything else
#: public (``provider``, ``results``) is batchpredict's own addition.
PUBLIC_FIELDS = (
    "task_id",
    "model_id",
    "task_type",
    "function_name",
    "state",
    "input_type",
    "progress",
    "output_index",
    "worker_node",
    "create_time",
    "last_update_time",
    "error",
    "is_async",
    "remote_job",
    "provider",
    "results",
)


def new_id() -> str:
    """A 20-character id, like the ones OpenSearch generates for documents."""
    return uuid.uuid4().hex[:20]


def new_batch_task(
    model_id: str, connector_id: str, provider: str, parameters: dict, owner: str | None
) -> dict:
    created = now_ms()
    return {
        "task_id": new_id(),
        "model_id": model_id,
        "task_type": BATCH_PREDICTION,
        "function_name": "REMOTE",
        "state": TaskState.CREATED,
        "input_type": "REMOTE",
        "worker_node": [],
        "create_time": created,
        "last_update_time": created,
        "is_async": False,
        "remote_job": {},
        "error": None,
        "provider": provider,
        "results": None,
        # The store's and the workers' own fields: never shown.
        "_connector_id": connector_id,
        "_parameters": parameters,
        "_owner": owner,
        "_submit_attempts": 0,
        "_unreachable_count": 0,
    }


def new_model_task(model_id: str, task_type: str, owner: str | None) -> dict:
    """A register or deploy task: remote models need no work, so it is done."""
    created = now_ms()
    return {
        "task_id": new_id(),
        "model_id": model_id,
        "task_type": task_type,
        "function_name": "REMOTE",
        "state": TaskState.COMPLETED,
        "worker_node": [],
        "create_time": created,
        "last_update_time": created,
        "is_async": True,
        "error": None,
        "_owner": owner,
    }


def public_view(task: dict, source: list[str] | None = None) -> dict:
    view = {k: task[k] for k in PUBLIC_FIELDS if k in task and task[k] is not None}
    if source is not None:
        view = {k: v for k, v in view.items() if k in source}
    return view


def refresh_delay_s(age_s: float, settings: Settings, rng=random) -> float:
    """Seconds until the next refresh of a job ``age_s`` old.

    Young jobs are looked at often, old ones rarely: the delay is a share of
    the job's age, kept within [refresh_min_s, refresh_max_s], with +-20 %
    jitter so jobs submitted together do not stay in lockstep.
    """
    base = min(
        settings.refresh_max_s,
        max(settings.refresh_min_s, age_s * settings.refresh_age_factor),
    )
    return base * rng.uniform(0.8, 1.2)


def retry_delay_s(
    attempt: int, settings: Settings, retry_after_s: float | None, rng=random
) -> float:
    """Backoff with full jitter for a failed provider call, honouring the
    provider's Retry-After when it gave one."""
    ceiling = min(
        settings.refresh_max_s, settings.refresh_min_s * 2 ** min(attempt, 16)
    )
    delay = rng.uniform(settings.refresh_min_s, max(settings.refresh_min_s, ceiling))
    if retry_after_s is not None:
        # Honour the provider's word, but never past the longest refresh
        # interval: a task must not sit for days on one header.
        delay = max(delay, min(retry_after_s, settings.refresh_max_s))
    return delay
