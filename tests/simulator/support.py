"""Shared by the simulator tests: two accounts, their credentials, and how to ask and read."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from aaisp_multi_exporter.simulator import SimAccount, Simulator, generate_lines, service_aliases

LOGIN = "ab12@a"
PASSWORD = "secret-1"
ACCOUNT = "A1234A"
ACCOUNT_PASSWORD = "acct-secret"
OTHER_LOGIN = "cd34@a"
OTHER_PASSWORD = "secret-2"
CREDS = {"control_login": LOGIN, "control_password": PASSWORD}
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


def basic(login: str, password: str) -> dict[str, str]:
    """Authorization header by hand (``aiohttp.BasicAuth`` is deprecated in aiohttp 3.14)."""
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


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


async def raw_post(
    session: aiohttp.ClientSession, sim: Simulator, path: str = "/broadband/info/json"
) -> bytes:
    """Form POST with the test credentials; the body's bytes, unparsed."""
    async with session.post(sim.url + path, data=CREDS) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        return await resp.read()


def option(reply: dict[str, Any], name: str) -> dict[str, Any]:
    """Find an option by name, never by position (docs/chaos-api.md §4)."""
    for group in reply["options"]:
        for opt in group.get("option", []):
            if opt["name"] == name:
                return dict(opt)
    raise AssertionError(f"option {name!r} missing")
