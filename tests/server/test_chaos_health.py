"""Which credential set fails, from /metrics (SPEC 5, R4): a real exporter and the simulator.

A reseller's three credential sets, one of them refused (a wrong password): the requests
counter names the set, ``aaisp_exporter_chaos_up`` is 0 for it and 1 for the others, a
failure shared with many probes is one call, a password fixed by a reload brings the set
back, and a reload that removes the set takes its series off /metrics.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aaisp_multi_exporter.chaos.errors import Outcome
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import HOME_LOGIN, OTHER_LOGIN, SENTINEL, Exporter, ExporterFactory
from tests.realprograms import promtool_check_metrics
from tests.server.test_state import post_reload

REQUESTS = 'aaisp_exporter_chaos_requests_total{auth="%s",command="%s",outcome="%s"}'
UP = 'aaisp_exporter_chaos_up{auth="%s",command="%s"}'
LAST_SUCCESS = 'aaisp_exporter_chaos_last_success_timestamp_seconds{auth="%s",command="%s"}'
INFO, QUOTA = "broadband/info", "broadband/quota"
SETS = ("home", "other", "shop")


def reseller(url: str, *, shop_password: str = "wrong-" + SENTINEL, shop: bool = True) -> str:
    """Three credential sets; ``shop`` logs in as the simulator's second account with a
    password CHAOS refuses (unless given the right one)."""
    shop_table = f"""
[auths.shop]
control_login = "{OTHER_LOGIN}"
control_password = "{shop_password}"
"""
    return f"""
[chaos]
url = "{url}"

[auths.home]
control_login = "{HOME_LOGIN}"
control_password = "{SENTINEL}"

[auths.other]
control_login = "{OTHER_LOGIN}"
control_password = "other-password"
{shop_table if shop else ""}
[modules.line]
commands = ["{INFO}"]
cache_seconds = 60
timeout_seconds = 5

