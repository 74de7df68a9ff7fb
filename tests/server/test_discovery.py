"""``/discover``: HTTP SD JSON from the same snapshots probes use, resilient per credential set."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import HOME_LOGIN, OTHER_LOGIN, Exporter, ExporterFactory, config_text


async def discover(exporter: Exporter, query: str = "") -> list[dict[str, object]]:
    status, text, response = await exporter.get(f"/discover{query}")
    assert status == 200, text
    assert response.content_type == "application/json"
    groups: list[dict[str, object]] = json.loads(text)
    return groups


def expected_groups(
    simulator: Simulator, index: int, auth: str, module: str | None = None
) -> list[dict[str, object]]:
    groups: list[dict[str, object]] = []
    for line in simulator.accounts[index].lines:
        labels = {"__param_auth": auth, "__meta_aaisp_auth": auth}
        if "login" in line:
            labels["__meta_aaisp_login"] = line["login"].strip()
        if "postcode" in line:
            labels["__meta_aaisp_postcode"] = line["postcode"].strip()
        if module is not None:
            labels["__param_module"] = module
        groups.append({"targets": [line["ID"]], "labels": labels})
    return groups


async def test_every_line_of_every_credential_set(exporter: Exporter, simulator: Simulator) -> None:
    groups = await discover(exporter)
    assert groups == expected_groups(simulator, 0, "home") + expected_groups(simulator, 1, "other")


async def test_the_json_is_what_json_dumps_writes(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """Written line by line for speed, the answer is byte for byte ``json.dumps``'s, with
    labels that need escaping (quotes, backslashes, control and non-ASCII characters)."""
    odd = [
        {"ID": "1", "login": 'a"b\\c@a', "postcode": "  XX1\t1XX "},
        {"ID": "2", "login": "caf\u00e9 \U0001f600@a\n"},
        {"ID": "3", "postcode": "\x7f\u2028"},
    ]
    simulator.add_fault(Fault("body", body={"info": odd}, login=HOME_LOGIN))
    exporter = await make_exporter()
    status, text, _ = await exporter.get("/discover?auth=home&module=line")
    assert status == 200
    labels = {"__param_auth": "home", "__meta_aaisp_auth": "home"}
    expected = [
        {
            "targets": [line["ID"]],
            "labels": {
                **labels,
                **{f"__meta_aaisp_{k}": v.strip() for k, v in line.items() if k != "ID"},
                "__param_module": "line",
            },
        }
        for line in odd
    ]
    assert text == json.dumps(expected)


async def test_filters(exporter: Exporter, simulator: Simulator) -> None:
    assert await discover(exporter, "?auth=other&module=line") == expected_groups(
        simulator, 1, "other", "line"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?auth=nope", 'unknown auth "nope"; known: home, other'),
        ("?module=nope", 'unknown module "nope"; known: quota, line'),
        ("?module=line&module=quota", 'parameter "module" may be given at most once'),
        ("?auth=home&auth=other", 'parameter "auth" may be given at most once'),
    ],
)
async def test_bad_discovery_requests(exporter: Exporter, query: str, message: str) -> None:
    status, text, _ = await exporter.get(f"/discover{query}")
    assert (status, text) == (400, message + "\n")


async def test_discovery_and_probes_share_chaos_calls(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(cache_seconds="60")
    groups = await discover(exporter, "?auth=home&module=line")
    for group in groups[:10]:
        targets = group["targets"]
        assert isinstance(targets, list)
        got = await exporter.samples(f"target={targets[0]}&module=line")
        assert got["probe_success"] == 1
    assert simulator.calls[(HOME_LOGIN, "broadband/info", "")] == 1


async def test_one_failing_credential_set_then_recovery(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    other_tier = """
[modules.other_line]
commands = ["broadband/info"]
auth = "other"
cache_seconds = 0
retries = 0
"""
    exporter = await make_exporter(
        config_text(simulator.url, extra=other_tier, cache_seconds="0", retries="0")
    )
    simulator.add_fault(Fault("http_status", status=503, login=OTHER_LOGIN))
    # "other" never succeeded: left out; "home" still discovered and probed.
    assert await discover(exporter) == expected_groups(simulator, 0, "home")
    assert (await exporter.samples("target=10001&module=line"))["probe_success"] == 1
    # Named, it is a 503 with the reason, not an empty list that looks like no lines.
    status, text, _ = await exporter.get("/discover?auth=other")
    assert status == 503
    assert text.startswith('auth "other" has never answered discovery: CHAOS answered HTTP 503')
    simulator.clear_faults()
    exporter.clock.advance(60)  # past the shared failure's backoff
    assert await discover(exporter) == expected_groups(simulator, 0, "home") + expected_groups(
        simulator, 1, "other"
    )
    # Now it fails again: its last good list is served.
    simulator.add_fault(Fault("drop", login=OTHER_LOGIN))
    before = simulator.total_calls
    assert await discover(exporter) == expected_groups(simulator, 0, "home") + expected_groups(
        simulator, 1, "other"
    )
    assert simulator.total_calls == before + 2


async def test_overload_gets_503_at_once(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(max_requests=2, cache_seconds="0", scope='"line"')
    simulator.add_fault(Fault("latency", latency_seconds=0.5))
    results = await asyncio.gather(
        *(exporter.probe(f"target={10000 + i}&module=line") for i in range(6))
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 200, 503, 503, 503, 503]
    refused = next(text for status, text in results if status == 503)
    assert refused == "too many probes in flight (limit 2); retry later\n"
    metrics = await exporter.self_metrics()
    assert metrics['aaisp_exporter_probe_requests_rejected_total{reason="too_many_requests"}'] == 4
    assert metrics["aaisp_exporter_probes_in_flight"] == 0
    simulator.clear_faults()
    assert (await exporter.samples("target=10001&module=line"))["probe_success"] == 1


async def test_wrong_password_named_is_503(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(config_text(simulator.url, password="wrong"))
    status, text, _ = await exporter.get("/discover?auth=home")
    assert (status, text) == (
        503,
        'auth "home" has never answered discovery: '
        "CHAOS refused the credentials: Control authorisation failed\n",
    )
    # Unnamed, the sets that answered are served and the refused one left out.
    assert await discover(exporter) == expected_groups(simulator, 1, "other")
    assert simulator.calls[(HOME_LOGIN, "broadband/info", "")] == 1  # the refusal is shared


async def test_unparseable_reply_leaves_only_that_set_out(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter()
    simulator.add_fault(Fault("body", body={"info": [{"x": "y"}] * 20_000}, login=HOME_LOGIN))
    assert await discover(exporter) == expected_groups(simulator, 1, "other")
    status, text, _ = await exporter.get("/discover?auth=home")
    assert status == 503
    assert "entries without a usable ID" in text
    metrics = await exporter.self_metrics()
    outcome = 'aaisp_exporter_chaos_requests_total{auth="%s",command="broadband/info",outcome="%s"}'
    assert metrics[outcome % ("home", "invalid_response")] == 1
    assert metrics[outcome % ("home", "ok")] == 0
    assert metrics[outcome % ("other", "ok")] == 1
    up = 'aaisp_exporter_chaos_up{auth="%s",command="broadband/info"}'
    assert (metrics[up % "home"], metrics[up % "other"]) == (0, 1)


async def test_repeated_discovery_reuses_the_rendered_answer(
    exporter: Exporter, simulator: Simulator
) -> None:
    first = await exporter.get("/discover?module=line")
    state = exporter.state.discovery
    rendered = dict(state._rendered)
    for _ in range(20):
        again = await exporter.get("/discover?module=line")
        assert again[1] == first[1]
    assert state._rendered.keys() == rendered.keys()
    assert all(state._rendered[key][0] is rendered[key][0] for key in rendered)
    assert simulator.total_calls == 2


FIXTURES = Path(__file__).parent.parent / "fixtures"
RATECARD = """
[commands."telephony/ratecard"]
payload = "rate_card.rates.rate"
entries = "all"
labels = ["rate"]

