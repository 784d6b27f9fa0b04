"""Connector templates rendered the way ML Commons renders them.

An action's ``url``, ``headers`` and ``request_body`` hold ``${parameters.x}``
and ``${credential.x}`` placeholders; ``${parameters.x:-default}`` gives a
default. A parameter holding a JSON object or list is spliced in as JSON, so
blueprints can write ``"TransformInput": ${parameters.TransformInput}``.

Unlike a plain string substitution, a string value is JSON-escaped inside a
request body and percent-encoded inside a URL: a value holding quotes, braces
or ``${...}`` can neither break the rendered JSON nor reach another host.
"""

import json
import re
from urllib.parse import quote

from common.errors import TemplateError

_PLACEHOLDER = re.compile(
    r"\$\{(?P<scope>parameters|credential)\.(?P<name>[A-Za-z0-9_.\-]+)"
    r"(?::-(?P<default>[^}]*))?\}"
)


def merge_parameters(connector_parameters: dict, request_parameters: dict) -> dict:
    """The request's parameters over the connector's, as ML Commons merges them."""
    merged = dict(connector_parameters or {})
    merged.update(request_parameters or {})
    return merged


def render_body(template: str, parameters: dict, credential: dict, field: str) -> dict:
    """Render a request body template and parse it as a JSON object."""
    if not isinstance(template, str):
        raise TemplateError(f"{field} must be a string template", field)
    quoted = _quoted_spans(template)
    text = _render(
        template,
        parameters,
        credential,
        field,
        lambda value, start: _json_fragment(value, quoted(start)),
    )
    try:
        body = json.loads(text)
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):
            raise TemplateError(
                f"{field} holds a number too long once rendered", field
            ) from None
        raise TemplateError(
            f"{field} is not valid JSON once rendered ({exc.msg} at line "
            f"{exc.lineno} column {exc.colno}); a parameter spliced outside "
            f"quotes must hold a JSON value",
            field,
        ) from None
    if not isinstance(body, dict):
        raise TemplateError(
            f"{field} must render to a JSON object, got {type(body).__name__}", field
        )
    return body


def render_url(template: str, parameters: dict, credential: dict, field: str) -> str:
    return _render(
        template, parameters, credential, field, lambda value, _: _url_fragment(value)
    )


def render_headers(
    headers: dict, parameters: dict, credential: dict, field: str
) -> dict[str, str]:
    return {
        name: _render(
            value, parameters, credential, f"{field}.{name}", lambda v, _: _plain(v)
        )
        for name, value in (headers or {}).items()
    }


def placeholders(template: str) -> list[tuple[str, str]]:
    """The ``(scope, name)`` pairs a template refers to, in order."""
    return [(m["scope"], m["name"]) for m in _PLACEHOLDER.finditer(template or "")]


def _render(template, parameters, credential, field, encode) -> str:
    if not isinstance(template, str):
        raise TemplateError(f"{field} must be a string template", field)

    def replace(match: re.Match) -> str:
        scope, name, default = match["scope"], match["name"], match["default"]
        source = parameters if scope == "parameters" else credential
        if name in source:
            return encode(source[name], match.start())
        if default is not None:
            return default
        raise TemplateError(
            f"{field} refers to ${{{scope}.{name}}} but no {scope} named "
            f"{name!r} was given (neither in the connector nor in the request)",
            f"{scope}.{name}",
        )

    return _PLACEHOLDER.sub(replace, template)


def _quoted_spans(template: str):
    """Return a test: is offset ``i`` of the template inside a JSON string?"""
    inside = bytearray(len(template))
    in_string = escaped = False
    for i, char in enumerate(template):
        if in_string:
            inside[i] = 1
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
    return lambda i: bool(inside[i])


def _json_fragment(value, in_string: bool) -> str:
    if in_string:
        # The template's quotes surround it: escape, and leave them in place.
        text = value if isinstance(value, str) else json.dumps(value)
        return json.dumps(text, ensure_ascii=False)[1:-1]
    if isinstance(value, str):
        # ML Commons passes every parameter as a string, objects stringified:
        # a string that is a whole JSON value is spliced as that value, any
        # other string becomes a JSON string, so nothing can leak structure.
        try:
            json.loads(value)
        except ValueError:  # not JSON, or a number past Python's digit limit
            return json.dumps(value, ensure_ascii=False)
        return value
    return json.dumps(value, ensure_ascii=False)


def _url_fragment(value) -> str:
    if not isinstance(value, str):
        value = json.dumps(value)
    return quote(value, safe="")


def _plain(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)
