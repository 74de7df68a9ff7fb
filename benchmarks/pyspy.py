"""Where a cached probe's time goes: py-spy samples the exporter under wrk, summed per function.

``run.py --profile`` calls ``record`` against the cached exporter at the largest N while wrk
loads it (not during a measured load: py-spy pauses the process for every sample), then
``summarise`` turns py-spy's collapsed stacks into the two short tables of RESULTS.md:
*self* (samples in which the function was the one running) and *total* (samples in which it
was anywhere on the stack, counted once per sample however often it recurs).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.procs import VENV_BIN, InfraError, child_env

PY_SPY = VENV_BIN / "py-spy"
RATE = 200
TOP = 12
#: A function on the stack of nearly every sample (``<module>``, ``run_forever``,
#: ``_run_once``) is the event loop's scaffolding: true, and no help. Left out of *total*.
SCAFFOLDING_SHARE = 0.95


@dataclass
class Profile:
    samples: int = 0
    own: Counter[str] = field(default_factory=Counter)
    anywhere: Counter[str] = field(default_factory=Counter)


def parse_collapsed(text: str) -> Profile:
    """py-spy's ``--format raw`` output: one ``frame;frame;...;leaf COUNT`` line per stack.

    Frames read ``function (file)`` (with ``--nolineno``); a line that does not end in a
    count is skipped.
    """
    profile = Profile()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        profile.samples += count
        profile.own[frames[-1]] += count
        for frame in set(frames):
            profile.anywhere[frame] += count
    return profile


def summarise(profile: Profile, top: int = TOP) -> dict[str, Any]:
    """The ``top`` functions by self and by total share of the samples (0 to 1)."""
    samples = max(1, profile.samples)
    scaffolding = [
        frame for frame, count in profile.anywhere.items() if count / samples >= SCAFFOLDING_SHARE
    ]
    total = [
        (frame, count / samples)
        for frame, count in profile.anywhere.most_common()
        if frame not in scaffolding
    ][:top]
    return {
        "samples": profile.samples,
        "self": [(frame, count / samples) for frame, count in profile.own.most_common(top)],
        "total": total,
        "scaffolding": len(scaffolding),
    }


def start(pid: int, seconds: float, out: Path, rate: int = RATE) -> subprocess.Popen[str]:
    """py-spy recording ``pid`` for ``seconds`` into ``out`` (collapsed stacks), in the
    background; ``finish`` waits for it."""
    if not PY_SPY.exists():
        raise InfraError(f"{PY_SPY} not found (a dev dependency: make the venv again)")
    command = [
        str(PY_SPY),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(round(seconds)),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nolineno",
        "--output",
        str(out),
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(),
    )


def finish(spy: subprocess.Popen[str], out: Path, seconds: float) -> dict[str, Any]:
    """Wait for py-spy and summarise what it wrote; an ``error`` entry when it could not."""
    try:
        log, _ = spy.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        spy.kill()
        log, _ = spy.communicate()
    if spy.returncode != 0 or not out.exists():
        return {"error": f"py-spy exited with {spy.returncode}: {log.strip()[-400:]}"}
    return summarise(parse_collapsed(out.read_text(encoding="utf-8", errors="replace")))
