"""One log line per API request: method, path, status, duration and the task
the request or its answer names.

Only those fields reach the line. Bodies, headers and query strings never do:
connector bodies carry credentials and every request carries an API key.
"""

import logging
import time

from flask import Flask, Response, request

log = logging.getLogger("batchpredict.api")

_START = "batchpredict.request_start"
# Answers naming a task are small; a search page is not worth parsing.
_MAX_PARSED_BYTES = 4096


class _Clock:
    """WSGI middleware stamping the start time, so the duration holds even when
    another ``before_request`` hook (auth) answers before ours would run."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ[_START] = time.perf_counter()
        return self.wsgi_app(environ, start_response)


def install(app: Flask) -> None:
    app.wsgi_app = _Clock(app.wsgi_app)
    app.after_request(_log_request)


def _log_request(response: Response) -> Response:
    started = request.environ.get(_START, time.perf_counter())
    duration_ms = (time.perf_counter() - started) * 1000
    task_id = _task_id(response)
    log.info(
        "%s %s: %d in %.1f ms, task %s",
        request.method,
        request.path,
        response.status_code,
        duration_ms,
        task_id or "-",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(duration_ms, 3),
            "task_id": task_id,
        },
    )
    return response


def _task_id(response: Response) -> str | None:
    from_path = (request.view_args or {}).get("task_id")
    if from_path:
        return from_path
    if not response.is_json or response.direct_passthrough:
        return None
    if (response.content_length or 0) > _MAX_PARSED_BYTES:
        return None
    body = response.get_json(silent=True)
    task_id = body.get("task_id") if isinstance(body, dict) else None
    return task_id if isinstance(task_id, str) else None
