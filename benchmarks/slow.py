"""CHAOS slow or busy (SPEC 11, R4), the exporter and today's build side by side.

One credential set of 100,000 lines (``--quick``: 20,000), both tiers, account scope,
``cache_seconds = 6``, ``--web.max-requests`` at its default (40, as an operator runs it):

- ``slow``: the simulator answers every call after 2 s (``--latency 2``: a third of the cache);
- ``busy``: the simulator writes each reply a piece at a time as it encodes it (``--stream``),
  on the cores the exporter and the load generator use, while the exporter reads.

Each build, in a fresh exporter: a cold start (the open loop at 100 probes/s from the moment
it is ready, for 5 s, every probe recorded); the open loop across refresh-ahead cycles (24 s);
a cold start after idling (no probe for longer than ``cache_seconds``, then 5 s at 100/s);
then ``/discover`` cold in another fresh exporter, beside the reply's own time. Figures: p50,
p99, max, the 503s (``--web.max-requests``), failed probes, CHAOS calls.
``python -m benchmarks.run --only slow,busy`` runs them alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks import procs
from benchmarks.loads import SUCCESS, Target, errors, run_openloop
from benchmarks.procs import FIRST_LINE_ID, Server, exporter_config, module, sim_calls
from benchmarks.scale import BOTH, reply_seconds, timed

CACHE_SECONDS, RATE, COLD_SECONDS, SECONDS, LATENCY = 6, 100, 5, 24, 2
#: The simulator's options per scenario.
KINDS = {"slow": ("--latency", str(LATENCY)), "busy": ("--stream",)}
#: The exporter's default, which the other scenarios lift (they measure the probe path).
MAX_REQUESTS = 40
Record = dict[str, Any]


def exporter(label: str, command: list[str], sim: Server) -> Server:
    tiers = {"line": "broadband/info", "quota": "broadband/quota"}
    modules = {name: module(cmd, cache_seconds=CACHE_SECONDS) for name, cmd in tiers.items()}
    config = exporter_config(sim.base_url, modules)
    return procs.start_exporter(label, config, command, max_requests=MAX_REQUESTS)


def load(target: Target, seconds: float, *options: str) -> Record:
    figures = run_openloop(target, RATE, seconds, "--expect", SUCCESS, *options)
    figures["errors"] = errors(figures)
    return figures


def measure(kind: str, label: str, command: list[str], sim: Server, lines: int) -> Record:
    """The two cold starts and the refresh cycles in one fresh exporter; /discover cold in
    another."""
    procs.sim_reset(sim)
    record: Record = {}
    with exporter(f"{kind}-{label}", command, sim) as ex:
        target = Target(ex.base_url, BOTH, FIRST_LINE_ID, lines)
        record["cold"] = load(target, COLD_SECONDS, "--warmup", "0")
        calls = sim_calls(sim)
        record["refresh"] = load(target, SECONDS)
        record["refresh"]["chaos_calls"] = sim_calls(sim) - calls
        record["refreshed_ahead"] = procs.refreshed_ahead(ex)
        time.sleep(CACHE_SECONDS + 1)  # every answer expires
        record["idle_cold"] = load(target, COLD_SECONDS, "--warmup", "0")
        ex.check_alive()
    with exporter(f"{kind}-{label}-discover", command, sim) as ex:
        record["discover_cold_s"], _ = timed(ex.base_url + "/discover")
    parts = ("cold", "refresh", "idle_cold")
    record["http_503"] = sum(record[part]["http_503"] for part in parts)
    record["errors"] = sum(record[part]["errors"] for part in parts)
    return record


def run(kind: str, lines: int, builds: dict[str, list[str]], say: Callable[[str], None]) -> Record:
    """Every step for each of ``builds`` on one simulator of ``kind`` (``KINDS``)."""
    record: Record = {"kind": kind, "lines": lines, "rate": RATE, "seconds": SECONDS}
    record |= {"cache_seconds": CACHE_SECONDS, "cold_seconds": COLD_SECONDS}
    record |= {"max_requests": MAX_REQUESTS, "simulator": " ".join(KINDS[kind])}
    with procs.start_simulator(lines, *KINDS[kind], name=f"simulator-{kind}-{lines}") as sim:
        reply = record["reply_s"] = reply_seconds(sim)
        say(f"  simulator {' '.join(KINDS[kind])}, {lines:,} lines: reply in {reply:.2f} s")
        for label, command in builds.items():
            found = record[label] = measure(kind, label, command, sim, lines)
            found["discover_cold_over_reply_s"] = found["discover_cold_s"] - reply
            say(
                f"  {label}: cold start {brief(found['cold'])}; across refreshes "
                f"{brief(found['refresh'])}; after idling {brief(found['idle_cold'])}; "
                f"/discover cold {found['discover_cold_s']:.2f} s"
            )
    return record


def brief(figures: Record) -> str:
    return (
        f"p99 {figures['p99_ms']:.0f} ms, max {figures['max_ms']:.0f} ms, "
        f"{figures['http_503']:.0f} x 503, {figures['errors']:.0f} errors"
    )
