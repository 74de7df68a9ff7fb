"""Broken and hostile CHAOS replies: a 200 with a reason, inside the deadline, in bounded
memory, counted under their real outcome (docs/design.md, "Replies"); and partial answers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aaisp_multi_exporter.simulator import HUGE_FLOAT, HUGE_INTEGER, Fault, Simulator
from tests.conftest import Exporter, ExporterFactory, config_text

DEADLINE = {"X-Prometheus-Scrape-Timeout-Seconds": "5.5"}  # 5 s after the offset
OUTCOME = 'aaisp_exporter_chaos_requests_total{auth="home",command="%s",outcome="%s"}'
FULL_TIER = """
[modules.full]
commands = ["broadband/info", "broadband/quota"]
auth = "home"
retries = 0
"""


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def timed_probe(exporter: Exporter, query: str) -> tuple[int, str, float]:
    started = time.monotonic()
    status, text, _ = await exporter.get(f"/probe?{query}", headers=DEADLINE)
    return status, text, time.monotonic() - started


@pytest.mark.parametrize(
    ("fault", "success", "outcome", "reason"),
    [
        pytest.param(
            Fault("deep_nesting"), 0, "invalid_response", "nested too deeply", id="nested-100k"
        ),
        pytest.param(
            Fault("entries_without_id"),
            0,
            "invalid_response",
            "entries without a usable ID",
            id="200k-entries-without-id",
        ),
        pytest.param(
            Fault("huge_number", line_field="rx_rate"),
            1,
            "ok",
            "field rx_rate is not a whole number below 2^63: a number of 5000 digits",
            id="5000-digit-json-number",
        ),
        pytest.param(
            Fault("huge_number", line_field="rx_rate", as_string=True),
            1,
            "ok",
            'field rx_rate is not a whole number below 2^63: \\"9999',  # logfmt-quoted
            id="5000-digit-string",
        ),
        pytest.param(
            Fault("huge_number", line_field="rx_rate", number=HUGE_FLOAT),
            1,
            "ok",
            "field rx_rate is not a whole number below 2^63: inf",
            id="float-overflow",
        ),
    ],
)
async def test_hostile_reply_is_a_200_within_the_deadline(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    fault: Fault,
    success: int,
    outcome: str,
    reason: str,
) -> None:
    assert fault.number in (HUGE_INTEGER, HUGE_FLOAT)
    exporter = await make_exporter(retries="0")
    simulator.add_fault(fault)
    status, text, elapsed = await timed_probe(exporter, "target=10001&module=line&debug=true")
    assert status == 200, text
    assert elapsed < 5
    assert f"probe_success {float(success)}" in text
    assert reason in text
    assert "aaisp_broadband_line_sync_upload_bytes_per_second" not in text.split("Module")[0]
    metrics = await exporter.self_metrics()
    assert metrics[OUTCOME % ("broadband/info", outcome)] == 1
    if outcome != "ok":
        assert metrics[OUTCOME % ("broadband/info", "ok")] == 0
    # Discovery is never a 500 either: the set is left out (503 when named) or listed.
    exporter.clock.advance(3600)
    discovered, _, _ = await exporter.get("/discover?auth=home")
    assert discovered == (503 if success == 0 else 200)


async def test_hostile_replies_do_not_grow_memory(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """Before the bounds, each probe of a reply with 200,000 unusable entries kept every note
    (about 40 MB a probe); now notes, the probe log and the history entry are capped."""
    exporter = await make_exporter(retries="0", cache_seconds="0", timeout_seconds="20")
    simulator.add_fault(Fault("entries_without_id", entries=9_000))  # under the refusal bound
    for line in range(3):  # warm up allocator and caches
        exporter.clock.advance(3600)
        assert (await exporter.samples(f"target={10000 + line}&module=line"))["probe_success"] == 1
    before = rss_bytes()
    for line in range(30):
        exporter.clock.advance(3600)
        status, text = await exporter.probe(f"target={10000 + line}&module=line&debug=true")
        assert status == 200
        assert len(text) < 64 * 1024  # the probe log is capped, so is the debug answer
    grown = rss_bytes() - before
    assert grown < 40 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB over 30 hostile probes"
    # The notes are capped in the probe's own log: the first 20 and a count.
    _, text = await exporter.probe("target=10001&module=line&debug=true")
    assert text.count("has no usable ID; skipped") == 20
    assert "CHAOS reply oddities not listed" in text
    assert "count=8980" in text


async def test_line_missing_from_quota_still_succeeds(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """broadband/quota may leave out lines with no monthly quota (README, "Metrics")."""
    exporter = await make_exporter(config_text(simulator.url, extra=FULL_TIER))
    simulator.add_fault(Fault("quota_without_unlimited"))
    unlimited = next(
        line["ID"] for line in simulator.accounts[0].lines if line.get("quota_monthly", "0") == "0"
    )
    _, text = await exporter.probe(f"target={unlimited}&module=full&debug=true")
    assert "probe_success 1.0" in text
    assert 'aaisp_probe_module_success{module="full"} 1.0' in text
    assert "aaisp_broadband_line_sync_upload_bytes_per_second" in text
    assert "aaisp_broadband_quota_total_bytes" not in text.split("Module configuration")[0]
    assert (
        'msg="the answer does not list the line; this command adds nothing" command=broadband/quota'
    ) in text


async def test_failed_command_keeps_the_other_commands_series(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(config_text(simulator.url, extra=FULL_TIER))
    simulator.add_fault(Fault("http_status", status=503, command="broadband/quota"))
    got = await exporter.samples("target=10001&module=full")
    assert got["probe_success"] == 0
    assert got['aaisp_probe_module_success{module="full"}'] == 0
    assert got["aaisp_broadband_line_sync_upload_bytes_per_second"] > 0
    assert not any(name.startswith("aaisp_broadband_quota_") for name in got)


async def test_line_in_no_answer_fails_the_module(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(config_text(simulator.url, extra=FULL_TIER))
    _, text = await exporter.probe("target=99999&module=full&debug=true")
    assert "probe_success 0.0" in text
    assert 'broadband/info, broadband/quota: line "99999" not found for auth "home"' in text
