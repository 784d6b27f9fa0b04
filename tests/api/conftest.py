"""The Flask app on a clean Redis database, with no worker behind it."""

import pytest

from api.app import create_app


@pytest.fixture
def client(test_settings, store):
    app = create_app(test_settings)
    app.config["TESTING"] = True
    return app.test_client()
