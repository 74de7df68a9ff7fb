"""The CHAOS simulator over real sockets: envelope, request styles, auth, faults, counters."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import (
    ACCOUNT_AUTH_FAILED,
    BAD_CONTROL_LOGIN,
    BAD_SERVICE,
    CONTROL_AUTH_FAILED,
    DEMO_LOGIN,
    DEMO_PASSWORD,
    HUGE_FLOAT,
    HUGE_INTEGER,
    QUIRKS,
    UNKNOWN_COMMAND,
    Fault,
    Quirk,
    SimAccount,
    Simulator,
    demo_accounts,
    generate_lines,
    has_quirk,
    line_ids_with_quirk,
    numbered_accounts,
    quirk_at,
    service_aliases,
)
from aaisp_multi_exporter.simulator.__main__ import build_parser, faults_from_args

LOGIN = "ab12@a"
PASSWORD = "secret-1"
ACCOUNT = "A1234A"
ACCOUNT_PASSWORD = "acct-secret"
OTHER_LOGIN = "cd34@a"
OTHER_PASSWORD = "secret-2"
CREDS = {"control_login": LOGIN, "control_password": PASSWORD}
LINE_FIELDS = {
    "ID",
    "login",
    "postcode",
    "tx_rate",
    "rx_rate",
    "tx_rate_adjusted",
    "quota_monthly",
    "quota_remaining",
    "quota_timestamp",
}
QUOTA_FIELDS = {"ID", "quota_monthly", "quota_remaining", "quota_timestamp"}
ENVELOPE = ["subsystem", "command", "request", "prices", "state", "options"]


def make_accounts() -> list[SimAccount]:
    """Two accounts with disjoint line IDs, so ownership can be tested."""
    mine = generate_lines(12)
    theirs = generate_lines(3, start_id=20000, seed=7)
    return [
        SimAccount(
            LOGIN,
            PASSWORD,
            mine,
            account_number=ACCOUNT,
            account_password=ACCOUNT_PASSWORD,
            service_aliases=service_aliases(mine),
        ),
        SimAccount(OTHER_LOGIN, OTHER_PASSWORD, theirs),
    ]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(make_accounts(), seed=1)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # A fresh connection per request: aiohttp silently retries an idempotent request once
    # when a *reused* keep-alive connection is dropped, which would hide the drop fault.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        yield s


async def post(
    session: aiohttp.ClientSession,
    sim: Simulator,
    path: str = "/broadband/info/json",
    data: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Form POST the way the exporter does; decode JSON."""
    async with session.post(sim.url + path, data=CREDS if data is None else data) as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json(content_type=None)


def option(reply: dict[str, Any], name: str) -> dict[str, Any]:
    """Find an option by name, never by position (chaos-api.md §4)."""
    for group in reply["options"]:
        for opt in group.get("option", []):
            if opt["name"] == name:
                return dict(opt)
    raise AssertionError(f"option {name!r} missing")


