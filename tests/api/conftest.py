"""The Flask app on a clean Redis database, with no worker behind it."""

import dataclasses

import pytest

from api.app import create_app
from api.keys import ApiKeys


@pytest.fixture
def client(test_settings, store):
    app = create_app(test_settings)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture
def secure_settings(test_settings):
    """Settings with API keys required (and no rate limit unless a test sets
    one)."""
    return dataclasses.replace(
        test_settings, auth_enabled=True, rate_limit_per_minute=0
    )


@pytest.fixture
def secure_app(secure_settings, store):
    app = create_app(secure_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client_for(secure_app, store):
    """Make an API key and a test client that sends it:
    ``client_for("alice", "team-a", admin=False)``."""
    api_keys = ApiKeys(store.redis, store.keys)

    def make(user: str, *backend_roles: str, admin: bool = False):
        _, token = api_keys.create(user, list(backend_roles), admin)
        client = secure_app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return client

    return make
