"""Bounded memory: 100,000 probes over 10,000 distinct targets leave the resident size flat.

``python -m benchmarks.memory`` starts a simulator with 10,000 lines and, for each scope, a
fresh exporter; sends 100,000 probes (targets ``10000 + i % 10000``, 32 at a time) and reads
the exporter's VmRSS from /proc after every 10,000. ``line`` scope with a cache keeps one
snapshot per target (10,000 of them); ``account`` scope keeps one for the whole account.

Flat means: the last reading is within 10 % or 5 MiB (whichever is larger) of the reading
after 20,000 probes, by which time every target has been seen twice. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.driver import new_session, probe_range
from benchmarks.procs import (
    FIRST_LINE_ID,
    Server,
    add_exporter_cmd,
    exporter_config,
    sim_calls,
    start_exporter,
    start_simulator,
)

PROBES = 100_000
DISTINCT = 10_000
STEP = 10_000
BASELINE_AFTER = 20_000
TOLERANCE_SHARE = 0.10
TOLERANCE_KIB = 5 * 1024
CONCURRENCY = 32
#: Per scope; a healthy exporter needs well under it (about 110 s for line scope, here).
BUDGET_SECONDS = 240.0
#: Failing probes keep no snapshot, so they would not test the store: stop, and say so.
MAX_FAILURES = 100


def is_flat(series: Sequence[tuple[int, int]], probes: int) -> tuple[bool, int, int]:
    """(flat, baseline KiB, last KiB) for a series of (probes, VmRSS KiB).

    A series that stopped short of ``probes`` is not flat: it did not show anything.
    """
    baseline = next((rss for done, rss in series if done >= BASELINE_AFTER), series[-1][1])
    last = series[-1][1]
    if series[-1][0] < probes:
        return False, baseline, last
    allowed = max(baseline * TOLERANCE_SHARE, TOLERANCE_KIB)
    return last - baseline <= allowed, baseline, last


async def _drive(
    exporter: Server, module: str, probes: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    series: list[tuple[int, int]] = [(0, exporter.memory_kib()["VmRSS"])]
    totals = {"succeeded": 0, "http_errors": 0, "transport_errors": 0}
    started = time.monotonic()
    stopped = ""
    async with new_session() as session:
        for start in range(0, probes, STEP):
            counts = await probe_range(
                session,
                exporter.base_url,
                module,
                FIRST_LINE_ID,
                start,
                min(start + STEP, probes),
                DISTINCT,
                concurrency=CONCURRENCY,
                deadline=started + BUDGET_SECONDS,
                max_failures=MAX_FAILURES,
            )
            exporter.check_alive()
            totals["succeeded"] += counts.succeeded
            totals["http_errors"] += counts.http_errors
            totals["transport_errors"] += counts.transport_errors
            rss = exporter.memory_kib()["VmRSS"]
            series.append((start + counts.probes, rss))
            progress(
                f"  {module}: {start + counts.probes:>7} probes, VmRSS {rss * 1024 / 1e6:.1f} MB"
            )
            if counts.out_of_time:
                stopped = f"the {BUDGET_SECONDS:.0f} s budget was spent"
            elif counts.gave_up:
                stopped = f"more than {MAX_FAILURES} probes failed"
            if stopped:
                progress(f"  {module}: stopped early: {stopped}")
                break
    return {
        "series": series,
        "seconds": time.monotonic() - started,
        "stopped": stopped,
        **totals,
    }


def run(
    exporter_cmd: Sequence[str],
    progress: Callable[[str], None],
    probes: int = PROBES,
) -> dict[str, Any]:
    """Both scopes, each in a fresh exporter against one simulator; JSON-able results."""
    results: dict[str, Any] = {"probes": probes, "distinct": DISTINCT, "scopes": {}}
    sim = start_simulator(DISTINCT)
    try:
        for scope in ("line", "account"):
            config = exporter_config(
                sim.base_url,
                {
                    "mem": {
                        "commands": ["broadband/info"],
                        "auth": "sim",
                        "cache_seconds": 3600,
                        "timeout_seconds": 10,
                        "scope": scope,
                    }
                },
            )
            calls_before = sim_calls(sim)
            exporter = start_exporter(f"exporter-memory-{scope}", config, exporter_cmd)
            try:
                progress(f"bounded memory, {scope} scope: {probes} probes over {DISTINCT} targets")
                outcome = asyncio.run(_drive(exporter, "mem", probes, progress))
                memory = exporter.memory_kib()
            finally:
                exporter.stop()
            flat, baseline, last = is_flat(outcome["series"], probes)
            outcome.update(
                chaos_calls=sim_calls(sim) - calls_before,
                peak_kib=memory["VmHWM"],
                baseline_kib=baseline,
                last_kib=last,
                flat=flat,
            )
            results["scopes"][scope] = outcome
    finally:
        sim.stop()
    results["flat"] = all(scope["flat"] for scope in results["scopes"].values())
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--probes", type=int, default=PROBES)
    add_exporter_cmd(parser)
    args = parser.parse_args(argv)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = run(args.exporter_cmd, progress, args.probes)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
