""" "Today": the figures of the last committed ``benchmarks/RESULTS.md``, for goals that say
"no worse than today".

The raw ``results.json`` of that run is not committed, so the Markdown itself is read back:
the per-N tables of the cached exporter (``## N = 1,000 lines, snapshots cached ...``), row by
row. It is read from git (``HEAD``), not from the working tree, so a run that has just
rewritten RESULTS.md still compares with what was committed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.procs import ROOT

RESULTS_IN_REPO = "benchmarks/RESULTS.md"
_SECTION = re.compile(r"^## N = ([\d,]+) lines, snapshots cached")
_RUN = re.compile(r"^Run from (\S+) to ")


def _git(*args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    done = subprocess.run(
        [git, "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else None


def number(cell: str) -> float | None:
    """A table cell as a number: ``5,201`` -> 5201.0, ``x1.34`` -> 1.34, ``—`` -> None."""
    text = cell.strip().removeprefix("x").replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def parse(text: str) -> dict[str, Any]:
    """``{"started": ..., "cached": {N: {row label: [cells...]}}}`` from a RESULTS.md."""
    cached: dict[str, dict[str, list[str]]] = {}
    started = ""
    rows: dict[str, list[str]] | None = None
    for line in text.splitlines():
        if run := _RUN.match(line):
            started = run.group(1)
        if line.startswith("## "):
            section = _SECTION.match(line)
            rows = None
            if section:
                rows = cached.setdefault(section.group(1).replace(",", ""), {})
            continue
        if rows is not None and line.startswith("| ") and not line.startswith("| figure"):
            label, *cells = (cell.strip() for cell in line.strip().strip("|").split("|"))
            rows[label] = cells
    return {"started": started, "cached": cached}


def load(path: Path | None = None) -> dict[str, Any] | None:
    """Today's figures from ``path``, or else from the committed RESULTS.md; None when there
    is none (no git, nothing committed)."""
    if path is not None:
        record = parse(path.read_text(encoding="utf-8"))
        record["source"] = str(path)
        return record
    text = _git("show", f"HEAD:{RESULTS_IN_REPO}")
    if not text:
        return None
    commit = (_git("log", "-1", "--format=%h", "--", RESULTS_IN_REPO) or "").strip()
    record = parse(text)
    record["source"] = f"{RESULTS_IN_REPO} as committed in {commit or 'HEAD'}"
    return record


def figure(today: dict[str, Any] | None, lines: str, label: str) -> tuple[float, float] | None:
    """(exporter, blackbox_exporter → /-/healthy) of one row of today's cached table for N."""
    if today is None:
        return None
    cells = today["cached"].get(lines, {}).get(label)
    if not cells or len(cells) < 2:
        return None
    ours, theirs = number(cells[0]), number(cells[1])
    if ours is None or theirs is None:
        return None
    return ours, theirs
