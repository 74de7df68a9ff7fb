"""The whole benchmark: ``.venv/bin/python -m benchmarks.run`` (``make bench``).

Runs the scenarios (``per_n``, ``refresh``, ``memory``, ``scale``, ``slow``, ``busy``; ``--only``
picks some), then evaluates ``goals.toml`` and writes ``RESULTS.md``, the raw figures
``out/results.json``.
``benchmarks/README.md`` says what each scenario does. Exit status 0 when the benchmark ran
(missed goals are FAIL rows), 2 when it could not run (a tool missing, a server that died).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks import goals, procs, profile, report, scale, slow
from benchmarks.loads import SUCCESS, Target, errors, probe_paths, run_openloop, run_wrk
from benchmarks.procs import FIRST_LINE_ID, OUT, InfraError, Server, exporter_config, module

RESULTS_MD = procs.ROOT / "benchmarks" / "RESULTS.md"
PROBE = "/probe?module=line&target="
Record = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    lines: tuple[int, ...] = (100, 1000, 10000)
    connections: tuple[int, ...] = (10, 50)
    wrk_seconds: int = 10
    open_rate: int = 500
    open_seconds: int = 10
    memory_probes: int = 100_000
    scale_lines: int = 100_000
    profile_seconds: int = 0
    exporter_cmd: list[str] = field(default_factory=lambda: procs.EXPORTER)


QUICK = Settings(
    (100, 1000), wrk_seconds=3, open_seconds=3, memory_probes=20_000, scale_lines=20_000
)


@dataclass
class Run:
    """One run: its settings, its progress log, the figures so far and today's build's command
    (None when there is none, or once it has failed)."""

    settings: Settings
    results: Record
    today: list[str] | None = None
    started: float = field(default_factory=time.monotonic)

    def progress(self, message: str) -> None:
        line = f"[{time.monotonic() - self.started:7.1f}s] {message}"
        print(line, flush=True)
        with open(OUT / "progress.log", "a", encoding="utf-8") as log:
            log.write(line + "\n")


def probe_ok(url: str) -> bool:
    status, _, body = procs.fetch(url, timeout=30.0)
    return status == 200 and SUCCESS.encode() in body


def summary(figures: Record) -> str:
    rate = figures.get("probes_per_second", figures.get("achieved_rate", 0))
    return (
        f"{rate:,.0f}/s, p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms, "
        f"max {figures['max_ms']:.1f} ms, errors {errors(figures)}"
    )


def measure(
    run: Run, server: Server, target: Target, sim: Server | None = None, is_exporter: bool = False
) -> Record:
    """The closed loops and the open loop against ``server``, a probe checked before and after;
    CHAOS calls from the simulator's count and, for an exporter, its own failure counter."""
    s = run.settings
    shapes: dict[str, Callable[[], Record]] = {
        f"closed_c{c}": partial(run_wrk, target, c, s.wrk_seconds) for c in s.connections
    }
    shapes["open"] = partial(run_openloop, target, s.open_rate, s.open_seconds, "--expect", SUCCESS)
    record: Record = {"ready_s": server.ready_s, "errors": int(not probe_ok(target.url()))}
    for name, shape in shapes.items():
        calls = procs.sim_calls(sim) if sim else 0
        failed = procs.failures(server) if is_exporter else 0
        figures = record[name] = shape()
        if sim is not None:
            calls = procs.sim_calls(sim) - calls
            figures["chaos_calls_per_1000"] = 1000 * calls / figures["requests"]
        if is_exporter:
            figures["failed_probes"] = procs.failures(server) - failed
        server.check_alive()
        record["errors"] += errors(figures)
        run.progress(f"    {name}: {summary(figures)}")
    record["errors"] += not probe_ok(target.url())
    record["peak_mb"] = server.mb("VmHWM")
    return record


