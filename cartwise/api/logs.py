"""How `cartwise serve` logs: as today (warnings, plain text) or one JSON object per line.

``--log-format json`` sends every log record, the server's own and uvicorn's, to standard
error as one JSON object: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``,
``message`` and, for access lines (logger ``cartwise.access``), ``method``, ``route``
(the template, never the raw path or query), ``status``, ``latency_ms`` and
``request_id``. uvicorn's own access log is off: its lines hold the raw path and query.

API keys never reach a log: access lines carry no query string and no headers, and every
message and traceback is passed through :func:`redact` as a second guard, which hides
anything shaped like a Cartwise key and the value of any ``key``/``token`` parameter.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

from cartwise.errors import ValidationError

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[str, ...] = ("text", "json")
ACCESS_FIELDS = ("method", "route", "status", "latency_ms", "request_id")
REDACTED = "[redacted]"

# A Cartwise key (cw_<scope>_<random>), a bearer token, and key=... / token=... parameters.
_SECRETS = (
    re.compile(r"\bcw_[a-z]+_[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[^\s,;\"']+"),
    re.compile(r"(?i)((?:api[_-]?)?key|token|secret|password|authorization)(=|:\s*)[^\s&,;\"']+"),
)


def redact(text: str) -> str:
    """`text` with anything that may be a secret replaced by ``[redacted]``."""
    text = _SECRETS[0].sub(REDACTED, text)
    text = _SECRETS[1].sub(lambda m: m.group(1) + REDACTED, text)
    return _SECRETS[2].sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for field in ACCESS_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactingFormatter(logging.Formatter):
    """The plain-text format, with :func:`redact` applied to the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def check_log_format(value: str) -> LogFormat:
    lowered = value.strip().lower()
    if lowered not in LOG_FORMATS:
        raise ValidationError(f"unknown log format {value!r}", field="log_format", hint="choose text or json")
    return "json" if lowered == "json" else "text"


def log_config(log_format: LogFormat, *, level: str = "info") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for uvicorn's `log_config`: every logger (the
    root, uvicorn's, ``cartwise``) writes through one handler on standard error."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json"
        else {"()": RedactingFormatter, "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"cartwise": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "cartwise", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": upper},
        "loggers": {
            # Handled by the root's handler, so each line is written once.
            "uvicorn": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "cartwise": {"handlers": [], "level": upper, "propagate": True},
        },
    }


__all__ = ["LOG_FORMATS", "JsonFormatter", "LogFormat", "RedactingFormatter", "check_log_format", "log_config",
           "redact"]
