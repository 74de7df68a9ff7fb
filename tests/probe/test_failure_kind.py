"""The failure's kind, per probe (SPEC 4, R4): ``aaisp_probe_module_failure_info{module,kind}``.

Each kind is caused for real (a simulator fault, a target CHAOS does not list, a deadline that
comes before a call in flight ends) and read back from a real exporter's answer, in the text
format and in OpenMetrics; promtool lints each answer.
"""

from __future__ import annotations

import asyncio

import pytest

from aaisp_multi_exporter.probe.results import FailureKind
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import Exporter, ExporterFactory, config_text
from tests.realprograms import promtool_check_metrics

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
INFO_LINE = "aaisp_probe_module_failure_info"


def kinds_in(text: str) -> list[tuple[str, str]]:
    """(module, kind) of every failure_info sample, in order; each must have the value 1."""
    found = []
    for line in text.splitlines():
        if line.startswith(INFO_LINE + "{"):
            labels, value = line.rsplit(" ", 1)
            assert float(value) == 1, line
            kind = labels.split('kind="', 1)[1].split('"', 1)[0]
            module = labels.split('module="', 1)[1].split('"', 1)[0]
            found.append((module, kind))
    return found


def lint(text: str) -> str:
    """What ``promtool check metrics`` says of ``text``, which it passes."""
    checked = promtool_check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return (checked.stdout + checked.stderr).strip()


async def both_formats(exporter: Exporter, query: str) -> tuple[str, str]:
    status, text = await exporter.probe(query)
    assert status == 200, text
    status, openmetrics, response = await exporter.get(
        f"/probe?{query}", headers={"Accept": OPENMETRICS}
    )
    assert status == 200, openmetrics
    assert response.content_type == "application/openmetrics-text"
    assert openmetrics.endswith("# EOF\n")
    return text, openmetrics


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        pytest.param(
            Fault("error", error_text="Control authorisation failed"),
            FailureKind.AUTH_ERROR,
            id="auth_error",
        ),
        pytest.param(
            Fault("error", error_text="Unknown command"), FailureKind.API_ERROR, id="api_error"
        ),
        pytest.param(Fault("http_status", status=503), FailureKind.HTTP_ERROR, id="http_error"),
        pytest.param(Fault("html"), FailureKind.INVALID_RESPONSE, id="invalid_response"),
        pytest.param(Fault("drop"), FailureKind.TRANSPORT_ERROR, id="transport_error"),
        pytest.param(Fault("latency", latency_seconds=4.0), FailureKind.TIMEOUT, id="timeout"),
    ],
)
async def test_each_chaos_failure_has_its_kind(
    make_exporter: ExporterFactory, simulator: Simulator, fault: Fault, kind: FailureKind
) -> None:
    # A one-second deadline, no retries: a slow answer ends as the call's own timeout.
    exporter = await make_exporter(retries="0", timeout_seconds="1")
    simulator.add_fault(fault)
    # The second answer is the first's shared failure: the same kind.
    text, openmetrics = await both_formats(exporter, "target=10001&module=line")
    for answer in (text, openmetrics):
        assert kinds_in(answer) == [("line", kind.value)]
        assert 'aaisp_probe_module_success{module="line"} 0' in answer
    assert lint(text) == ""


async def test_a_target_chaos_does_not_list_is_not_found(
    make_exporter: ExporterFactory,
) -> None:
    exporter = await make_exporter()
    text, openmetrics = await both_formats(exporter, "target=99999&module=line,quota")
    for answer in (text, openmetrics):
        assert kinds_in(answer) == [("line", "not_found"), ("quota", "not_found")]
    assert lint(text) == ""


async def test_the_probes_own_deadline_is_deadline(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """A probe joins a call another probe started with a later deadline, and its own comes
    first: ``deadline``, not the call's ``timeout`` (the call goes on, and succeeds)."""
    exporter = await make_exporter(timeout_seconds="10")
    gate = asyncio.Event()
    simulator.add_fault(Fault("gate", gate=gate, count=1))
    first = asyncio.create_task(exporter.probe("target=10001&module=line"))
    for _ in range(500):
        if simulator.in_flight == 1:
            break
        await asyncio.sleep(0.01)
    assert simulator.in_flight == 1
    short = {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}
    status, text, _ = await exporter.get("/probe?target=10002&module=line", headers=short)
    assert status == 200
    assert kinds_in(text) == [("line", "deadline")]
    gate.set()
    status, answer = await first
    assert status == 200
    assert kinds_in(answer) == []
    assert "\nprobe_success 1.0\n" in answer
    assert lint(text) == ""


QUOTA_DOWN = Fault("http_status", status=503, command="broadband/quota")
INFO_REFUSED = Fault("error", error_text="Unknown command", command="broadband/info")


@pytest.mark.parametrize(
    ("commands", "faults", "kind"),
    [
        # Several failed commands: the first failed one in the command table's order gives the
        # kind (broadband/info before broadband/quota), however the module lists them.
        (["broadband/info", "broadband/quota"], [QUOTA_DOWN, INFO_REFUSED], "api_error"),
        (["broadband/quota", "broadband/info"], [QUOTA_DOWN, INFO_REFUSED], "api_error"),
        # One failed command fails the module, even though the other lists the line.
        (["broadband/info", "broadband/quota"], [QUOTA_DOWN], "http_error"),
        (["broadband/info", "broadband/quota"], [], None),
    ],
)
async def test_one_series_per_failed_module(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    commands: list[str],
    faults: list[Fault],
    kind: str | None,
) -> None:
    listed = ", ".join(f'"{command}"' for command in commands)
    extra = f'[modules.both]\ncommands = [{listed}]\nauth = "home"\nretries = 0\n'
    exporter = await make_exporter(config_text(simulator.url, extra=extra))
    for fault in faults:
        simulator.add_fault(fault)
    text, openmetrics = await both_formats(exporter, "target=10001&module=both,line")
    line_fails = INFO_REFUSED in faults
    expected = [("both", kind)] if kind else []
    if line_fails:
        expected.append(("line", "api_error"))
    for answer in (text, openmetrics):
        assert kinds_in(answer) == expected
        # A module that succeeded has no failure_info.
        success = "0.0" if line_fails else "1.0"
        assert f'aaisp_probe_module_success{{module="line"}} {success}\n' in answer
