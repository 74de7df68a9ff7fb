"""The contract at its edges (issue 16), through the whole stack on both event loops.

Real servers on loopback: hostile bytes from CHAOS and odd headers from a client must never
give a 500 on any endpoint, now or later; each module gets data no older than its own
``cache_seconds``; a flood of unknown targets leaves real failures in sight; the probe
request cache is bounded in bytes; durations have sub-millisecond resolution.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from aaisp_multi_exporter.diagnostics.check import check_chaos
from aaisp_multi_exporter.probe.exposition import FORMATS
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import SENTINEL, Exporter, ExporterFactory, samples
from tests.realprograms import promtool_clean

pytestmark = pytest.mark.both_loops

LINE = "10001"
INFO = "broadband/info"
CONTENT_TYPES = {fmt.content_type for fmt in FORMATS}
#: Accept headers of each format the exporter writes, as scrapers send them.
ACCEPTS = {
    "text-0.0.4": "",
    "text-1.0.0": "text/plain;version=1.0.0;escaping=allow-utf-8",
    "openmetrics": "application/openmetrics-text;version=1.0.0",
}


@dataclass(frozen=True)
class Hostile:
    """A CHAOS reply to ``broadband/info`` and what a probe of LINE must make of it."""

    fault: Fault
    success: int
    #: In the debug text of the probe (logfmt-quoted where the log quotes it).
    shown: str


def info(*entries: dict[str, str], **envelope: object) -> Fault:
    return Fault("body", command=INFO, body={**envelope, "info": list(entries)})


HOSTILE = {
    "lone-surrogate-escape-in-login": Hostile(
        info({"ID": LINE, "login": "ab\ud800@a", "postcode": "XX1 1XX"}),
        1,
        'login="ab\ufffd@a"',
    ),
    "cesu-bytes-in-login": Hostile(
        Fault("raw", command=INFO, raw=b'{"info":[{"ID":"10001","login":"ab\xed\xa0\x80@a"}]}'),
        1,
        'login="ab\ufffd\ufffd\ufffd@a"',
    ),
    "surrogate-in-the-id-of-another-line": Hostile(
        info({"ID": LINE, "login": "a@a"}, {"ID": "9\udfff", "login": "b@a"}), 1, 'login="a@a"'
    ),
    "surrogate-in-a-refusal": Hostile(
        Fault("error", command=INFO, error_text="Bad \ud800 service"),
        0,
        'CHAOS error: \\"Bad \\\\ufffd service\\"',
    ),
    "refusal-sent-with-http-403": Hostile(
        Fault("error", command=INFO, error_text="Unknown command", reply_status=403),
        0,
        'CHAOS error: \\"Unknown command\\" (sent with HTTP 403)',
    ),
    "refusal-sent-with-http-500": Hostile(
        Fault("error", command=INFO, error_text="Login locked", reply_status=500),
        0,
        "CHAOS refused the credentials: Login locked (sent with HTTP 500)",
    ),
    "empty-error": Hostile(
        info({"ID": LINE, "tx_rate": "8000"}, error=""),
        1,
        'note="CHAOS sent an empty \\"error\\"; the reply is used"',
    ),
    "latin-1-reply-that-says-so": Hostile(
        Fault(
            "raw",
            command=INFO,
            raw='{"info":[{"ID":"10001","login":"café@a","postcode":"É1 1AA"}]}'.encode("latin-1"),
            content_type="application/json; charset=iso-8859-1",
        ),
        1,
        'login="café@a"',
    ),
    "repeated-id": Hostile(
        info({"ID": LINE, "tx_rate": "8000"}, {"ID": LINE, "tx_rate": "16000"}),
        1,
        'note="info[1] repeats ID \\"10001\\"; the first entry is used"',
    ),
}


async def get_ok(exporter: Exporter, path: str, allowed: tuple[int, ...] = (200,)) -> str:
    """The page's text: its status one of ``allowed``, its bytes valid UTF-8."""
    async with exporter.http.get(exporter.url + path) as response:
        body = await response.read()
        assert response.status in allowed, (path, response.status, body[:500])
        return body.decode("utf-8")


