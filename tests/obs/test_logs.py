"""Log lines as Prometheus exporters print them: logfmt or JSON, fields in the order given."""

from __future__ import annotations

import json
import logging

import pytest

from aaisp_multi_exporter.obs.logs import JsonFormatter, LogfmtFormatter, fields


def _record(message: str, **values: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "aaisp_multi_exporter.probe", logging.INFO, "x", 1, message, (), None
    )
    record.__dict__.update(fields(**values))
    record.created = 0.0
    return record


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "msg=hello"),
        ({"target": "10001", "module": "line"}, "msg=hello target=10001 module=line"),
        ({"reason": 'CHAOS error: "x y"'}, 'msg=hello reason="CHAOS error: \\"x y\\""'),
        ({"reason": "a\nb"}, 'msg=hello reason="a\\nb"'),
        ({"empty": ""}, 'msg=hello empty=""'),
    ],
)
def test_logfmt(values: dict[str, object], expected: str) -> None:
    line = LogfmtFormatter().format(_record("hello", **values))
    assert line == (
        "ts=1970-01-01T00:00:00.000Z level=info logger=aaisp_multi_exporter.probe " + expected
    )


def test_json_log() -> None:
    line = JsonFormatter().format(_record("probe failed", target="1", module="line"))
    assert json.loads(line) == {
        "ts": "1970-01-01T00:00:00.000Z",
        "level": "info",
        "logger": "aaisp_multi_exporter.probe",
        "msg": "probe failed",
        "target": "1",
        "module": "line",
    }


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (logging.DEBUG, "debug"),
        (logging.INFO, "info"),
        (logging.WARNING, "warn"),
        (logging.ERROR, "error"),
        (logging.CRITICAL, "error"),
        (logging.WARNING + 5, "warn"),
        (logging.NOTSET, "debug"),
    ],
)
def test_level_names_are_exporter_toolkits(level: int, name: str) -> None:
    """``level=warn``, never Python's ``warning``, in both formats (SPEC 8, R4)."""
    record = _record("x")
    record.levelno = level
    record.levelname = logging.getLevelName(level)
    assert f" level={name} " in LogfmtFormatter().format(record)
    assert json.loads(JsonFormatter().format(record))["level"] == name
