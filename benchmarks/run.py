"""The whole benchmark in one command: ``.venv/bin/python -m benchmarks.run`` (``make bench``).

For N in 100, 1,000 and 10,000 lines it starts the simulator, then, in this order: the exporter
with snapshots cached; a bare aiohttp handler answering that exporter's cached probe, byte for
byte (``benchmarks.bare``: the framework's ceiling); "today's build", the code of the commit
that last changed RESULTS.md, cached (``--today-rev``); and the exporter with ``cache_seconds =
0``. Each is driven on ``/probe`` from separate load processes: wrk (closed loop, 10 and 50
connections) and ``benchmarks.openloop`` (500 probes per second on a fixed schedule). The three
cached servers of one N run back to back on one simulator, so their ratios come from
measurements minutes apart at most; the machine's speed drifts more than that between runs.
Debian's blackbox_exporter runs under the same loads first, probing its own ``/-/healthy`` and,
with the largest N, the simulator; every exporter figure is also given as a ratio to it. With
``--profile``, py-spy samples the cached exporter at the largest N under wrk. Then
``benchmarks.refresh`` runs the refresh-ahead scenario (CHAOS answering in 1 s) and
``benchmarks.memory`` the bounded-memory check. Without today's build (``--today-rev none``,
or it could not be exported or started), goals that say "no worse than today" read the last
committed RESULTS.md's figures instead.

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

from benchmarks import memory, pyspy, refresh, report, today
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
    add_exporter_cmd,
    exporter_config,
    exporter_counter,
    http_fetch,
    http_get,
    sim_calls,
    sim_reset,
    start_bare,
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
    #: The refresh-ahead scenario; None skips it.
    refresh: refresh.Scenario | None = field(default_factory=refresh.Scenario)
    #: Seconds of py-spy on the cached exporter at the largest N; 0 skips the profile.
    profile_seconds: int = 0
    exporter_cmd: list[str] = field(
        default_factory=lambda: [str(VENV_BIN / "aaisp-multi-exporter")]
    )
    #: The revision measured as "today's build" beside the exporter; None runs none.
    today_rev: str | None = None


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
    sim: Server,
    lines: int,
    mode: str,
    settings: Settings,
    progress: Callable[[str], None],
    while_running: Callable[[Server], None] | None = None,
    *,
    exporter_cmd: Sequence[str] | None = None,
    name: str = "exporter",
    label: str = "",
) -> dict[str, Any]:
    """A fresh exporter for one N and cache mode, every figure of it; ``while_running`` is
    called with it after its figures are taken, before it stops. ``exporter_cmd`` starts
    another build than ``settings.exporter_cmd``; ``name`` begins its log's and
    configuration's file names, ``label`` names it in progress lines."""
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
        f"{name}-{lines}-{mode}",
        exporter_config(sim.base_url, modules),
        settings.exporter_cmd if exporter_cmd is None else exporter_cmd,
    )
    first_url = f"{exporter.base_url}/probe?module={MODULE}&target={FIRST_LINE_ID}"
    try:
        who = label or f"exporter {mode}"
        progress(f"  {who}, N={lines}: ready in {exporter.ready_seconds:.3f} s")
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
        record["event_loop"] = exporter.event_loop()
        progress(f"    peak resident {memory_kib['VmHWM'] / 1000:.1f} MB")
        if while_running is not None:
            while_running(exporter)
    finally:
        exporter.stop()
    return record


@dataclass
class CachedAnswer:
    """What the bare-aiohttp reference serves: a real cached probe's answer, and the loop."""

    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    event_loop: str = "asyncio"


def capture_answer(exporter: Server, answer: CachedAnswer) -> None:
    status, headers, body = http_fetch(
        f"{exporter.base_url}/probe?module={MODULE}&target={FIRST_LINE_ID}"
    )
    if status != 200 or SUCCESS not in body:
        raise InfraError(f"a cached probe for the bare reference answered {status}")
    answer.body, answer.headers, answer.event_loop = body, headers, exporter.event_loop()


