"""What the figures were measured on, for the top of RESULTS.md."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata

from benchmarks.procs import BLACKBOX, ROOT


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0].strip() if text else "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    commit = _first_line([git, "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        [git, "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return commit + (" with uncommitted changes" if dirty else "")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    wrk = shutil.which("wrk")
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        # Other work on a shared machine moves every figure: this says how busy it was.
        "load average at start (1, 5, 15 min)": ", ".join(f"{v:.2f}" for v in os.getloadavg()),
        "memory": _first_line(["sh", "-c", "grep MemTotal /proc/meminfo"]).split(":")[-1].strip(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "aiohttp": metadata.version("aiohttp"),
        "uvloop": _version("uvloop"),
        "exporter": metadata.version("aaisp-multi-exporter"),
        "git": _git(),
        "wrk": _first_line([wrk, "--version"]).split(" Copyright")[0] if wrk else "not found",
        "blackbox_exporter": _first_line([str(BLACKBOX), "--version"]),
    }
