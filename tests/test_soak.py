"""``make soak``'s own logic (what fails a soak, what its clients read back, the configurations
it reloads), and one short soak of the real processes that must produce its summary. What the
soak finds in the exporter is its report's business, never a test's."""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from aaisp_multi_exporter.config import ConfigError, parse_config
from benchmarks import procs
from benchmarks.soak import window_seconds
from benchmarks.soakclients import OPENMETRICS, Load, Request, Tally, check_body, exchange
from benchmarks.soakconfig import BROKEN, variant
from benchmarks.soakreport import (
    FD_GROWTH,
    RSS_FACTOR,
    RSS_GROWTH_MB,
    LogCounts,
    Sample,
    Window,
    verdict,
)


def json_line(level: str, msg: str, **more: str) -> str:
    return json.dumps({"ts": "t", "level": level, "logger": "x", "msg": msg, **more}) + "\n"


@pytest.mark.parametrize(
    ("chunks", "lines", "tracebacks", "levels"),
    [
        ([json_line("info", "listening")], 1, 0, {"info": 1}),
        ([json_line("error", "boom", exception="Traceback (most...)\nValueError: x")], 1, 1, {}),
        (["Traceback (most recent call last):\n", '  File "x"\n'], 2, 1, {"raw": 2}),
        # a line written in two pieces counts once, when it is complete
        ([json_line("warning", "slow")[:10], json_line("warning", "slow")[10:]], 1, 0, {}),
        ([json_line("info", "a")[:-1]], 0, 0, {}),
        (["\n\n"], 0, 0, {}),
    ],
)
def test_log_counts_lines_levels_and_tracebacks(
    chunks: list[str], lines: int, tracebacks: int, levels: dict[str, int]
) -> None:
    log = LogCounts()
    for chunk in chunks:
        log.feed(chunk)
    assert (log.lines, log.tracebacks) == (lines, tracebacks)
    assert levels.items() <= log.levels.items()


def sample(rss: float = 60.0, fds: int = 20, tracebacks: int = 0) -> Sample:
    return Sample(0.0, rss, rss, fds, 10, tracebacks)


def failed(reason: str) -> Tally:
    tally = Tally()
    tally.fail(reason, "probe text /probe?module=line&target=10000")
    return tally


@pytest.mark.parametrize(
    ("end", "tally", "tracebacks", "expected"),
    [
        (sample(), Tally(), 0, []),
        (sample(rss=60.0 + RSS_GROWTH_MB), Tally(), 0, []),
        (sample(rss=60.1 + RSS_GROWTH_MB), Tally(), 0, ["RSS grew from 60.0 MB"]),
        (sample(fds=20 + FD_GROWTH), Tally(), 0, []),
        (sample(fds=21 + FD_GROWTH), Tally(), 0, ["open descriptors grew from 20"]),
        (sample(), failed("connection closed, no answer"), 0, ["1 x connection closed"]),
        (sample(), failed("5xx: status 500"), 0, ["1 x 5xx: status 500; first: probe text"]),
        (sample(), Tally(), 2, ["2 tracebacks in the exporter's log; first: boom"]),
    ],
)
def test_verdict_fails_on_each_rule_and_only_then(
    end: Sample, tally: Tally, tracebacks: int, expected: list[str]
) -> None:
    log = LogCounts()
    for _ in range(tracebacks):
        log.feed(json_line("error", "boom", exception="Traceback\nKeyError: 1"))
    reasons = verdict([Window("1", sample(), tally), Window("2", end)], sample(), log)
    assert len(reasons) == len(expected)
    for reason, start in zip(reasons, expected, strict=True):
        assert reason.startswith(start), reason


def test_verdict_bounds_growth_by_a_factor_for_a_small_process() -> None:
    windows = [Window("1", sample(rss=30.0)), Window("2", sample(rss=30.0 * RSS_FACTOR + 0.1))]
    assert verdict(windows, sample(rss=30.0), LogCounts())[0].startswith("RSS grew from 30.0")
    windows[-1].sample = sample(rss=30.0 * RSS_FACTOR)
    assert verdict(windows, sample(rss=30.0), LogCounts()) == []


def test_verdict_reports_an_exporter_that_exited() -> None:
    reasons = verdict([Window("1", sample())], sample(), LogCounts(), ["exporter exited with -9"])
    assert reasons == ["exporter exited with -9"]


PROBE = Request("probe text", "/probe?module=line&target=1", body="text")
OPEN = Request("probe openmetrics", "/probe", {"Accept": OPENMETRICS}, body="openmetrics")
DISCOVER = Request("discover auth", "/discover?auth=b", expected=frozenset({200, 503}))


