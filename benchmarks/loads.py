"""The loads: wrk (closed loop) and ``benchmarks.openloop`` (open loop), each in a process of
its own, their output parsed; and ``probe_paths``, a closed loop that reads every answer's body,
for the checks that count ``probe_success 1`` rather than time."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.procs import InfraError, sh

LUA = Path(__file__).resolve().parent / "rotate.lua"
SUCCESS = "\nprobe_success 1"
#: What counts as a failed probe or request in a load's figures.
ERROR_KEYS = "non_2xx socket_errors failed_probes http_errors transport_errors unexpected_bodies"


@dataclass(frozen=True)
class Target:
    """``base_url + prefix``, then with ``count`` an ID from ``first`` rotating over ``count``."""

    base_url: str
    prefix: str
    first: int = 0
    count: int = 0

    def url(self, index: int = 0) -> str:
        return self.base_url + self.prefix + (str(self.first + index) if self.count else "")


def errors(figures: dict[str, Any]) -> int:
    return int(sum(figures.get(key, 0) for key in ERROR_KEYS.split()))


def parse_wrk(stdout: str) -> dict[str, float]:
    """The figures of the ``WRK_JSON`` line ``rotate.lua`` prints when wrk is done."""
    line = next((x for x in stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise InfraError(f"wrk gave no summary: {stdout[-300:]!r}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    requests = raw["requests"]
    return {
        "requests": requests,
        "probes_per_second": requests / (raw["duration_us"] / 1e6),
        "non_2xx": raw["status"],
        "socket_errors": raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        **{f"p{p}_ms": raw[f"p{p}_us"] / 1000 for p in (50, 90, 99)},
        "max_ms": raw["max_us"] / 1000,
        "bytes_per_answer": raw["bytes"] / max(1, requests),
    }


def run_wrk(target: Target, connections: int, seconds: int) -> dict[str, float]:
    """Closed loop: each connection sends its next probe when the last is answered."""
    if shutil.which("wrk") is None:
        raise InfraError("wrk not found (apt-get install wrk)")
    flags = f"-t2 -c{connections} -d{seconds}s --timeout=10s -s {LUA} {target.base_url}/ --"
    done = sh(["wrk", *flags.split(), target.prefix, str(target.first), str(target.count)])
    return parse_wrk(done.stdout + done.stderr)


def run_openloop(target: Target, rate: float, seconds: float, *options: str) -> dict[str, float]:
    """Open loop: ``rate`` requests per second on a fixed schedule, latency from the schedule."""
    url = target.base_url + target.prefix + ("{id}" if target.count else "")
    flags = f"--rate {rate} --duration {seconds} --first {target.first} --count {target.count}"
    done = sh([sys.executable, "-m", "benchmarks.openloop", url, *flags.split(), *options], 300)
    if done.returncode != 0:
        raise InfraError(f"openloop failed (rc {done.returncode}): {done.stderr[-800:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


@dataclass
class Counts:
    probes: int = 0
    succeeded: int = 0
    errors: int = 0  # HTTP or socket errors, or answers without probe_success 1
    stopped: str = ""  # why it stopped early, if it did


async def probe_paths(
    base_url: str,
    paths: Sequence[str],
    *,
    concurrency: int = 50,
    budget: float = 300.0,
    step: int = 0,
    on_step: Callable[[int], None] | None = None,
) -> Counts:
    """Every path once, ``concurrency`` at a time; ``on_step(done)`` after every ``step``.

    Stops after ``budget`` seconds or 100 failures, so that a broken exporter cannot stretch
    the benchmark without bound; ``stopped`` says so.
    """
    counts = Counts()
    deadline = time.monotonic() + budget
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker(queue: Sequence[str]) -> None:
            for path in queue:
                if counts.stopped:
                    return
                counts.probes += 1
                try:
                    async with session.get(base_url + path) as answer:
                        good = answer.status == 200 and SUCCESS.encode() in await answer.read()
                except (aiohttp.ClientError, TimeoutError):
                    good = False
                counts.succeeded += good
                counts.errors += not good
                if counts.errors > 100:
                    counts.stopped = "more than 100 probes failed"
                elif time.monotonic() > deadline:
                    counts.stopped = f"the {budget:.0f} s budget was spent"

        size = step or len(paths)
        for start in range(0, len(paths), size):
            chunk = paths[start : start + size]
            await asyncio.gather(*(worker(chunk[i::concurrency]) for i in range(concurrency)))
            if on_step is not None:
                on_step(counts.probes)
            if counts.stopped:
                break
    return counts
