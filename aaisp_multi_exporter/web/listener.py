"""Where the exporter listens: ``--web.listen-address`` (one listener each),
``--web.systemd-socket``, the bound sockets, and one-line errors.

The port is bound before anything else starts (the demo simulator, the CHAOS session), so a
port that is taken or out of range is reported and the process exits with nothing to undo.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
from collections.abc import Callable, MutableMapping

#: aiohttp's ``TCPSite`` default.
BACKLOG = 128
_MAX_PORT = 65535
#: Longer addresses are cut in messages, so one line stays one readable line.
_SHOWN = 80
#: sd_listen_fds(3): systemd passes its sockets from this descriptor on.
SD_LISTEN_FDS_START = 3
#: What a socket-activation problem names instead of an address.
SYSTEMD = "systemd socket activation"

#: What a bind error means to an operator, for the errors one can act on.
_BIND_REASONS = {
    errno.EADDRINUSE: "address already in use",
    errno.EADDRNOTAVAIL: "cannot assign requested address (not an address of this host)",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EAFNOSUPPORT: "address family not supported by this host",
}


class ListenError(Exception):
    """Why the exporter cannot listen: one line that names the address."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"cannot listen on {address}: {reason}")


class InvalidListenAddress(ValueError):
    """A ``--web.listen-address`` that cannot be an address, and why."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address if len(address) <= _SHOWN else address[: _SHOWN - 3] + "..."
        self.reason = reason
        super().__init__(f"invalid --web.listen-address {self.address!r}: {reason}")


def parse_listen_address(address: str) -> tuple[str | None, int]:
    """``:9099``, ``0.0.0.0:9099``, ``[::1]:9099``; an empty host means every interface."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not (port_text.isascii() and port_text.isdigit()):
        raise InvalidListenAddress(address, "want [host]:port")
    # Ten digits leave room for leading zeros; more is out of range whatever they say (and
    # int() of thousands of digits would raise).
    port = int(port_text) if len(port_text) <= 10 else _MAX_PORT + 1
    if port > _MAX_PORT:
        raise InvalidListenAddress(address, f"port out of range (0-{_MAX_PORT})")
    host = host.strip("[]")
    return (host or None), port


def show_address(host: str | None, port: int) -> str:
    """``host:port`` as an operator wrote it; IPv6 in brackets, no host as ``:port``."""
    if host and ":" in host:
        return f"[{host}]:{port}"
    return f"{host or ''}:{port}"


def bind_reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host ({error.strerror or error})"
    if error.errno in _BIND_REASONS:
        return _BIND_REASONS[error.errno]
    return (error.strerror or str(error)).lower()


async def bind(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: str | None,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    handshake_timeout: float,
) -> asyncio.Server:
    """Bound but not yet accepting: ``await server.start_serving()`` when the app is ready.

    ``handshake_timeout`` bounds a TLS handshake the way the request-head deadline bounds a
    plain connection: a client that opens TLS and says nothing is dropped.
    """
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(
            protocol_factory,
            host,
            port,
            ssl=ssl_context,
            ssl_handshake_timeout=handshake_timeout if ssl_context is not None else None,
            backlog=BACKLOG,
            start_serving=False,
        )
    except OSError as error:
        raise ListenError(show_address(host, port), bind_reason(error)) from None


async def adopt(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    sock: socket.socket,
    *,
    ssl_context: ssl.SSLContext | None,
    handshake_timeout: float,
) -> asyncio.Server:
    """A listening socket made elsewhere (systemd), served like one ``bind`` made."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        protocol_factory,
        sock=sock,
        ssl=ssl_context,
        ssl_handshake_timeout=handshake_timeout if ssl_context is not None else None,
        backlog=BACKLOG,
        start_serving=False,
    )


def systemd_sockets(
    environ: MutableMapping[str, str] | None = None, pid: int | None = None
) -> list[socket.socket]:
    """The listening sockets systemd passed (``LISTEN_PID``, ``LISTEN_FDS``), as go-systemd's
    ``activation.Listeners`` takes them for exporter-toolkit's ``--web.systemd-socket``.

    The variables are removed, as go-systemd does, so that no child process (the demo's
    simulator is in-process, but a future one) takes the sockets for its own.
    """
    environ = os.environ if environ is None else environ
    pid = os.getpid() if pid is None else pid
    values = {name: environ.pop(name, None) for name in ("LISTEN_PID", "LISTEN_FDS")}
    environ.pop("LISTEN_FDNAMES", None)
    # Name what is missing: "LISTEN_FDS unset" when it is set sends the operator astray.
    missing = [
        f"{name} {'unset' if value is None else 'empty'}"
        for name, value in values.items()
        if not (value or "").strip()
    ]
    if missing:
        raise ListenError(
            SYSTEMD, f"no socket activation file descriptors found ({', '.join(missing)})"
        )
    listen_pid, listen_fds = ((value or "").strip() for value in values.values())
    if not (listen_pid.isdigit() and listen_fds.isdigit()) or len(listen_fds) > 4:
        raise ListenError(SYSTEMD, "LISTEN_PID and LISTEN_FDS must be small whole numbers")
    if int(listen_pid) != pid:
        raise ListenError(SYSTEMD, f"LISTEN_PID is not this process ({pid}): sockets not ours")
    count = int(listen_fds)
    if count < 1:
        raise ListenError(SYSTEMD, "no socket activation file descriptors found (LISTEN_FDS=0)")
    sockets: list[socket.socket] = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        try:
            sock = socket.socket(fileno=fd)
        except OSError as error:
            raise ListenError(f"{SYSTEMD} (fd {fd})", bind_reason(error)) from None
        if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_ACCEPTCONN
        ):
            sock.detach()  # not ours to close
            raise ListenError(f"{SYSTEMD} (fd {fd})", "not a listening stream socket")
        sock.set_inheritable(False)
        sockets.append(sock)
    return sockets


def describe_socket(sock: socket.socket) -> str:
    """``host:port`` of an inet socket, the path of a Unix one."""
    name = sock.getsockname()
    if isinstance(name, tuple):
        return show_address(name[0], name[1])
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)


def bound_addresses(servers: list[asyncio.Server]) -> list[tuple[str, int]]:
    """The inet addresses of every listener (a Unix socket has none)."""
    return [
        sock.getsockname()[:2]
        for server in servers
        for sock in server.sockets
        if sock.family in (socket.AF_INET, socket.AF_INET6)
    ]
