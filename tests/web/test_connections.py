"""Connection hygiene against the real exporter process (``--demo``), over raw sockets.

Silent and trickling clients, the connection limit, idle keep-alive, and a silent-connection
flood under a 1,024 file descriptor limit. Short deadlines come from the documented flags
(``--web.read-header-timeout``, ``--web.idle-timeout``), never from patching the code; the
flood test keeps the product's 10 s default and prints the time it takes to shed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import trustme

from aaisp_multi_exporter.eventloop import ENV
from aaisp_multi_exporter.web.connections import quiet_loop_errors
from tests.processes import free_port
from tests.realprograms import require_program

REPO = Path(__file__).resolve().parent.parent.parent
HEALTHY = b"GET /-/healthy HTTP/1.1\r\nHost: exporter\r\n\r\n"
PROBE_PATH = "/probe?target=10000&module=line"


@dataclass
class Running:
    """An exporter process, with every line it has written to stderr so far."""

    proc: asyncio.subprocess.Process
    port: int
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logged(self, pattern: str) -> list[str]:
        return [line for line in self.log if re.search(pattern, line)]

    async def wait_for_log(self, pattern: str, within: float = 30.0) -> str:
        async with asyncio.timeout(within):
            while True:
                found = self.logged(pattern)
                if found:
                    return found[0]
                if self.proc.returncode is not None:
                    raise AssertionError("exporter ended; log was:\n" + "".join(self.log))
                await asyncio.sleep(0.05)

    async def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            return await self.proc.wait()


@contextlib.asynccontextmanager
async def exporter(
    *args: str, prefix: tuple[str, ...] = (), event_loop: str = ""
) -> AsyncIterator[Running]:
    """``--demo`` on a free port; stderr is read continuously so the pipe never fills."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *prefix,
        sys.executable,
        "-m",
        "aaisp_multi_exporter",
        "--demo",
        *args,
        "--web.listen-address",
        f"127.0.0.1:{port}",
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, ENV: event_loop} if event_loop else None,
    )
    running = Running(proc, port)

    async def read_log() -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            running.log.append(line.decode())

    reader = asyncio.create_task(read_log())
    try:
        await running.wait_for_log("msg=listening")
        yield running
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await reader


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes; what it sent first (nothing, for a dropped client)."""
    received = b""
    try:
        while chunk := await reader.read(4096):
            received += chunk
    except ConnectionResetError:
        pass
    return received


async def get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes = HEALTHY
) -> int:
    """One request on an open connection; its status once the whole answer is read."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    assert length is not None, head
    await reader.readexactly(int(length.group(1)))
    return status


def close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        writer.close()


# --------------------------------------------------------------------------- head deadline


async def test_silent_connection_is_closed_at_the_head_deadline() -> None:
    async with exporter("--web.read-header-timeout", "1s") as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        began = time.monotonic()
        async with asyncio.timeout(15):
            assert await closed_by_server(reader) == b""
        elapsed = time.monotonic() - began
        close(writer)
        assert elapsed >= 0.95  # never before the deadline
        await running.wait_for_log("closed a connection that sent no complete request in time")


async def test_slowloris_is_cut_off() -> None:
    """One header byte every 0.1 s: the head is never complete, the connection is closed."""
    async with exporter("--web.read-header-timeout", "1s") as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        began = time.monotonic()
        writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: exporter\r\nX-Slow: ")
        answer = None
        with contextlib.suppress(ConnectionError):
            for _ in range(150):  # 15 s of trickle, far past the deadline
                writer.write(b"a")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    answer = await asyncio.wait_for(reader.read(4096), 0.1)
                    break
        elapsed = time.monotonic() - began
        close(writer)
        assert answer in (None, b""), answer  # closed, never answered
        assert answer == b"" or elapsed < 14, "the trickle was never cut off"
        assert elapsed >= 0.95