def all_strings(value: object) -> bool:
    """Every leaf of a CHAOS reply is a JSON string (chaos-api.md §4)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and all_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return all(all_strings(v) for v in value)
    return isinstance(value, str)


# -- envelope ---------------------------------------------------------------------------------


async def test_info_envelope_matches_chaos(sim: Simulator, session: aiohttp.ClientSession) -> None:
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        raw = await resp.read()
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/json")
    reply = json.loads(raw)
    assert list(reply) == [*ENVELOPE, "info"]
    assert all_strings(reply)
    assert reply["subsystem"] == "broadband"
    assert reply["command"] == "info"
    # "/" is escaped as "\/" like the real server, and nowhere left bare.
    assert b"Installation\\/set-up" in raw
    assert b"/" not in raw.replace(b"\\/", b"")

    request = reply["request"]
    assert request["control_login"] == LOGIN
    assert request["control_password"] == "(redacted)"
    assert PASSWORD.encode() not in raw
    assert request["uuid"] == reply["state"]["uuid"]
    assert request["seq"] == reply["state"]["seq"] == "1"
    assert reply["prices"]["vat_preferred"] == "inc"
    assert reply["prices"]["price"][0]["name"] == "install"

    assert [group["title"] for group in reply["options"]] == [
        "Authentication",
        "Service",
        "Service Details",
    ]
    login_opt = option(reply, "control_login")
    assert login_opt["value"] == LOGIN
    assert "error" not in login_opt
    service_opt = option(reply, "service")
    assert service_opt["type"] == "select"
    lines = sim.accounts[0].lines
    assert service_opt["choice"][0] == {"value": "", "title": "Select service"}
    assert service_opt["choice"][1:] == [
        {"value": line["ID"], "title": f"{line['postcode']} {line['login']}"} for line in lines
    ]
    assert reply["info"] == lines


async def test_quota_payload_has_only_quota_fields(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    status, reply = await post(session, sim, "/broadband/quota/json")
    assert status == 200
    assert list(reply) == [*ENVELOPE, "quota"]
    lines = sim.accounts[0].lines
    assert reply["quota"] == [
        {k: v for k, v in line.items() if k in QUOTA_FIELDS} for line in lines
    ]
    no_quota = line_ids_with_quirk(lines, "no_quota_monthly")
    assert no_quota
    for record in reply["quota"]:
        if record["ID"] in no_quota:
            assert set(record) == {"ID", "quota_timestamp"}


async def test_services_payload_is_list_of_ids(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    status, reply = await post(session, sim, "/broadband/services/json")
    assert status == 200
    assert reply["services"] == [line["ID"] for line in sim.accounts[0].lines]
    assert all_strings(reply)


# -- request styles ---------------------------------------------------------------------------


def _basic(login: str, password: str) -> dict[str, str]:
    """Authorization header by hand (``aiohttp.BasicAuth`` is deprecated in aiohttp 3.14)."""
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        pytest.param("GET", "/broadband/info", {"params": CREDS}, id="get-query"),
        pytest.param("GET", "/broadband/info/json", {"params": CREDS}, id="get-query-suffix"),
        pytest.param("POST", "/broadband/info/json", {"data": CREDS}, id="post-form"),
        pytest.param("POST", "/broadband/info", {"data": CREDS}, id="post-form-no-suffix"),
        pytest.param("POST", "/broadband/info", {"json": CREDS}, id="post-json"),
        pytest.param(
            "POST",
            "/broadband/info/json",
            {"data": aiohttp.FormData(CREDS, default_to_multipart=True)},
            id="post-multipart",
        ),
        pytest.param(
            "GET", "/broadband/info", {"headers": _basic(LOGIN, PASSWORD)}, id="basic-control"
        ),
        pytest.param(
            "GET",
            "/broadband/info/json",
            {"headers": _basic(ACCOUNT, ACCOUNT_PASSWORD)},
            id="basic-account",
        ),
        pytest.param(
            "POST",
            "/broadband/info/json",
            {"data": {"account_number": ACCOUNT, "account_password": ACCOUNT_PASSWORD}},
            id="form-account",
        ),
        pytest.param(
            "POST",
            "/broadband/info/json",
            {
                "data": {
                    "account_number": ACCOUNT,
                    "account_password": ACCOUNT_PASSWORD,
                    "control_login": LOGIN,
                }
            },
            id="form-account-with-login",
        ),
        pytest.param(
            "POST",
            "/Broadband/INFO/JSON",
            {"data": CREDS},
            id="path-case-insensitive",
        ),
    ],
)
async def test_every_request_style_works(
    sim: Simulator,
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    kwargs: dict[str, Any],
) -> None:
    async with session.request(method, sim.url + path, **kwargs) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        reply = await resp.json()
    assert "error" not in reply
    assert len(reply["info"]) == 12
    assert all(
        value == "(redacted)" for key, value in reply["request"].items() if "password" in key
    )


async def test_basic_auth_sets_request_attributes(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    async with session.get(sim.url + "/broadband/quota", headers=_basic(LOGIN, PASSWORD)) as resp:
        reply = await resp.json()
    assert reply["request"]["control_login"] == LOGIN
    assert reply["request"]["control_password"] == "(redacted)"
    assert sim.calls[(LOGIN, "broadband/quota", "")] == 1


@pytest.mark.parametrize(
    "names",
    [
        ("Control-Login", "CONTROL_PASSWORD", "Service"),
        ("control-login", "control-password", "SERVICE"),
        ("CONTROL_LOGIN", "Control-Password", "service"),
    ],
)
async def test_attribute_names_case_and_dash_insensitive(
    sim: Simulator, session: aiohttp.ClientSession, names: tuple[str, str, str]
) -> None:
    line_id = sim.accounts[0].lines[4]["ID"]
    login_name, password_name, service_name = names
    data = {login_name: LOGIN, password_name: PASSWORD, service_name: line_id}
    status, reply = await post(session, sim, data=data)
    assert status == 200
    assert [line["ID"] for line in reply["info"]] == [line_id]
    # The echo uses the normalised lower-case underscore names.
    assert set(reply["request"]) == {
        "control_login",
        "control_password",
        "service",
        "uuid",
        "seq",
    }


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "on_login_option"),
    [
        pytest.param(
            {"data": {"control_login": LOGIN, "control_password": "wrong"}},
            CONTROL_AUTH_FAILED,
            True,
            id="wrong-password",
        ),
        pytest.param(
            {"data": {"control_login": "zz99@a", "control_password": PASSWORD}},
            CONTROL_AUTH_FAILED,
            True,
            id="unknown-login",
        ),
        pytest.param(
            {"data": {"control_login": OTHER_LOGIN, "control_password": PASSWORD}},
            CONTROL_AUTH_FAILED,
            True,
            id="someone-elses-password",
        ),
        pytest.param(
            {"data": {"control_login": "nobody", "control_password": PASSWORD}},
            BAD_CONTROL_LOGIN,
            True,
            id="malformed-login",
        ),
        pytest.param({"data": {}}, BAD_CONTROL_LOGIN, True, id="no-credentials"),
        pytest.param(
            {"data": {"account_number": ACCOUNT, "account_password": "wrong"}},
            ACCOUNT_AUTH_FAILED,
            False,
            id="wrong-account-password",
        ),
        pytest.param(
            {"data": {"account_number": "A9999A", "account_password": ACCOUNT_PASSWORD}},
            ACCOUNT_AUTH_FAILED,
            False,
            id="unknown-account",
        ),
        pytest.param(
            {"headers": _basic(ACCOUNT, "wrong")},
            ACCOUNT_AUTH_FAILED,
            False,
            id="basic-wrong-account",
        ),
        pytest.param(
            {"headers": _basic(LOGIN, "wrong")}, CONTROL_AUTH_FAILED, True, id="basic-wrong-control"
        ),
        pytest.param(
            {
                "data": {
                    "account_number": ACCOUNT,
                    "account_password": ACCOUNT_PASSWORD,
                    "control_login": OTHER_LOGIN,
                }
            },
            CONTROL_AUTH_FAILED,
            True,
            id="account-with-foreign-login",
        ),
    ],
)
async def test_auth_errors_are_http_200_envelopes(
    sim: Simulator,
    session: aiohttp.ClientSession,
    kwargs: dict[str, Any],
    error: str,
    on_login_option: bool,
) -> None:
    async with session.post(sim.url + "/broadband/info/json", **kwargs) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        reply = await resp.json()
    assert list(reply) == [*ENVELOPE, "error"]
    assert reply["error"] == error
    assert "info" not in reply
    assert option(reply, "control_login").get("error") == (error if on_login_option else None)
    # No lines leak to a caller that failed to authenticate.
    assert option(reply, "service")["choice"] == [{"value": "", "title": "Select service"}]


@pytest.mark.parametrize(
    "path", ["/broadband/usage/json", "/broadband/kill", "/domain/info/json", "/login/services"]
)
async def test_unknown_command(sim: Simulator, session: aiohttp.ClientSession, path: str) -> None:
    status, reply = await post(session, sim, path)
    assert status == 200
    assert reply["error"] == UNKNOWN_COMMAND
    assert list(reply) == [*ENVELOPE, "error"]


@pytest.mark.parametrize("suffix", ["xml", "soap", "XML"])
async def test_xml_and_soap_are_not_spoken(
    sim: Simulator, session: aiohttp.ClientSession, suffix: str
) -> None:
    async with session.post(f"{sim.url}/broadband/info/{suffix}", data=CREDS) as resp:
        assert resp.status == 501
        assert await resp.text() == "simulator speaks JSON only"


async def test_xml_request_body_is_not_spoken(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    body = f'<chaos control-login="{LOGIN}" control-password="{PASSWORD}"/>'
    headers = {"Content-Type": "text/xml"}
    async with session.post(sim.url + "/broadband/info", data=body, headers=headers) as resp:
        assert resp.status == 501


@pytest.mark.parametrize(
    ("path", "kwargs", "status"),
    [
        ("/broadband/info/yaml", {"data": CREDS}, 404),
        (
            "/broadband/info",
            {"data": "{nope", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("/broadband/info", {"json": ["not", "an", "object"]}, 400),
        ("/_sim/nothing", {"data": CREDS}, 404),
    ],
)
async def test_malformed_requests(
    sim: Simulator,
    session: aiohttp.ClientSession,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    async with session.post(sim.url + path, **kwargs) as resp:
        assert resp.status == status


# -- service selection ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["info", "quota"])
@pytest.mark.parametrize("how", ["id", "circuit", "phone"])
async def test_service_selects_one_line(
    sim: Simulator, session: aiohttp.ClientSession, command: str, how: str
) -> None:
    line = sim.accounts[0].lines[3]
    aliases = {alias: target for alias, target in sim.accounts[0].service_aliases.items()}
    by_how = {
        "id": line["ID"],
        "circuit": next(a for a, t in aliases.items() if t == line["ID"] and a.startswith("BB")),
        "phone": next(a for a, t in aliases.items() if t == line["ID"] and a.startswith("0")),
    }
    service = by_how[how]
    status, reply = await post(
        session, sim, f"/broadband/{command}/json", {**CREDS, "service": service}
    )
    assert status == 200
    assert [record["ID"] for record in reply[command]] == [line["ID"]]
    assert option(reply, "service")["value"] == service
    # The choice list still names every line of the login.
    assert len(option(reply, "service")["choice"]) == 13
    assert reply["request"]["service"] == service


@pytest.mark.parametrize(
    "service",
    [
        pytest.param("99999", id="unknown"),
        pytest.param("20000", id="other-accounts-line"),
        pytest.param("BBEU00020000", id="unknown-circuit"),
    ],
)
async def test_bad_service(sim: Simulator, session: aiohttp.ClientSession, service: str) -> None:
    status, reply = await post(session, sim, "/broadband/info/json", {**CREDS, "service": service})
    assert status == 200
    assert reply["error"] == BAD_SERVICE
    assert "info" not in reply
    assert option(reply, "service")["error"] == BAD_SERVICE


# -- generated data ---------------------------------------------------------------------------


@pytest.mark.parametrize("quirk", QUIRKS)
def test_generate_lines_has_each_quirk_at_documented_index(quirk: Quirk) -> None:
    lines = generate_lines(30)
    expected = [lines[i]["ID"] for i in range(30) if quirk_at(i) == quirk]
    assert len(expected) == 3
    assert line_ids_with_quirk(lines, quirk) == expected


@pytest.mark.parametrize(
    ("quirk", "check"),
    [
        ("no_tx_rate", lambda line: "tx_rate" not in line and "tx_rate_adjusted" in line),
        (
            "no_quota_monthly",
            lambda line: "quota_monthly" not in line and "quota_remaining" not in line,
        ),
        (
            "unlimited",
            lambda line: line["quota_monthly"] == "0" and line["quota_remaining"] == "0",
        ),
        (
            "rollover",
            lambda line: int(line["quota_remaining"]) > int(line["quota_monthly"]) > 0,
        ),
        (
            "postcode_whitespace",
            lambda line: line["postcode"] != line["postcode"].strip() != "",
        ),
        ("fttp", lambda line: 100_000_000 < int(line["tx_rate"]) <= 900_000_000),
    ],
)
def test_quirk_shapes(quirk: Quirk, check: Any) -> None:
    lines = generate_lines(20, seed=3)
    picked = [line for i, line in enumerate(lines) if quirk_at(i) == quirk]
    assert picked
    assert all(check(line) for line in picked)
    assert all(has_quirk(line, quirk) for line in picked)


def test_generate_lines_is_deterministic_and_realistic() -> None:
    lines = generate_lines(200, start_id=50000, seed=5)
    assert lines == generate_lines(200, start_id=50000, seed=5)
    assert lines != generate_lines(200, start_id=50000, seed=6)
    assert generate_lines(20, start_id=50000, seed=5) == lines[:20]
    assert [line["ID"] for line in lines] == [str(50000 + i) for i in range(200)]
    assert len({line["login"] for line in lines}) == 200
    for line in lines:
        assert set(line) <= LINE_FIELDS
        assert all(isinstance(value, str) for value in line.values())
        assert re.fullmatch(r"[a-z]{2}\d+@a\.1", line["login"])
        assert re.fullmatch(r"[A-Z]{1,2}\d{1,2} \d[A-Z]{2}", line["postcode"].strip())
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:00:00", line["quota_timestamp"])
        adjusted = int(line["tx_rate_adjusted"])
        assert 0 < int(line["rx_rate"]) <= 110_000_000
        if "tx_rate" in line:
            tx = int(line["tx_rate"])
            assert 5_000_000 <= tx <= 900_000_000
            assert 0.95 * tx <= adjusted <= 0.99 * tx
        if line.get("quota_monthly", "0") != "0":
            assert line["quota_monthly"] in {"100000000000", "1000000000000", "10000000000000"}
            assert int(line["quota_remaining"]) >= 0


def test_line_ids_with_quirk_rejects_unknown_quirk() -> None:
    with pytest.raises(ValueError, match="unknown quirk"):
        line_ids_with_quirk([], "nope")  # type: ignore[arg-type]


def test_demo_and_numbered_accounts() -> None:
    (demo,) = demo_accounts(5)
    assert (demo.control_login, demo.control_password) == (DEMO_LOGIN, DEMO_PASSWORD)
    assert (demo.control_login, demo.control_password) == ("demo@a", "demo-password")
    assert len(demo.lines) == 5
    accounts = numbered_accounts(3, 4)
    assert [acc.control_login for acc in accounts] == ["sim1@a", "sim2@a", "sim3@a"]
    ids = [line["ID"] for acc in accounts for line in acc.lines]
    assert len(ids) == len(set(ids)) == 12


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "retry_after"),
    [
        (Fault("http_status"), 500, None),
        (Fault("http_status", status=502), 502, None),
        (Fault("http_status", status=503, retry_after="2"), 503, "2"),
        (Fault("http_status", status=429, retry_after="1"), 429, "1"),
        (
            Fault("http_status", status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
            429,
            "Wed, 21 Oct 2015 07:28:00 GMT",
        ),
    ],
)
async def test_http_status_fault(
    sim: Simulator,
    session: aiohttp.ClientSession,
    fault: Fault,
    status: int,
    retry_after: str | None,
) -> None:
    sim.add_fault(fault)
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        assert resp.status == status
        assert resp.content_type == "text/html"
        assert resp.headers.get("Retry-After") == retry_after
        assert str(status) in await resp.text()


async def test_html_fault(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("html"))
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert "maintenance" in (await resp.text()).lower()


async def test_truncated_fault(sim: Simulator, session: aiohttp.ClientSession) -> None:
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        full = await resp.read()
    sim.add_fault(Fault("truncated"))
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        cut = await resp.read()
    assert len(cut) == len(full) // 2
    # Same prefix up to the per-request uuid.
    assert cut[:40] == full[:40]
    with pytest.raises(ValueError, match=r"."):
        json.loads(cut)


async def test_wrong_shape_fault(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("wrong_shape"))
    status, reply = await post(session, sim)
    assert status == 200
    assert reply["info"] == "oops"
    assert "error" not in reply


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/broadband/quota/json", "Service temporarily unavailable"),
        ("/broadband/info/json", "Login locked"),
        ("/broadband/info/json", 'Ünïcode and "quotes" / slashes'),
    ],
)
async def test_error_fault(
    sim: Simulator, session: aiohttp.ClientSession, path: str, text: str
) -> None:
    sim.add_fault(Fault("error", error_text=text))
    async with session.post(sim.url + path, data=CREDS) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        reply = await resp.json()
    assert reply["error"] == text
    assert path.split("/")[2] not in reply
    assert list(reply) == [*ENVELOPE, "error"]
    assert reply["request"]["control_password"] == "(redacted)"


async def test_latency_fault(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("latency", latency_seconds=0.2, count=1))
    started = time.perf_counter()
    status, reply = await post(session, sim)
    slow = time.perf_counter() - started
    assert status == 200
    assert len(reply["info"]) == 12
    assert slow >= 0.2
    started = time.perf_counter()
    await post(session, sim)
    assert time.perf_counter() - started < 0.2


@pytest.mark.parametrize(("method", "attempts"), [("GET", 2), ("POST", 1)])
async def test_drop_fault_closes_connection(
    sim: Simulator, session: aiohttp.ClientSession, method: str, attempts: int
) -> None:
    sim.add_fault(Fault("drop"))
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        async with session.request(method, sim.url + "/broadband/info/json", data=CREDS) as r:
            await r.read()
    # aiohttp's client quietly retries an idempotent request once after a hang-up, so a GET
    # needs the fault twice; POST (what the exporter sends) is not retried.
    assert sim.total_calls == attempts
    sim.clear_faults()
    status, _ = await post(session, sim)
    assert status == 200


async def test_fault_count_expires(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("http_status", status=503, count=2))
    statuses = []
    for _ in range(3):
        async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
            statuses.append(resp.status)
    assert statuses == [503, 503, 200]
    assert sim.faults == []
    assert sim.total_calls == 3


async def test_fault_until_cleared(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("error"))
    for _ in range(3):
        _, reply = await post(session, sim)
        assert reply["error"] == "Unknown command"
    sim.clear_faults()
    _, reply = await post(session, sim)
    assert "error" not in reply


@pytest.mark.parametrize(
    ("fault_login", "data", "faulted"),
    [
        (OTHER_LOGIN, CREDS, False),
        (OTHER_LOGIN, {"control_login": OTHER_LOGIN, "control_password": OTHER_PASSWORD}, True),
        (LOGIN.upper(), CREDS, True),
        (ACCOUNT, {"account_number": ACCOUNT, "account_password": ACCOUNT_PASSWORD}, True),
        (ACCOUNT, CREDS, False),
    ],
)
async def test_fault_login_scoping(
    sim: Simulator,
    session: aiohttp.ClientSession,
    fault_login: str,
    data: dict[str, str],
    faulted: bool,
) -> None:
    sim.add_fault(Fault("http_status", status=502, login=fault_login))
    async with session.post(sim.url + "/broadband/info/json", data=data) as resp:
        assert (resp.status == 502) is faulted


async def test_first_matching_fault_wins(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("http_status", status=502, login=OTHER_LOGIN))
    sim.add_fault(Fault("http_status", status=503, count=1))
    sim.add_fault(Fault("http_status", status=504, count=1))
    statuses = []
    for _ in range(3):
        async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
            statuses.append(resp.status)
    assert statuses == [503, 504, 200]


async def test_fault_probability_is_seeded(session: aiohttp.ClientSession) -> None:
    async def run() -> list[int]:
        simulator = Simulator(make_accounts(), seed=42)
        await simulator.start()
        try:
            simulator.add_fault(Fault("http_status", status=503, probability=0.5))
            statuses = []
            for _ in range(30):
                async with session.post(
                    simulator.url + "/broadband/quota/json", data=CREDS
                ) as resp:
                    statuses.append(resp.status)
            return statuses
        finally:
            await simulator.stop()

    first, second = await run(), await run()
    assert first == second
    assert 503 in first
    assert 200 in first


async def test_probability_zero_never_fires(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("drop", probability=0.0))
    for _ in range(5):
        status, _ = await post(session, sim)
        assert status == 200


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "explode"},
        {"kind": "drop", "count": 0},
        {"kind": "drop", "probability": 1.5},
        {"kind": "http_status", "status": 42},
        {"kind": "latency", "latency_seconds": -1.0},
        {"kind": "replay"},
        {"kind": "deep_nesting", "depth": 0},
        {"kind": "entries_without_id", "entries": -1},
        {"kind": "huge_number", "number": "12a"},
        {"kind": "huge_number", "number": '1e400"}'},
        {"kind": "huge_number", "line_field": ""},
        {"kind": "error", "command": "info"},
    ],
)
def test_invalid_faults_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        Fault(**kwargs)


# -- payload faults: odd and hostile shapes ---------------------------------------------------


async def raw_post(
    session: aiohttp.ClientSession, sim: Simulator, path: str = "/broadband/info/json"
) -> bytes:
    async with session.post(sim.url + path, data=CREDS) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        return await resp.read()


@pytest.mark.parametrize(
    ("path", "data", "expected_id"),
    [
        ("/broadband/info/json", CREDS, "10000"),
        ("/broadband/quota/json", CREDS, "10000"),
        ("/broadband/info/json", {**CREDS, "service": "10004"}, "10004"),
    ],
)
async def test_lone_object_fault(
    sim: Simulator,
    session: aiohttp.ClientSession,
    path: str,
    data: dict[str, str],
    expected_id: str,
) -> None:
    _, normal = await post(session, sim, path, data)
    sim.add_fault(Fault("lone_object"))
    status, reply = await post(session, sim, path, data)
    assert status == 200
    command = path.split("/")[2]
    assert isinstance(reply[command], dict)
    assert reply[command] == next(e for e in normal[command] if e["ID"] == expected_id)
    assert list(reply) == list(normal)


async def test_payload_faults_leave_error_replies_alone(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.add_fault(Fault("lone_object", count=1))
    sim.add_fault(Fault("deep_nesting", count=1))
    bad = {"control_login": LOGIN, "control_password": "wrong"}
    for _ in range(2):
        _, reply = await post(session, sim, data=bad)
        assert reply["error"] == CONTROL_AUTH_FAILED
        assert "info" not in reply
    assert sim.faults == []


async def test_quota_without_unlimited_fault(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    lines = sim.accounts[0].lines
    no_quota = set(line_ids_with_quirk(lines, "no_quota_monthly"))
    unlimited = set(line_ids_with_quirk(lines, "unlimited"))
    assert no_quota
    assert unlimited
    sim.add_fault(Fault("quota_without_unlimited", count=1))
    # broadband/info never matches, so it neither changes nor uses up the count.
    _, info = await post(session, sim)
    assert [line["ID"] for line in info["info"]] == [line["ID"] for line in lines]
    assert len(sim.faults) == 1
    _, quota = await post(session, sim, "/broadband/quota/json")
    assert [entry["ID"] for entry in quota["quota"]] == [
        line["ID"] for line in lines if line["ID"] not in no_quota | unlimited
    ]
    assert all(int(entry["quota_monthly"]) > 0 for entry in quota["quota"])
    assert sim.faults == []
    _, quota = await post(session, sim, "/broadband/quota/json")
    assert len(quota["quota"]) == len(lines)


def split_raw_payload(body: bytes, command: str) -> tuple[dict[str, Any], bytes]:
    """The envelope as JSON (payload replaced by []) and the payload's raw bytes."""
    key = f'"{command}":'.encode()
    start = body.index(key) + len(key)
    assert body.endswith(b"}")
    payload = body[start:-1]
    return json.loads(body[:start] + b"[]}"), payload


