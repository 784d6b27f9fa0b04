"""The OpenAI stand-in: the Files and Batches routes under ``/v1``.

This module owns the HTTP edge: checking what the SDK sends, answering in
OpenAI's shapes, counting calls and playing the faults a test switched on.
Files live in :mod:`sandbox.openai_files`, batches and their lifecycle in
:mod:`sandbox.openai_batches`, and the work a batch does in
:mod:`sandbox.openai_jsonl` and :mod:`sandbox.openai_work`.
"""

import functools
import math
import time
from pathlib import Path

from flask import Blueprint, Flask, Response, jsonify, request

from sandbox.openai_batches import BatchBook, Outcome
from sandbox.openai_files import UPLOAD_PURPOSES, FileStore, check_expiry
from sandbox.openai_wire import (
    ApiError,
    invalid,
    list_envelope,
    missing,
    parse_limit,
)

PROVIDER = "openai"

#: The endpoints a batch may target; ``/v1/videos`` is listed by the SDK but
#: no longer accepted.
BATCH_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
)
BATCH_CREATE_FIELDS = (
    "input_file_id",
    "endpoint",
    "completion_window",
    "metadata",
    "output_expires_after",
)

#: Batch input files may be at most 200 MB.
MAX_BATCH_INPUT_BYTES = 200 * 1024 * 1024

#: OpenAI's metadata limits: pairs, key length, value length.
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX_CHARS = 64
METADATA_VALUE_MAX_CHARS = 512

#: Fault kinds played on an operation's answer; the rest shape a batch's end.
ANSWER_FAULTS = ("throttle", "error", "slow")
OUTCOME_FAULTS = ("fail", "expire", "partial")


class OpenAIState:
    """Everything the stand-in remembers, kept in ``app.extensions["openai"]``."""

    def __init__(self, data_dir: Path, clock):
        self.files = FileStore(data_dir / "openai")
        self.batches = BatchBook(self.files, clock)

    def clear(self) -> None:
        self.batches.clear()
        self.files.clear()


def reset(app: Flask) -> None:
    app.extensions["openai"].clear()


def make_blueprint(app: Flask) -> Blueprint:
    state = OpenAIState(Path(app.config["DATA_DIR"]), app.extensions["clock"])
    app.extensions["openai"] = state
    blueprint = Blueprint("openai", __name__, url_prefix="/v1")
    blueprint.before_request(_require_api_key)
    blueprint.register_error_handler(ApiError, _render_error)
    operation = functools.partial(_operation, app.extensions["faults"])
    _add_file_routes(blueprint, state.files, operation)
    _add_batch_routes(blueprint, state, operation, app.extensions["faults"])
    return blueprint


def _render_error(error: ApiError):
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _require_api_key():
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not key.strip():
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in "
            "an Authorization header using Bearer auth.",
        )