async def test_a_slow_probe_is_not_cut_by_the_head_deadline() -> None:
    """The deadline covers the request head only: a probe may take longer than it."""
    async with (
        exporter("--web.read-header-timeout", "1s") as running,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(running.url + "/config") as response:
            match = re.search(r'url = "(http://127\.0\.0\.1:\d+)"', await response.text())
        assert match is not None
        fault = {"kind": "latency", "latency_seconds": 2.5}
        async with http.post(match.group(1) + "/_sim/faults", json=fault) as response:
            assert response.status == 201
        async with http.get(running.url + PROBE_PATH) as response:
            assert response.status == 200
            assert "probe_success 1.0" in await response.text()


async def test_silent_tls_connection_is_closed_at_the_deadline(tmp_path: Path) -> None:
    """Under TLS the handshake gets the same deadline: a client that says nothing goes."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "server.pem", tmp_path / "server-key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
    args = ("--web.config.file", str(web), "--web.read-header-timeout", "1s")
    async with exporter(*args) as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        began = time.monotonic()
        async with asyncio.timeout(15):
            assert await closed_by_server(reader) == b""
        close(writer)
        assert time.monotonic() - began >= 0.95
        # A client that does speak TLS is served.
        context = ssl.create_default_context()
        ca.configure_trust(context)
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port, ssl=context)
        assert await get(reader, writer) == 200
        close(writer)


# --------------------------------------------------------------------------- keep-alive


async def test_idle_keep_alive_connection_is_closed() -> None:
    async with exporter("--web.idle-timeout", "1s", "--web.read-header-timeout", "30s") as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        assert await get(reader, writer) == 200
        assert await get(reader, writer) == 200  # kept alive between requests
        began = time.monotonic()
        async with asyncio.timeout(15):
            assert await closed_by_server(reader) == b""
        close(writer)
        assert time.monotonic() - began >= 0.95


async def test_trickle_after_a_request_is_cut_by_the_idle_timeout() -> None:
    """After a first request the idle timeout (aiohttp's keep-alive timer) is what cuts a
    trickled second head: docs/security.md says so."""
    async with exporter("--web.idle-timeout", "1s", "--web.read-header-timeout", "30s") as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        assert await get(reader, writer) == 200
        writer.write(b"GET /-/healthy HTTP/1.1\r\nX-Slow: ")
        answer = None
        with contextlib.suppress(ConnectionError):
            for _ in range(100):
                writer.write(b"a")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    answer = await asyncio.wait_for(reader.read(4096), 0.1)
                    break
        close(writer)
        assert answer == b""


# --------------------------------------------------------------------------- the limit


async def test_connections_beyond_the_limit_are_closed_at_once() -> None:
    """With room for 5, the 6th is closed at once while the first 5 stay and are served;
    when one of them goes, its place is free again."""
    args = ("--web.max-connections", "5", "--web.read-header-timeout", "60s")
    async with exporter(*args) as running:
        held = [await asyncio.open_connection("127.0.0.1", running.port) for _ in range(5)]
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        async with asyncio.timeout(10):  # "at once": long before the 60 s head deadline
            assert await closed_by_server(reader) == b""
        close(writer)
        for held_reader, held_writer in held:
            assert await get(held_reader, held_writer) == 200
        close(held[0][1])
        async with asyncio.timeout(10):
            while True:  # the exporter sees the close a moment later
                reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
                try:
                    status = await get(reader, writer)
                except (asyncio.IncompleteReadError, ConnectionError):
                    await asyncio.sleep(0.05)
                    continue
                finally:
                    close(writer)
                assert status == 200
                break
        for _, held_writer in held[1:]:
            close(held_writer)
        assert len(running.logged("connection limit reached")) == 1


# --------------------------------------------------------------------------- the flood


@contextlib.contextmanager
def open_file_limit(wanted: int) -> Iterator[None]:
    """Room in this process for the flood's sockets; the old limit back afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the test needs {wanted} file descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def open_silent(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that never send a byte, opened 50 at a time so that the
    exporter's accept queue (128) never overflows into SYN cookies it would never see."""
    sockets: list[socket.socket] = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        sockets.append(sock)
        if len(sockets) % 50 == 0:
            await asyncio.sleep(0.05)
    return sockets


async def probe_ok(url: str) -> bool:
    timeout = aiohttp.ClientTimeout(total=2)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(url + PROBE_PATH) as response,
        ):
            return response.status == 200 and "probe_success 1.0" in await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return False


@pytest.mark.slow
@pytest.mark.parametrize(
    ("event_loop", "max_connections", "sign_of_pressure"),
    [
        pytest.param("asyncio", "512", "connection limit reached", id="asyncio-default-limit"),
        pytest.param(
            "asyncio",
            "0",
            "cannot accept connections: out of resources",
            id="asyncio-no-limit-fds-run-out",
        ),
        pytest.param("uvloop", "512", "connection limit reached", id="uvloop-default-limit"),
        # libuv keeps a spare descriptor and closes what it cannot take (its EMFILE trick):
        # nothing to report, and the probes must still succeed.
        pytest.param("uvloop", "0", None, id="uvloop-no-limit-fds-run-out"),
    ],
)
async def test_silent_flood_under_1024_file_descriptors(
    event_loop: str, max_connections: str, sign_of_pressure: str | None
) -> None:
    """1,100 silent connections against an exporter limited to 1,024 descriptors, with the
    product's 10 s head deadline: probes succeed again once it has shed them, and the log
    stays a handful of lines. With no connection limit the descriptors do run out; asyncio's
    accept-error reports (thousands a second unthrottled) are one line."""
    if event_loop == "uvloop":
        pytest.importorskip("uvloop")
    prlimit = require_program("prlimit", "util-linux")
    prefix = (prlimit, "--nofile=1024")
    with open_file_limit(4096):
        async with exporter(
            "--web.max-connections", max_connections, prefix=prefix, event_loop=event_loop
        ) as running:
            assert await probe_ok(running.url)
            began = time.monotonic()
            flood = await open_silent(running.port, 1100)
            try:
                if sign_of_pressure is not None:
                    await running.wait_for_log(sign_of_pressure)
                async with asyncio.timeout(60):
                    while True:
                        if await probe_ok(running.url):
                            break
                        await asyncio.sleep(0.25)
                shed = time.monotonic() - began
            finally:
                for sock in flood:
                    sock.close()
            assert await running.stop() == 0
    lines = len(running.log)
    print(
        f"\nsilent flood, --web.max-connections {max_connections}: probes OK again "
        f"{shed:.1f} s after the first silent connection; {lines} log lines in all"
    )
    assert lines <= 20, "".join(running.log)
    assert "Traceback" not in "".join(running.log)


# --------------------------------------------------------------------------- pieces


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def accept_failed() -> dict[str, object]:
    """What asyncio passes the exception handler when accept() runs out of descriptors."""
    return {
        "message": "socket.accept() out of system resource",
        "exception": OSError(errno.EMFILE, "Too many open files"),
    }


async def test_accept_errors_are_one_line_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    clock = FakeClock()
    previous = loop.get_exception_handler()
    quiet_loop_errors(loop, clock=clock)
    try:
        with caplog.at_level(logging.DEBUG):
            for _ in range(1000):
                loop.call_exception_handler(accept_failed())
            clock.now = 60.0
            loop.call_exception_handler(accept_failed())
            for _ in range(3):
                loop.call_exception_handler({"message": "Exception in callback x()\nhandle: 1"})
    finally:
        loop.set_exception_handler(previous)
    lines = [(r.name, r.getMessage(), r.__dict__.get("fields", {})) for r in caplog.records]
    accept = [fields for name, _, fields in lines if name == "aaisp_multi_exporter.connections"]
    assert accept == [
        {"error": "EMFILE", "reason": "Too many open files", "suppressed": 0},
        {"error": "EMFILE", "reason": "Too many open files", "suppressed": 999},
    ]
    # Other reports keep asyncio's own format, once per kind per minute.
    others = [message for name, message, _ in lines if name == "asyncio"]
    assert others == ["Exception in callback x()\nhandle: 1"]


@pytest.mark.parametrize(
    ("limits", "max_connections", "after", "warned"),
    [
        ("1024:4096", "512", "4096", False),
        ("256:512", "512", "512", True),
        ("256:512", "0", "512", False),
    ],
)
def test_open_file_limit_is_raised_to_the_hard_limit(
    limits: str, max_connections: str, after: str, warned: bool
) -> None:
    prlimit = require_program("prlimit", "util-linux")
    script = (
        "import resource, sys\n"
        "from aaisp_multi_exporter.web.connections import ConnectionRules, raise_open_file_limit\n"
        "from aaisp_multi_exporter.obs.logs import configure_logging\n"
        "configure_logging('info', 'logfmt')\n"
        "raise_open_file_limit(ConnectionRules(max_connections=int(sys.argv[1])))\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    done = subprocess.run(
        [prlimit, f"--nofile={limits}", sys.executable, "-c", script, max_connections],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == after
    assert ("open file limit leaves little room" in done.stderr) is warned, done.stderr