async def test_deep_nesting_fault(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("deep_nesting"))
    body = await raw_post(session, sim)
    envelope, payload = split_raw_payload(body, "info")
    assert list(envelope) == [*ENVELOPE, "info"]
    assert payload == b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(body)


async def test_deep_nesting_depth_knob(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("deep_nesting", depth=3))
    assert json.loads(await raw_post(session, sim, "/broadband/quota/json"))["quota"] == [[[]]]


@pytest.mark.parametrize(
    ("number", "as_string", "problem"),
    [
        pytest.param(HUGE_INTEGER, False, "json", id="integer-as-number"),
        pytest.param(HUGE_INTEGER, True, "int", id="integer-as-string"),
        pytest.param(HUGE_FLOAT, False, "inf", id="float-as-number"),
        pytest.param(HUGE_FLOAT, True, "inf-string", id="float-as-string"),
    ],
)
async def test_huge_number_fault(
    sim: Simulator, session: aiohttp.ClientSession, number: str, as_string: bool, problem: str
) -> None:
    assert len(HUGE_INTEGER) > sys.get_int_max_str_digits() > 0
    sim.add_fault(Fault("huge_number", number=number, as_string=as_string))
    body = await raw_post(session, sim)
    lines = sim.accounts[0].lines
    token = f'"quota_remaining":"{number}"' if as_string else f'"quota_remaining":{number}'
    assert body.count(token.encode()) == len(lines)
    if problem == "json":
        with pytest.raises(ValueError, match="digits"):
            json.loads(body)
        return
    reply = json.loads(body)
    values = [entry["quota_remaining"] for entry in reply["info"]]
    assert [entry["ID"] for entry in reply["info"]] == [line["ID"] for line in lines]
    if problem == "int":
        assert values == [HUGE_INTEGER] * len(lines)
        with pytest.raises(ValueError, match="digits"):
            int(values[0])
    elif problem == "inf":
        assert values == [float("inf")] * len(lines)
    else:
        assert values == [HUGE_FLOAT] * len(lines)
        assert float(values[0]) == float("inf")
    # The account's own records are untouched.
    assert all(line.get("quota_remaining") != number for line in lines)


