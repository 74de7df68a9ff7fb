"""``make soak`` (``python -m benchmarks.soak --seconds N``): the exporter for a long run
against everything at once, failing when anything broke.

The simulator with every fault mixed in (``soakconfig.fault_mix``, an outage of one account
five seconds in twenty), the exporter rewritten and reloaded every few seconds (declarations
and credentials changing, one reload in seven refused), hostile clients and slow connections
(``soakclients``), and steady probes. Every window (``min(300, seconds / 6)`` seconds) prints
the answers by status, probe p99, the exporter's RSS, descriptors, log lines and tracebacks.
Exit status: 0 when every check held, 1 when one failed (the summary says which), 2 when the
soak could not run. benchmarks/README.md, "make soak", has the rules and their bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shlex
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from benchmarks import procs, soakclients
from benchmarks.openloop import percentile
from benchmarks.procs import HOST, InfraError, Server
from benchmarks.soakclients import Load, Tally
from benchmarks.soakconfig import ACCOUNTS, LINES, fault_mix, outage_mix, variant
from benchmarks.soakreport import LogCounts, Sample, Window, render, verdict

DEFAULT_SECONDS = 1800
#: Seconds the load pauses before the warm-up and the final measurements, so both are taken
#: at rest: no request in flight, every client's connection closed.
REST_SECONDS = 3.0
#: The exporter's default ``--web.read-header-timeout``; a slow connection still open three
#: times as long is a failure.
HEADER_DEADLINE = 10.0
FAULT_PHASES = ((15.0, "mixed"), (5.0, "outage"))


def window_seconds(seconds: float) -> float:
    """Five minutes, or a sixth of a shorter run, so that every run has windows to compare."""
    return min(300.0, seconds / 6)


@dataclass
class Exporter:
    """The exporter under soak: its process, its configuration file and its log so far."""

    server: Server
    config: Path
    log: LogCounts = field(default_factory=LogCounts)
    _offset: int = 0

    def sample(self, seconds: float) -> Sample:
        with open(self.server.log_path, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        self.log.feed(data.decode("utf-8", errors="replace"))
        pid = self.server.popen.pid
        try:
            status = procs.parse_status(Path(f"/proc/{pid}/status").read_text())
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:  # it has exited: the caller reports that
            status, fds = {}, 0
        kib = 1024 / 1e6
        rss, hwm = status.get("VmRSS", 0) * kib, status.get("VmHWM", 0) * kib
        return Sample(seconds, rss, hwm, fds, self.log.lines, self.log.tracebacks)


@dataclass
class Soak:
    """One run: its settings, processes, clients and the windows so far."""

    args: argparse.Namespace
    sim: Server
    exporter: Exporter
    load: Load
    rng: random.Random
    started: float = field(default_factory=time.monotonic)
    windows: list[Window] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reload_step: int = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def close_window(self, label: str) -> Window:
        window = Window(label, self.exporter.sample(self.elapsed()), self.load.tally)
        self.load.tally = Tally()
        self.windows.append(window)
        print(progress(window), flush=True)
        for server in (self.exporter.server, self.sim):
            if server.popen.poll() is not None and self.load.until:
                self.problems.append(f"{server.name} exited with {server.popen.returncode}")
                self.load.until = 0.0  # every loop stops at its next turn
        return window


def progress(window: Window) -> str:
    tally, sample = window.tally, window.sample
    statuses: dict[str, int] = {}
    for (kind, outcome), count in tally.answers.items():
        if not kind.startswith("hostile"):
            statuses[outcome] = statuses.get(outcome, 0) + count
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    p99 = percentile(sorted(tally.latencies), 99) if tally.latencies else 0.0
    return (
        f"[{sample.seconds:7.1f}s] window {window.label}: {shown or 'no requests'}; "
        f"probe p99 {1000 * p99:.0f} ms; RSS {sample.rss_mb:.1f} MB; fds {sample.fds}; "
        f"log lines {sample.log_lines}; tracebacks {sample.tracebacks}; "
        f"failures {sum(tally.failures.values())}"
    )


async def set_faults(
    session: aiohttp.ClientSession, sim: Server, faults: list[dict[str, object]]
) -> None:
    async with session.delete(sim.base_url + "/_sim/faults") as answer:
        if answer.status != 200:
            raise InfraError(f"simulator: DELETE /_sim/faults answered {answer.status}")
    for fault in faults:
        async with session.post(sim.base_url + "/_sim/faults", data=json.dumps(fault)) as answer:
            if answer.status != 201:
                raise InfraError(f"simulator refused {fault}: {await answer.text()}")


async def fault_phases(soak: Soak) -> None:
    """The mix most of the time; for five seconds in twenty, one account in an outage."""
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < soak.load.until:
            for seconds, phase in FAULT_PHASES:
                mix = outage_mix(soak.rng) if phase == "outage" else fault_mix()
                await set_faults(session, soak.sim, mix)
                await asyncio.sleep(max(0.0, min(seconds, soak.load.until - time.monotonic())))


def write_config(path: Path, text: str) -> None:
    """Replace the file in one step, so a reload never reads half of it."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


