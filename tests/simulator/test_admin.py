"""The /_sim/ endpoints: counters and faults from another process, never counted themselves."""

from __future__ import annotations

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import HUGE_FLOAT, Simulator
from tests.simulator.support import CREDS, LOGIN, post


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


async def test_admin_rejects_a_body_that_is_not_json(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    async with session.post(sim.url + "/_sim/faults", data="{kind: html") as resp:
        assert resp.status == 400
        assert "error" in await resp.json()
    assert sim.faults == []


async def test_admin_adds_hostile_faults(sim: Simulator, session: aiohttp.ClientSession) -> None:
    fault = {"kind": "huge_number", "number": HUGE_FLOAT, "as_string": True, "count": 1}
    async with session.post(sim.url + "/_sim/faults", json=fault) as resp:
        assert resp.status == 201
    _, reply = await post(session, sim)
    assert {entry["quota_remaining"] for entry in reply["info"]} == {HUGE_FLOAT}


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/_sim/nothing"), ("GET", "/_sim/nothing"), ("POST", "/_SIM/stats/json")],
)
async def test_admin_namespace_is_never_chaos(
    sim: Simulator, session: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with session.request(method, sim.url + path, data=CREDS) as resp:
        assert resp.status == 404
    assert sim.total_calls == 0
