"""The command line as a user runs it: real processes, real signals, real sockets."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import platform
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from aaisp_multi_exporter import __version__
from aaisp_multi_exporter.cli import build_parser
from tests.conftest import samples
from tests.processes import SHIPPED_ENV, Process, run_exporter, running_exporter

ENV = SHIPPED_ENV


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_exporter(*args, env=env or ENV)


def test_version() -> None:
    """The exporter, Python and aiohttp versions of the process itself, Go exporters' layout."""
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    first, *details = result.stdout.splitlines()
    assert first == f"aaisp-multi-exporter, version {__version__}"
    # The child runs this interpreter with this environment's libraries.
    fields = dict(line.strip().split(": ", 1) for line in details)
    assert all(line.startswith("  ") for line in details), details
    assert fields["python version"].strip() == (
        f"{platform.python_version()} ({platform.python_implementation()})"
    )
    assert fields["aiohttp version"].strip() == aiohttp.__version__
    assert fields["prometheus-client version"].strip() == importlib.metadata.version(
        "prometheus-client"
    )
    assert fields["platform"].strip() == f"{sys.platform}/{platform.machine()}"
    uvloop = importlib.util.find_spec("uvloop")
    expected = f"uvloop {importlib.metadata.version('uvloop')}" if uvloop else "asyncio"
    assert fields["event loop"].strip() == expected


def test_check_shipped_config() -> None:
    result = run("--config.check", "--config.file", "modules.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "modules.toml: OK (1 credential set(s), 2 module(s))"


def test_check_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[auths.home]\ncontrol_login = "a@a"\ncontrol_pasword = "S3NTINEL-cli"\n'
        '[modules.quota]\ncommands = ["broadband/kill"]\nretries = 11\n'
    )
    result = run("--config.check", "--config.file", str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'{bad}: auths.home.control_pasword: unknown key; did you mean "control_password"?',
        f"{bad}: auths.home: needs control_login and control_password, "
        "or account_number and account_password",
        f'{bad}: modules.quota.commands: unknown command "broadband/kill"; '
        'allowed: broadband/info, broadband/quota; "kill" is not a read-only command, and the '
        "exporter never calls one that changes a line; "
        "read-only: info, quota, services, usage, ratecard",
        f"{bad}: modules.quota.retries: must be between 0 and 10, got 11",
        f"{bad}: 4 problem(s) found",
    ]
    assert "S3NTINEL" not in result.stderr + result.stdout


def test_bad_config_at_start_exits_1_without_traceback() -> None:
    env = {k: v for k, v in ENV.items() if k != "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD"}
    result = run("--config.file", "modules.toml", "--web.listen-address", "127.0.0.1:0", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Unclosed" not in result.stderr  # the CHAOS session opened before the check
    assert result.stderr.splitlines()[:2] == [
        "modules.toml: auths.default.control_password_env: "
        "names an environment variable that is not set",
        "modules.toml: 1 problem(s) found",
    ]


def test_connection_defaults_are_the_products() -> None:
    """README, "Command line": 512 connections, 10 s for a request head, 60 s idle keep-alive."""
    args = build_parser().parse_args([])
    assert (args.max_connections, args.read_header_timeout, args.idle_timeout) == (512, 10, 60)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("2", 2.0), ("0.25", 0.25), ("1h", 3600.0)],
)
def test_duration_flags(text: str, seconds: float) -> None:
    args = build_parser().parse_args(
        ["--web.read-header-timeout", text, "--web.idle-timeout", text]
    )
    assert args.read_header_timeout == args.idle_timeout == seconds


@pytest.mark.parametrize("text", ["0", "0s", "-1", "10x", "s", "1m 30s", "nan", "inf", ""])
def test_bad_duration_flags(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["--web.read-header-timeout", text])
    assert caught.value.code == 2
    assert "--web.read-header-timeout" in capsys.readouterr().err


@pytest.fixture
async def demo() -> AsyncIterator[Process]:
    async with running_exporter("--demo", "--log.level", "debug") as process:
        yield process


async def test_demo_serves_probes_and_reloads_on_sighup(demo: Process) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(demo.url + "/-/ready") as response:
            assert response.status == 200
        async with http.get(demo.url + "/probe?target=10000&module=quota,line") as response:
            got = samples(await response.text())
        assert got["probe_success"] == 1
        assert any(name.startswith("aaisp_broadband_line_info{") for name in got)
        # The demo's declared command (docs/commands.md's illustrative telephony example).
        async with http.get(demo.url + "/probe?target=01632960001&module=phones") as response:
            got = samples(await response.text())
        assert got["probe_success"] == 1
        assert got["aaisp_telephony_credit_gbp"] == 12.5
        assert got['aaisp_telephony_number_info{name="Office",number="01632960001"}'] == 1
        async with http.get(demo.url + "/discover?module=phones") as response:
            groups = await response.json()
        assert [(g["targets"], g["labels"]["__meta_aaisp_name"]) for g in groups] == [
            (["01632960001"], "Office"),
            (["01632960002"], "Fax"),
        ]
        demo.proc.send_signal(signal.SIGHUP)
        await demo.wait_for_log("configuration reloaded on SIGHUP")
        async with http.get(demo.url + "/metrics") as response:
            metrics = samples(await response.text())
        assert metrics["aaisp_exporter_config_last_reload_successful"] == 1


async def test_sigterm_lets_probes_in_flight_finish(demo: Process) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(demo.url + "/config") as response:
            match = re.search(r'url = "(http://127\.0\.0\.1:\d+)"', await response.text())
        assert match is not None
        simulator = match.group(1)
        fault = {"kind": "latency", "latency_seconds": 1.5}
        async with http.post(simulator + "/_sim/faults", json=fault) as response:
            assert response.status == 201
        probe = asyncio.create_task(http.get(demo.url + "/probe?target=10000&module=line"))
        await demo.wait_for_log("msg=.probe started")
        demo.proc.send_signal(signal.SIGTERM)
        response = await probe
        assert response.status == 200
        assert samples(await response.text())["probe_success"] == 1
        response.release()
    async with asyncio.timeout(20):
        assert await demo.proc.wait() == 0


async def test_sighup_with_a_broken_file_keeps_the_running_config(tmp_path: Path) -> None:
    config = tmp_path / "modules.toml"
    good = (
        '[chaos]\nurl = "http://127.0.0.1:9"\n'
        '[auths.home]\ncontrol_login = "a@a"\ncontrol_password_file = "secret"\n'
        '[modules.line]\ncommands = ["broadband/info"]\n'
    )
    (tmp_path / "secret").write_text("S3NTINEL-cli\n")
    config.write_text(good)
    async with running_exporter("--config.file", str(config)) as process:
        proc = process.proc
        async with aiohttp.ClientSession() as http:
            config.write_text(good.replace("broadband/info", "broadband/kill"))
            proc.send_signal(signal.SIGHUP)
            line = await process.wait_for_log("reload on SIGHUP failed")
            assert "broadband/kill" in line
            async with http.get(process.url + "/metrics") as response:
                metrics = samples(await response.text())
            assert metrics["aaisp_exporter_config_last_reload_successful"] == 0
            async with http.get(process.url + "/config") as response:
                assert 'commands = ["broadband/info"]' in await response.text()
            config.write_text(good)
            proc.send_signal(signal.SIGHUP)
            await process.wait_for_log("configuration reloaded on SIGHUP")
            async with http.get(process.url + "/metrics") as response:
                metrics = samples(await response.text())
            assert metrics["aaisp_exporter_config_last_reload_successful"] == 1
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await proc.wait() == 0
        assert "S3NTINEL" not in "".join(process.stderr)
