"""The exporter as a real process: the checkout it runs from, a free port for it, one run
of the command line with its output captured, and a server run to talk to."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The environment the shipped modules.toml reads, with a sentinel password.
SHIPPED_ENV = {
    **os.environ,
    "AAISP_EXPORTER_AUTH__CONTROL_LOGIN": "ab12@a",
    "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD": "S3NTINEL-cli",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_exporter(
    *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``aaisp-multi-exporter ARGS`` to completion from the checkout; ``env`` None inherits."""
    return subprocess.run(
        [sys.executable, "-m", "aaisp_multi_exporter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=None if env is None else dict(env),
        check=False,
    )


class Process:
    """A running exporter: its URL, and its log (stderr) read as far as a test waited."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url
        self.stderr: list[str] = []

    async def wait_for_log(self, pattern: str, within: float = 15) -> str:
        assert self.proc.stderr is not None
        async with asyncio.timeout(within):
            while True:
                raw = await self.proc.stderr.readline()
                if not raw:
                    raise AssertionError("process ended; log was:\n" + "".join(self.stderr))
                line = raw.decode()
                self.stderr.append(line)
                if re.search(pattern, line):
                    return line

    async def wait_healthy(self, within: float = 20) -> None:
        """Poll ``/-/healthy`` (bounded): for runs whose log level hides "listening"."""
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        request = f"GET /-/healthy HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
        async with asyncio.timeout(within):
            while self.proc.returncode is None:
                try:
                    reader, writer = await asyncio.open_connection(host, int(port))
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.write(request)
                answer = await reader.read()
                writer.close()
                if answer.split(b" ", 2)[1:2] == [b"200"]:
                    return
                await asyncio.sleep(0.05)
        raise AssertionError(f"exited {self.proc.returncode} before it was healthy")

    async def stop(self, within: float = 30) -> str:
        """SIGTERM, as systemd and Kubernetes stop it; asserts a clean exit, and returns the
        whole log."""
        assert self.proc.stderr is not None
        self.proc.terminate()
        async with asyncio.timeout(within):
            rest = await self.proc.stderr.read()
            assert await self.proc.wait() == 0, "".join(self.stderr) + rest.decode()
        self.stderr.append(rest.decode())
        return "".join(self.stderr)


@contextlib.asynccontextmanager
async def running_exporter(
    *args: str, env: Mapping[str, str] | None = None, wait_for: str | None = "msg=listening"
) -> AsyncIterator[Process]:
    """The exporter as a real process on a free port, killed on the way out if still up;
    ``env`` None inherits the test's environment. Ready when it logs ``wait_for``, or (None:
    a log level that hides the line) when ``/-/healthy`` answers."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aaisp_multi_exporter",
        *args,
        "--web.listen-address",
        f"127.0.0.1:{port}",
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        cwd=REPO,
        env=None if env is None else dict(env),
    )
    process = Process(proc, f"http://127.0.0.1:{port}")
    try:
        if wait_for is None:
            await process.wait_healthy()
        else:
            await process.wait_for_log(wait_for)
        yield process
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