@pytest.mark.parametrize("case", HOSTILE)
async def test_hostile_replies_never_break_a_page(
    make_exporter: ExporterFactory, simulator: Simulator, case: str
) -> None:
    hostile = HOSTILE[case]
    exporter = await make_exporter()
    simulator.add_fault(hostile.fault)
    status, text = await exporter.probe(f"target={LINE}&module=line")
    assert status == 200, text
    assert samples(text)["probe_success"] == hostile.success
    # Refusals are never retried, whatever the HTTP status they came with; nothing else was
    # asked twice either.
    assert simulator.calls[("home@a", INFO, "")] == 1
    promtool_clean(text)
    for name, accept in ACCEPTS.items():
        for encoding in ("identity", "gzip"):
            headers = {"Accept": accept, "Accept-Encoding": encoding}
            async with exporter.http.get(
                f"{exporter.url}/probe?target={LINE}&module=line",
                headers=headers,
                auto_decompress=False,
            ) as response:
                assert response.status == 200, name
                assert response.headers["Content-Type"] in CONTENT_TYPES
                body = await response.read()
            if encoding == "gzip":
                body = gzip.decompress(body)
            exposition = body.decode("utf-8")
            if name == "openmetrics":
                assert list(openmetrics_families(exposition))  # type: ignore[no-untyped-call]
            else:
                assert samples(exposition)["probe_success"] == hostile.success
    debug = await get_ok(exporter, f"/probe?target={LINE}&module=line&debug=true")
    assert hostile.shown in debug, debug
    for path in (f"/logs?target={LINE}", "/logs?id=0", "/", "/discover"):
        await get_ok(exporter, path)
    # A set that never answered discovery is a 503 naming the reason (README, "Endpoints").
    await get_ok(exporter, "/discover?auth=home", (200,) if hostile.success else (503,))
    assert SENTINEL not in debug
    # The fault goes, the history stays: nothing it left behind breaks a page later.
    simulator.clear_faults()
    exporter.clock.advance(3600)
    status, text = await exporter.probe(f"target={LINE}&module=line")
    assert samples(text)["probe_success"] == 1
    for path in (f"/logs?target={LINE}", "/logs?id=0", "/"):
        await get_ok(exporter, path)


@pytest.mark.parametrize("case", HOSTILE)
async def test_hostile_replies_never_break_the_check_or_the_capture(
    make_exporter: ExporterFactory, simulator: Simulator, case: str, tmp_path: Path
) -> None:
    """``--chaos.check`` and ``--chaos.capture`` report in CHAOS's words and write files,
    never a traceback; what they write is UTF-8 and the capture JSON again."""
    exporter = await make_exporter()
    simulator.add_fault(HOSTILE[case].fault)
    assert exporter.state.loaded is not None
    config = exporter.state.loaded.config
    out = io.StringIO()
    status = await check_chaos(config, out, tmp_path)
    report = out.getvalue()
    assert status in (0, 1)
    report.encode("utf-8")
    assert SENTINEL not in report
    assert f"[home] {INFO}:" in report
    for path in await asyncio.to_thread(lambda: list(tmp_path.iterdir())):
        data = await asyncio.to_thread(path.read_bytes)
        assert SENTINEL.encode() not in data
        if path.suffix == ".json":
            json.loads(data.decode("utf-8"))


