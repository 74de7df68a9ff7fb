"""The Simulator itself: routes and output formats, counting, lifecycle, scale."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import (
    DEMO_LOGIN,
    DEMO_PASSWORD,
    Fault,
    SimAccount,
    Simulator,
    demo_accounts,
    generate_lines,
)
from tests.simulator.support import (
    ACCOUNT,
    ACCOUNT_PASSWORD,
    CREDS,
    LOGIN,
    PASSWORD,
    make_accounts,
    option,
    post,
)


@pytest.mark.parametrize("suffix", ["xml", "soap", "XML"])
async def test_xml_and_soap_are_not_spoken(
    sim: Simulator, session: aiohttp.ClientSession, suffix: str
) -> None:
    async with session.post(f"{sim.url}/broadband/info/{suffix}", data=CREDS) as resp:
        assert resp.status == 501
        assert await resp.text() == "simulator speaks JSON only"


async def test_unknown_output_format_is_404(sim: Simulator, session: aiohttp.ClientSession) -> None:
    async with session.post(sim.url + "/broadband/info/yaml", data=CREDS) as resp:
        assert resp.status == 404
        assert await resp.text() == "unknown output format 'yaml'"


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


async def test_in_flight_and_its_peak(sim: Simulator, session: aiohttp.ClientSession) -> None:
    gate = asyncio.Event()
    sim.add_fault(Fault("gate", gate=gate, count=2))
    held = [asyncio.create_task(post(session, sim)) for _ in range(2)]
    for _ in range(1000):  # both requests reach the gate; no clock decides the outcome
        if sim.in_flight == 2:
            break
        await asyncio.sleep(0.01)
    assert (sim.in_flight, sim.peak_in_flight) == (2, 2)
    sim.reset_calls()  # the peak restarts from what is in flight now
    assert sim.peak_in_flight == 2
    gate.set()
    assert [status for status, _ in await asyncio.gather(*held)] == [200, 200]
    assert (sim.in_flight, sim.peak_in_flight) == (0, 2)
    await post(session, sim)
    sim.reset_calls()
    assert (sim.in_flight, sim.peak_in_flight) == (0, 0)


def test_state_uuid_is_seeded() -> None:
    def uuids(seed: int) -> list[str]:
        simulator = Simulator(make_accounts(), seed=seed)
        return [simulator.build_reply("broadband", "info", CREDS)["state"]["uuid"] for _ in "ab"]

    first = uuids(1)
    assert first == uuids(1)
    assert first != uuids(2)
    assert first[0] != first[1]
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u)
        for u in first
    )


async def test_ten_thousand_lines(session: aiohttp.ClientSession) -> None:
    # How fast is for make bench; here, that 10,000 lines come back whole and selectable.
    lines = generate_lines(10_000)
    simulator = Simulator([SimAccount(LOGIN, PASSWORD, lines)])
    await simulator.start()
    try:
        status, reply = await post(session, simulator)
        status_q, quota = await post(
            session, simulator, "/broadband/quota/json", {**CREDS, "service": "19999"}
        )
    finally:
        await simulator.stop()
    assert status == status_q == 200
    assert len(reply["info"]) == 10_000
    assert len(option(reply, "service")["choice"]) == 10_001
    assert quota["quota"][0]["ID"] == "19999"


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
