"""The scale targets (docs/scaling.md), for the exporter and today's build side by side.

One process, one credential set of 100,000 lines (``--quick``: 20,000), both tiers, account
scope, ``cache_seconds = 6``; each build fresh, back to back on one simulator: ``/discover`` cold
and warm, every line through both tiers, then VmRSS, then the open loop at 100 probes/s across
refresh-ahead cycles; a hostile reply at the size cap (1.2 million ``{"ID":"n"}`` entries,
19 MB) replayed by a second simulator, probed and then discovered; and one huge value in one
entry (HUGE). ``benchmarks/README.md`` says how each is measured.
``python -m benchmarks.scale [--quick] [--today-rev REV|none]`` runs it alone.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import procs
from benchmarks.loads import SUCCESS, Target, errors, probe_paths, run_openloop
from benchmarks.procs import FIRST_LINE_ID, Server, exporter_config, module, sim_calls

#: Seconds of the open loop: with cache_seconds = 6 a refresh starts every 4.5 s or so.
CACHE_SECONDS, RATE, SECONDS, HOSTILE_ENTRIES = 6, 100, 24, 1_200_000
BOTH = "/probe?module=line,quota&target="
Record = dict[str, Any]


def timed(url: str, data: bytes | None = None) -> tuple[float, bytes]:
    """Seconds to the last byte of a 200, and the body."""
    started = time.monotonic()
    status, _, body = procs.fetch(url, data=data, timeout=120)
    if status != 200:
        raise procs.InfraError(f"{url} answered {status}")
    return time.monotonic() - started, body


def reply_seconds(sim: Server) -> float:
    """The simulator's own time for ``broadband/info`` of the account, to the last byte."""
    url, form = sim.base_url + "/broadband/info/json", procs.SIM_FORM.encode()
    return statistics.median(timed(url, form)[0] for _ in range(3))


def measure(label: str, command: list[str], sim: Server, lines: int) -> Record:
    """Steps 2 to 4 for one build, in a fresh exporter."""
    procs.sim_reset(sim)
    tiers = {"line": "broadband/info", "quota": "broadband/quota"}
    modules = {name: module(cmd, cache_seconds=CACHE_SECONDS) for name, cmd in tiers.items()}
    with procs.start_exporter(
        f"scale-{label}", exporter_config(sim.base_url, modules), command
    ) as ex:
        record: Record = {"ready_s": ex.ready_s}
        record["discover_cold_s"], body = timed(ex.base_url + "/discover")
        record["discover_targets"] = len(json.loads(body))
        warm = statistics.median(timed(ex.base_url + "/discover")[0] for _ in range(5))
        record["discover_warm_ms"] = warm * 1000
        started, paths = time.monotonic(), [f"{BOTH}{FIRST_LINE_ID + i}" for i in range(lines)]
        counts = asyncio.run(probe_paths(ex.base_url, paths, concurrency=32, budget=900))
        record["every_line_s"] = time.monotonic() - started
        record["every_line_failed"] = lines - counts.succeeded
        record["rss_mb"], calls = ex.mb(), sim_calls(sim)
        target = Target(ex.base_url, BOTH, FIRST_LINE_ID, lines)
        figures = record["open"] = run_openloop(target, RATE, SECONDS, "--expect", SUCCESS)
        figures["chaos_calls"], figures["errors"] = sim_calls(sim) - calls, errors(figures)
        record["refreshed_ahead"] = procs.refreshed_ahead(ex)
        record["rss_end_mb"], record["peak_mb"] = ex.mb(), ex.mb("VmHWM")
    record["errors"] = record["every_line_failed"] + figures["errors"]
    return record


def hostile_file(entries: int = HOSTILE_ENTRIES) -> Path:
    """A ``broadband/info`` reply of ``entries`` small entries, each with an ``ID``."""
    path = procs.OUT / f"hostile-{entries}.json"
    if not path.exists():
        ids = ",".join(f'{{"ID":"{i}"}}' for i in range(1, entries + 1))
        path.write_text(f'{{"info":[{ids}]}}', encoding="ascii")
    return path


