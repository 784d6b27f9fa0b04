"""The sandbox's Flask app: every provider stand-in plus a control API.

Control routes live under ``/_sandbox``: ``faults`` (POST a rule, GET the
live ones), ``calls`` (operation counters), ``config`` (phase durations) and
``reset`` (forget every job, file, rule and counter).
"""

from flask import Flask, jsonify, request

from sandbox.clock import Clock
from sandbox.faults import Fault, FaultBook

PROVIDER_MODULES = ("openai_api", "cohere_api", "sagemaker_api", "bedrock_api")


def create_app(data_dir: str, s3_endpoint_url: str | None = None) -> Flask:
    app = Flask("sandbox")
    app.config["DATA_DIR"] = data_dir
    app.config["S3_ENDPOINT_URL"] = s3_endpoint_url
    app.extensions["faults"] = FaultBook()
    app.extensions["clock"] = Clock()
    resets = []
    for name in PROVIDER_MODULES:
        module = _load(name)
        if module is None:
            continue
        app.register_blueprint(module.make_blueprint(app))
        resets.append(module.reset)
    _add_control_routes(app, resets)
    return app


def _load(name):
    import importlib

    try:
        return importlib.import_module(f"sandbox.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"sandbox.{name}":
            raise
        return None


def _add_control_routes(app: Flask, resets) -> None:
    faults: FaultBook = app.extensions["faults"]
    clock: Clock = app.extensions["clock"]

    @app.post("/_sandbox/faults")
    def add_fault():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="body must be a JSON object"), 400
        try:
            faults.add(Fault(**body))
        except (TypeError, ValueError) as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(faults=faults.rules()), 201

    @app.get("/_sandbox/faults")
    def list_faults():
        return jsonify(faults=faults.rules())

    @app.get("/_sandbox/calls")
    def calls():
        return jsonify(calls=faults.calls())

    @app.get("/_sandbox/config")
    def get_config():
        return jsonify(phases=clock.snapshot())

    @app.post("/_sandbox/config")
    def set_config():
        body = request.get_json(silent=True) or {}
        try:
            for provider, phases in body.get("phases", {}).items():
                clock.update(provider, phases)
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify(error=f"unknown provider or phase: {exc}"), 400
        return jsonify(phases=clock.snapshot())

    @app.post("/_sandbox/reset")
    def reset():
        faults.reset()
        for reset_provider in resets:
            reset_provider(app)
        return jsonify(status="reset")

    @app.get("/_sandbox/health")
    def health():
        return jsonify(status="ok")
