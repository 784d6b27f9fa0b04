"""Error bodies in OpenSearch's shape, for every error the API can answer."""

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from common.errors import BatchPredictError

log = logging.getLogger("batchpredict.api")

_HTTP_TYPES = {
    400: "illegal_argument_exception",
    404: "resource_not_found_exception",
    405: "method_not_allowed_exception",
    413: "content_too_long_exception",
    415: "illegal_argument_exception",
}


def error_response(status: int, error_type: str, reason: str, **extra):
    cause = {"type": error_type, "reason": reason, **extra}
    body = {"error": {"root_cause": [cause], **cause}, "status": status}
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(BatchPredictError)
    def domain_error(exc: BatchPredictError):
        extra = {}
        if getattr(exc, "field", None):
            extra["field"] = exc.field
        if exc.status >= 500:
            log.error("Request failed: %s", exc.message, exc_info=exc)
        body, status = error_response(exc.status, exc.error_type, exc.message, **extra)
        if getattr(exc, "retry_after_s", None) is not None:
            body.headers["Retry-After"] = str(exc.retry_after_s)
        if status == 401:
            body.headers["WWW-Authenticate"] = 'Bearer realm="batchpredict"'
        return body, status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        return error_response(
            status, _HTTP_TYPES.get(status, "status_exception"), exc.description or ""
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.error("Unexpected error while serving a request", exc_info=exc)
        return error_response(
            500, "exception", "internal error; the server log has the details"
        )
