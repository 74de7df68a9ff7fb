"""Reloads while probes flow (issue 23, N1 and N3): no probe dropped, no call left behind, and
what a reload changes is what the next answer shows.

The calls are kept in flight by the simulator's latency faults; the declared command is the
illustrative ``telephony/info`` (``demo.TELEPHONY_COMMAND``), served from its fixture.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import HOME_ACCOUNT, HOME_LOGIN, SENTINEL, Exporter, ExporterFactory
from tests.realprograms import promtool_clean
from tests.server.test_state import post_reload

FIXTURE = Path(__file__).parent.parent / "fixtures" / "illustrative-telephony-info.json"
PHONE = "01632960001"
OPENMETRICS = "application/openmetrics-text;version=1.0.0"

#: The declared command's names and help texts, as a reload may change them.
TELEPHONY = {
    "info_metric": "aaisp_telephony_number_info",
    "info_help": "Always 1; labels carry the number and its name.",
    "metric": "aaisp_telephony_credit_gbp",
    "help": "Prepaid credit of the number, in pounds sterling.",
}


def config(url: str, declared: Mapping[str, str] = TELEPHONY, *, account: bool = False) -> str:
    """Modules of a built-in command in both scopes and of the declared one; ``account``
    gives home's account credentials instead of its control login (both are valid, and a
    reload switching them changes the credential set's fingerprint)."""
    names = {**TELEPHONY, **declared}
    credentials = (
        f'account_number = "{HOME_ACCOUNT}"\naccount_password = "{SENTINEL}-account"'
        if account
        else f'control_login = "{HOME_LOGIN}"\ncontrol_password = "{SENTINEL}"'
    )
    modules = "".join(
        f'[modules.{name}]\ncommands = ["{command}"]\nauth = "home"\nscope = "{scope}"\n'
        "cache_seconds = 0\ntimeout_seconds = 20\n\n"
        for name, command, scope in [
            ("line", "broadband/info", "account"),
            ("one", "broadband/quota", "line"),
            ("phones", "telephony/info", "account"),
        ]
    )
    return f"""
[chaos]
url = "{url}"

[auths.home]
{credentials}

{modules}
[commands."telephony/info"]
payload = "info"
key = "number"
info_metric = "{names["info_metric"]}"
info_help = "{names["info_help"]}"
info_labels = ["name"]

[[commands."telephony/info".gauges]]
field = "credit"
metric = "{names["metric"]}"
help = "{names["help"]}"
"""


def families(text: str, accept: str | None) -> list[Metric]:
    """The answer read by prometheus_client's parser for its format (raises when invalid)."""
    if accept == OPENMETRICS:
        return list(openmetrics_families(text))  # type: ignore[no-untyped-call]
    return list(text_string_to_metric_families(text))


async def declared_help(exporter: Exporter, accept: str | None) -> dict[str, str]:
    """The declared command's families in a probe's answer: name -> help."""
    headers = {"Accept": accept} if accept is not None else None
    status, text, _ = await exporter.get(f"/probe?target={PHONE}&module=phones", headers=headers)
    assert status == 200, text
    if accept is None:
        promtool_clean(text)
    return {
        family.name: family.documentation
        for family in families(text, accept)
        if family.name.startswith("aaisp_telephony_")
    }


def expected(names: dict[str, str]) -> dict[str, str]:
    return {names["info_metric"]: names["info_help"], names["metric"]: names["help"]}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"metric": "aaisp_telephony_balance_gbp"}, id="gauge-metric"),
        pytest.param({"help": "Prepaid balance, in pounds sterling."}, id="gauge-help"),
        pytest.param({"info_metric": "aaisp_telephony_line_info"}, id="info-metric"),
        pytest.param({"info_help": "Always 1; the number's name."}, id="info-help"),
    ],
)
@pytest.mark.parametrize("accept", [None, OPENMETRICS], ids=["text", "openmetrics"])
async def test_a_reload_renaming_a_declared_metric_changes_the_next_answer(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    tmp_path: Path,
    change: dict[str, str],
    accept: str | None,
) -> None:
    """N3: the HELP and TYPE lines were kept by command name, so the old ones stayed above
    the new series until a restart."""
    simulator.add_fault(Fault("replay", command="telephony/info", path=str(FIXTURE)))
    path = tmp_path / "modules.toml"
    path.write_text(config(simulator.url))
    exporter = await make_exporter(path=path)
    assert await declared_help(exporter, accept) == expected(TELEPHONY)
    path.write_text(config(simulator.url, change))
    assert await post_reload(exporter) == (200, "configuration reloaded\n")
    assert await declared_help(exporter, accept) == expected({**TELEPHONY, **change})


