"""A probe's own log, kept for ``debug=true`` and ``/logs`` and teed to the process log."""

from __future__ import annotations

import logging
import time

from aaisp_multi_exporter.obs.logs import fields as log_fields
from aaisp_multi_exporter.obs.logs import iso_timestamp, level_name, logfmt_value
from aaisp_multi_exporter.probe.results import CommandResult, ProbeResult

_LOGGER = logging.getLogger("aaisp_multi_exporter.probe")

_Entry = tuple[float, int, str, dict[str, object]]

#: Lines kept per probe, so a reply full of oddities cannot grow a probe's log (and the
#: history that keeps it) without bound; the rest are counted.
MAX_ENTRIES = 200


class ProbeLog:
    """Buffers every line of one probe whatever the process log level, as blackbox does.

    Lines are kept raw and formatted only when someone reads them: most probes' logs are never
    read. What a probe's result says (each command's reply and what it held, each module's
    outcome, the probe's) is not even kept as lines: ``finish`` keeps the result, and
    ``start`` the opening line's values.
    """

    def __init__(self, **context: str) -> None:
        self.context = context
        self._entries: list[_Entry] = []
        self.dropped = 0
        self._opening: tuple[float, str, str, float] | None = None
        self._result: ProbeResult | None = None
        self._finished_at = 0.0

    def start(self, target: str, modules: str, timeout: float) -> None:
        """The probe's opening line, kept as its values and written out when read."""
        self._opening = (time.time(), target, modules, timeout)
        if _LOGGER.isEnabledFor(logging.DEBUG):
            self._tee(logging.DEBUG, "probe started", _opening_fields(self._opening))

    def finish(self, result: ProbeResult) -> None:
        """The probe is over: its closing lines are ``result``'s, written out when read (and
        at once to the process log, when that is at debug)."""
        self._result = result
        self._finished_at = time.time()
        if _LOGGER.isEnabledFor(logging.DEBUG):
            for level, message, fields, tee in _result_lines(result):
                if tee and _LOGGER.isEnabledFor(level):
                    self._tee(level, message, fields)

    def log(self, level: int, message: str, **fields: object) -> None:
        if len(self._entries) < MAX_ENTRIES:
            self._entries.append((time.time(), level, message, fields))
        else:
            self.dropped += 1
        if _LOGGER.isEnabledFor(level):
            self._tee(level, message, fields)

    def _tee(self, level: int, message: str, fields: dict[str, object]) -> None:
        shown = {key: _shown(value) for key, value in fields.items()}
        _LOGGER.log(level, message, extra=log_fields(**{**self.context, **shown}))

    def debug(self, message: str, **fields: object) -> None:
        self.log(logging.DEBUG, message, **fields)

    def text_lines(self) -> list[str]:
        """The log's lines as logfmt text, formatted now."""
        lines = [_format(entry) for entry in self._entries]
        if self._opening is not None:
            opening = (self._opening[0], logging.DEBUG, "probe started")
            lines.insert(0, _format((*opening, _opening_fields(self._opening))))
        if self._result is not None:
            at = self._finished_at
            lines += [
                _format((at, level, text, fields))
                for level, text, fields, _ in _result_lines(self._result)
            ]
        if self.dropped:
            lines.append(f"[... {self.dropped} more lines not kept]")
        return lines

    def text(self) -> str:
        lines = self.text_lines()
        return "\n".join(lines) + ("\n" if lines else "")


def _opening_fields(opening: tuple[float, str, str, float]) -> dict[str, object]:
    _, target, modules, timeout = opening
    return {"target": target, "modules": modules, "timeout_seconds": timeout}


_ResultLine = tuple[int, str, dict[str, object], bool]


def _result_lines(result: ProbeResult) -> list[_ResultLine]:
    """What the result says, as (level, message, fields, tee): each command's answer and what
    it held, then each module's outcome, then the probe's.

    A failure is not teed: the process log has its own, de-duplicated line for it.
    """
    lines: list[_ResultLine] = []
    for module in result.modules:
        for command_result in module.results:
            lines += _command_lines(command_result)
    for module in result.modules:
        if module.success:
            fields: dict[str, object] = {"module": module.name, "auth": module.auth}
            lines.append((logging.DEBUG, "module succeeded", fields, True))
        else:
            fields = {
                "target": result.target,
                "module": module.name,
                "auth": module.auth,
                "reason": module.reason,
            }
            lines.append((logging.INFO, "probe failed", fields, False))
    finished: dict[str, object] = {"success": result.success, "duration_seconds": result.duration}
    lines.append((logging.DEBUG, "probe finished", finished, True))
    return lines


def _command_lines(result: CommandResult) -> list[_ResultLine]:
    if result.used is None:
        return []  # the deadline came first: the reason says so
    name = result.command.name
    lookup, age, listed, took, lead = result.used
    fields: dict[str, object] = {"command": name, "lookup": lookup, "age_seconds": age}
    if took is not None:
        fields["fetch_seconds"] = took
    if lead is not None:
        fields["refresh_lead_seconds"] = lead
    lines: list[_ResultLine] = [(logging.DEBUG, "CHAOS answer", fields, True)]
    record = result.record
    if result.failure is not None:
        return lines
    if result.reply is not None:
        reply = result.reply
        for note in reply.notes:
            lines.append(
                (logging.DEBUG, "CHAOS reply oddity", {"command": name, "note": note}, True)
            )
        if reply.note_count > len(reply.notes):
            more = {"command": name, "count": reply.note_count - len(reply.notes)}
            lines.append((logging.DEBUG, "CHAOS reply oddities not listed", more, True))
    if record is None:
        lines.append((logging.DEBUG, _NOT_LISTED, {"command": name, "lines": listed}, True))
        return lines
    for note in record.notes:
        lines.append((logging.DEBUG, "line data oddity", {"command": name, "note": note}, True))
    if record.absent:
        fields = {"command": name, "fields": ",".join(record.absent)}
        lines.append((logging.DEBUG, _LEFT_OUT, fields, True))
    omitted: dict[str, list[str]] = {}
    for spec in result.command.fields:
        gauge = spec.gauge
        if gauge is not None and gauge.omitted_without and not record.get(gauge.omitted_without):
            omitted.setdefault(gauge.omitted_without, []).append(gauge.metric)
    for without, metrics in omitted.items():
        fields = {"command": name, "field": without, "metrics": ",".join(metrics)}
        lines.append((logging.DEBUG, _OMITTED, fields, True))
    return lines


_NOT_LISTED = "the answer does not list the line; this command adds nothing"
_LEFT_OUT = "CHAOS left fields out; their metrics are not exported"
_OMITTED = "field absent or 0; its gauges are left out"


def _shown(value: object) -> object:
    """Seconds are kept exact and rounded only when read, like the rest of the log."""
    return round(value, 3) if isinstance(value, float) else value


def _format(entry: _Entry) -> str:
    created, level, message, fields = entry
    pairs = " ".join(f"{key}={logfmt_value(_shown(value))}" for key, value in fields.items())
    name = level_name(level)
    stamp = iso_timestamp(created)
    return f"ts={stamp} level={name} msg={logfmt_value(message)} {pairs}".rstrip()
