"""What each fault sends: error pages, hang-ups, spoiled JSON, odd and hostile payloads."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import (
    CONTROL_AUTH_FAILED,
    HUGE_FLOAT,
    HUGE_INTEGER,
    Fault,
    SimAccount,
    Simulator,
    line_ids_with_quirk,
)
from aaisp_multi_exporter.simulator.faultreplies import reshaped_reply
from tests.simulator.support import (
    CREDS,
    ENVELOPE,
    LOGIN,
    PASSWORD,
    post,
    raw_post,
)

# -- pure: reshaped_reply --------------------------------------------------------------------------

A = {"ID": "1", "quota_monthly": "100"}
B = {"ID": "2", "quota_monthly": "0"}
C = {"ID": "3"}
A_JSON = b'{"ID":"1","quota_monthly":"100"}'


@pytest.mark.parametrize(
    ("fault", "payload", "reshaped"),
    [
        pytest.param(Fault("lone_object"), [A, B], A_JSON, id="lone-object"),
        pytest.param(Fault("lone_object"), [], b"[]", id="lone-object-empty"),
        pytest.param(
            Fault("quota_without_unlimited"), [A, B, C], b"[" + A_JSON + b"]", id="no-unlimited"
        ),
        pytest.param(Fault("deep_nesting", depth=3), [A], b"[[[]]]", id="deep-nesting"),
        pytest.param(
            Fault("entries_without_id", entries=2),
            [],
            b'[{"quota_remaining":"0"},{"quota_remaining":"0"}]',
            id="entries-without-id",
        ),
        pytest.param(
            Fault("entries_without_id", entries=1),
            [C],
            b'[{"ID":"3"},{"quota_remaining":"0"}]',
            id="entries-without-id-after-lines",
        ),
        pytest.param(
            Fault("huge_number", number="1e400"),
            [C],
            b'[{"ID":"3","quota_remaining":1e400}]',
            id="huge-number",
        ),
        pytest.param(
            Fault("huge_value", elements=3),
            [C, A],
            b'[{"ID":"3","huge":[1,1,1]},' + A_JSON + b"]",
            id="huge-value-in-an-entry",
        ),
        pytest.param(
            Fault("huge_value", elements=2, shape="objects", nesting=2),
            [C],
            b'[{"ID":"3","huge":[[[{},{}]]]}]',
            id="huge-objects-nested",
        ),
        pytest.param(
            Fault("huge_number", number="-12.5", as_string=True, line_field="ID"),
            [A],
            b'[{"ID":"-12.5","quota_monthly":"100"}]',
            id="huge-number-as-string",
        ),
    ],
)
def test_reshaped_reply(fault: Fault, payload: list[dict[str, str]], reshaped: bytes) -> None:
    original = json.dumps(payload)
    assert reshaped_reply({"quota": payload}, "quota", fault) == b'{"quota":' + reshaped + b"}"
    assert json.dumps(payload) == original  # the account's own lines are never changed


@pytest.mark.parametrize(
    ("fault", "member"),
    [
        pytest.param(Fault("huge_value", elements=3, in_entry=False), "[1,1,1]", id="numbers"),
        pytest.param(Fault("huge_value", elements=4, shape="string", in_entry=False), '"xxxx"'),
        pytest.param(
            Fault("huge_value", elements=1, shape="objects", nesting=7, in_entry=False),
            "[[[[[[[[{}]]]]]]]]",
            id="objects-seven-deep",
        ),
        pytest.param(Fault("huge_value", elements=2), "[1,1]", id="no-entry-to-hold-it"),
    ],
)
def test_huge_value_as_a_member_nobody_reads(fault: Fault, member: str) -> None:
    payload = [] if fault.in_entry else [C]
    reply = json.loads(reshaped_reply({"quota": payload}, "quota", fault))
    assert reply == {"quota": payload, "huge": json.loads(member)}


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param({"error": "Bad service", "quota": [A]}, id="error-reply"),
        pytest.param({"quota": "oops"}, id="no-list"),
        pytest.param({"info": [A]}, id="other-command"),
    ],
)
def test_reshaped_reply_leaves_error_and_odd_replies_alone(reply: dict[str, Any]) -> None:
    written = json.dumps(reply, separators=(",", ":")).encode()
    assert reshaped_reply(dict(reply), "quota", Fault("deep_nesting")) == written


def test_reshaped_reply_refuses_other_kinds() -> None:
    with pytest.raises(ValueError, match="html does not reshape a payload"):
        reshaped_reply({"quota": [A]}, "quota", Fault("html"))


# -- over sockets: instead of CHAOS ----------------------------------------------------------------


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


async def test_latency_fault(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("latency", latency_seconds=0.2, count=1))
    started = time.perf_counter()
    status, reply = await post(session, sim)
    slow = time.perf_counter() - started
    assert status == 200
    assert len(reply["info"]) == 12
    assert slow >= 0.2  # a lower bound, which load cannot break
    # Used up, so the next request is not held (checked by state, not by a clock).
    assert sim.faults == []
    status, _ = await post(session, sim)
    assert status == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"info": [{"ID": 1}]}, id="number-id"),
        pytest.param([1, "two", None], id="array"),
        pytest.param("just a string", id="string"),
        pytest.param(None, id="null"),
    ],
)
async def test_body_fault_sends_any_json(
    sim: Simulator, session: aiohttp.ClientSession, body: object
) -> None:
    sim.add_fault(Fault("body", body=body))
    status, reply = await post(session, sim, data={"control_login": LOGIN, "control_password": ""})
    assert status == 200
    assert reply == body


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


# -- over sockets: the reply spoiled ---------------------------------------------------------------


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


# -- over sockets: odd and hostile payloads --------------------------------------------------------


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
