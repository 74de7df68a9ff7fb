"""Retry-After parsing: delta-seconds and HTTP dates (RFC 9110 section 10.2.3)."""

from __future__ import annotations

import pytest

from aaisp_multi_exporter.chaos.client import parse_retry_after

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("3", 3.0, id="seconds"),
        pytest.param(" 0 ", 0.0, id="zero"),
        pytest.param("Tue, 14 Nov 2023 22:13:25 GMT", 5.0, id="http-date"),
        pytest.param("Tue, 14 Nov 2023 22:13:00 GMT", 0.0, id="date-in-past"),
        pytest.param("-1", None, id="negative"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("1.5", None, id="fraction-not-allowed"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected
