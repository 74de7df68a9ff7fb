"""The probe path's counters are plain numbers, exposed exactly as prometheus_client's Counter
would expose them (the reference below is a real Counter fed the same increments)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from aaisp_multi_exporter.obs.metrics import ExporterMetrics


def exposed(metrics: ExporterMetrics, name: str) -> list[str]:
    text = generate_latest(metrics.registry).decode()
    return [line for line in text.splitlines() if name in line]


@pytest.mark.parametrize(
    ("modules", "done", "expected"),
    [
        (["line"], [], {("line", "success"): 0, ("line", "failure"): 0}),
        (
            ["line"],
            [("line", True), ("line", True)],
            {("line", "success"): 2, ("line", "failure"): 0},
        ),
        (
            ["quota", "line"],
            [("quota", False)],
            {
                ("line", "success"): 0,
                ("line", "failure"): 0,
                ("quota", "success"): 0,
                ("quota", "failure"): 1,
            },
        ),
        # A module a reload raced still counts.
        (
            ["line"],
            [("gone", True)],
            {("line", "success"): 0, ("line", "failure"): 0, ("gone", "success"): 1},
        ),
    ],
)
def test_probe_counts_read_as_a_counter(
    modules: list[str],
    done: list[tuple[str, bool]],
    expected: dict[tuple[str, str], int],
) -> None:
    metrics = ExporterMetrics()
    metrics.init_modules(modules)
    for module, success in done:
        metrics.probe_done(module, success)
    registry = CollectorRegistry()
    counter = Counter(
        "aaisp_exporter_probes",
        "Probes run, by module and result.",
        ["module", "result"],
        registry=registry,
    )
    for (module, result), count in expected.items():
        counter.labels(module, result).inc(count)
    want = generate_latest(registry).decode().splitlines()
    assert exposed(metrics, "aaisp_exporter_probes_total") == want


def test_a_reload_drops_a_removed_modules_counts_and_keeps_the_others() -> None:
    metrics = ExporterMetrics()
    metrics.init_modules(["line", "quota"])
    metrics.probe_done("line", True)
    metrics.probe_done("quota", True)
    metrics.init_modules(["line", "tier"])
    lines = exposed(metrics, "aaisp_exporter_probes_total")
    assert 'aaisp_exporter_probes_total{module="line",result="success"} 1.0' in lines
    assert 'aaisp_exporter_probes_total{module="tier",result="success"} 0.0' in lines
    assert not [line for line in lines if 'module="quota"' in line]


@pytest.mark.parametrize(
    "results", [[], ["cached"], ["fetched", "cached", "cached", "failure_shared"]]
)
def test_lookup_counts_read_as_a_counter(results: list[str]) -> None:
    metrics = ExporterMetrics()
    for result in results:
        metrics.lookup_done(result)
    registry = CollectorRegistry()
    counter = Counter(
        "aaisp_exporter_snapshot_lookups",
        "Lookups of CHAOS answers: fetched for the probe, cached, or shared with a "
        "concurrent probe's call.",
        ["result"],
        registry=registry,
    )
    for result in ("fetched", "cached", "coalesced", "refreshed_ahead", "failure_shared"):
        counter.labels(result).inc(results.count(result))
    want = generate_latest(registry).decode().splitlines()
    assert exposed(metrics, "aaisp_exporter_snapshot_lookups_total") == want


def test_a_reload_drops_a_removed_commands_series_and_keeps_the_others() -> None:
    metrics = ExporterMetrics(chaos_outcomes=["ok", "timeout"])
    metrics.init_commands(["broadband/info", "telephony/info"])
    metrics.chaos_request_done("broadband/info", "ok", 0.2)
    metrics.chaos_retried("telephony/info")
    assert exposed(metrics, "aaisp_exporter_chaos_requests_total") == [
        "# HELP aaisp_exporter_chaos_requests_total HTTP requests sent to CHAOS (every attempt), "
        "by command and outcome.",
        "# TYPE aaisp_exporter_chaos_requests_total counter",
        'aaisp_exporter_chaos_requests_total{command="broadband/info",outcome="ok"} 1.0',
        'aaisp_exporter_chaos_requests_total{command="broadband/info",outcome="timeout"} 0.0',
        'aaisp_exporter_chaos_requests_total{command="telephony/info",outcome="ok"} 0.0',
        'aaisp_exporter_chaos_requests_total{command="telephony/info",outcome="timeout"} 0.0',
    ]
    metrics.init_commands(["broadband/info"])
    for family in (
        "aaisp_exporter_chaos_requests_total",
        "aaisp_exporter_chaos_retries_total",
        "aaisp_exporter_chaos_request_duration_seconds_count",
    ):
        lines = exposed(metrics, family)
        assert any('command="broadband/info"' in line for line in lines), family
        assert not any("telephony" in line for line in lines), family