async def reload_by_signal(session: aiohttp.ClientSession, soak: Soak) -> tuple[bool | None, str]:
    """SIGHUP, then ``/health`` until its last reload changes: (succeeded, error)."""
    base = soak.exporter.server.base_url

    async def last() -> dict[str, object]:
        async with session.get(base + "/health") as answer:
            return dict(json.loads(await answer.read()).get("last_reload") or {})

    before = await last()
    os.kill(soak.exporter.server.popen.pid, signal.SIGHUP)
    for _ in range(200):
        await asyncio.sleep(0.05)
        now = await last()
        if now.get("time") != before.get("time"):
            return bool(now.get("success")), str(now.get("error") or "")
    return None, "no reload seen on /health 10 s after SIGHUP"


async def reload_by_post(session: aiohttp.ClientSession, soak: Soak) -> tuple[bool | None, str]:
    async with session.post(soak.exporter.server.base_url + "/-/reload") as answer:
        text = (await answer.text()).strip()
    if answer.status == 200:
        return True, ""
    if answer.status == 500 and text.startswith("reload failed"):
        return False, text
    return None, f"POST /-/reload answered {answer.status}: {text[:200]}"


#: One reload in ten starts a storm: this many valid reloads by POST, ``STORM_GAP`` apart,
#: each sent with ``STORM_PROBES`` probes at once, so that reloads land between a probe's
#: CHAOS call being created and its first step (issue 23, N1).
STORM = 10
STORM_GAP = 0.05
STORM_PROBES = 4


async def reload_once(
    session: aiohttp.ClientSession, soak: Soak, how: str, broken: str | None = None
) -> None:
    """Write the next configuration, reload it ``how`` (``POST`` or ``SIGHUP``), and check
    that it was accepted when valid and refused when broken."""
    soak.reload_step += 1
    secrets = soak.exporter.config.parent
    chosen = variant(soak.sim.base_url, soak.reload_step, soak.rng, secrets, broken)
    write_config(soak.exporter.config, chosen.text)
    try:
        reload = reload_by_signal if how == "SIGHUP" else reload_by_post
        succeeded, error = await reload(session, soak)
    except (aiohttp.ClientError, TimeoutError, ValueError) as problem:
        succeeded, error = None, f"{type(problem).__name__}: {problem}"
    tally = soak.load.tally
    if succeeded is chosen.valid:
        tally.reloads["accepted" if succeeded else "refused"] += 1
        return
    tally.reloads["wrong"] += 1
    what = (
        "no outcome"
        if succeeded is None
        else "a valid configuration refused"
        if chosen.valid
        else "a broken configuration accepted"
    )
    tally.fail(f"reload: {what}", f"step {soak.reload_step} by {how} ({chosen.note}): {error}")


async def reloader(soak: Soak) -> None:
    """A new configuration every ``--reload-every`` seconds, by POST or (one in three) SIGHUP;
    now and then a storm of them."""
    timeout = aiohttp.ClientTimeout(total=soakclients.ANSWER_SECONDS)
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        while True:
            await asyncio.sleep(soak.args.reload_every)
            if time.monotonic() >= soak.load.until:
                return
            if soak.rng.random() < 0.1:
                for _ in range(STORM):
                    probes = [soakclients.storm_probe(soak.rng) for _ in range(STORM_PROBES)]
                    await asyncio.gather(
                        reload_once(session, soak, "POST", broken=""),
                        *(soakclients.send(session, soak.load, probe) for probe in probes),
                    )
                    await asyncio.sleep(STORM_GAP)
            else:
                how = "SIGHUP" if soak.rng.random() < 1 / 3 else "POST"
                await reload_once(session, soak, how)


async def run_phase(soak: Soak, seconds: float, windows: list[str]) -> None:
    """Every client until ``seconds`` from now; the windows named in ``windows`` close along
    the way but the last, which closes after the rest."""
    args, load = soak.args, soak.load
    load.until = time.monotonic() + seconds
    seed = soak.rng.randrange(2**32)
    clients = [
        soakclients.steady(load, args.rate, args.workers, seed),
        soakclients.hostile(load, args.hostile_interval, seed + 1),
        *(
            soakclients.slow_client(load, 3 * HEADER_DEADLINE, trickle=i % 2 == 0)
            for i in range(args.slow)
        ),
        reloader(soak),
        fault_phases(soak),
    ]

    async def windows_closer() -> None:
        for label in windows[:-1]:
            await asyncio.sleep(max(0.0, seconds / len(windows)))
            if time.monotonic() < load.until:
                soak.close_window(label)

    await asyncio.gather(*clients, windows_closer())
    await asyncio.sleep(REST_SECONDS)
    soak.close_window(windows[-1])


async def run(soak: Soak) -> Sample:
    """Warm-up (window 1), then the rest; the exporter at rest after warm-up."""
    seconds, width = soak.args.seconds, window_seconds(soak.args.seconds)
    count = max(2, round(seconds / width))
    await run_phase(soak, width, ["1"])
    baseline = soak.windows[-1].sample
    if soak.load.until:
        labels = [str(i) for i in range(2, count + 1)]
        await run_phase(soak, seconds - width, labels)
    return baseline


