"""Settings, read once from ``BATCHPREDICT_*`` environment variables.

Every setting has a named default here; nothing else in the project reads the
environment for its own configuration.
"""

import os
from dataclasses import dataclass, field, fields

from common.errors import BatchPredictError

#: ML Commons' default trusted endpoints (plugins.ml_commons.
#: trusted_connector_endpoints_regex), matched against the whole URL.
DEFAULT_TRUSTED_ENDPOINTS = (
    r"^https://runtime\.sagemaker\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://api\.sagemaker\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://api\.openai\.com/.*$",
    r"^https://api\.cohere\.ai/.*$",
    r"^https://api\.deepseek\.com/.*$",
    r"^https://generativelanguage\.googleapis\.com/.*$",
    r"^https://bedrock-runtime\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://bedrock-agent-runtime\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://bedrock\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://textract\..*[a-z0-9-]\.amazonaws\.com$",
    r"^https://comprehend\..*[a-z0-9-]\.amazonaws\.com$",
    r"^https://rekognition(-fips)?\..*[a-z0-9-]\.amazonaws\.com$",
)

PROVIDERS = ("openai", "sagemaker", "cohere", "bedrock")


class SettingsError(BatchPredictError):
    """A ``BATCHPREDICT_*`` variable holds a value of the wrong kind."""


@dataclass(frozen=True)
class Settings:
    #: Redis that holds connectors, models and tasks.
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Celery's broker; Redis by default, RabbitMQ (amqp://) works too.
    broker_url: str = "redis://127.0.0.1:6379/1"
    #: Where celery-redbeat keeps the beat schedule and its lock.
    beat_redis_url: str = "redis://127.0.0.1:6379/2"
    #: Prefix of every Redis key batchpredict writes (see common/keys.py).
    key_prefix: str = "bp"

    #: Where each provider's SDK calls go. Empty means the provider itself;
    #: in development these point at the sandbox.
    openai_base_url: str = ""
    cohere_base_url: str = ""
    sagemaker_endpoint_url: str = ""
    bedrock_endpoint_url: str = ""
    s3_endpoint_url: str = ""
    #: Provider calls per minute all workers together may make; 0: no limit.
    #: Cohere allows 50 embed-job calls a minute on a production key.
    openai_calls_per_minute: int = 500
    sagemaker_calls_per_minute: int = 600
    cohere_calls_per_minute: int = 40
    bedrock_calls_per_minute: int = 600
    #: A sweep refreshes a group of at least this many tasks on one
    #: connector with one list call instead of one status call each.
    list_refresh_min_tasks: int = 3
    #: Seconds an SDK call may take before it counts as unreachable.
    provider_timeout_s: float = 30.0

    #: ML Commons' plugins.ml_commons.max_batch_inference_tasks.
    max_batch_tasks: int = 100
    #: Regexes a connector URL must fully match.
    trusted_endpoints: tuple[str, ...] = DEFAULT_TRUSTED_ENDPOINTS

    #: How often beat's sweep looks for tasks due for a refresh.
    sweep_interval_s: float = 5.0
    #: Most tasks one sweep hands out.
    sweep_batch_size: int = 10_000
    #: The first refresh of a new remote job comes this soon.
    refresh_min_s: float = 15.0
    #: Refreshes never come further apart than this.
    refresh_max_s: float = 600.0
    #: The interval grows with the job's age: age times this factor.
    refresh_age_factor: float = 0.1
    #: A claimed task whose worker vanished is handed out again after this.
    lease_s: float = 120.0
    #: A queued message unacknowledged this long (its worker died) is
    #: delivered again; every task takes seconds, so this is generous.
    visibility_timeout_s: float = 300.0
    #: Refreshes in a row that reach no provider before UNREACHABLE.
    unreachable_after: int = 10
    #: Terminal task records are deleted this long after they end.
    task_retention_s: int = 30 * 24 * 3600

    #: Base64 of the 32-byte key that encrypts connector credentials, or a
    #: file holding it. One of the two is required outside development.
    master_key: str = field(default="", repr=False)
    master_key_file: str = ""

    #: Where gunicorn listens; the Procfile and the deploy files read these.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    #: Celery Flower (workers/flower_config.py): where it listens and the
    #: basic-auth user it asks for. With no password Flower's REST API
    #: answers 401 to everyone.
    flower_host: str = "127.0.0.1"
    flower_port: int = 5555
    flower_user: str = "admin"
    flower_password: str = field(default="", repr=False)
    #: Most tasks Flower keeps in memory (its own default is 100,000).
    flower_max_tasks: int = 10000

    #: ``text`` or ``json`` (one object per line), for every process.
    log_format: str = "text"
    #: The level of the batchpredict loggers and of the root logger.
    log_level: str = "INFO"

    #: Largest request body the API reads, in bytes.
    max_body_bytes: int = 1024 * 1024
    #: Deepest JSON nesting the API accepts in a request body.
    max_body_depth: int = 32

    #: Whether the API asks for an API key (``Authorization: Bearer ...``);
    #: turn off only for local development.
    auth_enabled: bool = True
    #: Requests one API key may make per minute; 0: no limit.
    rate_limit_per_minute: int = 600
    #: Let connector URLs name loopback, private, link-local or metadata
    #: addresses when a trusted regex matches them (a sandbox on a LAN).
    allow_private_endpoints: bool = False

    def __post_init__(self):
        if self.lease_s <= self.provider_timeout_s:
            # A submit still waiting on its SDK call must not be handed out
            # again: the second attempt could make a second job.
            raise SettingsError(
                f"BATCHPREDICT_LEASE_S ({self.lease_s:g}) must be greater than "
                f"BATCHPREDICT_PROVIDER_TIMEOUT_S ({self.provider_timeout_s:g})"
            )

    @classmethod
    def from_env(cls, environ=None) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        for spec in fields(cls):
            raw = environ.get(f"BATCHPREDICT_{spec.name.upper()}")
            if raw is None:
                continue
            values[spec.name] = _parse(spec.name, spec.type, raw)
        return cls(**values)

    def calls_per_minute(self, provider: str) -> int:
        return getattr(self, f"{provider}_calls_per_minute")

    def provider_endpoint(self, provider: str) -> str | None:
        """The operator's base URL for ``provider``, or None for its own."""
        value = {
            "openai": self.openai_base_url,
            "cohere": self.cohere_base_url,
            "sagemaker": self.sagemaker_endpoint_url,
            "bedrock": self.bedrock_endpoint_url,
            "s3": self.s3_endpoint_url,
        }[provider]
        return value or None


def _parse(name: str, kind, raw: str):
    env_name = f"BATCHPREDICT_{name.upper()}"
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (bool, "bool"):
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
        if str(kind).startswith("tuple"):
            return tuple(line.strip() for line in raw.split("\n") if line.strip())
    except ValueError as exc:
        raise SettingsError(
            f"{env_name} must be a {getattr(kind, '__name__', kind)}, got {raw!r}"
        ) from exc
    return raw
