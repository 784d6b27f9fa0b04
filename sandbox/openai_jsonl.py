"""The JSONL side of an OpenAI batch: checking input lines, making result lines.

Input is read as UTF-8 bytes, never through the locale's encoding, and result
files are written as UTF-8 with the text left unescaped, so Chinese, emoji and
characters outside the Basic Multilingual Plane come back byte for byte.
"""

import json
from dataclasses import dataclass, field

from sandbox.openai_wire import new_id
from sandbox.openai_work import LineRejected, answer

#: OpenAI accepts at most this many requests in one batch input file.
MAX_REQUESTS = 50_000

#: A batch lists at most this many line errors; OpenAI also truncates.
MAX_LINE_ERRORS = 100


def _line_error(code: str, line: int | None, message: str, param=None) -> dict:
    return {"code": code, "line": line, "message": message, "param": param}


def validate(data: bytes, endpoint: str) -> tuple[list[dict], list[dict]]:
    """Check a batch input file; return its requests and the line errors."""
    numbered = [
        (number, raw)
        for number, raw in enumerate(data.split(b"\n"), start=1)
        if raw.strip()
    ]
    if not numbered:
        return [], [_line_error("empty_file", None, "The input file is empty.")]
    if len(numbered) > MAX_REQUESTS:
        message = (
            f"The input file has {len(numbered)} requests; a batch may hold at "
            f"most {MAX_REQUESTS}."
        )
        return [], [_line_error("too_many_tasks", None, message)]

    requests, errors, first_line_of = [], [], {}
    for number, raw in numbered:
        try:
            request = _check_line(raw, endpoint)
            _check_unique(request["custom_id"], number, first_line_of)
        except _BadLine as bad:
            errors.append(_line_error(bad.code, number, bad.message, bad.param))
            continue
        requests.append(request)
    return requests, errors[:MAX_LINE_ERRORS]


class _BadLine(Exception):
    def __init__(self, code: str, message: str, param: str | None = None):
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def _check_line(raw: bytes, endpoint: str) -> dict:
    try:
        request = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        request = None
    if not isinstance(request, dict):
        raise _BadLine(
            "invalid_json_line", "This line is not parseable as a JSON object."
        )
    for name, kind in (("custom_id", str), ("method", str), ("url", str)):
        if name not in request:
            raise _BadLine(
                "missing_required_parameter", f"Missing required field '{name}'.", name
            )
        if not isinstance(request[name], kind):
            raise _BadLine("invalid_value", f"'{name}' must be a string.", name)
    if request["method"] != "POST":
        message = f"'method' must be 'POST', got '{request['method']}'."
        raise _BadLine("invalid_value", message, "method")
    if request["url"] != endpoint:
        message = (
            f"The url '{request['url']}' does not match the batch's endpoint "
            f"'{endpoint}'."
        )
        raise _BadLine("url_mismatch", message, "url")
    if not isinstance(request.get("body"), dict):
        raise _BadLine("invalid_value", "'body' must be a JSON object.", "body")
    return request


def _check_unique(custom_id: str, number: int, first_line_of: dict) -> None:
    first = first_line_of.setdefault(custom_id, number)
    if first != number:
        message = (
            f"The custom_id '{custom_id}' on line {number} duplicates the one on "
            f"line {first}; every custom_id in a batch must be unique."
        )
        raise _BadLine("duplicate_custom_id", message, "custom_id")


@dataclass
class Results:
    """The lines a batch's run produced, split by where they are written."""

    output_lines: list[dict] = field(default_factory=list)
    error_lines: list[dict] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


def run(
    requests: list[dict],
    endpoint: str,
    created: int,
    outcome: str | None = None,
    succeed: int = 0,
) -> Results:
    """Answer every request; ``outcome`` "expire"/"partial" cuts after ``succeed``."""
    results = Results()
    for index, request in enumerate(requests):
        custom_id = request["custom_id"]
        if outcome == "expire" and index >= succeed:
            results.error_lines.append(_expired_line(custom_id))
            continue
        if outcome == "partial" and index >= succeed:
            error = _error_body("The server had an error processing your request.")
            results.error_lines.append(_response_line(custom_id, 500, error))
            continue
        try:
            reply = answer(endpoint, request["body"], created)
        except LineRejected as exc:
            error = _error_body(exc.message, "invalid_request_error", exc.param)
            results.error_lines.append(_response_line(custom_id, 400, error))
            continue
        results.output_lines.append(_response_line(custom_id, 200, reply.body))
        results.input_tokens += reply.input_tokens
        results.output_tokens += reply.output_tokens
    return results


def _error_body(message: str, error_type="server_error", param=None) -> dict:
    error = {"message": message, "type": error_type, "param": param, "code": None}
    return {"error": error}


def _response_line(custom_id: str, status_code: int, body: dict) -> dict:
    return {
        "id": new_id("batch_req_", 32),
        "custom_id": custom_id,
        "response": {
            "status_code": status_code,
            "request_id": new_id("req_", 32),
            "body": body,
        },
        "error": None,
    }


def _expired_line(custom_id: str) -> dict:
    return {
        "id": new_id("batch_req_", 32),
        "custom_id": custom_id,
        "response": None,
        "error": {
            "code": "batch_expired",
            "message": "This request could not be executed before the "
            "completion window expired.",
        },
    }


def encode(lines: list[dict]) -> bytes:
    """JSONL as UTF-8, text unescaped, one object per line."""
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    return text.encode("utf-8")
