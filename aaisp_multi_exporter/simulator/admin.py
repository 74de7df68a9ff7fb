"""The ``/_sim/`` endpoints: a simulator's counters and faults, for control from another process.

``GET /_sim/stats`` (calls per login, command and service), ``POST /_sim/reset`` (zero them),
``GET /_sim/faults``, ``POST /_sim/faults`` (a ``Fault`` as JSON, e.g. ``{"kind": "html"}``)
and ``DELETE /_sim/faults``. They are not CHAOS requests, so they are never counted or faulted.
"""

from __future__ import annotations

import collections
import json
from typing import Protocol

from aiohttp import web

from .faults import fault_from_json, fault_to_json
from .model import Fault


class Administered(Protocol):
    """What the endpoints read and change of a simulator (``server.Simulator``)."""

    @property
    def calls(self) -> collections.Counter[tuple[str, str, str]]: ...
    @property
    def total_calls(self) -> int: ...
    @property
    def faults(self) -> list[Fault]: ...
    def reset_calls(self) -> None: ...
    def add_fault(self, fault: Fault) -> None: ...
    def clear_faults(self) -> None: ...


#: The path prefix of the admin endpoints; CHAOS has no subsystem of that name.
ADMIN = "_sim"


def admin_routes(sim: Administered) -> list[web.RouteDef]:
    """The admin endpoints of ``sim``, for every method each serves."""

    async def stats(request: web.Request) -> web.Response:
        calls = [
            {"login": login, "command": command, "service": service, "count": count}
            for (login, command, service), count in sorted(sim.calls.items())
        ]
        return web.json_response({"total_calls": sim.total_calls, "calls": calls})

    async def reset(request: web.Request) -> web.Response:
        sim.reset_calls()
        return web.json_response({"total_calls": 0})

    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response({"faults": [fault_to_json(f) for f in sim.faults]})

    async def add_fault(request: web.Request) -> web.Response:
        try:
            fault = fault_from_json(json.loads(await request.text()))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        sim.add_fault(fault)
        return web.json_response({"fault": fault_to_json(fault)}, status=201)

    async def clear_faults(request: web.Request) -> web.Response:
        sim.clear_faults()
        return web.json_response({"faults": []})

    return [
        web.get(f"/{ADMIN}/stats", stats),
        web.post(f"/{ADMIN}/reset", reset),
        web.get(f"/{ADMIN}/faults", list_faults),
        web.post(f"/{ADMIN}/faults", add_fault),
        web.delete(f"/{ADMIN}/faults", clear_faults),
    ]
