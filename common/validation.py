"""Small checks that turn bad input into an error naming the field."""

from common.errors import InvalidRequest

_TYPE_NAMES = {
    str: "a string",
    dict: "a JSON object",
    list: "a JSON array",
    bool: "true or false",
    int: "an integer",
}


def describe(value) -> str:
    """How a received value looks, for error messages."""
    if value is None:
        return "null"
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def expect(value, kind, field: str, *, required: bool = True, default=None):
    """Return ``value`` if it is of ``kind``; None or ``default`` if absent."""
    if value is None:
        if required:
            raise InvalidRequest(
                f"{field} is required: expected {_TYPE_NAMES[kind]}", field
            )
        return default
    if kind is int and isinstance(value, bool):
        raise InvalidRequest(f"{field} must be an integer, got a boolean", field)
    if not isinstance(value, kind):
        raise InvalidRequest(
            f"{field} must be {_TYPE_NAMES[kind]}, got {describe(value)}", field
        )
    return value


def expect_choice(value: str, choices, field: str) -> str:
    if value not in choices:
        raise InvalidRequest(
            f"{field} must be one of {', '.join(choices)}, got {describe(value)}",
            field,
        )
    return value


def expect_string_map(value, field: str, *, required: bool = False) -> dict:
    mapping = expect(value, dict, field, required=required, default={})
    for name, item in mapping.items():
        if not isinstance(item, str):
            raise InvalidRequest(
                f"{field}.{name} must be a string, got {describe(item)}",
                f"{field}.{name}",
            )
    return mapping


def reject_unknown(body: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(
            f"unknown field {unknown[0]!r} in {where}; allowed fields are "
            f"{', '.join(sorted(allowed))}",
            unknown[0],
        )