async def test_huge_number_field_knob(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("huge_number", number="12", line_field="tx_rate", count=1))
    _, reply = await post(session, sim, "/broadband/quota/json")
    assert {entry["tx_rate"] for entry in reply["quota"]} == {12}


async def test_entries_without_id_fault(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("entries_without_id"))
    reply = json.loads(await raw_post(session, sim))
    lines = sim.accounts[0].lines
    assert len(reply["info"]) == len(lines) + 200_000
    assert reply["info"][: len(lines)] == lines
    assert not any("ID" in entry or "id" in entry for entry in reply["info"][len(lines) :])


async def test_entries_without_id_on_empty_payload(session: aiohttp.ClientSession) -> None:
    simulator = Simulator([SimAccount(LOGIN, PASSWORD, [])])
    await simulator.start()
    try:
        simulator.add_fault(Fault("entries_without_id", entries=2))
        reply = json.loads(await raw_post(session, simulator))
    finally:
        await simulator.stop()
    assert reply["info"] == [{"quota_remaining": "0"}] * 2


async def test_replay_fault(sim: Simulator, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    capture = tmp_path / "info.json"
    capture.write_bytes(b'{"info":[{"ID":"1","postcode":"A\\/B"}]}')
    sim.add_fault(Fault("replay", path=str(capture), command="broadband/info"))
    assert await raw_post(session, sim) == capture.read_bytes()
    _, quota = await post(session, sim, "/broadband/quota/json")
    assert len(quota["quota"]) == 12
    capture.write_bytes(b'{"info":[]}')
    assert await raw_post(session, sim) == b'{"info":[]}'
    capture.unlink()
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        assert resp.status == 500
        assert "replay file" in await resp.text()


async def test_fault_command_scoping(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("http_status", status=503, command="broadband/quota"))
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        assert resp.status == 200
    async with session.post(sim.url + "/BroadBand/Quota/json", data=CREDS) as resp:
        assert resp.status == 503


# -- counting and admin -----------------------------------------------------------------------


async def test_calls_are_counted(sim: Simulator, session: aiohttp.ClientSession) -> None:
    await post(session, sim)
    await post(session, sim)
    await post(session, sim, "/broadband/quota/json", {**CREDS, "service": "10003"})
    await post(session, sim, data={"control_login": LOGIN, "control_password": "wrong"})
    await post(
        session,
        sim,
        "/broadband/info/json",
        {"account_number": ACCOUNT, "account_password": ACCOUNT_PASSWORD},
    )
    await post(session, sim, "/domain/info", {})
    sim.add_fault(Fault("http_status", count=1))
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        assert resp.status == 500
    async with session.get(sim.url + "/_sim/stats") as resp:
        assert resp.status == 200
    assert sim.calls == {
        (LOGIN, "broadband/info", ""): 4,
        (LOGIN, "broadband/quota", "10003"): 1,
        (ACCOUNT, "broadband/info", ""): 1,
        ("", "domain/info", ""): 1,
    }
    assert sim.total_calls == 7
    sim.reset_calls()
    assert sim.total_calls == 0


async def test_accounts_may_change_between_calls(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.accounts[0].lines[0]["tx_rate"] = "1234000"
    _, reply = await post(session, sim)
    assert reply["info"][0]["tx_rate"] == "1234000"
    sim.accounts[0].control_password = "rotated"
    _, reply = await post(session, sim)
    assert reply["error"] == CONTROL_AUTH_FAILED
    _, reply = await post(
        session, sim, data={"control_login": LOGIN, "control_password": "rotated"}
    )
    assert len(reply["info"]) == 12
    sim.accounts[0].lines.pop()
    _, reply = await post(
        session, sim, data={"control_login": LOGIN, "control_password": "rotated"}
    )
    assert len(reply["info"]) == 11


async def test_admin_endpoints(sim: Simulator, session: aiohttp.ClientSession) -> None:
    await post(session, sim)
    async with session.get(sim.url + "/_sim/stats") as resp:
        stats = await resp.json()
    assert stats == {
        "total_calls": 1,
        "calls": [{"login": LOGIN, "command": "broadband/info", "service": "", "count": 1}],
    }

    async with session.post(sim.url + "/_sim/reset") as resp:
        assert resp.status == 200
    assert sim.total_calls == 0

    fault = {"kind": "http_status", "status": 429, "retry_after": "3", "count": 1}
    async with session.post(sim.url + "/_sim/faults", json=fault) as resp:
        assert resp.status == 201
    async with session.get(sim.url + "/_sim/faults") as resp:
        listed = (await resp.json())["faults"]
    assert [(f["kind"], f["status"], f["count"]) for f in listed] == [("http_status", 429, 1)]
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "3"

    async with session.post(sim.url + "/_sim/faults", json={"kind": "html"}) as resp:
        assert resp.status == 201
    async with session.delete(sim.url + "/_sim/faults") as resp:
        assert resp.status == 200
    assert sim.faults == []
    status, _ = await post(session, sim)
    assert status == 200
    assert sim.total_calls == 2


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "explode"},
        {"kind": "drop", "colour": "red"},
        {"kind": "drop", "count": "many"},
        ["drop"],
    ],
)
async def test_admin_rejects_bad_faults(
    sim: Simulator, session: aiohttp.ClientSession, body: object
) -> None:
    async with session.post(sim.url + "/_sim/faults", json=body) as resp:
        assert resp.status == 400
        assert "error" in await resp.json()
    assert sim.faults == []


