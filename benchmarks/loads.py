"""The two load shapes, each run as a separate process: wrk (closed loop) and openloop.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import ROOT, InfraError, child_env

LUA = Path(__file__).resolve().parent / "rotate.lua"
WRK_THREADS = 2
WRK_TIMEOUT = "10s"


@dataclass(frozen=True)
class Target:
    """What the load hits: ``base_url + prefix`` then, with ``count``, an ID from ``first``."""

    base_url: str
    prefix: str
    first: int = 0
    count: int = 0

    def template(self) -> str:
        return self.base_url + self.prefix + ("{id}" if self.count else "")


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise InfraError("wrk not found (apt-get install wrk)")
    return path


def wrk_command(target: Target, connections: int, seconds: int) -> list[str]:
    return [
        wrk_path(),
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={WRK_TIMEOUT}",
        "-s",
        str(LUA),
        target.base_url + "/",
        "--",
        target.prefix,
        str(target.first),
        str(target.count),
    ]


def run_wrk(target: Target, connections: int, seconds: int) -> dict[str, float]:
    """Closed loop: ``connections`` connections, each sending its next probe on an answer."""
    command = wrk_command(target, connections, seconds)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, env=child_env(), check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            raw = json.loads(line.removeprefix("WRK_JSON "))
            break
    else:
        raise InfraError(f"wrk gave no summary (rc {done.returncode}): {done.stderr[-500:]}")
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "probes_per_second": raw["requests"] / seconds_run,
        "non_2xx": raw["status"],
        "socket_errors": errors,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "bytes_per_answer": raw["bytes"] / max(1, raw["requests"]),
    }


def openloop_command(
    target: Target,
    rate: int,
    seconds: float,
    expect: str | None = None,
    gauge: str | None = None,
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.openloop",
        target.template(),
        "--rate",
        str(rate),
        "--duration",
        str(seconds),
    ]
    if target.count:
        command += ["--first", str(target.first), "--count", str(target.count)]
    if expect:
        command += ["--expect", expect]
    if gauge:
        command += ["--gauge", gauge]
    return command


def run_openloop(
    target: Target,
    rate: int,
    seconds: float,
    expect: str | None = None,
    gauge: str | None = None,
) -> dict[str, float]:
    """Open loop: ``rate`` probes per second on a fixed schedule, latency from the schedule."""
    command = openloop_command(target, rate, seconds, expect, gauge)
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 90,
        env=child_env(),
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise InfraError(f"openloop failed (rc {done.returncode}): {done.stderr[-800:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