def start(args: argparse.Namespace, workdir: Path, rng: random.Random) -> tuple[Server, Exporter]:
    sim_port, port = procs.free_port(), procs.free_port()
    sim_flags = f"--lines {LINES} --accounts {ACCOUNTS} --listen {HOST}:{sim_port}"
    sim_argv = [sys.executable, "-m", "aaisp_multi_exporter.simulator", *sim_flags.split()]
    sim_argv += ["--seed", str(args.seed), "--log-level", "WARNING"]
    sim = procs.spawn("soak-simulator", sim_argv, "/_sim/stats", sim_port)

    async def first_faults() -> None:
        async with aiohttp.ClientSession() as session:
            await set_faults(session, sim, fault_mix())

    try:
        asyncio.run(first_faults())
        config = workdir / "soak.toml"
        write_config(config, variant(sim.base_url, 0, rng, workdir).text)
        flags = f"--config.file {config} --web.listen-address {HOST}:{port}"
        flags += " --log.format json --log.level info"
        server = procs.spawn(
            "soak-exporter", [*args.exporter_cmd, *flags.split()], "/-/ready", port
        )
    except BaseException:
        sim.stop()
        raise
    return sim, Exporter(server, config)


def settings(args: argparse.Namespace, soak: Soak) -> dict[str, str]:
    command = shlex.join(args.exporter_cmd).replace(f"{procs.ROOT}/", "")
    try:
        loop = soak.exporter.server.event_loop()
    except OSError:
        loop = "an event loop no longer readable (it exited)"
    return {
        "seconds": f"{args.seconds:g}",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": procs.git("rev-parse", "--short", "HEAD")
        + (" with uncommitted changes" if procs.git("status", "--porcelain", "-uno") else ""),
        "exporter": f"`{command}` on {loop}, Python {platform.python_version()}",
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end",
        "windows": f"{window_seconds(args.seconds):g} s (the first is warm-up)",
        "steady requests": f"{args.rate:g}/s from {args.workers} loops: /probe 80 % (text, "
        "OpenMetrics, debug=true; 4 modules, one a declared command), the other endpoints",
        "reloads": f"every {args.reload_every:g} s, POST /-/reload or SIGHUP, one in ten a "
        f"storm of {STORM} {1000 * STORM_GAP:g} ms apart with {STORM_PROBES} probes each; "
        "declarations and credentials change, about one in seven broken",
        "hostile": f"one request every {args.hostile_interval:g} s over a raw socket; "
        f"{args.slow} slow connections at a time",
        "CHAOS": f"simulator, {ACCOUNTS} accounts of {LINES} lines, every fault mixed in, an "
        "outage of one account 5 s in 20",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--rate", type=float, default=30.0, help="steady requests per second")
    parser.add_argument("--workers", type=int, default=20, help="steady request loops")
    parser.add_argument("--reload-every", type=float, default=3.0, metavar="SECONDS")
    parser.add_argument("--hostile-interval", type=float, default=0.25, metavar="SECONDS")
    parser.add_argument("--slow", type=int, default=6, help="slow connections at a time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--exporter-cmd", type=shlex.split, default=[sys.executable, "-m", "aaisp_multi_exporter"]
    )
    parser.add_argument("--workdir", type=Path, default=procs.OUT / "soak", help="logs, config")
    parser.add_argument("--output", type=Path, help="also write the Markdown summary here")
    args = parser.parse_args(argv)
    if args.seconds < 6 or args.rate <= 0 or args.workers < 1:
        parser.error("--seconds must be >= 6, --rate > 0, --workers >= 1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    procs.OUT = args.workdir.resolve()  # where spawn writes each server's log
    procs.drop_proxies()
    rng = random.Random(args.seed)  # a repeatable run
    try:
        sim, exporter = start(args, procs.OUT, rng)
    except (InfraError, OSError) as error:
        print(f"soak could not start: {error}", file=sys.stderr)
        return 2
    with sim, exporter.server:
        soak = Soak(
            args, sim, exporter, Load(HOST, int(exporter.server.base_url.rsplit(":", 1)[1])), rng
        )
        first = exporter.sample(0.0)
        print(progress(Window("start", first)), flush=True)
        try:
            baseline = asyncio.run(run(soak))
        except Exception:  # the harness's own failure, not the exporter's: exit 2
            traceback.print_exc()
            print(f"soak could not run; logs in {procs.OUT}", file=sys.stderr)
            return 2
        shown = settings(args, soak)
    reasons = verdict(soak.windows, baseline, exporter.log, soak.problems)
    summary = render(shown, first, soak.windows, baseline, exporter.log, reasons)
    print("\n" + summary, flush=True)
    if args.output:
        args.output.write_text(summary, encoding="utf-8")
    print(f"soak {'FAILED' if reasons else 'passed'}; logs in {procs.OUT}", flush=True)
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
