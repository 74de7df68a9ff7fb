"""Log formatting: logfmt or JSON lines on stderr, as Prometheus exporters print them."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["logfmt", "json"]
#: ``warn`` is exporter-toolkit's spelling, ``warning`` Python's: both are taken.
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
#: How a line names its level: exporter-toolkit's four names, never Python's ``warning``.
LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}

#: LogRecord attributes that are not caller-supplied ``extra`` fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The key/values a caller attached, in the order given.

    Callers pass ``extra={"fields": {...}}`` so that names such as ``module`` cannot collide
    with LogRecord's own attributes; other ``extra`` keys are shown too.
    """
    out: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key == "fields" and isinstance(value, dict):
            out.update(value)
        elif key not in _STANDARD:
            out[key] = value
    return out


def fields(**values: object) -> dict[str, object]:
    """``extra=`` for a log call: ``LOGGER.info("msg", extra=fields(target=t))``."""
    return {"fields": values}


def level_name(level: int) -> str:
    """``warn`` for a warning, as go-kit and slog write it; levels between the named ones
    take the name below them."""
    named = [number for number in LEVEL_NAMES if number <= level]
    return LEVEL_NAMES[max(named)] if named else "debug"


def iso_timestamp(seconds: float) -> str:
    """RFC 3339 UTC with milliseconds, as Prometheus components print."""
    stamp = datetime.fromtimestamp(seconds, tz=UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _timestamp(record: logging.LogRecord) -> str:
    return iso_timestamp(record.created)


def logfmt_value(value: object) -> str:
    """Quote a value only when logfmt needs it."""
    text = str(value)
    if text and not any(char in text for char in ' ="\\\n\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class _FieldsFormatter(logging.Formatter):
    """The fields every line carries, whatever the encoding."""

    def document(self, record: logging.LogRecord) -> dict[str, object]:
        document: dict[str, object] = {
            "ts": _timestamp(record),
            "level": level_name(record.levelno),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        document.update(record_fields(record))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return document


class LogfmtFormatter(_FieldsFormatter):
    """``ts=… level=… logger=… msg=… key=value`` as go-kit/slog exporters print."""

    def format(self, record: logging.LogRecord) -> str:
        pairs = self.document(record)
        return " ".join(f"{key}={logfmt_value(value)}" for key, value in pairs.items())


class JsonFormatter(_FieldsFormatter):
    """One JSON object a line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.document(record), default=str)


def configure_logging(level: str, fmt: LogFormat) -> None:
    """Route every logger of the process to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    # aiohttp's access log is one line per scrape: useful at debug only.
    logging.getLogger("aiohttp.access").setLevel(
        logging.DEBUG if level == "debug" else logging.WARNING
    )
