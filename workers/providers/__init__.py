"""Provider adapters, one module each, looked up by provider name."""

import importlib

from common.settings import Settings
from workers.providers.base import Provider

_MODULES = {
    "openai": "workers.providers.openai",
    "sagemaker": "workers.providers.sagemaker",
    "cohere": "workers.providers.cohere",
    "bedrock": "workers.providers.bedrock",
}


def get_provider(name: str, settings: Settings) -> Provider:
    """Return the adapter for ``name``; SDKs load on first use."""
    module = importlib.import_module(_MODULES[name])
    return module.ADAPTER(settings)
