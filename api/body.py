"""Reading request bodies: size, encoding, JSON and nesting, all checked."""

import json
import math

from flask import current_app, request

from common.errors import BatchPredictError, InvalidRequest


class BodyTooLarge(BatchPredictError):
    status = 413
    error_type = "content_too_long_exception"


def json_body(required: bool = False) -> dict:
    """The request's JSON object; ``{}`` for an empty body unless required."""
    settings = current_app.extensions["settings"]
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(
            f"request body is {request.content_length} bytes; the "
            f"limit is {limit} (BATCHPREDICT_MAX_BODY_BYTES)"
        )
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise BodyTooLarge(
            f"request body is over the limit of {limit} bytes "
            "(BATCHPREDICT_MAX_BODY_BYTES)"
        )
    if not raw.strip():
        if required:
            raise InvalidRequest(
                "request body is required: expected a JSON object", "body"
            )
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid UTF-8 (bad byte at offset {exc.start})", "body"
        ) from None
    try:
        body = json.loads(
            text, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
            "body",
        ) from None
    except RecursionError:
        raise InvalidRequest("request body is nested too deeply", "body") from None
    except ValueError as exc:
        # Python refuses integers of more than 4,300 digits.
        raise InvalidRequest(
            f"request body holds a number too long: {exc}", "body"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"request body must be a JSON object, got {type(body).__name__}", "body"
        )
    _check_depth(body, settings.max_body_depth)
    return body


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        # 1e400 parses as infinity, which no strict JSON reader accepts back.
        raise InvalidRequest(
            f"request body holds {text}, a number too large for JSON", "body"
        )
    return value


def _reject_constant(name: str):
    raise InvalidRequest(f"request body holds {name}, which is not JSON", "body")


def _check_depth(value, limit: int) -> None:
    """Refuse nesting past ``limit`` and text that is not valid Unicode: a
    JSON escape like \\ud800 decodes to a lone surrogate, which no UTF-8
    answer, log line or provider request could carry later."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InvalidRequest(
                f"request body is nested deeper than {limit} levels "
                "(BATCHPREDICT_MAX_BODY_DEPTH)",
                "body",
            )
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            stack.extend((k, depth) for k in item)
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            _check_text(item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise InvalidRequest(
            f"request body holds an unpaired surrogate (\\u{code:04x}), which is "
            "not valid Unicode",
            "body",
        ) from None
