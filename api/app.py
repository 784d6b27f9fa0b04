"""The Flask app factory."""

import logging

from flask import Flask, jsonify

from api import (
    auth,
    connectors,
    metrics,
    model_groups,
    models,
    openapi,
    request_log,
    stats,
    tasks,
)
from api.errors import register_error_handlers
from api.queue import TaskQueue
from common.crypto import Sealer
from common.settings import Settings
from common.store import Store

log = logging.getLogger("batchpredict.api")


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("batchpredict")
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.config["MAX_CONTENT_LENGTH"] = None  # api.body enforces the limit
    app.extensions["settings"] = settings
    app.extensions["store"] = Store(settings)
    app.extensions["sealer"] = Sealer.from_settings(settings)
    app.extensions["queue"] = TaskQueue(settings)
    for module in (connectors, model_groups, models, tasks, openapi):
        app.register_blueprint(module.blueprint)
    auth.install(app)
    register_error_handlers(app)
    for module in (metrics, stats):
        app.register_blueprint(module.blueprint)
    request_log.install(app)

    @app.get("/")
    def root():
        return jsonify(name="batchpredict", tagline="ML Commons batch predict")

    return app
