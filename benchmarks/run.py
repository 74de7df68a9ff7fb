"""The whole benchmark in one command: ``.venv/bin/python -m benchmarks.run`` (``make bench``).

For N in 100, 1,000 and 10,000 lines it starts the simulator, then the exporter with snapshots
cached and with ``cache_seconds = 0``, and drives ``/probe`` from separate load processes: wrk
(closed loop, 10 and 50 connections) and ``benchmarks.openloop`` (500 probes per second on a
fixed schedule). Debian's blackbox_exporter runs under the same loads, probing its own
``/-/healthy`` and, separately, the simulator; every exporter figure is also given as a ratio
to it. Then ``benchmarks.memory`` runs the bounded-memory check.

Writes ``benchmarks/RESULTS.md`` and the raw figures to ``benchmarks/out/results.json``.
Exits 0 when the benchmark ran, missed goals included (they are reported, PASS/FAIL), and 2
when it could not run (a tool missing, a server that did not start).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks import memory, report
from benchmarks.driver import SUCCESS, probe_all
from benchmarks.loads import Target, openloop_command, run_openloop, run_wrk, wrk_command
from benchmarks.machine import machine_info
from benchmarks.procs import (
    FIRST_LINE_ID,
    OUT,
    ROOT,
    VENV_BIN,
    InfraError,
    Server,
    exporter_config,
    exporter_counter,
    http_get,
    sim_calls,
    sim_reset,
    start_blackbox,
    start_exporter,
    start_simulator,
)

CACHE_SECONDS = {"cached": 300, "uncached": 0}
MODULE = "line"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"


@dataclass
class Settings:
    lines: tuple[int, ...] = (100, 1000, 10000)
    connections: tuple[int, ...] = (10, 50)
    wrk_seconds: int = 10
    open_rate: int = 500
    open_seconds: int = 10
    memory_probes: int = memory.PROBES
    exporter_cmd: list[str] = field(
        default_factory=lambda: [str(VENV_BIN / "aaisp-multi-exporter")]
    )


class Progress:
    """Timestamped progress lines on stdout and in ``benchmarks/out/progress.log``."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        OUT.mkdir(parents=True, exist_ok=True)
        self.path = OUT / "progress.log"
        self.path.write_text("", encoding="utf-8")

    def __call__(self, message: str) -> None:
        line = f"[{time.monotonic() - self.started:7.1f}s] {message}"
        print(line, flush=True)
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


def probe_ok(url: str) -> bool:
    status, body = http_get(url, timeout=30.0)
    return status == 200 and SUCCESS in body


def measure_loads(
    target: Target,
    settings: Settings,
    progress: Callable[[str], None],
    *,
    sim: Server | None = None,
    exporter: Server | None = None,
) -> dict[str, dict[str, float]]:
    """Closed loop at each concurrency, then the open loop; CHAOS calls and failures around
    each from the simulator's and the exporter's own counters."""
    loads: dict[str, dict[str, float]] = {}
    shapes: list[tuple[str, Callable[[], dict[str, float]]]] = [
        (f"closed_c{c}", partial(run_wrk, target, c, settings.wrk_seconds))
        for c in settings.connections
    ]
    shapes.append(
        (
            f"open_{settings.open_rate}",
            partial(run_openloop, target, settings.open_rate, settings.open_seconds),
        )
    )
    for name, shape in shapes:
        calls = sim_calls(sim) if sim else 0
        failures = (
            exporter_counter(exporter, "aaisp_exporter_probes_total", {"result": "failure"})
            if exporter
            else 0.0
        )
        figures = shape()
        probes = figures.get("requests", figures.get("sent_total", 0))
        if sim is not None:
            figures["chaos_calls"] = sim_calls(sim) - calls
            figures["chaos_calls_per_1000"] = 1000 * figures["chaos_calls"] / max(1, probes)
        if exporter is not None:
            exporter.check_alive()
            figures["failed_probes"] = (
                exporter_counter(exporter, "aaisp_exporter_probes_total", {"result": "failure"})
                - failures
            )
        loads[name] = figures
        progress(f"    {name}: {report.load_summary(figures)}")
    return loads


