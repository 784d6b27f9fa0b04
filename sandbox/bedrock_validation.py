"""Bedrock's server-side checks of batch inference requests.

The patterns are the ones in botocore's ``bedrock/2023-04-20`` service
model; boto3 does not check them before sending.
"""

import datetime as dt
import re

from sandbox.aws_support import AwsError, parse_s3_uri

JOB_NAME_PATTERN = r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}"
ROLE_ARN_PATTERN = r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+"
TOKEN_PATTERN = r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}"
IDENTIFIER_PATTERN = (
    r"((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:"
    r"model-invocation-job/)?[a-z0-9]{12})"
)
STATUSES = (
    "Submitted",
    "InProgress",
    "Completed",
    "Failed",
    "Stopping",
    "Stopped",
    "PartiallyCompleted",
    "Expired",
    "Validating",
    "Scheduled",
)
DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 1000


def _problem(path: str, value, constraint: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


def _raise(problems: list[str]) -> None:
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise AwsError(
            "ValidationException",
            f"{len(problems)} validation {noun} detected: " + "; ".join(problems),
        )


def _pattern(problems, path: str, value, pattern: str, max_length: int) -> None:
    if value is None:
        problems.append(_problem(path, value, "Member must not be null"))
    elif not isinstance(value, str) or not re.fullmatch(pattern, value):
        problems.append(
            _problem(
                path,
                value,
                f"Member must satisfy regular expression pattern: {pattern}",
            )
        )
    elif len(value) > max_length:
        problems.append(
            _problem(
                path,
                value,
                f"Member must have length less than or equal to {max_length}",
            )
        )


def check_create(body: dict) -> None:
    """Raise ValidationException listing every problem of a create request."""
    problems: list[str] = []
    _pattern(problems, "jobName", body.get("jobName"), JOB_NAME_PATTERN, 63)
    _pattern(problems, "roleArn", body.get("roleArn"), ROLE_ARN_PATTERN, 2048)
    if not body.get("modelId"):
        problems.append(
            _problem("modelId", body.get("modelId"), "Member must not be null")
        )
    if body.get("clientRequestToken") is not None:
        _pattern(
            problems,
            "clientRequestToken",
            body["clientRequestToken"],
            TOKEN_PATTERN,
            256,
        )
    _check_data_configs(problems, body)
    hours = body.get("timeoutDurationInHours")
    if hours is not None and (not isinstance(hours, int) or not 24 <= hours <= 168):
        problems.append(
            _problem(
                "timeoutDurationInHours",
                hours,
                "Member must have value between 24 and 168",
            )
        )
    _raise(problems)


def _check_data_configs(problems: list[str], body: dict) -> None:
    for config, inner in (
        ("inputDataConfig", "s3InputDataConfig"),
        ("outputDataConfig", "s3OutputDataConfig"),
    ):
        uri = ((body.get(config) or {}).get(inner) or {}).get("s3Uri")
        if parse_s3_uri(str(uri or "")) is None:
            problems.append(
                _problem(f"{config}.{inner}.s3Uri", uri, "Member must be an s3:// URI")
            )
    input_format = (
        (body.get("inputDataConfig") or {}).get("s3InputDataConfig") or {}
    ).get("s3InputFormat")
    if input_format not in (None, "JSONL"):
        problems.append(
            _problem(
                "inputDataConfig.s3InputDataConfig.s3InputFormat",
                input_format,
                "Member must be JSONL",
            )
        )


def check_identifier(identifier: str) -> None:
    if not re.fullmatch(IDENTIFIER_PATTERN, identifier):
        _raise(
            [
                _problem(
                    "jobIdentifier",
                    identifier,
                    "Member must satisfy "
                    f"regular expression pattern: {IDENTIFIER_PATTERN}",
                )
            ]
        )


def list_query(args) -> dict:
    """The list call's query string, checked and typed."""
    problems: list[str] = []
    status = _enum(problems, "statusEquals", args.get("statusEquals"), STATUSES)
    limit = _integer(problems, "maxResults", args.get("maxResults"))
    if limit is not None and not 1 <= limit <= MAX_RESULTS:
        problems.append(
            _problem(
                "maxResults",
                limit,
                f"Member must have value between 1 and {MAX_RESULTS}",
            )
        )
    start = _integer(problems, "nextToken", args.get("nextToken"))
    order = _enum(
        problems,
        "sortOrder",
        args.get("sortOrder", "Descending"),
        ("Ascending", "Descending"),
    )
    query = {
        "statusEquals": status,
        "nameContains": args.get("nameContains", ""),
        "maxResults": limit or DEFAULT_MAX_RESULTS,
        "start": start or 0,
        "sortOrder": order,
        "submitTimeAfter": _moment(
            problems, "submitTimeAfter", args.get("submitTimeAfter")
        ),
        "submitTimeBefore": _moment(
            problems, "submitTimeBefore", args.get("submitTimeBefore")
        ),
    }
    _raise(problems)
    return query


def _enum(problems, name: str, value, allowed):
    if value is not None and value not in allowed:
        problems.append(
            _problem(
                name,
                value,
                f"Member must satisfy enum value set: [{', '.join(allowed)}]",
            )
        )
    return value


def _integer(problems, name: str, raw):
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        problems.append(_problem(name, raw, "Member must be an integer"))
        return None


def _moment(problems, name: str, raw):
    if raw is None:
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        problems.append(_problem(name, raw, "Member must be an ISO 8601 time"))
        return None
