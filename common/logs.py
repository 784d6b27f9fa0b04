"""Logging for every batchpredict process (web, worker, beat, flower): one
handler on stderr writing text or JSON lines, with secrets scrubbed from each
line after it is formatted, tracebacks included.

``BATCHPREDICT_LOG_FORMAT`` picks ``text`` or ``json``; ``BATCHPREDICT_LOG_LEVEL``
the level.
"""

import json
import logging
import re
import sys
import time

from common.settings import Settings, SettingsError

FORMATS = ("text", "json")
REDACTED = "***"

# Credentials travel in bearer tokens, in connector credential fields and in
# provider error messages that echo a key back ("Incorrect API key provided:
# sk-..."); a line may carry any of them, whatever the code meant to log.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+"),
    re.compile(r"(?i)(\bbasic\s+)[A-Za-z0-9+/=]{8,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_\-*]{4,}"),
    re.compile(r"()\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(
        r"(?i)(\b[a-z_]*(?:api_?key|secret|password|token|authorization"
        r"|credential|openai_key|access_key)[a-z_]*\\?[\"']?\s*[:=]\s*\\?[\"']?)"
        r"(?!\*\*\*)[^\s\"'\\,;}]+"
    ),
)

# Attributes every LogRecord has; anything else was passed in ``extra``.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "component"}


def scrub(text: str) -> str:
    """``text`` with every credential-looking value replaced by ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class TextFormatter(logging.Formatter):
    def __init__(self, component: str):
        super().__init__(f"%(asctime)s %(levelname)s {component} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, component, logger, message, the
    record's ``extra`` fields and, for an exception, its traceback."""

    def __init__(self, component: str):
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "component": self.component,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(line, default=str, ensure_ascii=False))


def configure(
    component: str, settings: Settings | None = None, level: int | str | None = None
) -> logging.Handler:
    """Make the root logger write ``component``'s lines to stderr, replacing
    whatever handlers it had. Returns the handler."""
    settings = settings or Settings.from_env()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(component, settings.log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or settings.log_level.upper())
    # Library warnings (Celery's, botocore's) then come out as lines too.
    logging.captureWarnings(True)
    return handler


def formatter(component: str, log_format: str) -> logging.Formatter:
    if log_format not in FORMATS:
        raise SettingsError(
            f"BATCHPREDICT_LOG_FORMAT must be one of {', '.join(FORMATS)}, "
            f"got {log_format!r}"
        )
    if log_format == "json":
        return JsonFormatter(component)
    return TextFormatter(component)


def _iso_time(created: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{stamp}.{int(created % 1 * 1000):03d}Z"
