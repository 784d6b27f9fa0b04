"""A small JSON-over-HTTP client for the scripts (the standard library only)."""

import json
import urllib.error
import urllib.request


class HttpError(Exception):
    def __init__(self, method: str, url: str, status: int, body):
        super().__init__(f"{method} {url} answered {status}: {body}")
        self.status = status
        self.body = body


def call(
    method: str, url: str, body=None, timeout_s: float = 30.0, token: str | None = None
) -> dict:
    """Send JSON, return JSON; ``token`` is sent as a bearer API key."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            text = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        raise HttpError(method, url, exc.code, payload) from None
    return json.loads(text) if text else {}
