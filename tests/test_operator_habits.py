"""SPEC 8, R4 "operator habits" on the real process: what someone who runs blackbox_exporter
and snmp_exporter expects of the command line, the log and the HTTP answers.

Level names and a refusal at ``warn``; durations with units on every duration flag; help on
every flag; a quiet end when the reader of stdout goes away; no versions in ``Server``; and,
under ``--web.route-prefix``, a 404 that says where the exporter is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from aaisp_multi_exporter.cli import CLOSED_PIPE_STATUS, build_parser
from aaisp_multi_exporter.simulator import Simulator
from tests.conftest import config_text, samples
from tests.processes import REPO, SHIPPED_ENV, running_exporter

EXPORTER = [sys.executable, "-m", "aaisp_multi_exporter"]
SERVER = "aaisp-multi-exporter"
OFFLINE = (
    '[chaos]\nurl = "http://127.0.0.1:9"\n'
    '[auths.home]\ncontrol_login = "a@a"\ncontrol_password = "S3NTINEL-habits"\n'
    '[modules.line]\ncommands = ["broadband/info"]\n'
)

# --------------------------------------------------------------------------- the log


async def test_refusal_is_a_warning_once_per_set(tmp_path: Path, simulator: Simulator) -> None:
    """A wrong password at ``--log.level=warn``, in JSON: one ``warn`` line naming the set for
    the refusal CHAOS gave, whatever the probes and commands that met it; no info lines; the
    level spelt ``warn``."""
    config = tmp_path / "modules.toml"
    config.write_text(config_text(simulator.url, password="wrong-password", retries="0"))
    args = ("--config.file", str(config), "--log.level=warn", "--log.format=json")
    async with (
        running_exporter(*args, wait_for=None) as process,
        aiohttp.ClientSession() as http,
    ):
        for module in ("line", "line", "quota"):
            url = f"{process.url}/probe?target=10000&module={module}"
            async with http.get(url) as response:
                assert samples(await response.text())["probe_success"] == 0
        log = await process.stop()
    lines = [json.loads(line) for line in log.splitlines()]
    assert {line["level"] for line in lines} <= {"warn", "error"}
    refusals = [line for line in lines if line["msg"] == "CHAOS refused the credential set"]
    assert len(refusals) == 1, log
    (refusal,) = refusals
    assert refusal["level"] == "warn"
    assert refusal["auth"] == "home"
    assert "[auth_error]" in refusal["reason"]
    assert "wrong-password" not in log


# --------------------------------------------------------------------------- the command line


def test_every_flag_has_help() -> None:
    for action in build_parser()._actions:
        text = action.help or ""
        # Not just "(default: ...)": words that say what the flag does.
        words = text.split("(default")[0].split()
        assert text != argparse.SUPPRESS, action.option_strings
        assert len(words) >= 3, (action.option_strings, text)


def duration_flags() -> list[str]:
    return [
        action.option_strings[0]
        for action in build_parser()._actions
        if action.metavar == "DURATION"
    ]


def test_every_time_flag_takes_a_duration() -> None:
    """A flag about time is a DURATION (so a new one cannot take bare numbers only)."""
    flags = duration_flags()
    assert set(flags) == {
        "--timeout-offset",
        "--web.read-header-timeout",
        "--web.idle-timeout",
        "--config.auto-reload-interval",
    }
    for action in build_parser()._actions:
        words = "".join(action.option_strings)
        if any(word in words for word in ("timeout", "interval", "offset")):
            assert action.option_strings[0] in flags, words


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("2", 2.0),
        ("0.25", 0.25),
    ],
)
@pytest.mark.parametrize("flag", duration_flags())
def test_duration_units(flag: str, text: str, seconds: float) -> None:
    parsed = vars(build_parser().parse_args([flag, text]))
    action = next(a for a in build_parser()._actions if flag in a.option_strings)
    assert parsed[action.dest] == seconds


def test_offset_may_be_zero() -> None:
    assert build_parser().parse_args(["--timeout-offset", "0s"]).timeout_offset == 0


async def test_durations_with_units_on_the_real_command_line(tmp_path: Path) -> None:
    """``--timeout-offset 1s``: a 3 s scrape timeout leaves the probe a 2 s deadline."""
    config = tmp_path / "modules.toml"
    config.write_text(OFFLINE)
    args = (
        "--config.file", str(config), "--timeout-offset", "1s",
        "--web.read-header-timeout", "10s", "--web.idle-timeout", "1m",
        "--config.enable-auto-reload", "--config.auto-reload-interval", "1m30s",
    )  # fmt: skip
    async with running_exporter(*args) as process, aiohttp.ClientSession() as http:
        headers = {"X-Prometheus-Scrape-Timeout-Seconds": "3"}
        url = f"{process.url}/probe?target=10000&module=line&debug=true"
        async with http.get(url, headers=headers) as response:
            text = await response.text()
        assert "(deadline 2.000s)" in text.splitlines()[0], text
        await process.stop()


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--version"], CLOSED_PIPE_STATUS),
        (["--config.example"], CLOSED_PIPE_STATUS),
        (["--config.check", "--config.file", "modules.toml"], CLOSED_PIPE_STATUS),
        (["--help"], 0),
    ],
    ids=["version", "example", "check", "help"],
)
def test_closed_pipe_ends_quietly(args: list[str], status: int) -> None:
    """The reader of stdout is gone before the first byte (as ``| head -1`` may be): no
    traceback, nothing on stderr, the status a shell gives a program ended by SIGPIPE."""
    process = subprocess.Popen(
        [*EXPORTER, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=SHIPPED_ENV,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=60) == status
    assert err == b""


@pytest.mark.parametrize("command", ["--version | head -1", "--config.example | head -2"])
def test_head_in_a_shell(command: str) -> None:
    exporter = " ".join(EXPORTER)
    for _ in range(3):  # it used to fail two runs in three
        result = subprocess.run(
            ["sh", "-c", f"{exporter} {command}"],
            capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
        )  # fmt: skip
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.startswith(("aaisp-multi-exporter, version", "# aaisp-multi"))


# --------------------------------------------------------------------------- HTTP


def raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_route_prefix_404_server_header(tmp_path: Path) -> None:
    """Under ``--web.route-prefix``: a path outside it gets 404 naming the path it meant,
    counted (the series exists at 0 before) and logged; a path inside it that does not exist
    is a plain 404. Every answer, a malformed request's 400 included, says ``Server:
    aaisp-multi-exporter`` and no version."""
    config = tmp_path / "modules.toml"
    config.write_text(OFFLINE)
    rejected = 'aaisp_exporter_probe_requests_rejected_total{reason="outside_route_prefix"}'
    args = ("--config.file", str(config), "--web.route-prefix", "/aaisp")
    async with running_exporter(*args) as process, aiohttp.ClientSession() as http:

        async def get(path: str) -> tuple[int, str, str]:
            async with http.get(process.url + path, allow_redirects=False) as response:
                return response.status, await response.text(), response.headers["Server"]

        status, text, server = await get("/aaisp/metrics")
        assert (status, server) == (200, SERVER)
        assert samples(text)[rejected] == 0
        assert await get("/probe?target=10000&module=line") == (
            404, "served under /aaisp: try /aaisp/probe\n", SERVER,
        )  # fmt: skip
        assert await get("/metrics") == (404, "served under /aaisp: try /aaisp/metrics\n", SERVER)
        status, text, server = await get("/aaisp/nosuch")
        assert (status, server) == (404, SERVER)
        assert "served under" not in text
        status, text, _ = await get("/aaisp/metrics")
        assert samples(text)[rejected] == 2
        status, page, _ = await get("/aaisp/")
        assert "served under /aaisp: try /aaisp/probe" in page
        port = int(process.url.rsplit(":", 1)[1])
        answer = await asyncio.to_thread(
            raw_request, port, b"GET /aaisp/ HTTP/1.1\r\nHost: x\r\nBad header\r\n\r\n"
        )
        head = answer.split(b"\r\n\r\n")[0].decode()
        assert head.split()[1] == "400", head
        assert f"\r\nServer: {SERVER}\r\n" in head + "\r\n"
        log = await process.stop()
    lines = [line for line in log.splitlines() if "reason=outside_route_prefix" in line]
    assert lines, log
    assert all("level=warn " in line and 'msg="request rejected"' in line for line in lines)
    assert "path=/probe" in lines[0]
    assert "Python/" not in log
