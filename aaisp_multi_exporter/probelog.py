"""A probe's own log: kept for ``debug=true`` and ``/logs``, and teed to the process log."""

from __future__ import annotations

import logging
import time

from aaisp_multi_exporter.logsetup import fields as log_fields
from aaisp_multi_exporter.logsetup import iso_timestamp, logfmt_value

_LOGGER = logging.getLogger("aaisp_multi_exporter.probe")

_Entry = tuple[float, int, str, dict[str, object]]


class ProbeLog:
    """Buffers every line of one probe whatever the process log level, as blackbox does.

    Lines are kept raw and formatted only when someone reads them: most probes' logs are never
    read, and formatting them cost a tenth of a cached probe.
    """

    def __init__(self, **context: str) -> None:
        self.context = context
        self._entries: list[_Entry] = []

    def log(self, level: int, message: str, **fields: object) -> None:
        self._entries.append((time.time(), level, message, fields))
        if _LOGGER.isEnabledFor(level):
            _LOGGER.log(level, message, extra=log_fields(**{**self.context, **fields}))

    def debug(self, message: str, **fields: object) -> None:
        self.log(logging.DEBUG, message, **fields)

    def info(self, message: str, **fields: object) -> None:
        self.log(logging.INFO, message, **fields)

    def warning(self, message: str, **fields: object) -> None:
        self.log(logging.WARNING, message, **fields)

    @property
    def lines(self) -> list[str]:
        return [_format(entry) for entry in self._entries]

    def text(self) -> str:
        lines = self.lines
        return "\n".join(lines) + ("\n" if lines else "")


def _format(entry: _Entry) -> str:
    created, level, message, fields = entry
    pairs = " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())
    name = logging.getLevelName(level).lower()
    stamp = iso_timestamp(created)
    return f"ts={stamp} level={name} msg={logfmt_value(message)} {pairs}".rstrip()
