"""``/discover``: HTTP SD JSON from the same snapshots probes use, resilient per credential set."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from aaisp_multi_exporter.server import discovery
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import HOME_LOGIN, OTHER_LOGIN, Exporter, ExporterFactory, config_text
from tests.probe.test_run_refresh import until


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


def odd_lines(count: int) -> list[dict[str, str]]:
    """Lines whose labels need escaping, enough for several pieces of the answer."""
    return [
        {"ID": f"{n}", "login": f'l"{n}\\caf\u00e9\U0001f600@a\n', "postcode": f" \x7f{n}\u2028"}
        for n in range(1, count + 1)
    ]


def groups_of(lines: list[dict[str, str]], auth: str, **added: str) -> list[dict[str, object]]:
    labels = {"__param_auth": auth, "__meta_aaisp_auth": auth}
    return [
        {
            "targets": [line["ID"]],
            "labels": {
                **labels,
                **{f"__meta_aaisp_{k}": v.strip() for k, v in line.items() if k != "ID"},
                **added,
            },
        }
        for line in lines
    ]


@pytest.mark.parametrize("kept", [True, False], ids=["kept", "too-large-to-keep"])
async def test_an_answer_in_many_pieces_is_what_json_dumps_writes(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    kept: bool,
) -> None:
    """Streamed a piece at a time (and, once kept, sent whole with its length), the answer
    is byte for byte ``json.dumps``'s; an answer too large to keep is written again."""
    if not kept:
        monkeypatch.setattr(discovery, "MAX_KEPT", 1000)
    lines = odd_lines(2 * discovery.RENDER_BATCH + 7)
    simulator.add_fault(Fault("body", body={"info": lines}, login=HOME_LOGIN))
    exporter = await make_exporter()
    expected = json.dumps(groups_of(lines, "home", __param_module="line"))
    for request in range(3):
        async with exporter.http.get(exporter.url + "/discover?auth=home&module=line") as got:
            assert (got.status, got.content_type) == (200, "application/json")
            assert await got.text() == expected
            streamed = got.headers.get("Transfer-Encoding") == "chunked"
            assert streamed == (request == 0 or not kept)
            assert (got.content_length == len(expected)) == (request > 0 and kept)
    assert bool(exporter.state.discovery._rendered) == kept


async def test_a_head_request_gets_no_body(exporter: Exporter) -> None:
    """The answer is streamed, so HEAD is answered apart: a body after a HEAD's headers
    would be read as the next answer on the connection."""
    for _ in range(2):  # written, then kept
        await discover(exporter)
        async with exporter.http.head(exporter.url + "/discover") as got:
            assert (got.status, got.content_type) == (200, "application/json")
            assert await got.read() == b""
    assert await discover(exporter)  # the same connection is still good


@pytest.mark.parametrize("count", [0, 1, discovery.RENDER_BATCH, 3 * discovery.RENDER_BATCH + 1])
async def test_the_answer_comes_in_pieces_of_a_batch_of_lines(
    make_exporter: ExporterFactory, simulator: Simulator, count: int
) -> None:
    """Counted, not timed: one piece per RENDER_BATCH lines, then the closing bracket."""
    lines = odd_lines(count)
    simulator.add_fault(Fault("body", body={"info": lines}, login=HOME_LOGIN))
    exporter = await make_exporter()
    state = exporter.state
    loaded = state.loaded
    assert loaded is not None
    answer = await state.discovery.discover(
        loaded.fetcher, loaded.config, [loaded.config.auths["home"]], None
    )
    pieces = [piece async for piece in answer.pieces]
    assert len(pieces) == count // discovery.RENDER_BATCH + 1
    assert b"".join(pieces) == json.dumps(groups_of(lines, "home")).encode()


async def test_an_error_after_the_first_piece_cuts_the_connection(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Once the 200 is sent it cannot become a 500: the answer is cut short, so the client
    sees a broken answer (Prometheus keeps its targets), never a short list; it is logged."""
    simulator.add_fault(Fault("body", body={"info": odd_lines(5000)}, login=HOME_LOGIN))
    exporter = await make_exporter()
    checked = 0

    def failing(target: str) -> bool:
        nonlocal checked
        checked += 1
        if checked > discovery.RENDER_BATCH + 10:
            raise RuntimeError("a bug while writing the answer")
        return True

    monkeypatch.setattr(discovery, "valid_target", failing)
    async with exporter.http.get(exporter.url + "/discover?auth=home") as got:
        assert got.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await got.read()
    assert any(record.getMessage() == "internal error" for record in caplog.records)
    assert (await exporter.get("/-/healthy"))[0] == 200


async def test_keys_that_are_not_targets_are_left_out_counted_and_noted_once(
    make_exporter: ExporterFactory, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """SPEC 3's target rule: what /probe refuses, /discover does not list (N8)."""
    odd = ["01632 960001", "a/b", "caf\u00e9", "a#b", "a:b"]
    entries = [{"ID": key} for key in odd] + [{"ID": "10001", "login": "a@a"}]
    simulator.add_fault(Fault("body", body={"info": entries}, login=HOME_LOGIN))
    exporter = await make_exporter(cache_seconds="60")
    for query in ("", "?auth=home", "?module=line", "?auth=home&module=quota"):
        groups = await discover(exporter, query)
        assert [g["targets"] for g in groups if g["labels"]["__param_auth"] == "home"] == [  # type: ignore[index]
            ["10001"]
        ]
    for key in odd:
        status, _ = await exporter.probe(f"target={quote(key)}&module=line")
        assert status == 400
    noted = [r for r in caplog.records if r.getMessage().startswith("discovery leaves out")]
    assert len(noted) == 1  # once per reply, however often and however filtered
    assert noted[0].__dict__["fields"]["count"] == 5
    assert noted[0].__dict__["fields"]["examples"] == '"01632 960001", "a/b", "caf\\xe9"'
    page = (await exporter.get("/"))[1]
    assert 'Left out of discovery <span class="count">(5)</span>' in page
    assert "&quot;a/b&quot;" in page
    # A later reply without them: the note goes, and nothing more is logged.
    simulator.clear_faults()
    exporter.clock.advance(120)
    await discover(exporter)
    assert "Left out of discovery" not in (await exporter.get("/"))[1]
    assert len([r for r in caplog.records if r.getMessage().startswith("discovery leaves")]) == 1


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


async def test_discovery_never_refreshes_ahead_the_probes_do(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """Discovery reads the probes' snapshots as they would (``probe/fetching.py``) but leaves
    refreshing them ahead to their lookups."""
    exporter = await make_exporter(cache_seconds="60")
    await discover(exporter, "?auth=home&module=line")
    exporter.clock.advance(46)  # past 75 % of 60 s
    await discover(exporter, "?auth=home&module=line")
    assert (simulator.total_calls, exporter.state.services.store.in_flight) == (1, 0)
    assert (await exporter.samples("target=10001&module=line"))["probe_success"] == 1
    await until(lambda: simulator.total_calls == 2)  # the probe's refresh, in the background
