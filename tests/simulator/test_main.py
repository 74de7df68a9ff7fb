"""``python -m aaisp_multi_exporter.simulator``: flags, the faults they become, a real run."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import aiohttp
import pytest

from aaisp_multi_exporter.simulator.__main__ import build_parser, faults_from_args


@pytest.mark.parametrize(
    ("value", "listen"),
    [
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        (":8099", ("127.0.0.1", 8099)),
        ("[::1]:9000", ("::1", 9000)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
    ],
)
def test_listen_values(value: str, listen: tuple[str, int]) -> None:
    assert build_parser().parse_args([f"--listen={value}"]).listen == listen


@pytest.mark.parametrize(
    "argument",
    [
        "--listen=8099",
        "--listen=host:65536",
        "--listen=host:port",
        "--fail-rate=2",
        "--drop-rate=-0.1",
        "--latency=-1",
        "--latency=nan",
        "--replay=info.json",
        "--replay=broadband/info=",
        "--replay=info=x.json",
    ],
)
def test_bad_values_are_refused(argument: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([argument])


def test_cli_knobs_become_faults() -> None:
    args = build_parser().parse_args(
        [
            "--lines=5",
            "--accounts=2",
            "--listen=127.0.0.1:0",
            "--latency=0.1",
            "--fail-rate=0.1",
            "--rate-limit-rate=0.2",
            "--retry-after=7",
            "--html-rate=0.3",
            "--truncated-rate=0.4",
            "--drop-rate=0.5",
        ]
    )
    assert args.listen == ("127.0.0.1", 0)
    faults = faults_from_args(args)
    assert [(f.kind, f.status, f.probability) for f in faults] == [
        ("drop", 500, 0.5),
        ("http_status", 503, 0.1),
        ("http_status", 429, 0.2),
        ("html", 500, 0.3),
        ("truncated", 500, 0.4),
        ("latency", 500, 1.0),
    ]
    assert faults[2].retry_after == "7"
    assert faults[-1].latency_seconds == 0.1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--fail-rate=2"])


def test_cli_payload_knobs_become_faults() -> None:
    args = build_parser().parse_args(
        [
            "--error=Login locked",
            "--error-rate=0.25",
            "--replay=broadband/info=cap/home-broadband-info.json",
            "--replay=Broadband/Quota=cap/home-broadband-quota.json",
            "--lone-object",
            "--quota-without-unlimited",
            "--latency=0.1",
        ]
    )
    faults = faults_from_args(args)
    assert [(f.kind, f.command, f.path, f.probability) for f in faults] == [
        ("error", None, None, 0.25),
        ("replay", "broadband/info", "cap/home-broadband-info.json", 1.0),
        ("replay", "broadband/quota", "cap/home-broadband-quota.json", 1.0),
        ("lone_object", None, None, 1.0),
        ("quota_without_unlimited", None, None, 1.0),
        ("latency", None, None, 1.0),
    ]
    assert faults[0].error_text == "Login locked"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--replay=info.json"])


def test_no_knobs_no_faults() -> None:
    assert faults_from_args(build_parser().parse_args([])) == []


async def test_runs_as_a_program(session: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aaisp_multi_exporter.simulator",
        "--lines=3",
        "--accounts=2",
        "--listen=127.0.0.1:0",
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        url = ""
        log_lines: list[str] = []
        async with asyncio.timeout(20):
            while not url:
                line = (await proc.stderr.readline()).decode()
                assert line, f"simulator exited early: {log_lines}"
                log_lines.append(line)
                found = re.search(r"listening on (http://\S+)", line)
                url = found.group(1) if found else ""
        assert "fake" in (await proc.stderr.readline()).decode()
        async with session.post(
            url + "/broadband/info/json",
            data={"control_login": "sim2@a", "control_password": "sim2-password"},
        ) as resp:
            reply = await resp.json()
        assert [line["ID"] for line in reply["info"]] == ["10003", "10004", "10005"]
        async with session.get(url + "/_sim/stats") as resp:
            assert (await resp.json())["total_calls"] == 1
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            await proc.stderr.read()
            await proc.wait()
    assert proc.returncode == 0
