""" "Today", for goals that say "no worse than today": the code that produced the committed
``benchmarks/RESULTS.md``, measured again in this run, or else that file's figures.

``export`` writes one revision's tree (``git archive``) under ``benchmarks/out/`` so that
``run.py`` can start it beside the current exporter, in the same run: the machine's speed
changes between runs (blackbox_exporter's own open-loop p99: 3.33 ms in the RESULTS.md of
878c02f, 4.75 ms in that of 6bc4d08), so only figures measured side by side compare.

The fallback reads the committed Markdown back: the raw ``results.json`` of that run is not
committed, so its per-N tables of the cached exporter (``## N = 1,000 lines, snapshots cached
...``) are parsed row by row. It is read from git (``HEAD``), not from the working tree, so a
run that has just rewritten RESULTS.md still compares with what was committed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.procs import OUT, ROOT, VENV_BIN, InfraError

RESULTS_IN_REPO = "benchmarks/RESULTS.md"
_SECTION = re.compile(r"^## N = ([\d,]+) lines, snapshots cached")
_RUN = re.compile(r"^Run from (\S+) to ")
#: Written into an exported tree once ``tar`` has finished, with the full commit hash.
_COMPLETE = ".exported"


def _git(*args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    done = subprocess.run(
        [git, "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else None


def results_commit() -> str | None:
    """The commit that last changed the committed RESULTS.md: the code that produced it."""
    return (_git("log", "-1", "--format=%H", "--", RESULTS_IN_REPO) or "").strip() or None


@dataclass(frozen=True)
class Build:
    """One revision's tree, exported to ``directory``, runnable as the exporter."""

    rev: str
    commit: str
    directory: Path

    def command(self) -> list[str]:
        # PYTHONPATH puts the exported package before the venv's (editable) one; the venv
        # gives the same dependencies.
        return [
            "env",
            f"PYTHONPATH={self.directory}",
            str(VENV_BIN / "python"),
            "-m",
            "aaisp_multi_exporter",
        ]


def export(rev: str) -> Build:
    """``git archive REV | tar -x`` into ``benchmarks/out/today-<short rev>/``, reused when a
    finished export of the same commit is there. InfraError when it cannot be done."""
    git = shutil.which("git")
    if git is None:
        raise InfraError("git not found")
    commit = (_git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}") or "").strip()
    short = (_git("rev-parse", "--short", commit) or "").strip() if commit else ""
    if not commit or not short:
        raise InfraError(f"no commit {rev!r} in {ROOT}")
    directory = OUT / f"today-{short}"
    marker = directory / _COMPLETE
    if marker.is_file() and marker.read_text(encoding="ascii").strip() == commit:
        return Build(short, commit, directory)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    archive = subprocess.Popen(
        [git, "-C", str(ROOT), "archive", "--format=tar", commit],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert archive.stdout is not None
    untar = subprocess.run(
        ["tar", "-x", "-C", str(directory)],
        stdin=archive.stdout,
        capture_output=True,
        check=False,
    )
    archive.stdout.close()
    archive_error = archive.stderr.read() if archive.stderr else b""
    if archive.wait() != 0 or untar.returncode != 0:
        detail = (archive_error or untar.stderr).decode(errors="replace").strip()
        raise InfraError(f"git archive {short} | tar -x failed: {detail}")
    if not (directory / "aaisp_multi_exporter" / "__main__.py").is_file():
        raise InfraError(f"{short} has no aaisp_multi_exporter/__main__.py")
    marker.write_text(commit + "\n", encoding="ascii")
    return Build(short, commit, directory)


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