def _operation(faults, name: str):
    """Count the call and play any throttle, error or slow fault around it."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            faults.record_call(PROVIDER, name)
            fault = faults.take(PROVIDER, name, kinds=ANSWER_FAULTS)
            if fault is not None and fault.kind != "slow":
                raise _fault_error(fault)
            if fault is not None and fault.phase == "before":
                time.sleep(fault.delay_s)
            answer = view(*args, **kwargs)
            if fault is not None and fault.phase != "before":
                # The operation has taken effect; only the answer is late.
                time.sleep(fault.delay_s)
            return answer

        return wrapper

    return decorate


def _fault_error(fault) -> ApiError:
    if fault.kind == "throttle":
        headers = {}
        if fault.retry_after_s is not None:
            headers["retry-after"] = str(math.ceil(fault.retry_after_s))
            headers["retry-after-ms"] = str(round(fault.retry_after_s * 1000))
        message = fault.message or (
            "Rate limit reached for requests in organization org-sandbox. "
            "Please try again later."
        )
        return ApiError(
            429,
            message,
            error_type="requests",
            code=fault.code or "rate_limit_exceeded",
            headers=headers,
        )
    server_side = fault.status >= 500
    message = fault.message or (
        "The server had an error while processing your request."
        if server_side
        else "The sandbox was told to reject this request."
    )
    error_type = "server_error" if server_side else "invalid_request_error"
    return ApiError(
        fault.status, message, error_type=error_type, code=fault.code or None
    )


def _add_file_routes(blueprint: Blueprint, files: FileStore, operation) -> None:
    @blueprint.post("/files")
    @operation("files.create")
    def create_file():
        upload = request.files.get("file")
        if upload is None:
            raise missing("file")
        purpose = request.form.get("purpose")
        if not purpose:
            raise missing("purpose")
        if purpose not in UPLOAD_PURPOSES:
            raise invalid(
                f"Invalid value for 'purpose': expected one of "
                f"{', '.join(UPLOAD_PURPOSES)}, got '{purpose}'.",
                "purpose",
                "invalid_value",
            )
        expires_after_s = _upload_expiry()
        filename = upload.filename or "upload"
        data = upload.read()
        if purpose == "batch":
            _check_batch_input(filename, data)
        stored = files.add(data, filename, purpose, expires_after_s)
        return jsonify(stored.to_json())

    @blueprint.get("/files")
    @operation("files.list")
    def list_files():
        limit = parse_limit(request.args.get("limit"), 10_000, 10_000)
        order = request.args.get("order", "desc")
        if order not in ("asc", "desc"):
            raise invalid(
                f"Invalid 'order': expected 'asc' or 'desc', got '{order}'.",
                "order",
                "invalid_value",
            )
        page, has_more = files.page(
            request.args.get("purpose"), request.args.get("after"), limit, order
        )
        return jsonify(list_envelope([f.to_json() for f in page], has_more))

    @blueprint.get("/files/<file_id>")
    @operation("files.retrieve")
    def retrieve_file(file_id):
        return jsonify(files.get(file_id).to_json())

    @blueprint.get("/files/<file_id>/content")
    @operation("files.content")
    def file_content(file_id):
        return Response(files.content(file_id), mimetype="application/octet-stream")

    @blueprint.delete("/files/<file_id>")
    @operation("files.delete")
    def delete_file(file_id):
        # The SDK sends a JSON content type with an empty body.
        request.get_json(silent=True)
        files.delete(file_id)
        return jsonify(id=file_id, object="file", deleted=True)


def _upload_expiry() -> int | None:
    anchor = request.form.get("expires_after[anchor]")
    seconds = request.form.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    return check_expiry(anchor, seconds, "expires_after")


def _check_batch_input(filename: str, data: bytes) -> None:
    if not filename.endswith(".jsonl"):
        raise invalid(
            f"Invalid file format for Batch API. Must be .jsonl, got '{filename}'.",
            "file",
            "invalid_file_format",
        )
    if len(data) > MAX_BATCH_INPUT_BYTES:
        raise invalid(
            f"A batch input file may be at most {MAX_BATCH_INPUT_BYTES} bytes, "
            f"got {len(data)}.",
            "file",
            "file_too_large",
        )


def _add_batch_routes(blueprint: Blueprint, state, operation, faults) -> None:
    @blueprint.post("/batches")
    @operation("batches.create")
    def create_batch():
        arguments = _batch_arguments(state.files)
        rule = faults.take(PROVIDER, "batches.outcome", kinds=OUTCOME_FAULTS)
        outcome = None
        if rule is not None:
            outcome = Outcome(rule.kind, rule.succeed, rule.code, rule.message)
        return jsonify(state.batches.create(**arguments, outcome=outcome))

    @blueprint.get("/batches")
    @operation("batches.list")
    def list_batches():
        limit = parse_limit(request.args.get("limit"), 20, 100)
        page, has_more = state.batches.page(request.args.get("after"), limit)
        return jsonify(list_envelope(page, has_more))

    @blueprint.get("/batches/<batch_id>")
    @operation("batches.retrieve")
    def retrieve_batch(batch_id):
        return jsonify(state.batches.get(batch_id))

    @blueprint.post("/batches/<batch_id>/cancel")
    @operation("batches.cancel")
    def cancel_batch(batch_id):
        # The SDK sends a JSON content type with an empty body.
        request.get_json(silent=True)
        return jsonify(state.batches.cancel(batch_id))


def _batch_arguments(files: FileStore) -> dict:
    """Check a ``batches.create`` body the way OpenAI does, field by field."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid("We could not parse the JSON body of your request.", None)
    for name in body:
        if name not in BATCH_CREATE_FIELDS:
            message = f"Unrecognized request argument supplied: {name}"
            raise invalid(message, name, "unknown_parameter")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise missing(name)
    endpoint = body["endpoint"]
    if endpoint not in BATCH_ENDPOINTS:
        raise invalid(
            f"Invalid value for 'endpoint': expected one of "
            f"{', '.join(BATCH_ENDPOINTS)}, got '{endpoint}'.",
            "endpoint",
            "invalid_value",
        )
    if body["completion_window"] != "24h":
        raise invalid(
            f"Invalid value for 'completion_window': expected '24h', got "
            f"'{body['completion_window']}'.",
            "completion_window",
            "invalid_value",
        )
    _check_input_file(files, body["input_file_id"])
    return {
        "endpoint": endpoint,
        "input_file_id": body["input_file_id"],
        "metadata": _check_metadata(body.get("metadata")),
        "output_expires_after_s": _output_expiry(body.get("output_expires_after")),
    }


def _check_input_file(files: FileStore, file_id: str) -> None:
    try:
        stored = files.get(file_id)
    except ApiError:
        raise invalid(
            f"Invalid 'input_file_id': no file with id '{file_id}' exists.",
            "input_file_id",
            "invalid_value",
        ) from None
    if stored.purpose != "batch":
        raise invalid(
            f"Invalid 'input_file_id': file '{file_id}' has purpose "
            f"'{stored.purpose}', but a batch needs one uploaded with purpose "
            "'batch'.",
            "input_file_id",
            "invalid_value",
        )


def _check_metadata(metadata) -> dict | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise invalid("Invalid 'metadata': expected an object.", "metadata")
    if len(metadata) > METADATA_MAX_PAIRS:
        raise invalid(
            f"Invalid 'metadata': at most {METADATA_MAX_PAIRS} pairs are allowed, "
            f"got {len(metadata)}.",
            "metadata",
            "object_above_max_length",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_MAX_CHARS:
            raise invalid(
                f"Invalid 'metadata': key '{key}' is longer than "
                f"{METADATA_KEY_MAX_CHARS} characters.",
                "metadata",
                "string_above_max_length",
            )
        if not isinstance(value, str) or len(value) > METADATA_VALUE_MAX_CHARS:
            raise invalid(
                f"Invalid 'metadata': the value of '{key}' must be a string of at "
                f"most {METADATA_VALUE_MAX_CHARS} characters.",
                "metadata",
                "string_above_max_length",
            )
    return metadata


def _output_expiry(expires_after) -> int | None:
    if expires_after is None:
        return None
    if not isinstance(expires_after, dict):
        raise invalid(
            "Invalid 'output_expires_after': expected an object.",
            "output_expires_after",
        )
    return check_expiry(
        expires_after.get("anchor"),
        expires_after.get("seconds"),
        "output_expires_after",
    )