def blackbox(run: Run, name: str, url: str, sim: Server | None = None) -> Record:
    """blackbox_exporter (module ``http_2xx``) probing ``url``; ``{bb}`` is its own address."""
    with procs.start_blackbox(f"blackbox-{name}") as bb:
        url = url.replace("{bb}", bb.base_url)
        run.progress(f"blackbox_exporter probing {url}: ready in {bb.ready_s:.3f} s")
        if name == "healthy":  # can the generator keep its schedule? Nothing behind /-/healthy.
            check = run_openloop(Target(bb.base_url, "/-/healthy"), run.settings.open_rate, 5)
            run.results["blackbox"]["generator_check"] = check
            run.progress(f"  load generator check, straight at /-/healthy: {summary(check)}")
        target = Target(bb.base_url, f"/probe?module=http_2xx&target={quote(url, safe='')}")
        return measure(run, bb, target, sim) | {"target": url}


Hook = Callable[[Server, Target], None] | None


def exporter(
    run: Run, label: str, cmd: list[str], sim: Server, n: int, cache: int, hook: Hook = None
) -> Record:
    """A fresh exporter (one module, ``broadband/info``, account scope) under the loads; when
    cached, first every line once from a cold cache, which must cost one CHAOS call."""
    procs.sim_reset(sim)
    config = exporter_config(sim.base_url, {"line": module("broadband/info", cache_seconds=cache)})
    with procs.start_exporter(f"{label}-{n}", config, cmd) as server:
        run.progress(f"  {label}, N={n:,}: ready in {server.ready_s:.3f} s")
        record: Record = {}
        if cache:
            paths = [f"{PROBE}{FIRST_LINE_ID + i}" for i in range(n)]
            counts = asyncio.run(probe_paths(server.base_url, paths, budget=60))
            calls = procs.sim_calls(sim)
            record["one_call"] = {"chaos_calls": calls, "failed": n - counts.succeeded}
            run.progress(f"    every line once: {record['one_call']}")
        target = Target(server.base_url, PROBE, FIRST_LINE_ID, n)
        record |= measure(run, server, target, sim, is_exporter=True)
        if hook is not None:
            hook(server, target)
    return record


def per_n(run: Run) -> None:
    s, results = run.settings, run.results
    results["blackbox"] = {}
    results["blackbox"]["healthy"] = blackbox(run, "healthy", "{bb}/-/healthy")
    now, bare, today = results["now"], results["bare"], results["today"]
    for n in s.lines:
        with procs.start_simulator(n) as sim:
            if n == max(s.lines):  # an auth-error envelope whatever N: measured once
                sim_url = f"{sim.base_url}/broadband/info/json"
                results["blackbox"]["sim"] = blackbox(run, "sim", sim_url, sim)
            answer: Record = {}

            def keep(server: Server, target: Target, n: int = n, answer: Record = answer) -> None:
                status, headers, body = procs.fetch(target.url())
                if status != 200 or SUCCESS.encode() not in body:
                    raise InfraError(f"a cached probe for the bare reference answered {status}")
                answer.update(body=body, headers=headers, loop=server.event_loop())
                if n == max(s.lines) and s.profile_seconds:
                    run.progress(f"    py-spy for {s.profile_seconds} s under wrk -c50")
                    results["profile"] = profile.record(server, target, s.profile_seconds)
                    results["profile"]["lines"] = n

            key = f"N{n}"
            now["cached"][key] = exporter(run, "exporter-cached", s.exporter_cmd, sim, n, 300, keep)
            loop = answer["loop"]
            with procs.start_bare(answer["body"], answer["headers"], loop, f"bare-{n}") as server:
                run.progress(f"  bare aiohttp ({loop}), N={n:,}: ready in {server.ready_s:.3f} s")
                target = Target(server.base_url, PROBE, FIRST_LINE_ID, n)
                bare[key] = measure(run, server, target) | {"body_bytes": len(answer["body"])}
            if run.today is not None:
                try:
                    label = f"today-{today['rev']}"
                    today["cached"][key] = exporter(run, label, run.today, sim, n, 300)
                except InfraError as error:
                    run.progress(f"  today's build failed: {error}")
                    today["error"], run.today = str(error), None
            now["uncached"][key] = exporter(run, "exporter-uncached", s.exporter_cmd, sim, n, 0)