[modules.quota]
commands = ["{QUOTA}"]
cache_seconds = 60
timeout_seconds = 5
"""


def with_auth(metrics: dict[str, float], auth: str) -> dict[str, float]:
    return {name: value for name, value in metrics.items() if f'auth="{auth}"' in name}


async def start(make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path) -> Exporter:
    path = tmp_path / "modules.toml"
    path.write_text(reseller(simulator.url))
    return await make_exporter(path=path)


async def test_series_before_any_call(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    """Every set's requests are there at 0 for each command and outcome; chaos_up and the
    last success have no series until a call for the pair has ended."""
    exporter = await start(make_exporter, simulator, tmp_path)
    metrics = await exporter.self_metrics()
    for auth in SETS:
        for command in (INFO, QUOTA):
            for outcome in Outcome:
                assert metrics[REQUESTS % (auth, command, outcome.value)] == 0
            assert UP % (auth, command) not in metrics
            assert LAST_SUCCESS % (auth, command) not in metrics
    assert not [name for name in metrics if "chaos_up" in name or "last_success" in name]


async def test_a_refused_set_is_named_and_the_others_are_up(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    exporter = await start(make_exporter, simulator, tmp_path)
    assert (await exporter.samples("target=10001&module=line&auth=home"))["probe_success"] == 1
    assert (await exporter.samples("target=20001&module=line&auth=other"))["probe_success"] == 1
    # The refused set: ten of its lines probed, one call (the refusal is shared).
    for line in range(20000, 20005):
        for module in ("line", "quota"):
            got = await exporter.samples(f"target={line}&module={module}&auth=shop")
            assert got["probe_success"] == 0
    assert simulator.total_calls == 4
    metrics = await exporter.self_metrics()
    assert metrics[UP % ("home", INFO)] == metrics[UP % ("other", INFO)] == 1
    assert metrics[UP % ("shop", INFO)] == metrics[UP % ("shop", QUOTA)] == 0
    assert metrics[REQUESTS % ("shop", INFO, "auth_error")] == 1
    assert metrics[REQUESTS % ("shop", QUOTA, "auth_error")] == 1
    assert metrics[REQUESTS % ("shop", INFO, "ok")] == 0
    assert metrics[REQUESTS % ("home", INFO, "ok")] == 1
    assert metrics[REQUESTS % ("home", INFO, "auth_error")] == 0
    assert LAST_SUCCESS % ("shop", INFO) not in metrics
    assert metrics[LAST_SUCCESS % ("home", INFO)] > 1.7e9
    # A pair no probe has asked for yet has no chaos_up, whatever its set's state.
    assert UP % ("home", QUOTA) not in metrics
    assert SENTINEL not in (await exporter.get("/metrics"))[1]


async def test_a_fixed_password_brings_the_set_back_and_a_removed_set_leaves(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    exporter = await start(make_exporter, simulator, tmp_path)
    path = tmp_path / "modules.toml"
    assert (await exporter.samples("target=20001&module=line&auth=shop"))["probe_success"] == 0
    assert (await exporter.self_metrics())[UP % ("shop", INFO)] == 0

    await asyncio.to_thread(
        path.write_text, reseller(simulator.url, shop_password="other-password")
    )
    assert (await post_reload(exporter))[0] == 200
    # Until a call is made with the new password, the latest call is the refused one.
    assert (await exporter.self_metrics())[UP % ("shop", INFO)] == 0
    assert (await exporter.samples("target=20001&module=line&auth=shop"))["probe_success"] == 1
    metrics = await exporter.self_metrics()
    assert metrics[UP % ("shop", INFO)] == 1
    assert metrics[REQUESTS % ("shop", INFO, "ok")] == 1
    assert metrics[REQUESTS % ("shop", INFO, "auth_error")] == 1
    assert LAST_SUCCESS % ("shop", INFO) in metrics

    await asyncio.to_thread(path.write_text, reseller(simulator.url, shop=False))
    assert (await post_reload(exporter))[0] == 200
    metrics = await exporter.self_metrics()
    assert with_auth(metrics, "shop") == {}
    assert len(with_auth(metrics, "home")) == 2 * len(Outcome)  # requests only: never called
    status, _ = await exporter.probe("target=20001&module=line&auth=shop")
    assert status == 400


async def test_a_call_a_reload_stops_does_not_bring_a_removed_set_back(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    """A call in flight for a set that a reload removes is stopped; its end is not counted
    for the set, which stays off /metrics."""
    gate = asyncio.Event()
    simulator.add_fault(Fault("gate", gate=gate, login=OTHER_LOGIN))
    exporter = await start(make_exporter, simulator, tmp_path)
    path = tmp_path / "modules.toml"
    probe = asyncio.create_task(exporter.probe("target=20001&module=line&auth=shop"))
    for _ in range(500):
        if simulator.in_flight == 1:
            break
        await asyncio.sleep(0.01)
    assert simulator.in_flight == 1
    await asyncio.to_thread(path.write_text, reseller(simulator.url, shop=False))
    assert (await post_reload(exporter))[0] == 200
    status, text = await probe
    assert status == 200
    assert "\nprobe_success 0.0\n" in text
    gate.set()
    assert with_auth(await exporter.self_metrics(), "shop") == {}


async def test_metrics_with_per_set_series_pass_promtool(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    exporter = await start(make_exporter, simulator, tmp_path)
    await exporter.probe("target=10001&module=line&auth=home")
    await exporter.probe("target=20001&module=line&auth=shop")
    _, text, _ = await exporter.get("/metrics")
    assert 'aaisp_exporter_chaos_up{auth="shop",command="broadband/info"} 0.0' in text
    checked = promtool_check_metrics(text)
    assert (checked.stdout + checked.stderr).strip() == ""
    assert checked.returncode == 0


@pytest.mark.parametrize("module", ["line", "quota"])
async def test_shared_failures_are_one_call(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path, module: str
) -> None:
    """Probes of 20 lines at once during a refusal: one attempt counted, not twenty."""
    exporter = await start(make_exporter, simulator, tmp_path)
    probes = [
        exporter.probe(f"target={20000 + n % 5}&module={module}&auth=shop") for n in range(20)
    ]
    assert {status for status, _ in await asyncio.gather(*probes)} == {200}
    command = INFO if module == "line" else QUOTA
    metrics = await exporter.self_metrics()
    assert metrics[REQUESTS % ("shop", command, "auth_error")] == 1
    assert simulator.total_calls == 1