#: Reloads in the storm; each changes the declared metric, its help and home's credentials.
RELOADS = 40
FLOWS = 8
_VERSIONED = re.compile(r"aaisp_telephony_credit_v(\d+)_gbp")


def version(number: int) -> dict[str, str]:
    return {
        "metric": f"aaisp_telephony_credit_v{number}_gbp",
        "help": f"Prepaid credit, version {number}.",
    }


def query(flow: int, count: int) -> str:
    line = 10000 + (flow + count) % 40
    return [
        f"target={line}&module=line",
        f"target={line}&module=one",
        f"target={PHONE}&module=phones",
    ][flow % 3]


async def answer(exporter: Exporter, path: str) -> tuple[int, str]:
    """Status and body; 0 and the error when the connection was closed without an answer."""
    try:
        status, text, _ = await exporter.get(path)
    except aiohttp.ClientError as error:
        return 0, repr(error)
    return status, text


def check_probe(text: str) -> float:
    """The answer is valid exposition whose HELP belongs to its series; its probe_success."""
    success = None
    for family in text_string_to_metric_families(text):
        if family.name == "probe_success":
            success = family.samples[0].value
        versioned = _VERSIONED.fullmatch(family.name)
        if versioned is not None:
            assert family.documentation == version(int(versioned[1]))["help"], text
    assert success is not None, text
    return success


async def test_probes_flowing_through_a_reload_storm_all_answer(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    """N1: a reload landing between a call's creation and its first step left a cancelled
    task in the in-flight table; every later probe and /discover of its key then got a
    closed connection, until a restart."""
    simulator.add_fault(Fault("latency", command="broadband/info", latency_seconds=0.02))
    simulator.add_fault(Fault("latency", command="broadband/quota", latency_seconds=0.01))
    simulator.add_fault(Fault("replay", command="telephony/info", path=str(FIXTURE)))
    path = tmp_path / "modules.toml"
    path.write_text(config(simulator.url, version(0)))
    exporter = await make_exporter(path=path)
    probes: list[tuple[str, int, str]] = []
    discoveries: list[tuple[int, str]] = []
    storm = asyncio.Event()

    async def flow(number: int) -> None:
        count = 0
        while not storm.is_set():
            asked = query(number, count)
            probes.append((asked, *await answer(exporter, f"/probe?{asked}")))
            count += 1

    async def discover() -> None:
        while not storm.is_set():
            for module in ("", "?module=phones"):
                discoveries.append(await answer(exporter, f"/discover{module}"))

    flows = [asyncio.create_task(flow(number)) for number in range(FLOWS)]
    flows.append(asyncio.create_task(discover()))
    for number in range(1, RELOADS + 1):
        path.write_text(config(simulator.url, version(number), account=number % 2 == 1))
        assert await post_reload(exporter) == (200, "configuration reloaded\n")
        await asyncio.sleep(0.01)
    storm.set()
    await asyncio.gather(*flows)

    assert len(probes) >= FLOWS
    for asked, status, text in probes:
        assert status == 200, (asked, status, text)
        assert check_probe(text) == 1, (asked, text)  # finished with the old or new config
    for status, text in discoveries:
        assert status == 200, text
        assert json.loads(text)
    store = exporter.state.services.store
    assert (store.in_flight, store.detached) == (0, 0)

    for number in range(3):
        status, text = await answer(exporter, f"/probe?{query(number, 0)}")
        assert status == 200, text
        assert check_probe(text) == 1, text
    assert await declared_help(exporter, None) == expected({**TELEPHONY, **version(RELOADS)})