# -- scale, lifecycle, command line -----------------------------------------------------------


async def test_ten_thousand_lines(session: aiohttp.ClientSession) -> None:
    lines = generate_lines(10_000)
    simulator = Simulator([SimAccount(LOGIN, PASSWORD, lines)])
    await simulator.start()
    try:
        started = time.perf_counter()
        status, reply = await post(session, simulator)
        elapsed = time.perf_counter() - started
        status_q, quota = await post(
            session, simulator, "/broadband/quota/json", {**CREDS, "service": "19999"}
        )
    finally:
        await simulator.stop()
    assert status == status_q == 200
    assert len(reply["info"]) == 10_000
    assert len(option(reply, "service")["choice"]) == 10_001
    assert quota["quota"][0]["ID"] == "19999"
    # Typically ~50 ms including the client's JSON decode; generous for slow CI machines.
    assert elapsed < 2.0


async def test_lifecycle() -> None:
    simulator = Simulator(demo_accounts(2))
    with pytest.raises(RuntimeError):
        _ = simulator.url
    url = await simulator.start()
    assert url == simulator.url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    with pytest.raises(RuntimeError):
        await simulator.start()
    await simulator.stop()
    await simulator.stop()
    with pytest.raises(RuntimeError):
        _ = simulator.url


async def test_make_app_serves_demo_credentials(
    aiohttp_client: Any,
) -> None:
    simulator = Simulator(demo_accounts(3))
    client = await aiohttp_client(simulator.make_app())
    resp = await client.post(
        "/broadband/info/json",
        data={"control_login": DEMO_LOGIN, "control_password": DEMO_PASSWORD},
    )
    assert resp.status == 200
    assert len((await resp.json())["info"]) == 3


