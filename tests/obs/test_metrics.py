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


def chaos_lines(metrics: ExporterMetrics) -> list[str]:
    """The per-credential-set CHAOS series, as exposed."""
    names = (
        "aaisp_exporter_chaos_requests_total{",
        "aaisp_exporter_chaos_up{",
        "aaisp_exporter_chaos_last_success_timestamp_seconds{",
    )
    return [line for line in exposed(metrics, "aaisp_exporter_chaos_") if line.startswith(names)]


def test_chaos_series_per_credential_set_before_and_after_calls() -> None:
    """Requests are pre-created at 0 for every set and command; ``chaos_up`` and the last
    success appear with the first call that ends, and follow the latest one."""
    metrics = ExporterMetrics(chaos_outcomes=["ok", "auth_error"])
    metrics.init_chaos(["home", "shop"], ["broadband/info"])
    requests = (
        'aaisp_exporter_chaos_requests_total{auth="%s",command="broadband/info",outcome="%s"}'
    )
    assert chaos_lines(metrics) == [
        requests % ("home", "ok") + " 0.0",
        requests % ("home", "auth_error") + " 0.0",
        requests % ("shop", "ok") + " 0.0",
        requests % ("shop", "auth_error") + " 0.0",
    ]
    metrics.chaos_request_done("home", "broadband/info", "ok", 0.1)
    metrics.chaos_call_done("home", "broadband/info", True)
    metrics.chaos_request_done("shop", "broadband/info", "auth_error", 0.1)
    metrics.chaos_call_done("shop", "broadband/info", False)
    lines = chaos_lines(metrics)
    assert 'aaisp_exporter_chaos_up{auth="home",command="broadband/info"} 1.0' in lines
    assert 'aaisp_exporter_chaos_up{auth="shop",command="broadband/info"} 0.0' in lines
    (stamp,) = [line for line in lines if line.startswith("aaisp_exporter_chaos_last_success")]
    assert stamp.startswith(
        'aaisp_exporter_chaos_last_success_timestamp_seconds{auth="home",command="broadband/info"} '
    )
    # A later failure of "home" turns it to 0 and keeps its last success.
    metrics.chaos_call_done("home", "broadband/info", False)
    lines = chaos_lines(metrics)
    assert 'aaisp_exporter_chaos_up{auth="home",command="broadband/info"} 0.0' in lines
    assert stamp in lines


@pytest.mark.parametrize(
    ("auths", "commands", "gone", "kept"),
    [
        pytest.param(["home"], ["broadband/info"], ['auth="shop"'], ['auth="home"'], id="set"),
        pytest.param(
            ["home", "shop"],
            ["broadband/info"],
            ['command="broadband/quota"', 'command="telephony/info"'],
            ['auth="shop",command="broadband/info"'],
            id="command",
        ),
    ],
)
def test_a_reload_drops_the_series_of_removed_sets_and_commands(
    auths: list[str], commands: list[str], gone: list[str], kept: list[str]
) -> None:
    metrics = ExporterMetrics(chaos_outcomes=["ok", "timeout"])
    metrics.init_chaos(["home", "shop"], ["broadband/info", "broadband/quota", "telephony/info"])
    for auth in ("home", "shop"):
        for command in ("broadband/info", "broadband/quota", "telephony/info"):
            metrics.chaos_request_done(auth, command, "ok", 0.2)
            metrics.chaos_call_done(auth, command, True)
    metrics.chaos_retried("telephony/info")
    metrics.init_chaos(auths, commands)
    text = exposed(metrics, "aaisp_exporter_chaos_")
    for label in gone:
        assert not [line for line in text if label in line], label
    for label in kept:
        assert [line for line in text if label in line and "chaos_up" in line], label
        assert [line for line in text if label in line and "requests_total" in line], label
    # A call that a reload raced (its set or command gone) does not bring them back.
    metrics.chaos_request_done("shop", "telephony/info", "timeout", 0.1)
    metrics.chaos_call_done("shop", "telephony/info", False)
    metrics.chaos_retried("telephony/info")
    assert not [line for line in exposed(metrics, "aaisp_exporter_chaos_") if "telephony" in line]
    assert exposed(metrics, "aaisp_exporter_chaos_") == text


def test_a_reload_drops_a_removed_commands_histogram_and_retries() -> None:
    metrics = ExporterMetrics(chaos_outcomes=["ok", "timeout"])
    metrics.init_chaos(["home"], ["broadband/info", "telephony/info"])
    metrics.chaos_request_done("home", "broadband/info", "ok", 0.2)
    metrics.chaos_retried("telephony/info")
    metrics.init_chaos(["home"], ["broadband/info"])
    for family in (
        "aaisp_exporter_chaos_requests_total",
        "aaisp_exporter_chaos_retries_total",
        "aaisp_exporter_chaos_request_duration_seconds_count",
    ):
        lines = exposed(metrics, family)
        assert any('command="broadband/info"' in line for line in lines), family
        assert not any("telephony" in line for line in lines), family
