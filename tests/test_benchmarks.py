"""The benchmark harness's own logic: goals from figures, the report, and what it reads from its
tools' output. The timings themselves belong to ``make bench``, never to a test."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import goals, procs, report
from benchmarks.bare import make_app
from benchmarks.goals import Goal, evaluate, lookup
from benchmarks.loads import errors, parse_wrk
from benchmarks.openloop import gauge_max, percentile
from benchmarks.profile import summarise
from benchmarks.run import SCENARIOS


def figures(**values: float) -> dict[str, Any]:
    """A run's results with per-N figures at N=100 and N=1,000 (the same at both, unless a
    value is named ``name_N100``) and the scenarios ``per_n`` and ``scale``."""

    def record(n: int) -> dict[str, Any]:
        pick = {key: v for key, v in values.items() if "_N" not in key}
        pick |= {
            key.removesuffix(f"_N{n}"): v for key, v in values.items() if key.endswith(f"_N{n}")
        }
        return {
            "closed_c50": {"probes_per_second": pick.get("pps", 9000.0)},
            "errors": 0,
            "open": {"p99_ms": pick.get("p99", 2.0)},
        }

    cached = {f"N{n}": record(n) for n in (100, 1000)}
    return {
        "scenarios": ["per_n", "scale"],
        "now": {"cached": cached, "uncached": {}},
        "blackbox": {"healthy": {"closed_c50": {"probes_per_second": values.get("bb", 3000.0)}}},
        "today": {"cached": {"N1000": {"open": {"p99_ms": values.get("today_p99", 2.5)}}}},
        "scale": {"now": {"open": {"p99_ms": values.get("scale_p99", 300.0)}}},
    }


def goal(metric: str, op: str, threshold: float, reference: str = "", **more: str) -> Goal:
    return Goal("per_n", "N={n}", metric, op, threshold, reference, "ref", **more)


PPS = "now.cached.N{n}.closed_c50.probes_per_second"
BB = "blackbox.healthy.closed_c50.probes_per_second"
P99 = "now.cached.N{n}.open.p99_ms"


@pytest.mark.parametrize(
    ("row", "results", "expected"),
    [
        (goal(PPS, ">=", 2.0, BB), figures(pps=6000, bb=3000), [True, True]),
        (goal(PPS, ">=", 2.0, BB), figures(pps=5999, bb=3000), [False, False]),
        (goal(PPS, ">=", 2.0, BB), figures(pps_N100=7000, pps_N1000=5000), [True, False]),
        # today's build measured at N=1,000 only: N=100 has no verdict
        (goal(P99, "<=", 1.0, "today.cached.N{n}.open.p99_ms"), figures(), [None, True]),
        (goal(P99, "<=", 1.0, "today.cached.N{n}.open.p99_ms"), figures(p99=2.6), [None, False]),
        (goal("now.cached.N{n}.errors", "==", 0), figures(), [True, True]),
        (goal("now.cached.N{n}.missing", "==", 0), figures(), [None, None]),
        # one row for the largest N, measured against the smallest
        (goal("now.cached.N{largest}.open.p99_ms", "<", 3), figures(p99_N1000=3), [False]),
        (
            goal(PPS.replace("{n}", "{largest}"), ">=", 0.8, PPS.replace("{n}", "{smallest}")),
            figures(pps_N100=10000, pps_N1000=7900),
            [False],
        ),
        (Goal("scale", "p99", "scale.now.open.p99_ms", "<", 50), figures(), [False]),
        (Goal("memory", "growth", "memory.line.last_mb", "<=", 1.1), figures(), []),  # not run
    ],
)
def test_goals_are_evaluated_from_figures(
    row: Goal, results: dict[str, Any], expected: list[bool | None]
) -> None:
    assert [line["passed"] for line in evaluate([row], results)] == expected


@pytest.mark.parametrize(
    ("row", "target", "measured"),
    [
        (goal(PPS, ">=", 2.0, BB), ">= 2 x ref", "9,000 vs 3,000 (x3.00)"),
        (goal(P99, "<", 150, unit="ms"), "< 150 ms", "2 ms"),
        (goal(PPS, ">=", 0.35, "bare.N{n}.x"), ">= 0.35 x ref", "9,000, reference not measured"),
        (goal("now.cached.N{n}.nothing", "==", 0), "== 0", "—"),
    ],
)
def test_goal_rows_say_what_decided_them(row: Goal, target: str, measured: str) -> None:
    first = evaluate([row], figures())[0]
    assert (first["goal"], first["target"], first["measured"]) == ("N=100", target, measured)


def test_the_goals_file_is_valid_and_every_scenario_has_goals() -> None:
    rows = goals.load()
    assert {row.scenario for row in rows} == set(SCENARIOS)
    with pytest.raises(ValueError, match="unknown op"):
        Goal("scale", "x", "a.b", "=>", 1)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.b", 1.5),
        ("a.n", 2.0),
        ("a.flag", None),
        ("a.nan", None),
        ("a.text", None),
        ("a.missing", None),
        ("a.b.c", None),
        ("a", None),
    ],
)
def test_lookup_finds_numbers_only(path: str, expected: float | None) -> None:
    results = {"a": {"b": 1.5, "n": 2, "flag": True, "nan": math.nan, "text": "1"}}
    assert lookup(results, path) == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [(12456.7, "12,457"), (150.0, "150"), (3.996, "3.996"), (0.37951, "0.3795"), (0.0, "0")],
)
def test_numbers_are_shown_precisely_enough_for_their_verdict(value: float, shown: str) -> None:
    assert goals.num(value) == shown


def test_side_by_side_puts_each_ratio_after_its_column() -> None:
    rows = report.figures("Probes/s | pps | {:,.0f}\np99, ms | open.p99 | {:.1f}")
    columns: list[tuple[str, dict[str, Any] | None]] = [
        ("now", {"pps": 9000, "open": {"p99": 2.0}}),
        ("today", {"pps": 4500}),
        ("bare", None),
    ]
    assert report.side_by_side(rows, columns, (1, 2)).splitlines() == [
        "| figure | now | today | ÷ | bare | ÷ |",
        "|---|--:|--:|--:|--:|--:|",
        "| Probes/s | 9,000 | 4,500 | x2.00 | — | — |",
        "| p99, ms | 2.0 | — | — | — | — |",
    ]


def test_report_shows_machine_goals_and_the_sections_that_ran() -> None:
    results = figures() | {"started": "s", "finished": "f", "seconds": 1.0}
    results |= {
        "settings": {
            "open_rate": 500,
            "connections": [10, 50],
            "wrk_seconds": 10,
            "open_seconds": 10,
            "exporter_cmd": "exporter",
        }
    }
    results |= {"machine": {"cpu": "test cpu"}, "bare": {}, "failed": {"memory": "no simulator"}}
    results["today"]["rev"] = "0dbdb84"
    results["scale"] |= {
        "lines": 100_000,
        "cache_seconds": 6,
        "reply_s": 0.3,
        "rate": 100,
        "seconds": 24,
        "hostile_entries": 1_200_000,
        "hostile_bytes": 19e6,
        "hostile_reply_s": 0.1,
    }
    results["goals"] = evaluate(goals.load(), results)
    text = report.render(results)
    assert "| cpu | test cpu |" in text
    assert "| Scale: open loop 100/s across refresh-ahead cycles, p99 | < 50 ms | 300 ms |" in text
    assert "**Scenario memory could not run:** no simulator" in text
    assert "### N = 1,000 lines" in text
    assert "| Open loop 500/s: p99, ms | 2.00 | 2.50 | x0.80 |" in text
    assert "## Scale: 100,000 lines" in text
    assert "## Refresh ahead" not in text


def test_report_shows_a_slow_chaos_side_by_side_with_its_503s() -> None:
    part = {"p50_ms": 3.0, "p99_ms": 40.0, "max_ms": 120.0, "http_503": 0, "errors": 0}
    now = {"cold": part, "refresh": part, "idle_cold": part, "http_503": 0, "errors": 0}
    today = {"cold": part | {"http_503": 98, "errors": 98}, "http_503": 98, "errors": 98}
    results = figures() | {"scenarios": ["slow"], "today": {"rev": "f2b123f"}}
    results["slow"] = {
        "kind": "slow",
        "lines": 100_000,
        "reply_s": 2.4,
        "cache_seconds": 6,
        "max_requests": 40,
        "rate": 100,
        "cold_seconds": 5,
        "seconds": 24,
        "now": now,
        "today": today,
    }
    rows = evaluate(goals.load(), results)
    verdicts = {row["goal"]: row["passed"] for row in rows}
    assert verdicts["CHAOS slow: probes refused with 503 (two cold starts and the refreshes)"]
    section = report.slow(results["slow"], "today's build f2b123f")
    assert "every call answered after 2 s (`--latency`)" in section[0]
    assert "| Cold start: refused (503) | 0 | 98 | x0.00 |" in section[1]


WRK = (
    'WRK_JSON {"requests":20000,"duration_us":2000000,"bytes":40000000,"connect":1,"read":2,'
    '"write":0,"status":3,"timeout":4,"p50_us":1500,"p90_us":2500,"p99_us":7000,'
    '"max_us":12000,"mean_us":1600.5}'
)


def test_wrk_summary_is_read_from_the_lua_line() -> None:
    got = parse_wrk("Running 2s test @ http://x/\n" + WRK + "\n")
    assert got["probes_per_second"] == 10_000
    assert (got["p50_ms"], got["p99_ms"], got["max_ms"]) == (1.5, 7.0, 12.0)
    assert (got["non_2xx"], got["socket_errors"], got["bytes_per_answer"]) == (3, 7, 2000)
    assert errors(got) == 10
    with pytest.raises(procs.InfraError, match="no summary"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


AGE = b"aaisp_probe_data_age_seconds"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b"# HELP aaisp_probe_data_age_seconds Age.\n"
            b'aaisp_probe_data_age_seconds{module="a"} 3.5\n'
            b'aaisp_probe_data_age_seconds{module="b"} 3.75\n',
            3.75,
        ),
        (b"aaisp_probe_data_age_seconds 4.0", 4.0),
        (b'probe_success 1.0\naaisp_probe_data_age_seconds{module="a b"} 2.0\n', 2.0),
        (b"aaisp_probe_data_age_seconds_total 9.0\n", None),
        (b"probe_success 0.0\n", None),
    ],
)
def test_gauge_max(body: bytes, expected: float | None) -> None:
    assert gauge_max(body, AGE) == expected


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [([1.0, 2.0, 3.0, 4.0], 50, 2.0), ([1.0, 2.0, 3.0, 4.0], 99, 4.0), ([5.0], 99, 5.0)],
)
def test_nearest_rank_percentile(values: list[float], pct: float, expected: float) -> None:
    assert percentile(values, pct) == expected
    assert math.isnan(percentile([], pct))


def test_profile_sums_collapsed_stacks_per_function() -> None:
    stacks = (
        "<module> (x);run (a.py);handle (b.py);render (c.py) 6\n"
        "<module> (x);run (a.py);handle (b.py) 2\n"
        "<module> (x);run (a.py);walk (d.py);walk (d.py) 2\nnot a stack\n"
    )
    got = summarise(stacks, top=2)
    assert got["samples"] == 10
    assert got["self"] == [("render (c.py)", 0.6), ("handle (b.py)", 0.2)]
    assert got["total"] == [("handle (b.py)", 0.8), ("render (c.py)", 0.6)]  # walk: once
    assert got["scaffolding"] == 2  # <module> and run: on every stack, left out


def test_proc_status_lines_in_kib() -> None:
    text = "Name:\tpython\nVmPeak:\t  100 kB\nVmHWM:\t   90 kB\nVmRSS:\t   80 kB\nThreads:\t1\n"
    assert procs.parse_status(text) == {"VmPeak": 100, "VmHWM": 90, "VmRSS": 80}


def test_todays_build_is_exported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not (procs.ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    monkeypatch.setattr(procs, "OUT", tmp_path)
    head = subprocess.run(
        ["git", "-C", str(procs.ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    short, command = procs.export_today("HEAD")
    assert short == head
    assert command[:2] == ["env", f"PYTHONPATH={tmp_path / f'today-{head}'}"]
    assert (tmp_path / f"today-{head}" / "aaisp_multi_exporter" / "__main__.py").is_file()
    (tmp_path / f"today-{head}" / "kept").touch()
    assert procs.export_today(head) == (short, command)
    assert (tmp_path / f"today-{head}" / "kept").exists()  # a finished export is reused
    with pytest.raises(procs.InfraError, match="no commit"):
        procs.export_today("no-such-revision")


async def test_bare_reference_answers_the_fixed_body(aiohttp_client: Any) -> None:
    body, content_type = b"probe_success 1.0\n" * 50, "text/plain; version=0.0.4; charset=utf-8"
    client = await aiohttp_client(make_app(body, content_type, "Accept-Encoding"))
    for path in ("/probe?module=line&target=10000", "/anything"):
        answer = await client.get(path)
        assert (answer.status, answer.headers["Content-Type"]) == (200, content_type)
        assert answer.headers["Vary"] == "Accept-Encoding"
        assert await answer.read() == body
    assert (await client.get("/-/ready")).status == 200