def test_cli_knobs_become_faults() -> None:
    args = build_parser().parse_args(
        [
            "--lines=5",
            "--accounts=2",
            "--listen=127.0.0.1:0",
            "--latency=0.1",
            "--fail-rate=0.1",
            "--rate-limit-rate=0.2",
            "--retry-after=7",
            "--html-rate=0.3",
            "--truncated-rate=0.4",
            "--drop-rate=0.5",
        ]
    )
    assert args.listen == ("127.0.0.1", 0)
    faults = faults_from_args(args)
    assert [(f.kind, f.status, f.probability) for f in faults] == [
        ("drop", 500, 0.5),
        ("http_status", 503, 0.1),
        ("http_status", 429, 0.2),
        ("html", 500, 0.3),
        ("truncated", 500, 0.4),
        ("latency", 500, 1.0),
    ]
    assert faults[2].retry_after == "7"
    assert faults[-1].latency_seconds == 0.1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--fail-rate=2"])


def test_cli_payload_knobs_become_faults() -> None:
    args = build_parser().parse_args(
        [
            "--error=Login locked",
            "--error-rate=0.25",
            "--replay=broadband/info=cap/home-broadband-info.json",
            "--replay=Broadband/Quota=cap/home-broadband-quota.json",
            "--lone-object",
            "--quota-without-unlimited",
            "--latency=0.1",
        ]
    )
    faults = faults_from_args(args)
    assert [(f.kind, f.command, f.path, f.probability) for f in faults] == [
        ("error", None, None, 0.25),
        ("replay", "broadband/info", "cap/home-broadband-info.json", 1.0),
        ("replay", "broadband/quota", "cap/home-broadband-quota.json", 1.0),
        ("lone_object", None, None, 1.0),
        ("quota_without_unlimited", None, None, 1.0),
        ("latency", None, None, 1.0),
    ]
    assert faults[0].error_text == "Login locked"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--replay=info.json"])


