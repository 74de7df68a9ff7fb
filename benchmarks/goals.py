"""Goals as data (``goals.toml``) and the one evaluator that turns a run's figures into PASS,
FAIL or n/a rows: adding or changing a goal is a row of TOML, never code."""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOALS = Path(__file__).resolve().parent / "goals.toml"
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Goal:
    scenario: str
    what: str
    metric: str
    op: str
    threshold: float
    reference: str = ""
    reference_name: str = ""
    unit: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"goal {self.what!r}: unknown op {self.op!r}")


def load(path: Path = GOALS) -> list[Goal]:
    return [Goal(**row) for row in tomllib.loads(path.read_text(encoding="utf-8"))["goal"]]


def lookup(results: Mapping[str, Any], path: str) -> float | None:
    """The number at a dotted path of results.json; None when absent or not a number."""
    value: Any = results
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 or value == int(value) else f"{value:.4g}"


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def evaluate(goals: list[Goal], results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per goal (per N for a metric with ``{n}``) of the scenarios that ran."""
    ns = sorted(int(key[1:]) for key in results.get("now", {}).get("cached", {}))
    rows = []
    for goal in goals:
        paths = goal.metric + goal.reference
        if goal.scenario in results.get("scenarios", ()) and (ns or "{" not in paths):
            rows += [row(goal, results, n, ns) for n in (ns if "{n}" in paths else [0])]
    return rows


def row(goal: Goal, results: Mapping[str, Any], n: int, ns: list[int]) -> dict[str, Any]:
    """``goal``, ``target``, ``measured`` as the report shows them, and ``passed`` (None: n/a,
    a figure is missing)."""
    places = {"n": n, "largest": max(ns, default=0), "smallest": min(ns, default=0)}
    shown = {key: f"{value:,}" for key, value in places.items()}
    value = lookup(results, goal.metric.format(**places))
    ref = lookup(results, goal.reference.format(**places)) if goal.reference else 1.0
    unit = f" {goal.unit}" if goal.unit else ""
    target = f"{goal.op} {num(goal.threshold)}{unit}"
    measured = "—" if value is None else num(value) + unit
    if goal.reference:
        target = f"{goal.op} {num(goal.threshold)} x {goal.reference_name.format(**shown)}"
        if value is not None and ref is None:
            measured += ", reference not measured"
        elif value is not None and ref is not None:
            measured += f" vs {num(ref)}" + (f" (x{value / ref:.2f})" if ref else "")
    passed = None if value is None or ref is None else OPS[goal.op](value, goal.threshold * ref)
    what, source = goal.what.format(**shown), goal.source
    return {
        "goal": what,
        "target": target,
        "measured": measured,
        "passed": passed,
        "source": source,
    }
