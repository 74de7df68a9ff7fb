"""Refresh ahead: with CHAOS slow, no probe waits for it and no answer outlives ``cache_seconds``.

``python -m benchmarks.refresh`` starts the simulator with 50 lines answering every CHAOS
call after 1 s (``--latency 1``) and, twice, a fresh exporter whose module keeps answers
``cache_seconds = 4``: once with ``refresh_ahead = false`` ("before": every expiry parks the
probes behind one CHAOS call) and once with ``refresh_ahead = true`` ("after"). Each is driven
by the open-loop generator, 40 probes per second for 14 s (after 1 s unrecorded, which also
fills the cache) rotating over the 50 lines, reading ``aaisp_probe_data_age_seconds`` from
every answer. Prints one JSON object; ``run.py`` puts it in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.loads import Target, run_openloop
from benchmarks.procs import (
    FIRST_LINE_ID,
    Server,
    add_exporter_cmd,
    exporter_config,
    exporter_counter,
    sim_calls,
    sim_reset,
    start_exporter,
    start_simulator,
)

MODULE = "line"
DATA_AGE = "aaisp_probe_data_age_seconds"
EXPECT = "\nprobe_success 1"
#: SPEC 9: a probe that finds an answer older than this share of cache_seconds refreshes it.
REFRESH_SHARE = 0.75
MODES = {"before": False, "after": True}


@dataclass(frozen=True)
class Scenario:
    lines: int = 50
    latency_s: float = 1.0
    cache_seconds: int = 4
    rate: int = 40
    seconds: int = 14


def call_bound(scenario: Scenario) -> int:
    """CHAOS calls allowed in the recorded window: one per 75 % of ``cache_seconds``, plus the
    one that fills the cache."""
    return math.ceil(scenario.seconds / (REFRESH_SHARE * scenario.cache_seconds)) + 1


def module_settings(scenario: Scenario, refresh_ahead: bool) -> dict[str, object]:
    return {
        "commands": ["broadband/info"],
        "auth": "sim",
        "scope": "account",
        "cache_seconds": scenario.cache_seconds,
        "refresh_ahead": refresh_ahead,
        "timeout_seconds": 10,
        "retries": 2,
    }


def run_mode(
    sim: Server, scenario: Scenario, label: str, exporter_cmd: Sequence[str]
) -> dict[str, Any]:
    """One fresh exporter under the scenario's open loop; its figures."""
    sim_reset(sim)
    config = exporter_config(sim.base_url, {MODULE: module_settings(scenario, MODES[label])})
    exporter = start_exporter(f"exporter-refresh-{label}", config, exporter_cmd)
    try:
        failures = exporter_counter(exporter, "aaisp_exporter_probes_total", {"result": "failure"})
        calls = sim_calls(sim)
        target = Target(
            exporter.base_url, f"/probe?module={MODULE}&target=", FIRST_LINE_ID, scenario.lines
        )
        figures: dict[str, Any] = dict(
            run_openloop(target, scenario.rate, scenario.seconds, expect=EXPECT, gauge=DATA_AGE)
        )
        # The warm-up second is in here too: its first probe fills the cache.
        figures["chaos_calls"] = sim_calls(sim) - calls
        exporter.check_alive()
        figures["failed_probes"] = (
            exporter_counter(exporter, "aaisp_exporter_probes_total", {"result": "failure"})
            - failures
        )
        figures["refreshed_ahead"] = exporter_counter(
            exporter, "aaisp_exporter_snapshot_lookups_total", {"result": "refreshed_ahead"}
        )
        figures["ready_s"] = exporter.ready_seconds
    finally:
        exporter.stop()
    return figures


def run(
    exporter_cmd: Sequence[str],
    progress: Callable[[str], None],
    scenario: Scenario | None = None,
) -> dict[str, Any]:
    scenario = scenario or Scenario()
    sim = start_simulator(scenario.lines, "--latency", str(scenario.latency_s))
    record: dict[str, Any] = {**asdict(scenario), "call_bound": call_bound(scenario), "modes": {}}
    try:
        for label, flag in MODES.items():
            progress(f"  refresh_ahead = {str(flag).lower()} ({label})")
            figures = run_mode(sim, scenario, label, exporter_cmd)
            record["modes"][label] = figures
            progress(
                f"    p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
                f"max {figures['max_ms']:.1f} ms, CHAOS calls {figures['chaos_calls']}, "
                f"max data age {figures['gauge_max']:.2f} s, "
                f"failed {figures['failed_probes']:.0f}"
            )
    finally:
        sim.stop()
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.refresh", description=__doc__)
    add_exporter_cmd(parser)
    args = parser.parse_args(argv)
    result = run(args.exporter_cmd, lambda line: print(line, file=sys.stderr))
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
