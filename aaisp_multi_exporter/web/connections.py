"""Connection hygiene: how many connections, how long to wait for a request, quiet accept errors.

aiohttp closes a keep-alive connection left idle between requests (``keepalive_timeout``), and
that is used as is. What neither aiohttp nor asyncio offers is written here, kept small:

- a cap on open connections: asyncio accepts whatever arrives and aiohttp sets no limit, so
  an accepted connection over ``--web.max-connections`` is closed at once;
- a deadline for the first request head: aiohttp's only timer on a fresh connection is its
  keep-alive timer (an hour by default, and started at connect only in recent releases,
  aio-libs/aiohttp#13681), so a client that connects and says nothing, or trickles a header
  a byte a second, would hold its socket.

Both sit in a thin protocol between asyncio and aiohttp's own, one per accepted connection,
which forwards every call; the application's first middleware tells it the head arrived.
The third piece quiets the event loop: asyncio reports every failed ``accept()`` (out of file
descriptors) through the loop's exception handler, up to ``backlog`` times per loop pass, so
those reports go through ``LogThrottle``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.obs.throttle import LogThrottle

#: The name the log lines had before the web package existed: operators filter on it.
LOGGER = logging.getLogger("aaisp_multi_exporter.connections")

#: One line per kind of event per minute, saying how many it stands for.
LOG_INTERVAL = 60.0
#: How asyncio reports an accept() that failed for want of file descriptors or memory (it
#: retries a second later).
_ACCEPT_FAILED = "socket.accept() out of system resource"
#: File descriptors the process needs beside client connections: the CHAOS session's pool
#: (100), the simulator in ``--demo``, log and config files.
_RESERVED_FDS = 128


@dataclass(frozen=True)
class ConnectionRules:
    """``--web.max-connections`` (0: no limit), ``--web.read-header-timeout``,
    ``--web.idle-timeout``; the defaults are those the README's command line table gives."""

    max_connections: int = 512
    read_header_timeout: float = 10.0
    idle_timeout: float = 60.0


class ConnectionGuard:
    """The listener's protocol factory: counts connections and enforces the head deadline.

    ``serve(factory)`` hands it aiohttp's protocol factory (``AppRunner.server``) once the
    application is set up; ``middleware()`` must be the application's first middleware.
    """

    def __init__(self, rules: ConnectionRules) -> None:
        self.rules = rules
        self.open = 0
        self._factory: Callable[[], asyncio.Protocol] | None = None
        self._log = LogThrottle(LOG_INTERVAL)

    def serve(self, factory: Callable[[], asyncio.Protocol]) -> None:
        self._factory = factory

    def __call__(self) -> asyncio.Protocol:
        return _Connection(self)

    def middleware(self) -> Middleware:
        @web.middleware
        async def head_arrived(request: web.Request, handler: Handler) -> web.StreamResponse:
            transport = request.transport
            connection = transport.get_protocol() if transport is not None else None
            if isinstance(connection, _Connection):
                connection.head_arrived()
            return await handler(request)

        return head_arrived

    def admit(self) -> asyncio.Protocol | None:
        """aiohttp's protocol for a new connection, or None: close it at once."""
        if self._factory is None:  # not serving yet: the listener starts after serve()
            return None
        limit = self.rules.max_connections
        if limit and self.open >= limit:
            held_back = self._log.admit("refused")
            if held_back is not None:
                LOGGER.warning(
                    "connection limit reached; closing new connections at once",
                    extra=fields(max_connections=limit, suppressed=held_back),
                )
            return None
        self.open += 1
        return self._factory()

    def release(self) -> None:
        self.open -= 1

    def note_head_timeout(self) -> None:
        held_back = self._log.admit("head-timeout")
        if held_back is not None:
            LOGGER.info(
                "closed a connection that sent no complete request in time",
                extra=fields(
                    read_header_timeout=self.rules.read_header_timeout, suppressed=held_back
                ),
            )


class _Connection(asyncio.Protocol):
    """One accepted connection: forwards everything to aiohttp's protocol, once admitted."""

    __slots__ = ("_deadline", "_guard", "_inner")

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)
        self._inner = self._guard.admit()
        if self._inner is None:
            stream.abort()
            return
        loop = asyncio.get_running_loop()
        timeout = self._guard.rules.read_header_timeout
        self._deadline = loop.call_later(timeout, self._head_timed_out, stream)
        self._inner.connection_made(transport)

    def head_arrived(self) -> None:
        """The first request reached the application: from now on aiohttp's timers apply."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_timed_out(self, transport: asyncio.Transport) -> None:
        self._deadline = None
        self._guard.note_head_timeout()
        transport.abort()  # no TLS close_notify exchange with a peer that says nothing

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        inner, self._inner = self._inner, None
        if inner is None:
            return
        self.head_arrived()
        self._guard.release()
        inner.connection_lost(exc)


def quiet_loop_errors(
    loop: asyncio.AbstractEventLoop, *, clock: Callable[[], float] = time.monotonic
) -> None:
    """Route the loop's error reports through ``LogThrottle``: one line per kind a minute.

    Running out of file descriptors makes asyncio report every failed ``accept()``, and the
    retries it schedules, thousands of times a second; each kind is logged once per interval
    with a count of the reports held back. Other reports keep asyncio's own format.
    """
    throttle = LogThrottle(LOG_INTERVAL, clock=clock)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        first_line = str(context.get("message", "")).partition("\n")[0]
        if first_line.startswith(_ACCEPT_FAILED) and isinstance(error, OSError):
            held_back = throttle.admit(("accept", error.errno))
            if held_back is not None:
                LOGGER.error(
                    "cannot accept connections: out of resources; asyncio retries every second",
                    extra=fields(
                        error=errno.errorcode.get(error.errno or 0, str(error.errno)),
                        reason=error.strerror,
                        suppressed=held_back,
                    ),
                )
            return
        held_back = throttle.admit((first_line, type(error).__name__))
        if held_back is None:
            return
        if held_back:
            context = {**context, "message": f"{context.get('message')} ({held_back} suppressed)"}
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def raise_open_file_limit(rules: ConnectionRules) -> tuple[int, int]:
    """Soft ``RLIMIT_NOFILE`` up to the hard limit, as Go programs do at start-up.

    systemd's default soft limit (1,024) is below what ``--web.max-connections`` plus the CHAOS
    pool can need; Go exporters never notice because the Go runtime raises it. Returns the soft
    limit before and after, and warns when even the hard limit leaves too little room.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raised = soft
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            raised = wanted
        except (ValueError, OSError):
            raised = soft
    limit = rules.max_connections
    if limit and raised != resource.RLIM_INFINITY and limit + _RESERVED_FDS > raised:
        LOGGER.warning(
            "the open file limit leaves little room for connections; beyond it, new "
            "connections wait until file descriptors are free",
            extra=fields(open_file_limit=raised, max_connections=limit),
        )
    return soft, raised
