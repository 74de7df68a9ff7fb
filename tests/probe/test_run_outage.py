"""Real outages and refusals cost CHAOS calls per credential set, not per line (docs/design.md,
"Failure sharing"), and the log does not grow with the number of failing probes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aaisp_multi_exporter.simulator import Fault, SimAccount, Simulator, generate_lines
from tests.conftest import HOME_LOGIN, SENTINEL, Exporter, ExporterFactory, config_text


async def probe_lines(exporter: Exporter, count: int, module: str = "line") -> list[float]:
    results = await asyncio.gather(
        *(exporter.samples(f"target={10000 + i}&module={module}") for i in range(count))
    )
    return [result["probe_success"] for result in results]


@pytest.mark.parametrize("lines", [5, 20, 40])
@pytest.mark.parametrize("retries", [0, 2])
async def test_outage_costs_calls_per_backoff_not_per_line(
    make_exporter: ExporterFactory, simulator: Simulator, lines: int, retries: int
) -> None:
    """40 probes of N lines within a few seconds: at most 2 x (retries + 1) calls.

    Before failure sharing, each probe retried on its own: 40 probes of 20 lines cost 120.
    """
    exporter = await make_exporter(cache_seconds="60", retries=str(retries))
    simulator.add_fault(Fault("http_status", status=500))
    first = await probe_lines(exporter, lines)
    second = await probe_lines(exporter, 40 - lines) if lines < 40 else []
    exporter.clock.advance(6)  # the first backoff (5 s) ends: one more fetch, shared again
    third = await probe_lines(exporter, lines)
    assert set(first + second + third) == {0.0}
    assert simulator.total_calls == 2 * (retries + 1)
    metrics = await exporter.self_metrics()
    lookups = 'aaisp_exporter_snapshot_lookups_total{result="%s"}'
    assert metrics[lookups % "fetched"] == 2
    shared_or_joined = metrics[lookups % "failure_shared"] + metrics[lookups % "coalesced"]
    assert shared_or_joined == len(first) + len(second) + len(third) - 2


async def test_reason_says_when_the_next_try_is(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(retries="0")
    simulator.add_fault(Fault("http_status", status=503))
    _, first = await exporter.probe("target=10001&module=line&debug=true")
    assert "CHAOS answered HTTP 503 (broadband/info) [http_error]; next CHAOS try in 5 s" in first
    exporter.clock.advance(2)
    _, second = await exporter.probe("target=10002&module=line&debug=true")
    assert "[http_error]; shared failure; next CHAOS try in 3 s" in second
    simulator.clear_faults()
    exporter.clock.advance(3)
    assert (await exporter.samples("target=10002&module=line"))["probe_success"] == 1
    assert simulator.total_calls == 2


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("Login locked", "auth_error"),
        ("Too many failed login attempts", "auth_error"),
        ("Password expired, please reset", "auth_error"),
        ("Service temporarily unavailable", "api_error"),
        ("Unknown command", "api_error"),
    ],
)
async def test_any_error_string_is_sent_once_for_every_line(
    make_exporter: ExporterFactory, simulator: Simulator, text: str, outcome: str
) -> None:
    """A locked login must not be tried once per line: that is how accounts get locked."""
    exporter = await make_exporter(cache_seconds="0", retries="2")
    simulator.add_fault(Fault("error", error_text=text))
    assert set(await probe_lines(exporter, 20)) == {0.0}
    exporter.clock.advance(59)  # refusals are kept max(cache_seconds, 60) s
    assert set(await probe_lines(exporter, 20)) == {0.0}
    assert simulator.total_calls == 1
    metrics = await exporter.self_metrics()
    key = 'aaisp_exporter_chaos_requests_total{auth="home",command="broadband/info",outcome="%s"}'
    assert metrics[key % outcome] == 1
    assert metrics['aaisp_exporter_chaos_retries_total{command="broadband/info"}'] == 0
    exporter.clock.advance(2)
    simulator.clear_faults()
    assert set(await probe_lines(exporter, 3)) == {1.0}
    assert simulator.total_calls == 2


async def test_failed_probe_log_does_not_grow_with_the_lines(
    make_exporter: ExporterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """500 probes of 500 lines failing for one reason write one info line, not 500."""
    big = Simulator([SimAccount(HOME_LOGIN, SENTINEL, generate_lines(500))])
    await big.start()
    try:
        exporter = await make_exporter(config_text(big.url, retries="0"), max_requests=0)
        big.add_fault(Fault("http_status", status=502))
        caplog.set_level(logging.INFO)
        assert set(await probe_lines(exporter, 500)) == {0.0}
        failed = [r for r in caplog.records if r.getMessage() == "probe failed"]
        assert len(failed) == 1
        fields = failed[0].__dict__["fields"]
        assert fields["module"] == "line"
        assert fields["kind"] == "http_error"
        assert fields["similar_failures_since_last_line"] == 0
        # A minute later the next failure says how many it stands for.
        exporter.state.services.failure_log.interval = 0
        await exporter.samples("target=10007&module=line")
        failed = [r for r in caplog.records if r.getMessage() == "probe failed"]
        assert len(failed) == 2
        assert failed[1].__dict__["fields"]["target"] == "10007"
        assert failed[1].__dict__["fields"]["similar_failures_since_last_line"] == 499
    finally:
        await big.stop()


async def test_every_failure_is_logged_at_debug(
    make_exporter: ExporterFactory, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = await make_exporter(retries="0")
    simulator.add_fault(Fault("http_status", status=502))
    caplog.set_level(logging.DEBUG)
    await probe_lines(exporter, 30)
    failed = [r for r in caplog.records if r.getMessage() == "probe failed"]
    assert len(failed) == 30
    assert {r.levelno for r in failed} == {logging.DEBUG}


async def test_both_tiers_export_each_series_once(exporter: Exporter, simulator: Simulator) -> None:
    """The line scraped by the quota and the line tier: no series in both (README, "Metrics")."""
    raw = next(
        line for line in simulator.accounts[0].lines if line.get("quota_monthly", "0") != "0"
    )
    quota = await exporter.samples(f"target={raw['ID']}&module=quota")
    line = await exporter.samples(f"target={raw['ID']}&module=line")
    quota_series = {name for name in quota if name.startswith("aaisp_broadband_")}
    line_series = {name for name in line if name.startswith("aaisp_broadband_")}
    assert quota_series == {
        "aaisp_broadband_quota_total_bytes",
        "aaisp_broadband_quota_remaining_bytes",
        "aaisp_broadband_quota_timestamp_seconds",
    }
    assert line_series
    assert not quota_series & line_series
    assert not any("quota" in name for name in line_series)


async def test_lone_object_payload(exporter: Exporter, simulator: Simulator) -> None:
    simulator.add_fault(
        Fault("body", body={"info": {"ID": "10001", "login": "x@a", "rx_rate": "8000"}})
    )
    got = await exporter.samples("target=10001&module=line")
    assert got["probe_success"] == 1
    assert got["aaisp_broadband_line_sync_upload_bytes_per_second"] == 1000
