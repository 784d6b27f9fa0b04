"""OpenAI's wire conventions shared by the Files and Batches stand-ins.

The error body the SDK unwraps (``{"error": {message, type, param, code}}``),
the cursor-list envelope its auto-pager walks, and the shapes of object ids.
"""

import secrets


class ApiError(Exception):
    """An answer in OpenAI's error shape; raised anywhere, rendered once."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


def invalid(message: str, param: str | None, code: str | None = None) -> ApiError:
    """A 400 ``invalid_request_error`` naming the offending parameter."""
    return ApiError(400, message, param=param, code=code)


def missing(param: str) -> ApiError:
    return invalid(
        f"Missing required parameter: '{param}'.", param, "missing_required_parameter"
    )


def not_found(kind: str, object_id: str, param: str = "id") -> ApiError:
    return ApiError(404, f"No such {kind} object: {object_id}", param=param)


def new_id(prefix: str, hex_chars: int = 24) -> str:
    """An id shaped like OpenAI's: ``batch_…``, ``file-…``, ``batch_req_…``."""
    return prefix + secrets.token_hex(hex_chars // 2)


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    """Read a ``limit`` query value, rejecting anything outside 1..maximum."""
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise invalid(
            f"Invalid 'limit': expected an integer between 1 and {maximum}, "
            f"got '{raw}'.",
            "limit",
            "integer_out_of_range",
        )
    return limit


def cursor_page(items: list, after: str | None, limit: int) -> tuple[list, bool]:
    """Return the ``limit`` items that follow the one whose id is ``after``.

    ``items`` is already in the page order. An ``after`` naming no item yields
    an empty page, which ends the SDK's auto-paging instead of looping.
    """
    start = 0
    if after:
        ids = [item.id for item in items]
        if after not in ids:
            return [], False
        start = ids.index(after) + 1
    page = items[start : start + limit]
    return page, start + limit < len(items)


def list_envelope(data: list[dict], has_more: bool) -> dict:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