def run_bare(
    answer: CachedAnswer, lines: int, settings: Settings, progress: Callable[[str], None]
) -> dict[str, Any]:
    """The bare-aiohttp reference under the exporter's loads, on the exporter's paths."""
    bare = start_bare(answer.body, answer.headers, answer.event_loop, f"bare-aiohttp-{lines}")
    try:
        progress(
            f"  bare aiohttp ({answer.event_loop} loop, the cached exporter's "
            f"{len(answer.body):,}-byte answer), N={lines}: ready in {bare.ready_seconds:.3f} s"
        )
        record: dict[str, Any] = {
            "ready_s": bare.ready_seconds,
            "lines": lines,
            "event_loop": answer.event_loop,
            "body_bytes": len(answer.body),
            "content_type": answer.headers.get("Content-Type", ""),
        }
        target = Target(bare.base_url, f"/probe?module={MODULE}&target=", FIRST_LINE_ID, lines)
        record["loads"] = measure_loads(target, settings, progress)
        bare.check_alive()
        record["peak_kib"] = bare.memory_kib()["VmHWM"]
    finally:
        bare.stop()
    return record


def profile_exporter(
    exporter: Server, lines: int, settings: Settings, progress: Callable[[str], None]
) -> dict[str, Any]:
    """py-spy on the exporter while wrk (50 connections) loads it with cached probes."""
    seconds = settings.profile_seconds
    out = OUT / "profile-cached.txt"
    out.unlink(missing_ok=True)
    progress(f"    py-spy for {seconds} s under wrk -c50")
    try:
        spy = pyspy.start(exporter.pid, seconds, out)
    except (InfraError, OSError) as error:
        progress(f"    no profile: {error}")
        return {"error": str(error)}
    time.sleep(0.5)  # py-spy attaches
    target = Target(exporter.base_url, f"/probe?module={MODULE}&target=", FIRST_LINE_ID, lines)
    load = run_wrk(target, 50, seconds + 1)
    record = pyspy.finish(spy, out, seconds)
    record.update(
        lines=lines,
        seconds=seconds,
        rate=pyspy.RATE,
        probes_per_second=load["probes_per_second"],
    )
    top = record.get("self", [])[:3]
    progress(
        "    top self: " + ", ".join(f"{frame} {share:.0%}" for frame, share in top)
        if top
        else f"    {record.get('error', 'no samples')}"
    )
    return record


def reference_hook(
    answer: CachedAnswer,
    lines: int,
    settings: Settings,
    progress: Callable[[str], None],
    results: dict[str, Any],
    *,
    profile: bool,
) -> Callable[[Server], None]:
    """What the cached exporter does once measured: give its answer for the bare reference,
    and, with ``profile`` (the largest N), be profiled when asked."""

    def hook(exporter: Server) -> None:
        capture_answer(exporter, answer)
        if profile and settings.profile_seconds:
            results["profile"] = profile_exporter(exporter, lines, settings, progress)

    return hook


def export_today(
    settings: Settings, progress: Callable[[str], None], results: dict[str, Any]
) -> today.Build | None:
    """Today's build ready to start, or None (none asked for, or the export failed: then
    ``results["today_build"]`` says why, and the goals read the committed RESULTS.md)."""
    if settings.today_rev is None:
        return None
    try:
        build = today.export(settings.today_rev)
    except (InfraError, OSError) as error:
        progress(
            f"today's build {settings.today_rev}: not exported ({error}); goals against "
            "today read the committed RESULTS.md"
        )
        results["today_build"] = {"rev": settings.today_rev, "error": str(error)}
        return None
    progress(f"today's build {build.rev}: exported to {build.directory.relative_to(ROOT)}")
    results["today_build"] = {
        "rev": build.rev,
        "commit": build.commit,
        "chosen": "the last commit to change benchmarks/RESULTS.md: the code that produced it"
        if build.commit == today.results_commit()
        else "named with --today-rev",
        "exporter": {},
    }
    return build


