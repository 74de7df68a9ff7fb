"""CHAOS misbehaving: each fault is a 200 with probe_success 0, a reason, and a live process."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from aaisp_multi_exporter.obs.logs import LogfmtFormatter
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import HOME_ACCOUNT, SENTINEL, Exporter, ExporterFactory, config_text
from tests.processes import free_port

OK_QUERY = "target=10001&module=line"


def outcome_count(metrics: dict[str, float], outcome: str) -> float:
    return metrics[
        "aaisp_exporter_chaos_requests_total"
        f'{{auth="home",command="broadband/info",outcome="{outcome}"}}'
    ]


def failure_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        str(record.__dict__["fields"]["reason"])
        for record in caplog.records
        if record.getMessage() == "probe failed"
    ]


@pytest.mark.parametrize(
    ("fault", "outcome", "calls", "reason"),
    [
        pytest.param(Fault("http_status", status=500), "http_error", 3, "HTTP 500", id="500"),
        pytest.param(Fault("http_status", status=502), "http_error", 3, "HTTP 502", id="502"),
        pytest.param(Fault("http_status", status=503), "http_error", 3, "HTTP 503", id="503"),
        pytest.param(
            Fault("http_status", status=429), "http_error", 3, "HTTP 429", id="429-no-retry-after"
        ),
        pytest.param(
            Fault("http_status", status=404), "http_error", 1, "HTTP 404", id="404-not-retried"
        ),
        pytest.param(Fault("html"), "invalid_response", 3, "not JSON", id="html"),
        pytest.param(Fault("truncated"), "invalid_response", 3, "not JSON", id="truncated"),
        pytest.param(Fault("drop"), "transport_error", 3, "cannot reach CHAOS", id="drop"),
        pytest.param(Fault("wrong_shape"), "invalid_response", 1, "reply", id="wrong-shape"),
        pytest.param(
            Fault("error", error_text="Unknown command"),
            "api_error",
            1,
            'CHAOS error: "Unknown command"',
            id="error-string",
        ),
    ],
)
async def test_fault_fails_probe_then_recovers(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    outcome: str,
    calls: int,
    reason: str,
) -> None:
    caplog.set_level(logging.INFO)
    exporter = await make_exporter(cache_seconds="0")
    simulator.add_fault(fault)
    got = await exporter.samples(OK_QUERY)
    assert got["probe_success"] == 0
    assert got['aaisp_probe_module_success{module="line"}'] == 0
    assert not any(name.startswith("aaisp_broadband_") for name in got)
    assert simulator.total_calls == calls
    metrics = await exporter.self_metrics()
    assert outcome_count(metrics, outcome) == calls
    assert metrics['aaisp_exporter_chaos_retries_total{command="broadband/info"}'] == calls - 1
    assert metrics['aaisp_exporter_probes_total{module="line",result="failure"}'] == 1
    reasons = failure_reasons(caplog)
    assert len(reasons) == 1, reasons
    assert reason in reasons[0]
    simulator.clear_faults()
    # The failure is shared until its backoff ends; then the next probe recovers.
    again = await exporter.samples(OK_QUERY)
    assert again["probe_success"] == 0
    assert simulator.total_calls == calls
    exporter.clock.advance(60)
    assert (await exporter.samples(OK_QUERY))["probe_success"] == 1


@pytest.mark.parametrize(
    "error",
    [
        "Control authorisation failed",
        "Bad control-login",
        "Account authorisation failed",
        "Login locked",
    ],
)
async def test_auth_errors_are_never_retried(
    make_exporter: ExporterFactory, simulator: Simulator, error: str
) -> None:
    exporter = await make_exporter(cache_seconds="60")
    simulator.add_fault(Fault("error", error_text=error))
    for _ in range(3):
        got = await exporter.samples(OK_QUERY)
        assert got["probe_success"] == 0
    # Once, not once per attempt nor once per probe: a refused password is kept for the
    # cache period so that a wrong password cannot lock the account.
    assert simulator.total_calls == 1
    assert outcome_count(await exporter.self_metrics(), "auth_error") == 1


async def test_wrong_password_against_simulator(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(config_text(simulator.url, password="wrong-" + SENTINEL))
    status, text = await exporter.probe(OK_QUERY + "&debug=true")
    assert status == 200
    assert "CHAOS refused the credentials: Control authorisation failed" in text
    assert simulator.total_calls == 1


async def test_retry_after_is_honoured(exporter: Exporter, simulator: Simulator) -> None:
    simulator.add_fault(Fault("http_status", status=429, retry_after="1", count=1))
    started = time.monotonic()
    got = await exporter.samples(OK_QUERY)
    assert got["probe_success"] == 1
    assert time.monotonic() - started >= 1.0
    assert simulator.total_calls == 2


async def test_retry_after_beyond_deadline_stops_at_once(
    exporter: Exporter, simulator: Simulator
) -> None:
    simulator.add_fault(Fault("http_status", status=503, retry_after="30"))
    started = time.monotonic()
    got = await exporter.samples(OK_QUERY)
    assert got["probe_success"] == 0
    assert time.monotonic() - started < 1.0
    assert simulator.total_calls == 1


async def test_retries_stop_at_the_deadline(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(retries="10")
    simulator.add_fault(Fault("http_status", status=503, retry_after="1"))
    started = time.monotonic()
    status, text, _ = await exporter.get(
        f"/probe?{OK_QUERY}", headers={"X-Prometheus-Scrape-Timeout-Seconds": "2.5"}
    )
    elapsed = time.monotonic() - started
    assert status == 200
    assert "probe_success 0.0" in text
    assert "probe_timeout_seconds 2.0" in text
    assert elapsed < 2.0
    # Attempts at 0 s and ~1 s; a third at ~2 s could not finish before the deadline.
    assert simulator.total_calls == 2


async def test_slow_chaos_past_the_deadline(exporter: Exporter, simulator: Simulator) -> None:
    simulator.add_fault(Fault("latency", latency_seconds=5))
    started = time.monotonic()
    status, text, _ = await exporter.get(
        f"/probe?{OK_QUERY}", headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}
    )
    assert status == 200
    assert "probe_success 0.0" in text
    assert "probe_timeout_seconds 1.0" in text
    # Answered before Prometheus' own 1.5 s scrape timeout would have cut it off.
    assert time.monotonic() - started < 1.5
    assert outcome_count(await exporter.self_metrics(), "timeout") == 1
    assert (await exporter.get("/-/healthy"))[0] == 200


async def test_chaos_down(make_exporter: ExporterFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    exporter = await make_exporter(config_text(f"http://127.0.0.1:{free_port()}"))
    got = await exporter.samples(OK_QUERY)
    assert got["probe_success"] == 0
    assert outcome_count(await exporter.self_metrics(), "transport_error") == 3
    assert "cannot reach CHAOS" in failure_reasons(caplog)[0]


async def test_many_failing_probes_leave_the_process_serving(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(cache_seconds="0", retries="0")
    simulator.add_fault(Fault("drop", probability=0.5))
    results = await asyncio.gather(
        *(exporter.samples(f"target={10000 + i}&module=line") for i in range(40))
    )
    assert {result["probe_success"] for result in results} <= {0.0, 1.0}
    simulator.clear_faults()
    exporter.clock.advance(60)  # past any shared failure's backoff
    assert (await exporter.samples(OK_QUERY))["probe_success"] == 1


@pytest.mark.parametrize(
    ("field", "form"),
    [
        (field, form)
        for field in ("control_password", "account_password")
        for form in ("inline", "file", "env")
    ],
)
async def test_sentinel_password_never_leaks(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    field: str,
    form: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = SENTINEL if field == "control_password" else SENTINEL + "-account"
    if form == "file":
        (tmp_path / "secret").write_text(secret + "\n")
        source = f'{field}_file = "{tmp_path / "secret"}"'
    elif form == "env":
        monkeypatch.setenv("SENTINEL_SECRET", secret)
        source = f'{field}_env = "SENTINEL_SECRET"'
    else:
        source = f'{field} = "{secret}"'
    replacement = (
        source if field == "control_password" else (f'account_number = "{HOME_ACCOUNT}"\n{source}')
    )
    text = config_text(simulator.url, cache_seconds="0", retries="0").replace(
        f'control_password = "{SENTINEL}"', replacement
    )
    exporter = await make_exporter(text)
    assert (await exporter.samples(OK_QUERY))["probe_success"] == 1
    bodies: list[str] = []
    paths = [
        "/",
        "/metrics",
        "/config",
        "/health",
        "/discover",
        f"/probe?{OK_QUERY}",
        f"/probe?{OK_QUERY}&debug=true",
        "/probe?target=99999&module=quota,line&debug=true",
        "/probe?target=1&module=nope",
        "/logs?target=10001",
        "/logs?target=99999&module=quota,line",
        "/logs?id=1",
    ]
    faults = [Fault("http_status", status=503), Fault("drop"), Fault("html"), Fault("truncated")]
    for fault in [None, *faults]:
        simulator.clear_faults()
        exporter.clock.advance(60)  # each fault reaches CHAOS, not the last shared failure
        if fault is not None:
            simulator.add_fault(fault)
        for path in paths:
            _, body, _ = await exporter.get(path)
            bodies.append(body)
    simulator.clear_faults()
    wrong = await make_exporter(
        text.replace(secret, secret + "-wrong")
        if form == "inline"
        else config_text(simulator.url, password=secret + "-wrong")
    )
    bodies.append((await wrong.probe(OK_QUERY + "&debug=true"))[1])
    formatter = LogfmtFormatter()
    assert caplog.records, "debug logging produced nothing to check"
    for record in caplog.records:
        assert SENTINEL not in formatter.format(record)
    for body in bodies:
        assert SENTINEL not in body
    assert any("<secret>" in body or "_file" in body or "_env" in body for body in bodies)
