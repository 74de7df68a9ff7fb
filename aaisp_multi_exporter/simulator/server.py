"""The simulator's HTTP server: routes, lifecycle, call counting, and the order a request takes.

Limitation: the simulator speaks JSON only. A ``/xml`` or ``/soap`` suffix, or a ``text/xml``
(SOAP) request body, which CHAOS would answer in XML, gets HTTP 501 "simulator speaks JSON only".

``/{subsystem}/{command}`` and ``/{subsystem}/{command}/json`` answer GET and POST; subsystem,
command and suffix are case-insensitive. A request's attributes come from ``attributes``, its
fault from ``faults`` and ``faultreplies``, its reply from ``envelope`` (which asks ``auth``).

Every request that reaches a CHAOS route is counted in ``Simulator.calls`` under
``(login, "subsystem/command", service)``, where ``login`` is the account number if one was
given, else the control login, else ``""``; subsystem and command are lower-cased.
"""

from __future__ import annotations

import collections
import random
import uuid
from typing import Any

from aiohttp import web
from yarl import URL

from . import faultreplies
from .admin import ADMIN, admin_routes
from .attributes import BadBodyError, NotJsonError, read_attributes
from .envelope import build_reply, json_response, streamed_response
from .faults import FaultQueue
from .model import Fault, SimAccount

JSON_ONLY = "simulator speaks JSON only"


class Simulator:
    """A CHAOS v2 look-alike with fault injection and call counting, for tests and benchmarks.

    Everything is read from ``accounts`` on each request (O(lines) per reply, no caching), so
    tests may mutate accounts, lines and passwords between calls and see the effect at once.
    """

    def __init__(self, accounts: list[SimAccount], *, seed: int = 0, stream: bool = False) -> None:
        self.accounts = accounts
        #: Write each successful reply a piece at a time as it is encoded (``--stream``).
        self.stream = stream
        self.calls: collections.Counter[tuple[str, str, str]] = collections.Counter()
        #: CHAOS requests being answered now, and the most at once since the last reset: how
        #: tests see the exporter's per-credential-set concurrency limit from the outside.
        self.in_flight = 0
        self.peak_in_flight = 0
        # One RNG for fault rolls and state uuids alike, so a seed repeats a whole run.
        self._rng = random.Random(seed)  # noqa: S311 - repeatable faults, not security
        self._faults = FaultQueue(self._rng)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """A fresh application bound to this simulator (also usable with ``aiohttp_client``)."""
        app = web.Application()
        # Admin routes first and for every method they serve, so the catch-all CHAOS route
        # never sees (or counts) them.
        app.router.add_routes(admin_routes(self))
        for path in ("/{subsystem}/{command}", "/{subsystem}/{command}/{format}"):
            app.router.add_get(path, self._chaos)
            app.router.add_post(path, self._chaos)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        # No access log (benchmarks send thousands of requests); a short shutdown grace so a
        # test that leaves a long latency fault in flight does not stall its teardown.
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_port = runner.addresses[0][1]
        self._runner = runner
        self._url = str(URL.build(scheme="http", host=host, port=bound_port))
        return self._url

    async def stop(self) -> None:
        """Close the listener and any open connections; safe to call twice."""
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``; only while started."""
        if self._url is None:
            raise RuntimeError("simulator not started")
        return self._url

    # -- faults and counters -----------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault; the first matching one (insertion order) wins for each request."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """Copies of the active faults, with their remaining counts."""
        return self._faults.copies()

    @property
    def total_calls(self) -> int:
        """Requests that reached a CHAOS route, faulted or not."""
        return self.calls.total()

    def reset_calls(self) -> None:
        """Zero the call counters."""
        self.calls.clear()
        self.peak_in_flight = self.in_flight

    # -- CHAOS -------------------------------------------------------------------------------

    def build_reply(self, subsystem: str, command: str, attrs: dict[str, str]) -> dict[str, Any]:
        """The JSON object CHAOS would send for this request, with a fresh seeded ``uuid``."""
        state_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        return build_reply(self.accounts, subsystem, command, attrs, state_id)

    async def _chaos(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        """Read, count, fault, check the format, then reply: each step may be the last."""
        subsystem = request.match_info["subsystem"].lower()
        command = request.match_info["command"].lower()
        if subsystem == ADMIN:
            raise web.HTTPNotFound
        fmt = request.match_info.get("format", "json").lower()
        problem: Exception | None = None
        try:
            attrs = await read_attributes(request)
        except (NotJsonError, BadBodyError) as exc:
            attrs, problem = {}, exc
        login = attrs.get("account_number") or attrs.get("control_login") or ""
        path = f"{subsystem}/{command}"
        self.calls[(login, path, attrs.get("service", ""))] += 1

        fault = await faultreplies.wait_out(self._faults.take(attrs, path))
        if fault is not None and fault.kind in faultreplies.FRONT_END_KINDS:
            return faultreplies.front_end_failure(request, fault)

        if fmt in ("xml", "soap") or isinstance(problem, NotJsonError):
            return web.Response(status=501, text=JSON_ONLY)
        if fmt != "json":
            raise web.HTTPNotFound(text=f"unknown output format {fmt!r}")
        if problem is not None:
            return web.Response(status=400, text=str(problem))

        if fault is not None and fault.kind in faultreplies.SUBSTITUTE_KINDS:
            return await faultreplies.substitute_body(fault)
        reply = self.build_reply(subsystem, command, attrs)
        if fault is None:
            return await streamed_response(request, reply) if self.stream else json_response(reply)
        if fault.kind == "huge_value":
            return await faultreplies.huge_reply(request, reply, command, fault)
        return faultreplies.altered_reply(reply, command, fault)
