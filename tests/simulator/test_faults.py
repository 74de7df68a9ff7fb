"""Which fault a request gets: scoping by login and command, counts, order, seeded rolls."""

from __future__ import annotations

import random

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import Fault, Simulator
from aaisp_multi_exporter.simulator.faults import FaultQueue, fault_from_json
from tests.simulator.support import (
    ACCOUNT,
    ACCOUNT_PASSWORD,
    CREDS,
    LOGIN,
    OTHER_LOGIN,
    OTHER_PASSWORD,
    make_accounts,
    post,
)

# -- pure: the queue and the admin endpoint's JSON -------------------------------------------------

QUEUE = [
    Fault("http_status", status=502, login=OTHER_LOGIN),
    Fault("http_status", status=503, command="broadband/quota"),
    Fault("quota_without_unlimited"),
    Fault("http_status", status=504, login=ACCOUNT),
]


@pytest.mark.parametrize(
    ("attrs", "command", "status"),
    [
        pytest.param({"control_login": LOGIN}, "broadband/info", None, id="none-matches"),
        pytest.param({"control_login": OTHER_LOGIN.upper()}, "broadband/info", 502, id="login"),
        pytest.param({"control_login": LOGIN}, "broadband/quota", 503, id="command"),
        pytest.param({"control_login": OTHER_LOGIN}, "broadband/quota", 502, id="first-wins"),
        pytest.param({"account_number": ACCOUNT.lower()}, "broadband/info", 504, id="account"),
        pytest.param({}, "broadband/info", None, id="anonymous"),
    ],
)
def test_queue_picks_first_match(attrs: dict[str, str], command: str, status: int | None) -> None:
    queue = FaultQueue(random.Random(0))
    for queued in QUEUE:
        queue.add(queued)
    fault = queue.take(attrs, command)
    assert (fault.status if fault is not None else None) == status
    assert queue.copies() == QUEUE  # no count, so nothing used up


def test_quota_without_unlimited_matches_quota_only() -> None:
    queue = FaultQueue(random.Random(0))
    queue.add(Fault("quota_without_unlimited", count=1))
    assert queue.take({}, "broadband/info") is None
    assert queue.take({}, "broadband/services") is None
    taken = queue.take({}, "broadband/quota")
    assert taken is not None
    assert taken.kind == "quota_without_unlimited"
    assert queue.copies() == []


def test_queue_keeps_its_own_copy() -> None:
    queue = FaultQueue(random.Random(0))
    mine = Fault("html", count=2)
    queue.add(mine)
    queue.take({}, "broadband/info")
    assert mine.count == 2
    (left,) = queue.copies()
    assert left.count == 1
    left.count = 5
    assert queue.copies()[0].count == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (["drop"], "fault must be a JSON object"),
        ({"kind": "drop", "colour": "red", "age": 1}, "unknown fault fields: age, colour"),
        ({"kind": "explode"}, "kind must be one of: latency, gate, http_status"),
        ({}, "kind must be one of"),
        ({"kind": "drop", "count": 0}, "count must be >= 1 or None"),
        ({"kind": "drop", "count": "many"}, "not supported"),
        ({"kind": "replay"}, "needs the path"),
    ],
)
def test_fault_from_json_names_the_problem(body: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        fault_from_json(body)


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        ({"kind": "html"}, Fault("html")),
        (
            {"kind": "http_status", "status": 429, "retry_after": "3", "count": 1},
            Fault("http_status", status=429, retry_after="3", count=1),
        ),
        (
            {"kind": "error", "error_text": "Login locked"},
            Fault("error", error_text="Login locked"),
        ),
    ],
)
def test_fault_from_json(body: object, fault: Fault) -> None:
    assert fault_from_json(body) == fault


# -- over sockets ----------------------------------------------------------------------------------


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


async def test_fault_command_scoping(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.add_fault(Fault("http_status", status=503, command="broadband/quota"))
    async with session.post(sim.url + "/broadband/info/json", data=CREDS) as resp:
        assert resp.status == 200
    async with session.post(sim.url + "/BroadBand/Quota/json", data=CREDS) as resp:
        assert resp.status == 503


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
