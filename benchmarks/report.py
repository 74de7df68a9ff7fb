"""RESULTS.md from a run's figures: the machine, the goals, then every figure, with the ratios
between servers measured side by side in the same run (the only ratios worth reading here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.goals import lookup, verdict

Record = Mapping[str, Any]
#: (label, dotted path in a record, format)
Figure = tuple[str, str, str]
NOISE = (
    "> **The machine is noisy.** A shared virtual machine: load generators, servers and "
    "simulator share its cores, and other people's work moves every absolute figure by tens of "
    "per cent between runs. Read the ratios between servers measured side by side in this run."
)


def cell(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def ratio(ours: float | None, theirs: float | None) -> str:
    return "—" if ours is None or not theirs else f"x{ours / theirs:.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "--:") -> str:
    lines = ["| " + " | ".join(header) + " |", "|---|" + f"{align}|" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def side_by_side(
    rows: Sequence[Figure],
    columns: Sequence[tuple[str, Record | None]],
    ratio_to: Sequence[int] = (),
) -> str:
    """One row per figure, a column per record; after each column of ``ratio_to``, the first
    column's figure over that one's (both measured in this run)."""
    header, cells = ["figure"], [[label] for label, _, _ in rows]
    for index, (title, record) in enumerate(columns):
        header += [title] + ["÷"] * (index in ratio_to)
        for row, (_, path, fmt) in zip(cells, rows, strict=True):
            value, first = lookup(record or {}, path), lookup(columns[0][1] or {}, path)
            row.extend([cell(value, fmt)] + [ratio(first, value)] * (index in ratio_to))
    return table(header, cells)


def figures(text: str) -> list[Figure]:
    """Rows of ``label | dotted path | format``, one a line."""
    return [(a, b, c) for a, b, c in (line.split(" | ") for line in text.strip().splitlines())]


PER_N = """
Probes/s, closed loop {c1} | closed_c{c1}.probes_per_second | {{:,.0f}}
Probes/s, closed loop {c} | closed_c{c}.probes_per_second | {{:,.0f}}
Closed loop {c}: p50, ms | closed_c{c}.p50_ms | {{:.2f}}
Closed loop {c}: p99, ms | closed_c{c}.p99_ms | {{:.2f}}
Open loop {rate}/s: rate sent, /s | open.achieved_rate | {{:.0f}}
Open loop {rate}/s: p50, ms | open.p50_ms | {{:.2f}}
Open loop {rate}/s: p99, ms | open.p99_ms | {{:.2f}}
Open loop {rate}/s: max, ms | open.max_ms | {{:.2f}}
CHAOS calls per 1,000 probes, closed loop {c} | closed_c{c}.chaos_calls_per_1000 | {{:.2f}}
CHAOS calls per 1,000 probes, open loop | open.chaos_calls_per_1000 | {{:.2f}}
Every line once from a cold cache: CHAOS calls | one_call.chaos_calls | {{:.0f}}
Failed probes and errors, all loads | errors | {{:.0f}}
Peak resident memory (VmHWM), MB | peak_mb | {{:.1f}}
Start to ready, s | ready_s | {{:.3f}}
Bytes per answer, closed loop {c} | closed_c{c}.bytes_per_answer | {{:,.0f}}
"""


def per_n(results: Record) -> list[str]:
    today, bb = results.get("today", {}), results.get("blackbox", {})
    s = results["settings"]
    settings = {"rate": s["open_rate"], "c": max(s["connections"]), "c1": min(s["connections"])}
    rev = f"today's build {today['rev']}" if "rev" in today else "today's build"
    parts = [
        "Per N, on one simulator, one after the other: the exporter cached (`cache_seconds = "
        f"300`), bare aiohttp serving that exporter's answer, {rev} cached, the exporter "
        "uncached (`cache_seconds = 0`). blackbox_exporter was measured once (→ simulator: with "
        "the largest N) and is repeated in every table. A ratio below 1 is better for latency, "
        "memory and time, above 1 for probes/s.",
    ]
    if today.get("error"):
        parts.append(f"Today's build could not be measured: {today['error']}")
    for key, now in results["now"]["cached"].items():
        columns = [
            ("exporter", now),
            (rev, today.get("cached", {}).get(key)),
            ("bare aiohttp", results["bare"].get(key)),
            ("blackbox → /-/healthy", bb.get("healthy")),
            ("exporter uncached", results["now"]["uncached"].get(key)),
            ("blackbox → simulator", bb.get("sim")),
        ]
        parts += [
            f"### N = {int(key[1:]):,} lines",
            side_by_side(figures(PER_N.format(**settings)), columns, (1, 2, 3)),
        ]
    check = bb.get("generator_check")
    if check:
        parts.append(
            "Load generator check, the open loop straight at blackbox_exporter's `/-/healthy`: "
            f"sent {check['achieved_rate']:.0f}/s, p99 {check['p99_ms']:.2f} ms, max "
            f"{check['max_ms']:.2f} ms, latest send {check['max_send_lag_ms']:.1f} ms late."
        )
    return parts


REFRESH = figures("""
Rate sent, /s | achieved_rate | {:.1f}
p50, ms | p50_ms | {:.2f}
p99, ms | p99_ms | {:.2f}
max, ms | max_ms | {:.2f}
Failed probes and errors | errors | {:.0f}
CHAOS calls (the warm-up's included) | chaos_calls | {:.0f}
Largest `aaisp_probe_data_age_seconds`, s | gauge_max | {:.3f}
Answers without a data age | gauge_missing | {:.0f}
`snapshot_lookups_total{result="refreshed_ahead"}` | refreshed_ahead | {:.0f}
""")


def refresh(record: Record) -> list[str]:
    return [
        f"The simulator with {record['lines']} lines answering every CHAOS call after "
        f"{record['latency_s']} s; a fresh exporter per column, `cache_seconds = "
        f"{record['cache_seconds']}`; the open loop at {record['rate']}/s for "
        f"{record['seconds']} s over the lines. Goals apply to `refresh_ahead = true`.",
        side_by_side(
            REFRESH,
            [(f"`refresh_ahead = {key == 'after'}`", record[key]) for key in ("before", "after")],
        ),
    ]


def memory(record: Record) -> list[str]:
    scopes = [scope for scope in ("line", "account") if scope in record]
    series = {scope: dict(record[scope]["series"]) for scope in scopes}
    rows = [
        [f"{done:,}", *(cell(series[s].get(done), "{:.1f}") for s in scopes)]
        for done in sorted({done for s in series.values() for done in s})
    ]
    notes = [
        f"- {scope} scope: {record[scope]['chaos_calls']:,} CHAOS calls, "
        f"{record[scope]['seconds']:.0f} s, peak {record[scope]['peak_mb']:.1f} MB"
        + (f", stopped early: {record[scope]['stopped']}" if record[scope]["stopped"] else "")
        for scope in scopes
    ]
    return [
        f"{record['probes']:,} probes, 32 at a time, over {record['distinct']:,} targets, "
        "`cache_seconds = 3600`, a fresh exporter per scope; VmRSS (MB) every 10,000 probes. "
        f"Probes without `probe_success 1`: {record['failed']:,}.",
        table(["probes", *(f"{scope} scope" for scope in scopes)], rows),
        "\n".join(notes),
    ]


SCALE = figures("""
Start to ready, s | ready_s | {:.2f}
/discover cold, s | discover_cold_s | {:.2f}
/discover cold minus the CHAOS reply's own time, s | discover_cold_over_reply_s | {:.2f}
/discover warm (median of 5), ms | discover_warm_ms | {:.1f}
/discover targets | discover_targets | {:,.0f}
Every line through both tiers (32 at a time), s | every_line_s | {:.1f}
... probes without probe_success 1 | every_line_failed | {:,.0f}
VmRSS after every line through both tiers, MB | rss_mb | {:.0f}
Open loop: rate sent, /s | open.achieved_rate | {:.1f}
Open loop: p50, ms | open.p50_ms | {:.1f}
Open loop: p99, ms | open.p99_ms | {:.1f}
Open loop: max, ms | open.max_ms | {:.1f}
Open loop: latest send behind schedule (the generator starved), ms | open.max_send_lag_ms | {:.1f}
Open loop: failed probes and errors | open.errors | {:.0f}
Open loop: CHAOS calls | open.chaos_calls | {:.0f}
`snapshot_lookups_total{result="refreshed_ahead"}` | refreshed_ahead | {:.0f}
VmRSS after the open loop, MB | rss_end_mb | {:.0f}
Peak resident memory (VmHWM), MB | peak_mb | {:.0f}
Hostile reply: longest wait of /-/healthy, ms | hostile.healthy_wait_ms | {:.0f}
Hostile reply: /-/healthy polls | hostile.polls | {:.0f}
Hostile reply: the probe's time, s | hostile.probe_s | {:.2f}
Hostile reply: probe_success | hostile.probe_success | {:.0f}
Hostile reply: VmRSS before, MB | hostile.rss_before_mb | {:.0f}
Hostile reply: growth (VmHWM after less VmRSS before), MB | hostile.growth_mb | {:.0f}
Hostile reply, /discover cold: longest wait, ms | hostile.discover.healthy_wait_ms | {:.0f}
Hostile reply, /discover cold: time, s | hostile.discover.discover_s | {:.2f}
Hostile reply, /discover cold: growth, MB | hostile.discover.growth_mb | {:.0f}
Hostile reply, /discover warm: longest wait, ms | hostile.discover_warm.healthy_wait_ms | {:.0f}
Hostile reply, /discover warm: time, s | hostile.discover_warm.discover_s | {:.2f}
Hostile reply, /discover: answer, MB | hostile.discover.answer_mb | {:.0f}
12 million numbers in an entry: longest wait, ms | huge.numbers.healthy_wait_ms | {:.0f}
12 million numbers in an entry: growth, MB | huge.numbers.growth_mb | {:.0f}
20 million {} in an entry: longest wait, ms | huge.objects.healthy_wait_ms | {:.0f}
20 million {} in an entry: growth, MB | huge.objects.growth_mb | {:.0f}
20 million {} 7 deep, member nobody reads: longest wait, ms | huge.skipped.healthy_wait_ms | {:.0f}
20 million {} 7 deep, member nobody reads: growth, MB | huge.skipped.growth_mb | {:.0f}
""")


def scale(record: Record, rev: str) -> list[str]:
    columns = [("exporter", record["now"]), (rev, record.get("today"))]
    return [
        f"One process, one credential set of {record['lines']:,} lines, modules `line` "
        "(`broadband/info`) and `quota` (`broadband/quota`), account scope, `cache_seconds = "
        f"{record['cache_seconds']}`; each build fresh, back to back on one simulator. The "
        f"simulator's own time for `broadband/info` of the account (a direct POST, median of 3): "
        f"{record['reply_s']:.2f} s. Open loop: {record['rate']} probes/s for "
        f"{record['seconds']} s (`module=line,quota`) after every line was probed. Hostile "
        f'reply: {record["hostile_entries"]:,} entries `{{"ID":"n"}}`, '
        f"{record['hostile_bytes'] / 1e6:.1f} MB, replayed by a second simulator in "
        f"{record['hostile_reply_s']:.2f} s; one probe fetches it while `/-/healthy` is polled "
        "every 10 ms, then `/discover` in a fresh exporter, cold and warm. One huge value: a "
        "40-line reply whose first entry holds it (or a member no command reads, seven arrays "
        "deep), the simulator's `huge_value` fault; a fresh exporter probes a line.",
        side_by_side(SCALE, columns, (1,)),
    ]


SLOW = figures("""
Cold start (5 s at 100/s from ready): p50, ms | cold.p50_ms | {:.0f}
Cold start: p99, ms | cold.p99_ms | {:.0f}
Cold start: max, ms | cold.max_ms | {:.0f}
Cold start: refused (503) | cold.http_503 | {:.0f}
Cold start: failed probes and errors, 503s included | cold.errors | {:.0f}
Across refreshes: rate sent, /s | refresh.achieved_rate | {:.1f}
Across refreshes: p50, ms | refresh.p50_ms | {:.1f}
Across refreshes: p99, ms | refresh.p99_ms | {:.1f}
Across refreshes: max, ms | refresh.max_ms | {:.1f}
Across refreshes: latest send behind schedule, ms | refresh.max_send_lag_ms | {:.1f}
Across refreshes: refused (503) | refresh.http_503 | {:.0f}
Across refreshes: failed probes and errors, 503s included | refresh.errors | {:.0f}
Across refreshes: CHAOS calls | refresh.chaos_calls | {:.0f}
`snapshot_lookups_total{result="refreshed_ahead"}` | refreshed_ahead | {:.0f}
Cold start after idling: p99, ms | idle_cold.p99_ms | {:.0f}
Cold start after idling: max, ms | idle_cold.max_ms | {:.0f}
Cold start after idling: refused (503) | idle_cold.http_503 | {:.0f}
Cold start after idling: failed probes and errors | idle_cold.errors | {:.0f}
/discover cold, s | discover_cold_s | {:.2f}
/discover cold minus the CHAOS reply's own time, s | discover_cold_over_reply_s | {:.2f}
""")
#: What each CHAOS of ``benchmarks/slow.py`` is, for its section.
SLOW_KINDS = {
    "slow": "every call answered after {latency} (`--latency`), a third of the cache",
    "busy": "each reply encoded and written a piece at a time (`--stream`) on the same cores "
    "as the exporter and the load generator",
}


def slow(record: Record, rev: str) -> list[str]:
    columns = [("exporter", record["now"]), (rev, record.get("today"))]
    what = SLOW_KINDS[record["kind"]].format(latency="2 s")
    return [
        f"A simulator of {record['lines']:,} lines, {what}; its own time for `broadband/info` "
        f"of the account: {record['reply_s']:.2f} s. Modules `line` and `quota`, account scope, "
        f"`cache_seconds = {record['cache_seconds']}`, `--web.max-requests "
        f"{record['max_requests']}`; each build fresh, back to back: a cold start "
        f"({record['rate']} probes/s for {record['cold_seconds']} s from ready, every probe "
        f"recorded), {record['seconds']} s across refresh-ahead cycles, no probe for longer "
        f"than the cache then {record['cold_seconds']} s again; `/discover` cold in another "
        "fresh exporter.",
        side_by_side(SLOW, columns, (1,)),
    ]


def profile(record: Record) -> list[str]:
    if "error" in record:
        return [f"py-spy could not profile the exporter: {record['error']}"]
    own, total = record["self"], record["total"]
    pairs = [[f"{share:.1%} | `{name}`" for name, share in ranked] for ranked in (own, total)]
    rows = [
        [str(i + 1), *(x[i] if i < len(x) else " | " for x in pairs)]
        for i in range(max(map(len, pairs)))
    ]
    return [
        f"`py-spy record --rate {record['rate']} --duration {record['seconds']} --format raw "
        f"--nolineno` on the cached exporter at N={record['lines']:,} under `wrk -c50` (wrk saw "
        f"{record['wrk_pps']:,.0f} probes/s; not a measured load). {record['samples']:,} samples "
        "of the exporter busy. *Self*: the function was running; *total*: it was anywhere on the "
        f"stack ({record['scaffolding']} functions on >= 95 % of the stacks, the event loop's "
        "own, left out). Collapsed stacks: `benchmarks/out/profile-cached.txt`.",
        table(["#", "self", "function", "total", "function"], rows, "---"),
    ]


def render(results: Record) -> str:
    s = results["settings"]
    goal_rows = [
        [g["goal"], g["target"], g["measured"], f"**{verdict(g['passed'])}**", g["source"]]
        for g in results["goals"]
    ]
    parts = [
        "# Benchmark results",
        "Generated by `make bench` (`.venv/bin/python -m benchmarks.run`); do not edit by hand. "
        "How to run and read it: `benchmarks/README.md`; the goals: `benchmarks/goals.toml`.",
        f"Run from {results['started']} to {results.get('finished', '?')} "
        f"({results.get('seconds', 0):.0f} s), scenarios {', '.join(results['scenarios'])}. "
        f"Exporter started as `{s['exporter_cmd']}`.",
        NOISE,
        *(
            f"**Scenario {name} could not run:** {why}"
            for name, why in results.get("failed", {}).items()
        ),
        "## Machine",
        table(["", ""], [[key, value] for key, value in results["machine"].items()], "---"),
        "## Goals",
        table(["goal", "target", "measured", "result", "from"], goal_rows, "---"),
    ]
    if results["now"]["cached"]:
        parts += ["## Per N: throughput and latency side by side", *per_n(results)]
    if "refresh" in results:
        parts += ["## Refresh ahead", *refresh(results["refresh"])]
    if "memory" in results:
        parts += ["## Bounded memory", *memory(results["memory"])]
    rev = f"today's build {results['today']['rev']}" if "rev" in results["today"] else "today"
    if "scale" in results:
        parts += [
            f"## Scale: {results['scale']['lines']:,} lines (docs/scaling.md)",
            *scale(results["scale"], rev),
        ]
    for kind, title in (("slow", "CHAOS slow"), ("busy", "CHAOS on a busy machine")):
        if kind in results:
            lines = results[kind]["lines"]
            parts += [f"## {title}: {lines:,} lines (SPEC 11, R4)", *slow(results[kind], rev)]
    if "profile" in results:
        parts += ["## Profile of a cached probe", *profile(results["profile"])]
    parts += [
        "## How it was measured",
        "As `benchmarks/README.md` says, on 127.0.0.1, every server a fresh process. Closed loop: "
        f"`wrk -t2 -cC -d{s['wrk_seconds']}s --timeout=10s -s benchmarks/rotate.lua URL -- "
        "'/probe?module=line&target=' 10000 N`. Open loop, latency from each request's scheduled "
        "send time, after 1 s unrecorded: `.venv/bin/python -m benchmarks.openloop "
        f"'URL/probe?module=line&target={{id}}' --rate {s['open_rate']} --duration "
        f"{s['open_seconds']} --first 10000 --count N --expect '\\nprobe_success 1'`. MB = 10^6 "
        "bytes, from `/proc/PID/status`. Every raw figure: `benchmarks/out/results.json`.",
    ]
    return "\n\n".join(parts) + "\n"
