"""A reseller's refused credential set, seen from a real Prometheus with the shipped rules.

Three processes on loopback, as in tests/test_prometheus.py: the stand-alone simulator (three
control logins), the exporter with three credential sets of which CHAOS refuses one (a wrong
password), and ``/usr/bin/prometheus`` running ``examples/rules/*.yml``. What an operator
would ask Prometheus is asked: which set fails (``aaisp_exporter_chaos_up == 0``), the alert
that names it (``AAISPChaosAuthFailing``), why each probe of its lines fails
(``aaisp_probe_module_failure_info``), and the dashboard panels that show the kind.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aaisp_multi_exporter.demo import tiers_text
from tests.processes import free_port
from tests.realprograms import require_program
from tests.test_prometheus import (
    EXAMPLES,
    FAILURE_ONLY,
    HOME_LINES,
    LINES_PER_ACCOUNT,
    OTHER_LINES,
    PROMETHEUS_HINT,
    SERIES_SECONDS,
    STARTUP_SECONDS,
    Processes,
    dashboard_exprs,
    http_get,
    prometheus_config,
    start_prometheus,
    wait_until,
)

#: sim3@a's lines; the exporter's "shop" set logs in as sim3@a with a wrong password.
SHOP_LINES = [str(10000 + 2 * LINES_PER_ACCOUNT + n) for n in range(2)]


def modules_toml(chaos_url: str) -> str:
    """The shipped tiers (``demo.tiers_text``) and three credential sets read from files, one
    of them (``shop``) with a wrong password."""
    return f"""\
[chaos]
url = "{chaos_url}"

[auths.home]
control_login = "sim1@a"
control_password_file = "home-password"

[auths.other]
control_login = "sim2@a"
control_password_file = "other-password"

[auths.shop]
control_login = "sim3@a"
control_password_file = "shop-password"