def refresh(run: Run) -> None:
    """CHAOS answering in 1 s, ``cache_seconds = 4``: a fresh exporter without refresh ahead
    ("before": every expiry parks probes behind one call) and with it ("after")."""
    scenario = {"lines": 50, "latency_s": 1, "cache_seconds": 4, "rate": 40, "seconds": 14}
    # A refresh starts at 75 % of cache_seconds (docs/design.md); plus the call that fills it.
    record: Record = scenario | {"call_bound": math.ceil(14 / (0.75 * 4)) + 1}
    run.results["refresh"] = record
    with procs.start_simulator(50, "--latency", "1", name="simulator-refresh") as sim:
        for label, ahead in (("before", False), ("after", True)):
            procs.sim_reset(sim)
            line = module("broadband/info", cache_seconds=4, refresh_ahead=ahead)
            config = exporter_config(sim.base_url, {"line": line})
            with procs.start_exporter(f"refresh-{label}", config, run.settings.exporter_cmd) as ex:
                failed, target = procs.failures(ex), Target(ex.base_url, PROBE, FIRST_LINE_ID, 50)
                age = "aaisp_probe_data_age_seconds"
                figures = run_openloop(target, 40, 14, "--expect", SUCCESS, "--gauge", age)
                figures["chaos_calls"] = procs.sim_calls(sim)  # the warm-up's included: it fills
                figures["failed_probes"] = procs.failures(ex) - failed
                figures["refreshed_ahead"] = procs.refreshed_ahead(ex)
            figures["errors"] = errors(figures)
            record[label] = figures
            run.progress(
                f"  refresh_ahead = {ahead}: {summary(figures)}, {figures['chaos_calls']} calls"
            )


def memory(run: Run) -> None:
    """``memory.probes`` probes over 10,000 targets, 32 at a time, in a fresh exporter per scope
    (``line``: one snapshot per target; ``account``: one in all); VmRSS every 10,000 probes."""
    probes = run.settings.memory_probes
    record: Record = {"probes": probes, "distinct": 10_000, "failed": 0}
    run.results["memory"] = record
    paths = [f"/probe?module=mem&target={FIRST_LINE_ID + i % 10_000}" for i in range(probes)]
    with procs.start_simulator(10_000, name="simulator-memory") as sim:
        for scope in ("line", "account"):
            calls = procs.sim_calls(sim)
            mem = module("broadband/info", scope=scope, cache_seconds=3600)
            config = exporter_config(sim.base_url, {"mem": mem})
            with procs.start_exporter(f"memory-{scope}", config, run.settings.exporter_cmd) as ex:
                series, started = [(0, ex.mb())], time.monotonic()

                def step(done: int, ex: Server = ex, series: list[Any] = series) -> None:
                    series.append((done, ex.mb()))
                    run.progress(f"  {done:>7,} probes, VmRSS {series[-1][1]:.1f} MB")

                count = probe_paths(ex.base_url, paths, concurrency=32, step=10_000, on_step=step)
                counts, peak = asyncio.run(count), ex.mb("VmHWM")
            baseline = next((mb for done, mb in series if done >= 20_000), series[-1][1])
            found = {"series": series, "baseline_mb": baseline, "last_mb": series[-1][1]}
            found |= {"peak_mb": peak, "seconds": time.monotonic() - started}
            record[scope] = found | {"chaos_calls": procs.sim_calls(sim) - calls}
            record[scope]["stopped"] = counts.stopped
            record["failed"] += probes - counts.succeeded


def scale_scenario(run: Run) -> None:
    s = run.settings
    builds = {"now": s.exporter_cmd} | ({"today": run.today} if run.today else {})
    run.results["scale"] = scale.run(s.scale_lines, builds, run.progress)


def slow_chaos(kind: str, run: Run) -> None:
    s = run.settings
    builds = {"now": s.exporter_cmd} | ({"today": run.today} if run.today else {})
    run.results[kind] = slow.run(kind, s.scale_lines, builds, run.progress)


SCENARIOS = {
    "per_n": per_n,
    "refresh": refresh,
    "memory": memory,
    "scale": scale_scenario,
    "slow": partial(slow_chaos, "slow"),
    "busy": partial(slow_chaos, "busy"),
}


def first_line(command: str) -> str:
    done = procs.sh(command + " 2>&1", timeout=10)
    return (done.stdout.strip() or "unknown").splitlines()[0]