[[commands."telephony/ratecard".gauges]]
field = "peak_ppm"
metric = "aaisp_telephony_rate_peak_pence_per_minute"
help = "Peak charge of the rate."
"""
PHONES = """
[commands."telephony/info"]
payload = "info"
key = "number"
"""


@pytest.mark.parametrize(
    ("fixtures", "declared", "modules", "targets"),
    [
        pytest.param(
            {"telephony/ratecard": "illustrative-telephony-ratecard.json"},
            RATECARD,
            {"rates": ["telephony/ratecard"]},
            [],
            id="an-account-table-lists-nothing",
        ),
        pytest.param(
            {
                "telephony/ratecard": "illustrative-telephony-ratecard.json",
                "telephony/info": "illustrative-telephony-info.json",
            },
            RATECARD + PHONES,
            {"rates": ["telephony/ratecard", "telephony/info"]},
            ["01632960001", "01632960002", "01632960003"],
            id="the-keyed-command-beside-an-account-table",
        ),
        pytest.param(
            {"telephony/info": "illustrative-telephony-info-settings.json"},
            '[commands."telephony/info"]\npayload = "info"\nkey = "number"\n',
            {"rates": ["telephony/info"]},
            [],
            id="a-keyless-lone-entry-is-no-target",
        ),
    ],
)
async def test_discovery_lists_keys_only(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    fixtures: dict[str, str],
    declared: str,
    modules: dict[str, list[str]],
    targets: list[str],
) -> None:
    """SPEC 6b: an ``entries = "all"`` table is no line's and is not listed; a reply of one
    entry without its key (kept under ``""``, a line-scope answer) lists no target ``""``."""
    for command, fixture in fixtures.items():
        simulator.add_fault(Fault("replay", command=command, path=str(FIXTURES / fixture)))
    extra = declared + "".join(
        f'\n[modules.{name}]\ncommands = {json.dumps(commands)}\nauth = "home"\n'
        for name, commands in modules.items()
    )
    exporter = await make_exporter(config_text(simulator.url, extra=extra))
    for name in modules:
        groups = await discover(exporter, f"?module={name}&auth=home")
        assert [group["targets"] for group in groups] == [[target] for target in targets]
    # The probes of the account table still answer, whatever the target.
    if "telephony/ratecard" in fixtures:
        got = await exporter.samples("target=home&module=rates")
        assert got['aaisp_telephony_rate_peak_pence_per_minute{rate="UK"}'] == 1.5
