"""The recent-rejections store on its own: what it keeps for the page and what it logs."""

from __future__ import annotations

import logging

import pytest

from aaisp_multi_exporter.obs.logs import LogfmtFormatter, record_fields
from aaisp_multi_exporter.server.rejections import RecentRejections


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def store(limit: int = 20) -> tuple[RecentRejections, Clock]:
    clock = Clock()
    return RecentRejections(limit, clock=clock, throttle_clock=clock), clock


def warnings(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        record_fields(record)
        for record in caplog.records
        if record.name == "aaisp_multi_exporter.rejections"
    ]


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        pytest.param([], [], id="none"),
        pytest.param(["a"], [("a", 1)], id="one"),
        pytest.param(["a", "a", "a"], [("a", 3)], id="same-request-counted-once"),
        pytest.param(["a", "b", "a"], [("a", 2), ("b", 1)], id="most-recently-seen-first"),
        pytest.param(["a", "b", "c", "d"], [("d", 1), ("c", 1), ("b", 1)], id="oldest-dropped"),
        # "a" was seen again, so "b" is the least recently seen and goes.
        pytest.param(["a", "b", "c", "a", "d"], [("d", 1), ("a", 2), ("c", 1)], id="lru"),
    ],
)
def test_keeps_distinct_rejections_most_recent_first(
    requests: list[str], expected: list[tuple[str, int]]
) -> None:
    rejections, clock = store(limit=3)
    for message in requests:
        clock.now += 1
        rejections.add("/probe", "unknown_auth", message, value=None)
    assert [(seen.message, seen.count) for seen in rejections.recent()] == expected
    assert len(rejections) == len(expected)


def test_times_status_and_keys() -> None:
    rejections, clock = store()
    rejections.add("/probe", "unknown_auth", "m", value="x")
    clock.now = 1_005.0
    rejections.add("/probe", "unknown_auth", "m", value="x")
    rejections.add("/discover", "unknown_auth", "m", value="x")
    rejections.add("/probe", "too_many_requests", "busy", value=None, status=503)
    busy, discover, probe = rejections.recent()
    assert (probe.path, probe.first_seen, probe.last_seen, probe.count) == ("/probe", 1000, 1005, 2)
    assert (discover.path, discover.count) == ("/discover", 1)
    assert (busy.reason, busy.status) == ("too_many_requests", 503)


def test_logs_one_line_per_path_and_reason_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    rejections, clock = store()
    for _ in range(3):
        rejections.add("/probe", "unknown_auth", 'unknown auth "a"', value="a")
    rejections.add("/probe", "unknown_auth", 'unknown auth "b"', value="b")
    rejections.add("/probe", "unknown_module", 'unknown module "m"', value="m")
    rejections.add("/discover", "unknown_auth", 'unknown auth "a"', value="a")
    clock.now += 9.9
    rejections.add("/probe", "unknown_auth", 'unknown auth "c"', value="c")
    assert [(line["path"], line["reason"], line["value"]) for line in warnings(caplog)] == [
        ("/probe", "unknown_auth", '"a"'),
        ("/probe", "unknown_module", '"m"'),
        ("/discover", "unknown_auth", '"a"'),
    ]
    caplog.clear()
    clock.now += 0.1
    rejections.add("/probe", "unknown_auth", 'unknown auth "d"', value="d")
    (line,) = warnings(caplog)
    # Four held back since the first line: a, a, b and c.
    assert (line["value"], line["suppressed"], line["error"]) == ('"d"', 4, 'unknown auth "d"')
    assert all(record.levelno == logging.WARNING for record in caplog.records)


def test_log_line_as_an_operator_reads_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    rejections, _ = store()
    rejections.add("/probe", "unknown_auth", 'unknown auth "default"; known: demo', value="default")
    (record,) = caplog.records
    line = LogfmtFormatter().format(record)
    assert line.endswith(
        'level=warn logger=aaisp_multi_exporter.rejections msg="request rejected" '
        'path=/probe status=400 reason=unknown_auth value="\\"default\\"" '
        'error="unknown auth \\"default\\"; known: demo" suppressed=0'
    )


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        pytest.param("x" * 64, '"' + "x" * 64 + '"', id="64-kept"),
        pytest.param("x" * 65, '"' + "x" * 64 + '..."', id="65-cut"),
        pytest.param("y" * 10_000, '"' + "y" * 64 + '..."', id="huge-cut"),
        pytest.param("a\nb\x1b[31m", '"a\\nb\\x1b[31m"', id="control-characters-escaped"),
        pytest.param('say "hi"', '"say \\"hi\\""', id="quotes-escaped"),
    ],
)
def test_value_is_echoed_short_and_escaped(
    value: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    rejections, _ = store()
    rejections.add("/probe", "invalid_target", "invalid target", value=value)
    (line,) = warnings(caplog)
    assert line["value"] == logged


def test_no_value_no_value_field(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    rejections, _ = store()
    rejections.add("/probe", "missing_target", 'parameter "target" is required', value=None)
    (line,) = warnings(caplog)
    assert "value" not in line
    assert line["reason"] == "missing_target"