async def test_admin_adds_hostile_faults(sim: Simulator, session: aiohttp.ClientSession) -> None:
    fault = {"kind": "huge_number", "number": HUGE_FLOAT, "as_string": True, "count": 1}
    async with session.post(sim.url + "/_sim/faults", json=fault) as resp:
        assert resp.status == 201
    _, reply = await post(session, sim)
    assert {entry["quota_remaining"] for entry in reply["info"]} == {HUGE_FLOAT}


async def test_runs_as_a_program(session: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aaisp_multi_exporter.simulator",
        "--lines=3",
        "--accounts=2",
        "--listen=127.0.0.1:0",
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        url = ""
        log_lines: list[str] = []
        async with asyncio.timeout(20):
            while not url:
                line = (await proc.stderr.readline()).decode()
                assert line, f"simulator exited early: {log_lines}"
                log_lines.append(line)
                found = re.search(r"listening on (http://\S+)", line)
                url = found.group(1) if found else ""
        assert "fake" in (await proc.stderr.readline()).decode()
        async with session.post(
            url + "/broadband/info/json",
            data={"control_login": "sim2@a", "control_password": "sim2-password"},
        ) as resp:
            reply = await resp.json()
        assert [line["ID"] for line in reply["info"]] == ["10003", "10004", "10005"]
        async with session.get(url + "/_sim/stats") as resp:
            assert (await resp.json())["total_calls"] == 1
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            await proc.stderr.read()
            await proc.wait()
    assert proc.returncode == 0
