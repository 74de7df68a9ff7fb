"""The probe's own log: bounded, and formatted only when read."""

from __future__ import annotations

import pytest

from aaisp_multi_exporter.probe.log import MAX_ENTRIES, ProbeLog


@pytest.mark.parametrize(
    ("written", "kept", "dropped"),
    [(0, 0, 0), (1, 1, 0), (MAX_ENTRIES, MAX_ENTRIES, 0), (MAX_ENTRIES + 1, MAX_ENTRIES, 1)],
)
def test_a_probe_log_keeps_at_most_max_entries(written: int, kept: int, dropped: int) -> None:
    log = ProbeLog(target="10001")
    for number in range(written):
        log.debug("CHAOS reply oddity", note=f"entry {number}")
    lines = log.text_lines()
    assert log.dropped == dropped
    assert len([line for line in lines if "oddity" in line]) == kept
    if dropped:
        assert lines[-1] == f"[... {dropped} more lines not kept]"


def test_a_flood_of_lines_costs_bounded_memory() -> None:
    log = ProbeLog()
    for number in range(100_000):
        log.debug("CHAOS reply oddity", note="x" * 100, number=number)
    assert log.dropped == 100_000 - MAX_ENTRIES
    assert len(log.text()) < MAX_ENTRIES * 300
