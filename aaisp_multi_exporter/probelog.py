"""A probe's own log: kept for ``debug=true`` and ``/logs``, and teed to the process log."""

from __future__ import annotations

import logging
import time

from aaisp_multi_exporter.logsetup import fields as log_fields
from aaisp_multi_exporter.logsetup import iso_timestamp, logfmt_value

_LOGGER = logging.getLogger("aaisp_multi_exporter.probe")


class ProbeLog:
    """Buffers every line of one probe whatever the process log level, as blackbox does."""

    def __init__(self, **context: str) -> None:
        self.context = context
        self.lines: list[str] = []

    def log(self, level: int, message: str, **fields: object) -> None:
        stamp = iso_timestamp(time.time())
        pairs = " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())
        name = logging.getLevelName(level).lower()
        self.lines.append(f"ts={stamp} level={name} msg={logfmt_value(message)} {pairs}".rstrip())
        if _LOGGER.isEnabledFor(level):
            _LOGGER.log(level, message, extra=log_fields(**{**self.context, **fields}))

    def debug(self, message: str, **fields: object) -> None:
        self.log(logging.DEBUG, message, **fields)

    def info(self, message: str, **fields: object) -> None:
        self.log(logging.INFO, message, **fields)

    def warning(self, message: str, **fields: object) -> None:
        self.log(logging.WARNING, message, **fields)

    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")