def run_blackbox(
    name: str, target_url: str, settings: Settings, progress: Callable[[str], None], **kw: Any
) -> dict[str, Any]:
    """blackbox_exporter probing ``target_url`` (``{bb}`` is its own base URL)."""
    bb = start_blackbox(name)
    try:
        url = target_url.replace("{bb}", bb.base_url)
        path = f"/probe?module=http_2xx&target={quote(url, safe='')}"
        progress(f"  {name}: ready in {bb.ready_seconds:.3f} s; probing {url}")
        record: dict[str, Any] = {
            "ready_s": bb.ready_seconds,
            "target": url,
            "sanity_before": probe_ok(bb.base_url + path),
        }
        if kw.pop("check_generator", False):
            direct = Target(bb.base_url, "/-/healthy")
            progress("  load generator check: open loop straight at blackbox's /-/healthy")
            record["generator_check"] = run_openloop(
                direct, settings.open_rate, settings.open_seconds
            )
            progress(f"    {report.load_summary(record['generator_check'])}")
        record["loads"] = measure_loads(Target(bb.base_url, path), settings, progress, **kw)
        record["sanity_after"] = probe_ok(bb.base_url + path)
        record["peak_kib"] = bb.memory_kib()["VmHWM"]
        bb.check_alive()
    finally:
        bb.stop()
    return record


def run_exporter(
    sim: Server, lines: int, mode: str, settings: Settings, progress: Callable[[str], None]
) -> dict[str, Any]:
    """A fresh exporter for one N and cache mode, every figure of it."""
    modules = {
        MODULE: {
            "commands": ["broadband/info"],
            "auth": "sim",
            "scope": "account",
            "cache_seconds": CACHE_SECONDS[mode],
            "timeout_seconds": 10,
            "retries": 2,
        }
    }
    sim_reset(sim)
    exporter = start_exporter(
        f"exporter-{lines}-{mode}",
        exporter_config(sim.base_url, modules),
        settings.exporter_cmd,
    )
    first_url = f"{exporter.base_url}/probe?module={MODULE}&target={FIRST_LINE_ID}"
    try:
        progress(f"  exporter {mode}, N={lines}: ready in {exporter.ready_seconds:.3f} s")
        record: dict[str, Any] = {"ready_s": exporter.ready_seconds}
        if mode == "cached":
            # Every line once, 50 at a time, from a cold cache: one CHAOS call in all.
            counts = asyncio.run(probe_all(exporter.base_url, MODULE, FIRST_LINE_ID, lines))
            record["one_call"] = {
                "lines": lines,
                "probes": counts.probes,
                "succeeded": counts.succeeded,
                "errors": counts.http_errors + counts.transport_errors,
                "stopped": "time budget spent"
                if counts.out_of_time
                else ("more than 100 probes failed" if counts.gave_up else ""),
                "chaos_calls": sim_calls(sim),
            }
            progress(
                f"    every line once: {counts.succeeded}/{lines} probe_success 1, "
                f"{record['one_call']['chaos_calls']} CHAOS call(s)"
            )
        else:
            ok = probe_ok(first_url)
            record["first_probe_s"] = time.monotonic() - exporter.spawned_at
            progress(f"    first probe answered {record['first_probe_s']:.3f} s after start")
        record["sanity_before"] = ok = probe_ok(first_url)
        if not ok:
            _, body = http_get(first_url + "&debug=true")
            record["sanity_detail"] = body.decode(errors="replace")[:400]
            progress(f"    probe_success is not 1: {record['sanity_detail'].splitlines()[:2]}")
        target = Target(exporter.base_url, f"/probe?module={MODULE}&target=", FIRST_LINE_ID, lines)
        record["loads"] = measure_loads(target, settings, progress, sim=sim, exporter=exporter)
        record["sanity_after"] = probe_ok(first_url)
        memory_kib = exporter.memory_kib()
        record["peak_kib"] = memory_kib["VmHWM"]
        record["rss_kib"] = memory_kib["VmRSS"]
        record["chaos_calls_since_start"] = sim_calls(sim)
        progress(f"    peak resident {memory_kib['VmHWM'] / 1000:.1f} MB")
    finally:
        exporter.stop()
    return record