def run_today(
    build: today.Build,
    sim: Server,
    lines: int,
    settings: Settings,
    progress: Callable[[str], None],
    results: dict[str, Any],
) -> bool:
    """Today's build, cached, under the exporter's loads on the exporter's simulator; False
    (and ``results["today_build"]`` an error) when it could not be measured."""
    try:
        record = run_exporter(
            sim,
            lines,
            "cached",
            settings,
            progress,
            exporter_cmd=build.command(),
            name=f"today-{build.rev}",
            label=f"today's build {build.rev}",
        )
    except (InfraError, OSError) as error:
        progress(
            f"  today's build {build.rev}, N={lines}: failed ({error}); goals against "
            "today read the committed RESULTS.md"
        )
        results["today_build"] = {"rev": build.rev, "commit": build.commit, "error": str(error)}
        return False
    results["today_build"]["exporter"][str(lines)] = record
    return True


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
            "profile_seconds": settings.profile_seconds,
            "exporter_cmd": " ".join(settings.exporter_cmd).replace(str(ROOT) + "/", ""),
            "today_rev": settings.today_rev,
        },
        "commands": example_commands(settings),
        "machine": machine_info(),
        "exporter": {},
        "bare_by_lines": {},
    }
    build = export_today(settings, progress, results)
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
            # The cached exporter, then the bare reference with its answer and today's build:
            # the three compared cached figures, adjacent in time; then the uncached exporter.
            answer = CachedAnswer()
            hook = reference_hook(
                answer, lines, settings, progress, results, profile=lines == max(settings.lines)
            )
            modes = results["exporter"][str(lines)] = {
                "cached": run_exporter(sim, lines, "cached", settings, progress, hook)
            }
            results["bare_by_lines"][str(lines)] = run_bare(answer, lines, settings, progress)
            if build is not None and not run_today(build, sim, lines, settings, progress, results):
                build = None
            modes["uncached"] = run_exporter(sim, lines, "uncached", settings, progress)
        finally:
            sim.stop()
    # The largest N's, as one record: the report's prose describes it.
    results["bare"] = results["bare_by_lines"][str(max(settings.lines))]
    if settings.refresh is not None:
        progress("refresh ahead: CHAOS answering in 1 s, before and after")
        results["refresh_ahead"] = refresh.run(settings.exporter_cmd, progress, settings.refresh)
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
    add_exporter_cmd(parser)
    parser.add_argument("--quick", action="store_true", help="short smoke run, not for results")
    parser.add_argument(
        "--before", type=Path, help="an earlier results.json: adds a before/after table"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_MD, help="the report to write")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample the cached exporter with py-spy under wrk (10 s; 5 s with --quick)",
    )
    parser.add_argument(
        "--today-rev",
        metavar="REV",
        help="the revision run beside the exporter as 'today's build' (default: the commit "
        "that last changed benchmarks/RESULTS.md, the code that produced it; 'none': compare "
        "with that file's figures instead)",
    )
    parser.add_argument(
        "--today",
        type=Path,
        help="the RESULTS.md that is 'today' when today's build is not run (default: "
        "benchmarks/RESULTS.md as committed)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: write the report again from an earlier results.json",
    )
    args = parser.parse_args(argv)
    before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None
    if args.render:
        results = json.loads(args.render.read_text(encoding="utf-8"))
        if args.today or "today" not in results:
            results["today"] = today.load(args.today)
        results["goals"] = report.goals(results)
        args.output.write_text(report.render(results, before), encoding="utf-8")
        print(f"wrote {args.output}")
        return 0
    settings = Settings(exporter_cmd=args.exporter_cmd, profile_seconds=10)
    if args.quick:
        settings = Settings(
            lines=(100, 1000),
            wrk_seconds=3,
            open_seconds=3,
            memory_probes=20_000,
            profile_seconds=5,
            exporter_cmd=settings.exporter_cmd,
        )
    if not args.profile:
        settings.profile_seconds = 0
    if args.today_rev is None:
        settings.today_rev = today.results_commit()
    elif args.today_rev.lower() != "none":
        settings.today_rev = args.today_rev
    progress = Progress()
    known_today = today.load(args.today)
    try:
        results = run_all(settings, progress)
    except (InfraError, OSError) as error:
        progress(f"benchmark could not run: {error}")
        traceback.print_exc()
        return 2
    results["today"] = known_today
    results["goals"] = report.goals(results)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (OUT / "results.json", OUT / f"results-{stamp}.json"):
        path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    args.output.write_text(report.render(results, before), encoding="utf-8")
    progress(f"wrote {args.output} and {OUT / 'results.json'}")
    for goal in results["goals"]:
        progress(f"  {report.verdict(goal['passed']):4} {goal['goal']}: {goal['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
