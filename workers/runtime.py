"""What a worker process shares between tasks: settings, the store, the
credential sealer, the call budget, counters and the provider adapters."""

import logging
import socket
import traceback
from dataclasses import dataclass, field

from common.budget import Budget
from common.connectors import render_action
from common.crypto import Sealer
from common.errors import (
    BatchPredictError,
    BudgetExhausted,
    ProviderError,
    ProviderJobNotFound,
    ProviderThrottled,
    ProviderUnavailable,
)
from common.metrics import Counters
from common.settings import Settings
from common.store import Store
from workers.providers import get_provider
from workers.providers.base import Provider, ProviderCall

log = logging.getLogger("batchpredict.worker")


@dataclass
class Runtime:
    """Everything a worker process shares between tasks."""

    settings: Settings
    store: Store
    sealer: Sealer
    hostname: str = field(default_factory=socket.gethostname)
    _providers: dict[str, Provider] = field(default_factory=dict)
    budget: Budget = field(init=False)
    counters: Counters = field(init=False)

    def __post_init__(self):
        self.budget = Budget(self.store.redis, self.store.keys, self.settings)
        self.counters = Counters(self.store.redis, self.store.keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Runtime":
        return cls(settings, Store(settings), Sealer.from_settings(settings))

    def spend(self, provider: str, calls: int = 1) -> None:
        """Take calls from the provider's shared budget or raise."""
        wait_s = self.budget.take(provider, calls)
        if wait_s > 0:
            raise BudgetExhausted(provider, wait_s)

    def count_error(self, provider: str, exc: ProviderError) -> None:
        if isinstance(exc, ProviderThrottled):
            kind = "throttled"
        elif isinstance(exc, ProviderUnavailable):
            kind = "unavailable"
        elif isinstance(exc, ProviderJobNotFound):
            kind = "not_found"
        else:
            kind = "rejected"
        self.counters.incr("provider_errors", provider, kind)

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = _Guarded(get_provider(name, self.settings))
        return self._providers[name]

    def call_for(self, task: dict) -> tuple[Provider, ProviderCall]:
        """Render the task's batch_predict action with decrypted credentials."""
        model = self.store.get_document("model", task["model_id"])
        if model is None:
            raise BatchPredictError(
                f"model {task['model_id']} was deleted; the task cannot reach its "
                "provider"
            )
        connector, owner_id = self.store.connector_for_model(model)
        credential = self.sealer.open_all(owner_id, connector["credential"])
        action = render_action(
            connector,
            "batch_predict",
            task["_parameters"],
            credential,
            self.settings.trusted_endpoints,
            allow_private=self.settings.allow_private_endpoints,
        )
        call = ProviderCall(
            url=action.url,
            method=action.method,
            body=action.body,
            headers=action.headers,
            credential=credential,
            parameters=action.parameters,
        )
        return self.provider(action.provider), call


_CALLS = ("submit", "find", "describe", "cancel", "list_jobs")


class _Guarded:
    """An adapter whose calls raise only provider errors.

    Anything else an SDK call raises (a bug, an answer it cannot parse, text
    it cannot encode) becomes ``ProviderUnavailable``: the step is retried
    with backoff and the task ends UNREACHABLE if it keeps failing, instead
    of the step failing the same way for ever. The exception's message is
    left out of the log, since it may quote the request (and a credential).
    """

    def __init__(self, adapter: Provider):
        self._adapter = adapter

    def __getattr__(self, name):
        value = getattr(self._adapter, name)
        if name not in _CALLS:
            return value

        def guarded(*args, **kwargs):
            try:
                return value(*args, **kwargs)
            except ProviderError:
                raise
            except Exception as exc:
                frames = "".join(traceback.format_tb(exc.__traceback__))
                log.error(
                    "Provider %s: %s raised %s (message withheld)\n%s",
                    self._adapter.name,
                    name,
                    type(exc).__name__,
                    frames,
                )
                raise ProviderUnavailable(
                    f"{name} raised {type(exc).__name__}; the worker log has where",
                    self._adapter.name,
                ) from None

        return guarded