{tiers_text("home", timeout_seconds=5, cache_seconds=1)}"""


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path, [])
    try:
        yield running
    finally:
        running.stop()


def start_reseller(processes: Processes, tmp_path: Path) -> str:
    """The simulator and an exporter with three sets, "shop" refused; its host:port."""
    chaos_port, exporter = free_port(), f"127.0.0.1:{free_port()}"
    processes.start(
        "simulator",
        [
            sys.executable, "-m", "aaisp_multi_exporter.simulator",
            "--lines", str(LINES_PER_ACCOUNT), "--accounts", "3",
            "--listen", f"127.0.0.1:{chaos_port}",
        ],
    )  # fmt: skip
    (tmp_path / "modules.toml").write_text(modules_toml(f"http://127.0.0.1:{chaos_port}"))
    (tmp_path / "home-password").write_text("sim1-password\n")
    (tmp_path / "other-password").write_text("sim2-password\n")
    (tmp_path / "shop-password").write_text("not-sim3s-password\n")
    processes.start(
        "exporter",
        [
            sys.executable, "-m", "aaisp_multi_exporter",
            "--config.file", str(tmp_path / "modules.toml"),
            "--web.listen-address", exporter,
        ],
    )  # fmt: skip
    wait_until(
        "the exporter to be ready",
        lambda: http_get(f"http://{exporter}/-/ready")[0] == 200,
        STARTUP_SECONDS,
        processes.logs,
    )
    return exporter


def alerts(url: str, name: str) -> list[dict[str, Any]]:
    _, body = http_get(f"{url}/api/v1/alerts")
    found: list[dict[str, Any]] = [
        alert
        for alert in json.loads(body)["data"]["alerts"]
        if alert["labels"]["alertname"] == name
    ]
    return found


@pytest.mark.slow
def test_prometheus_names_the_refused_credential_set_and_the_kind(
    processes: Processes, tmp_path: Path
) -> None:
    require_program("prometheus", PROMETHEUS_HINT)
    exporter = start_reseller(processes, tmp_path)
    api = start_prometheus(processes, tmp_path, prometheus_config(exporter, tmp_path))

    # Prometheus first sees the refused set's counter at 0 (pre-initialised), so the
    # refusal's increase is seen at once; then the set's lines are added (file_sd).
    refusals = 'aaisp_exporter_chaos_requests_total{auth="shop",outcome="auth_error"}'
    wait_until("the exporter's own series", api.has_data(refusals), SERIES_SECONDS, processes.logs)
    shop = [{"targets": SHOP_LINES, "labels": {"__param_auth": "shop", "customer": "shop"}}]
    (tmp_path / "targets" / "shop.yml").write_text(yaml.safe_dump(shop))

    def firing() -> list[dict[str, Any]]:
        return [a for a in alerts(api.url, "AAISPChaosAuthFailing") if a["state"] == "firing"]

    wait_until("AAISPChaosAuthFailing", lambda: bool(firing()), SERIES_SECONDS, processes.logs)
    (alert,) = firing()
    assert alert["labels"] == {
        "alertname": "AAISPChaosAuthFailing",
        "severity": "critical",
        "job": "aaisp_exporter",
        "instance": exporter,
        "auth": "shop",
    }
    assert alert["annotations"]["summary"] == "CHAOS refuses credential set shop"

    # Which set fails, by command; the others are up.
    down = api.query("aaisp_exporter_chaos_up == 0")
    assert {(r["metric"]["auth"], r["metric"]["command"]) for r in down} <= {
        ("shop", "broadband/info"),
        ("shop", "broadband/quota"),
    }
    assert {r["metric"]["auth"] for r in down} == {"shop"}
    wait_until(
        "the other sets up",
        lambda: (
            {r["metric"]["auth"] for r in api.query("aaisp_exporter_chaos_up == 1")}
            == {"home", "other"}
        ),
        SERIES_SECONDS,
        processes.logs,
    )
    wait_until(
        "the recording rule",
        api.has_data("auth:aaisp_exporter_chaos_up:min == 0"),
        SERIES_SECONDS,
        processes.logs,
    )
    assert [r["metric"]["auth"] for r in api.query("auth:aaisp_exporter_chaos_up:min == 0")] == [
        "shop"
    ]

    # Why each probe of its lines fails: the kind, per line and module; the others succeed.
    def kinds() -> set[tuple[str, str, str]]:
        return {
            (r["metric"]["instance"], r["metric"]["module"], r["metric"]["kind"])
            for r in api.query(f"last_over_time({FAILURE_ONLY}[20m])")
        }

    want = {(line, module, "auth_error") for line in SHOP_LINES for module in ("line", "quota")}
    wait_until("every shop line's kind", lambda: kinds() == want, SERIES_SECONDS, processes.logs)
    success = api.instances("probe_success")
    assert {line for (_, line), value in success.items() if value == 0} == set(SHOP_LINES)
    assert {line for (_, line), value in success.items() if value == 1} >= set(
        HOME_LINES + OTHER_LINES
    )

    # AAISPProbeFailing waits 30 minutes; pending already, it says the kind.
    wait_until(
        "AAISPProbeFailing pending",
        lambda: len(alerts(api.url, "AAISPProbeFailing")) == len(want),
        SERIES_SECONDS,
        processes.logs,
    )
    for pending in alerts(api.url, "AAISPProbeFailing"):
        assert pending["state"] == "pending"
        assert pending["labels"]["instance"] in SHOP_LINES
        assert "; kind: auth_error. See" in pending["annotations"]["description"]

    # The dashboard's failure panels have data now.
    dashboard = json.loads((EXAMPLES / "grafana" / "aaisp-dashboard.json").read_text())
    failure_panels = [expr for expr in dashboard_exprs(dashboard) if FAILURE_ONLY in expr]
    assert len(failure_panels) == 2
    for expr in failure_panels:
        results = api.query(expr)
        assert {r["metric"]["kind"] for r in results} == {"auth_error"}, (expr, results)