async def test_a_capture_keeps_a_lone_surrogate_as_its_escape(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    """So the capture, replayed, reproduces the reply that broke things."""
    exporter = await make_exporter()
    simulator.add_fault(HOSTILE["lone-surrogate-escape-in-login"].fault)
    assert exporter.state.loaded is not None
    await check_chaos(exporter.state.loaded.config, io.StringIO(), tmp_path)
    captured = (tmp_path / "home-broadband-info.json").read_text("utf-8")
    assert re.fullmatch(r"login-\d+", json.loads(captured)["info"][0]["login"])
    assert "\\ud800" not in captured  # a login: replaced whole by its placeholder
    simulator.clear_faults()
    simulator.add_fault(info({"ID": LINE, "tx_rate": "8\udc00"}))
    await check_chaos(exporter.state.loaded.config, io.StringIO(), tmp_path)
    captured = (tmp_path / "home-broadband-info.json").read_text("utf-8")
    assert '"8\\udc00"' in captured
    assert json.loads(captured)["info"][0]["tx_rate"] == "8\udc00"


# ----------------------------------------------------------------- each module's freshness

FRESHNESS = """
[chaos]
url = "{url}"

[auths.home]
control_login = "home@a"
control_password = "{password}"

[modules.long]
commands = ["broadband/info"]
cache_seconds = 600

[modules.short]
commands = ["broadband/info"]
cache_seconds = 3

[modules.none]
commands = ["broadband/info"]
cache_seconds = 0
"""


async def test_each_module_gets_data_within_its_own_cache_seconds(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """Three modules over one command and credential set (docs/design.md, "Snapshots")."""
    exporter = await make_exporter(FRESHNESS.format(url=simulator.url, password=SENTINEL))

    async def probe(module: str) -> float:
        got = await exporter.samples(f"target={LINE}&module={module}")
        assert got["probe_success"] == 1
        return got[f'aaisp_probe_data_age_seconds{{module="{module}"}}']

    def calls() -> int:
        return simulator.calls[("home@a", INFO, "")]

    assert (await probe("long"), calls()) == (0, 1)
    exporter.clock.advance(2)
    assert 2 <= await probe("short") < 3
    assert 2 <= await probe("long") < 3
    assert calls() == 1
    assert (await probe("none"), calls()) == (0, 2)  # always fetches...
    assert await probe("long") < 1  # ...and its reply serves the others too
    exporter.clock.advance(12)  # 12 s: too old for "short", fine for "long"
    assert 12 <= await probe("long") < 13
    assert (await probe("short"), calls()) == (0, 3)
    assert (await probe("none"), calls()) == (0, 4)
    exporter.clock.advance(2.5)
    # One probe of all three: each module's own age, within its own cache_seconds.
    got = await exporter.samples(f"target={LINE}&module=long,short,none")
    ages = {m: got[f'aaisp_probe_data_age_seconds{{module="{m}"}}'] for m in ("long", "short")}
    assert 2.5 <= ages["long"] < 3
    assert ages["short"] < 3
    assert got['aaisp_probe_data_age_seconds{module="none"}'] == 0
    assert calls() == 5


# ----------------------------------------------------------------- an unknown-target flood


async def test_a_flood_of_unknown_targets_leaves_a_real_failure_in_sight(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter()
    simulator.add_fault(Fault("error", command="broadband/quota", error_text="Bad service"))
    status, _ = await exporter.probe(f"target={LINE}&module=quota")
    assert status == 200
    flood = 1200  # past both the failing-now list (1,000) and the history (100 + 100)
    for batch in range(0, flood, 25):  # under the 40 probes allowed in flight
        await asyncio.gather(
            *(exporter.probe(f"target={90000 + n}&module=line") for n in range(batch, batch + 25))
        )
    page = await get_ok(exporter, "/")
    failing_now = page.split("<h2>Failing now")[1].split("<h2>")[0]
    rows = failing_now.split("<tr>")[2:]  # after the header row
    assert len(rows) == 2, failing_now  # most recently failed first: the flood's row
    assert '"Target" class="key">1000+ targets</td>' in rows[0]
    assert '"Failures" class="label num">1200</td>' in rows[0]
    latest = re.search(r"latest: ((?:\d+, ){4}\d+)", rows[0])
    assert latest is not None, rows[0]
    shown = [int(target) for target in latest.group(1).split(", ")]
    # The five that failed last, newest first: from the last batch, in the order it finished.
    assert len(set(shown)) == 5
    assert all(90000 + flood - 25 <= target < 90000 + flood for target in shown), shown
    assert f'<td data-label="Target" class="key">{LINE}</td>' in rows[1]
    assert "CHAOS error: &quot;Bad service&quot;" in rows[1]
    logs = await get_ok(exporter, f"/logs?target={LINE}")
    assert 'CHAOS error: \\"Bad service\\"' in logs


# ----------------------------------------------------------------- bounded request cache


def resident_bytes() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


async def test_distinct_long_query_strings_do_not_grow_memory(exporter: Exporter) -> None:
    """Issue 16: 16,384 entries of 8 KB keys were 130 MB; kept queries are now bounded in
    bytes. 4,000 distinct 7 KB queries would keep 28 MB by the old rule."""
    padding = "x" * 7000
    for batch in range(40):  # warm-up: the server's own buffers and caches reach their size
        await exporter.probe(f"target={LINE}&module=line&pad={batch}{padding}")
    before = resident_bytes()
    for batch in range(0, 4000, 25):
        await asyncio.gather(
            *(
                exporter.probe(f"target={LINE}&module=line&pad={n}{padding}")
                for n in range(batch, batch + 25)
            )
        )
    assert exporter.state.loaded is not None
    parser = exporter.state.loaded.parser
    assert parser.known_chars < 300
    assert resident_bytes() - before < 12 * 1024 * 1024


# ----------------------------------------------------------------- durations


async def test_durations_have_sub_millisecond_resolution(exporter: Exporter) -> None:
    """uvloop's loop clock counts whole milliseconds: cached probes used to report 0.0 or
    0.001. Timing-free: no duration of a cached probe is a whole number of milliseconds."""
    await exporter.probe(f"target={LINE}&module=line")
    durations = [
        (await exporter.samples(f"target={LINE}&module=line"))["probe_duration_seconds"]
        for _ in range(5)
    ]
    assert all(duration > 0 for duration in durations)
    assert not any((duration * 1000).is_integer() for duration in durations), durations