@pytest.mark.parametrize(
    ("request_", "status", "body", "problem"),
    [
        (PROBE, 200, b"# HELP probe_success x\nprobe_success 1.0\n", ""),
        (PROBE, 200, b"", "a 200 probe answer without probe_success"),
        (PROBE, 400, b"unknown module", "status 400"),
        (PROBE, 500, b"internal error", "status 500"),
        (OPEN, 200, b"probe_success 1.0\n# EOF\n", ""),
        (OPEN, 200, b"probe_success 1.0\n", "an OpenMetrics answer without its # EOF"),
        (DISCOVER, 503, b'auth "b" has never answered discovery: x', ""),
        (DISCOVER, 503, b"too many probes in flight", "503 without the never-answered reason"),
    ],
)
def test_check_body(request_: Request, status: int, body: bytes, problem: str) -> None:
    assert check_body(request_, status, body) == problem


@pytest.mark.parametrize(
    ("seconds", "width"), [(1800, 300.0), (7200, 300.0), (120, 20.0), (60, 10.0), (6, 1.0)]
)
def test_windows_are_five_minutes_or_a_sixth_of_a_short_run(seconds: float, width: float) -> None:
    assert window_seconds(seconds) == width


def test_every_configuration_the_soak_writes_loads_unless_it_is_broken(tmp_path: Path) -> None:
    rng, kinds = random.Random(7), set()
    for step in range(120):
        chosen = variant("http://127.0.0.1:1", step, rng, tmp_path)
        if chosen.valid:
            parse_config(chosen.text, source="soak.toml")
        kinds.add(chosen.note.split(":")[0] if not chosen.valid else "valid")
    assert kinds == {"valid", "broken"}


@pytest.mark.parametrize("mistake", sorted(BROKEN))
def test_each_broken_configuration_is_refused(mistake: str, tmp_path: Path) -> None:
    chosen = variant("http://127.0.0.1:1", 3, random.Random(0), tmp_path, broken=mistake)
    assert not chosen.valid
    with pytest.raises(ConfigError):
        parse_config(chosen.text, source="soak.toml")


@asynccontextmanager
async def server(reply: bytes | None) -> AsyncIterator[Load]:
    """A socket server that reads the request's first bytes, then sends ``reply`` and closes,
    or (None) holds the connection open."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        if reply is None:
            await asyncio.sleep(60)
        writer.write(reply or b"")
        writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield Load("127.0.0.1", port)
    finally:
        listening.close()


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n", "431"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "200"),
        (b"", "closed"),
        (b"SSH-2.0-x\r\n", "garbage"),
    ],
)
async def test_exchange_reads_the_status_or_how_the_connection_ended(
    reply: bytes, outcome: str
) -> None:
    async with server(reply) as load:
        assert await exchange(load, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == outcome


async def test_exchange_with_nobody_listening_is_reset() -> None:
    assert await exchange(Load("127.0.0.1", procs.free_port()), b"GET /\r\n\r\n") == "reset"


@pytest.mark.slow
def test_a_short_soak_prints_and_writes_its_summary(tmp_path: Path) -> None:
    """Twenty seconds of everything against the real processes: the summary has every window
    and the totals, requests of every sort were sent and reloads made, and the exit status
    is the verdict's (0 pass, 1 fail; 2 would be the harness failing)."""
    output, workdir = tmp_path / "soak.md", tmp_path / "work"
    command = ["--seconds", "20", "--output", str(output), "--workdir", str(workdir)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", *command],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=procs.ROOT,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    summary = output.read_text(encoding="utf-8")
    assert summary in done.stdout
    lines = summary.splitlines()
    assert lines[0] == f"## Soak: 20 s, {'PASS' if done.returncode == 0 else 'FAIL'}"
    # a failed soak says why, one reason a line, right under its heading
    assert lines[2].startswith("- ") == (done.returncode == 1)
    rows = {line.split(" | ")[0].lstrip("| "): line.strip("| ").split(" | ") for line in lines}
    assert {"start", "1", "2", "3", "4", "5", "6", "total"} <= rows.keys()
    total = dict(zip(rows["window"], rows["total"], strict=True))
    assert int(total["2xx"].replace(",", "")) > 100
    assert int(total["reloads ok/refused/wrong"].split("/")[0]) > 0
    assert int(total["hostile"].replace(",", "")) > 10
    for kind in ("probe text", "probe openmetrics", "probe debug", "discover module", "logs"):
        assert re.search(rf"^\| {kind} \| [1-9]", summary, re.MULTILINE), kind
    assert re.search(r"^Slow connections: closed by the exporter: [1-9]", summary, re.MULTILINE)
    assert (workdir / "soak-exporter.log").stat().st_size > 0