def machine() -> dict[str, str]:
    """What the figures were measured on, for the top of the report."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((x.split(":", 1)[1].strip() for x in cpuinfo if x.startswith("model name")), "?")
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        # Other work on a shared machine moves every figure: this says how busy it was.
        "load average at start (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "memory": Path("/proc/meminfo").read_text().split("\n", 1)[0].split(":")[1].strip(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **{name: metadata.version(name) for name in ("aiohttp", "uvloop", "aaisp-multi-exporter")},
        "git": procs.git("rev-parse", "--short", "HEAD")
        + (" with uncommitted changes" if procs.git("status", "--porcelain", "-uno") else ""),
        "wrk": first_line("wrk --version").split(" Copyright")[0],
        "blackbox_exporter": first_line(f"{procs.BLACKBOX} --version"),
    }


def write(results: Record, output: Path) -> int:
    """Evaluate the goals, write the report; 2 when a scenario could not run, else 0."""
    results["goals"] = goals.evaluate(goals.load(), results)
    output.write_text(report.render(results), encoding="utf-8")
    return 2 if results.get("failed") else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run, not for results")
    parser.add_argument("--only", help=f"comma-separated scenarios of: {', '.join(SCENARIOS)}")
    parser.add_argument("--today-rev", metavar="REV", help="today's build, or 'none'")
    parser.add_argument("--exporter-cmd", type=shlex.split, default=procs.EXPORTER)
    parser.add_argument("--profile", action="store_true", help="py-spy of a cached probe")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON", help="only the report")
    parser.add_argument("--output", type=Path, help="default: RESULTS.md, or out/ if partial")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else list(SCENARIOS)
    if unknown := set(only) - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    OUT.mkdir(parents=True, exist_ok=True)
    procs.drop_proxies()
    if args.render:  # RESULTS.md only from the figures of a full run
        results = json.loads(args.render.read_text(encoding="utf-8"))
        output = args.output or (RESULTS_MD if results.get("full") else OUT / "RESULTS.md")
        print(f"writing {output}")
        return write(results, output)
    profile_seconds = (5 if args.quick else 10) if args.profile else 0
    s = replace(QUICK if args.quick else Settings(), profile_seconds=profile_seconds)
    s = replace(s, exporter_cmd=args.exporter_cmd)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    shown = asdict(s) | {"exporter_cmd": shlex.join(s.exporter_cmd).replace(f"{procs.ROOT}/", "")}
    run = Run(s, {"started": started, "scenarios": only, "settings": shown, "machine": machine()})
    run.results |= {"now": {"cached": {}, "uncached": {}}, "bare": {}, "today": {}, "failed": {}}
    run.results["full"] = not (args.quick or args.only)
    (OUT / "progress.log").write_text("")
    rev = procs.results_commit() if args.today_rev is None else args.today_rev
    if rev and rev.lower() != "none":
        try:
            short, run.today = procs.export_today(rev)
            run.results["today"] = {"rev": short, "cached": {}}
            run.progress(f"today's build {short}: exported to benchmarks/out/today-{short}")
        except (InfraError, OSError) as error:
            run.results["today"] = {"rev": rev, "error": str(error)}
            run.progress(f"today's build {rev}: not exported ({error})")
    for name in only:  # a scenario that cannot run is reported; the others still run
        try:
            run.progress(f"scenario {name}")
            SCENARIOS[name](run)
        except (InfraError, OSError) as error:
            run.progress(f"scenario {name} could not run: {error}")
            run.results["failed"][name] = str(error)
    run.results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    run.results["seconds"] = time.monotonic() - run.started
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (OUT / "results.json", OUT / f"results-{stamp}.json"):
        path.write_text(json.dumps(run.results, indent=1), encoding="utf-8")
    output = args.output or (RESULTS_MD if run.results["full"] else OUT / "RESULTS.md")
    status = write(run.results, output)
    run.progress(f"wrote {output} and {OUT / 'results.json'}")
    for row in run.results["goals"]:
        run.progress(f"  {goals.verdict(row['passed']):4} {row['goal']}: {row['measured']}")
    return status


if __name__ == "__main__":
    sys.exit(main())