def run_all(settings: Settings, progress: Progress) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "lines": list(settings.lines),
            "connections": list(settings.connections),
            "wrk_seconds": settings.wrk_seconds,
            "open_rate": settings.open_rate,
            "open_seconds": settings.open_seconds,
            "memory_probes": settings.memory_probes,
            "exporter_cmd": " ".join(settings.exporter_cmd).replace(str(ROOT) + "/", ""),
        },
        "commands": example_commands(settings),
        "machine": machine_info(),
        "exporter": {},
    }
    progress("blackbox_exporter probing its own /-/healthy")
    results["blackbox_healthy"] = run_blackbox(
        "blackbox-healthy", "{bb}/-/healthy", settings, progress, check_generator=True
    )
    for lines in settings.lines:
        progress(f"simulator with {lines} lines")
        sim = start_simulator(lines)
        try:
            if lines == max(settings.lines):
                # The simulator's answer to a GET without credentials (an auth-error envelope,
                # 746 bytes) does not depend on N, so this is measured once.
                progress("blackbox_exporter probing the simulator")
                results["blackbox_sim"] = run_blackbox(
                    "blackbox-sim",
                    f"{sim.base_url}/broadband/info/json",
                    settings,
                    progress,
                    sim=sim,
                )
            results["exporter"][str(lines)] = {
                mode: run_exporter(sim, lines, mode, settings, progress) for mode in CACHE_SECONDS
            }
        finally:
            sim.stop()
    if settings.memory_probes:
        results["memory"] = memory.run(settings.exporter_cmd, progress, settings.memory_probes)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["seconds"] = time.monotonic() - progress.started
    return results


def example_commands(settings: Settings) -> dict[str, str]:
    """The load commands as run, with placeholder ports, for the report."""
    target = Target("http://127.0.0.1:PORT", f"/probe?module={MODULE}&target=", FIRST_LINE_ID, 0)
    rotating = Target(target.base_url, target.prefix, FIRST_LINE_ID, 10000)
    return {
        "wrk": report.shell(wrk_command(rotating, max(settings.connections), settings.wrk_seconds)),
        "openloop": report.shell(
            openloop_command(rotating, settings.open_rate, settings.open_seconds)
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--exporter-cmd",
        default=str(VENV_BIN / "aaisp-multi-exporter"),
        help="how to start the exporter, split on spaces (default: the venv's script)",
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run, not for results")
    parser.add_argument(
        "--before", type=Path, help="an earlier results.json: adds a before/after table"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_MD, help="the report to write")
    args = parser.parse_args(argv)
    settings = Settings(exporter_cmd=args.exporter_cmd.split())
    if args.quick:
        settings = Settings(
            lines=(100, 1000),
            wrk_seconds=3,
            open_seconds=3,
            memory_probes=20_000,
            exporter_cmd=settings.exporter_cmd,
        )
    progress = Progress()
    try:
        results = run_all(settings, progress)
    except (InfraError, OSError) as error:
        progress(f"benchmark could not run: {error}")
        traceback.print_exc()
        return 2
    results["goals"] = report.goals(results)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (OUT / "results.json", OUT / f"results-{stamp}.json"):
        path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None
    args.output.write_text(report.render(results, before), encoding="utf-8")
    progress(f"wrote {args.output} and {OUT / 'results.json'}")
    for goal in results["goals"]:
        progress(f"  {report.verdict(goal['passed']):4} {goal['goal']}: {goal['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