def polled(ex: Server, action: Callable[[], Record]) -> Record:
    """``action``'s figures, while another process polls ``/-/healthy`` every 10 ms
    (``benchmarks/poller.py``): the longest wait, the polls, VmRSS before and after, and
    VmHWM after less VmRSS before."""
    before = ex.mb()
    argv = [procs.PYTHON, str(procs.ROOT / "benchmarks" / "poller.py"), ex.base_url + "/-/healthy"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as poller:
        try:
            time.sleep(0.2)
            record = action()
            time.sleep(0.2)
        finally:
            poller.terminate()
        lines = (poller.stdout.read() if poller.stdout else "").split()
    waits = [float(line) for line in lines if line.replace(".", "", 1).isdigit()]
    if not waits:
        raise procs.InfraError("the /-/healthy poller got no answer")
    record |= {"healthy_wait_ms": max(waits) * 1000, "polls": len(waits)}
    record |= {"rss_before_mb": before, "rss_after_mb": ex.mb()}
    record["growth_mb"] = ex.mb("VmHWM") - before
    return record


def probed(ex: Server, target: int) -> Record:
    probe_s, body = timed(f"{ex.base_url}/probe?module=line&target={target}")
    return {"probe_s": probe_s, "probe_success": int(SUCCESS.encode() in body)}


def hostile(label: str, cmd: list[str], sim: Server) -> Record:
    """One probe fetches the hostile reply while ``/-/healthy`` is polled; then, in a fresh
    exporter, ``/discover`` over it cold (fetch, parse, answer) and warm (answer only)."""
    config = exporter_config(sim.base_url, {"line": module("broadband/info", cache_seconds=300)})
    with procs.start_exporter(f"hostile-{label}", config, cmd) as ex:
        record = polled(ex, lambda: probed(ex, 1))

    def discovered() -> Record:
        started = time.monotonic()
        status, size = procs.fetch_size(ex.base_url + "/discover")
        if status != 200:
            raise procs.InfraError(f"/discover answered {status}")
        return {"discover_s": time.monotonic() - started, "answer_mb": size / 1e6}

    with procs.start_exporter(f"hostile-discover-{label}", config, cmd) as ex:
        record["discover"] = polled(ex, discovered)
        record["discover_warm"] = polled(ex, discovered)
    return record


#: Issue 23's N6: one huge value in one entry of a 40-line reply (the simulator's
#: ``huge_value`` fault), or seven levels down in a member no command reads.
HUGE = {
    "numbers": {"elements": 12_000_000},
    "objects": {"elements": 20_000_000, "shape": "objects"},
    "skipped": {"elements": 20_000_000, "shape": "objects", "nesting": 7, "in_entry": False},
}


def huge(label: str, cmd: list[str], sim: Server) -> Record:
    """For each of HUGE, a fresh exporter probes a line while ``/-/healthy`` is polled."""
    config = exporter_config(sim.base_url, {"line": module("broadband/info", cache_seconds=300)})
    record: Record = {}
    for name, knobs in HUGE.items():
        procs.sim_fault(sim, {"kind": "huge_value", "command": "broadband/info", **knobs})
        try:
            with procs.start_exporter(f"huge-{name}-{label}", config, cmd) as ex:
                record[name] = polled(ex, lambda ex=ex: probed(ex, FIRST_LINE_ID))
        finally:
            procs.sim_fault(sim, None)
    return record


def run(lines: int, builds: dict[str, list[str]], say: Callable[[str], None]) -> Record:
    """Every step for each of ``builds`` (``now``, and ``today`` when there is one)."""
    record: Record = {"lines": lines, "seconds": SECONDS, "rate": RATE}
    record |= {"cache_seconds": CACHE_SECONDS, "hostile_entries": HOSTILE_ENTRIES}
    with procs.start_simulator(lines, name=f"simulator-scale-{lines}") as sim:
        reply = record["reply_s"] = reply_seconds(sim)
        say(f"  simulator, {lines:,} lines: broadband/info answered in {reply:.2f} s")
        for label, cmd in builds.items():
            found = record[label] = measure(label, cmd, sim, lines)
            found["discover_cold_over_reply_s"] = found["discover_cold_s"] - reply
            open_loop = {k: round(v, 1) for k, v in found["open"].items() if k.endswith("_ms")}
            say(
                f"  {label}: /discover cold {found['discover_cold_s']:.2f} s, warm "
                f"{found['discover_warm_ms']:.0f} ms; every line {found['every_line_s']:.0f} s, "
                f"VmRSS {found['rss_mb']:.0f} MB; open loop {open_loop}"
            )
    path = hostile_file()
    record["hostile_bytes"] = path.stat().st_size
    with procs.start_simulator(1, "--replay", f"broadband/info={path}", name="sim-hostile") as sim:
        record["hostile_reply_s"] = reply_seconds(sim)
        for label, cmd in builds.items():
            found = record[label]["hostile"] = hostile(label, cmd, sim)
            say(
                f"  {label}, hostile reply: /-/healthy waited up to "
                f"{found['healthy_wait_ms']:.0f} ms, memory +{found['growth_mb']:.0f} MB; "
                f"/discover {found['discover']['healthy_wait_ms']:.0f} ms cold, "
                f"{found['discover_warm']['healthy_wait_ms']:.0f} ms warm, "
                f"memory +{found['discover']['growth_mb']:.0f} MB"
            )
    with procs.start_simulator(40, name="sim-huge") as sim:
        for label, cmd in builds.items():
            shapes = record[label]["huge"] = huge(label, cmd, sim)
            waits = ", ".join(f"{k} {v['healthy_wait_ms']:.0f} ms" for k, v in shapes.items())
            say(f"  {label}, one huge value: /-/healthy waited up to {waits}")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import run as whole

    return whole.main(["--only", "scale", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
