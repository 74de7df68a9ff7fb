"""The JSON reply: envelope, payload of each command, service selection, unknown commands."""

from __future__ import annotations

import json
from collections.abc import Callable

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import (
    BAD_SERVICE,
    CONTROL_AUTH_FAILED,
    UNKNOWN_COMMAND,
    Simulator,
    line_ids_with_quirk,
)
from aaisp_multi_exporter.simulator.envelope import build_reply, dump_json, json_pieces
from tests.simulator.support import (
    ACCOUNT,
    ACCOUNT_PASSWORD,
    CREDS,
    ENVELOPE,
    LOGIN,
    make_accounts,
    option,
    post,
    raw_post,
)

QUOTA_FIELDS = {"ID", "quota_monthly", "quota_remaining", "quota_timestamp"}


def all_strings(value: object) -> bool:
    """Every leaf of a CHAOS reply is a JSON string (docs/chaos-api.md §4)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and all_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return all(all_strings(v) for v in value)
    return isinstance(value, str)


# -- pure: dump_json and build_reply ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        pytest.param({"a": "x/y"}, b'{"a":"x\\/y"}', id="slash-escaped"),
        pytest.param({"a": ["1", "2"], "b": {}}, b'{"a":["1","2"],"b":{}}', id="compact"),
        pytest.param("http://x/", b'"http:\\/\\/x\\/"', id="every-slash"),
        pytest.param({"k": 'a "q" \\ b'}, b'{"k":"a \\"q\\" \\\\ b"}', id="quotes-backslash"),
    ],
)
def test_dump_json_writes_like_chaos(value: object, written: bytes) -> None:
    assert dump_json(value) == written
    assert json.loads(written) == value


def quota_of(line: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in line.items() if k in QUOTA_FIELDS}


Lines = list[dict[str, str]]


def all_info(lines: Lines) -> object:
    return lines


def all_quota(lines: Lines) -> object:
    return [quota_of(line) for line in lines]


def all_ids(lines: Lines) -> object:
    return [line["ID"] for line in lines]


WRONG = {"control_login": LOGIN, "control_password": "wrong"}


@pytest.mark.parametrize(
    ("command", "attrs", "error", "payload"),
    [
        pytest.param("info", CREDS, None, all_info, id="info"),
        pytest.param("quota", CREDS, None, all_quota, id="quota"),
        pytest.param("services", {**CREDS, "service": "99999"}, None, all_ids, id="services"),
        pytest.param(
            "quota",
            {**CREDS, "service": "BBEU00010002"},
            None,
            lambda lines: [quota_of(lines[2])],
            id="circuit-alias",
        ),
        pytest.param("quota", {**CREDS, "service": ""}, None, all_quota, id="empty-service"),
        pytest.param("info", {**CREDS, "service": "20000"}, BAD_SERVICE, None, id="not-owned"),
        pytest.param("usage", WRONG, UNKNOWN_COMMAND, None, id="unknown-before-auth"),
        pytest.param("info", WRONG, CONTROL_AUTH_FAILED, None, id="auth-error"),
        pytest.param(
            "info",
            {"account_number": ACCOUNT, "account_password": ACCOUNT_PASSWORD},
            None,
            all_info,
            id="account",
        ),
    ],
)
def test_build_reply(
    command: str,
    attrs: dict[str, str],
    error: str | None,
    payload: Callable[[Lines], object] | None,
) -> None:
    accounts = make_accounts()
    reply = build_reply(accounts, "broadband", command, attrs, "state-1")
    assert list(reply) == [*ENVELOPE, command if error is None else "error"]
    assert reply.get("error") == error
    assert reply["state"] == {"uuid": "state-1", "seq": "1"}
    redacted = {k: "(redacted)" if "password" in k else v for k, v in attrs.items()}
    assert reply["request"] == {**redacted, "uuid": "state-1", "seq": "1"}
    expected = None if payload is None else payload(accounts[0].lines)
    assert reply.get(command) == expected


# -- over sockets ----------------------------------------------------------------------------------


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
    assert CREDS["control_password"].encode() not in raw
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


@pytest.mark.parametrize(
    "path", ["/broadband/usage/json", "/broadband/kill", "/domain/info/json", "/login/services"]
)
async def test_unknown_command(sim: Simulator, session: aiohttp.ClientSession, path: str) -> None:
    status, reply = await post(session, sim, path)
    assert status == 200
    assert reply["error"] == UNKNOWN_COMMAND
    assert list(reply) == [*ENVELOPE, "error"]


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


@pytest.mark.parametrize("entries", [0, 1, 1000, 1001, 2500])
def test_a_streamed_reply_is_dump_json_in_pieces(entries: int) -> None:
    payload = {
        "subsystem": "broadband",
        "info": [{"ID": str(i), "x": "a/b"} for i in range(entries)],
    }
    pieces = list(json_pieces(payload))
    assert b"".join(pieces) == dump_json(payload)
    # "{", "subsystem", then "info" whole, or its head, a piece per 1,000 entries and "]"; "}".
    expected = 4 if entries <= 1000 else 5 + -(-entries // 1000)
    assert len(pieces) == expected


async def test_a_streamed_reply_is_the_same_reply(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    whole = await raw_post(session, sim)
    sim.stream = True
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        streamed = await resp.read()
    # The same reply but for its uuid, drawn fresh for each request.
    assert json.loads(streamed).keys() == json.loads(whole).keys()
    assert json.loads(streamed)["info"] == json.loads(whole)["info"]
