"""A password in the wrong key is never echoed, on every path it could take.

One configuration holds the sentinel in every kind of wrong place, each in its own credential
set, across two files. It goes through ``--config.check`` and a failed start (real processes),
``POST /-/reload``, ``/health`` and the log (a real exporter), and SIGHUP (a real process). Each
test also checks that every broken set was reported, so it cannot pass by saying nothing.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
from pathlib import Path

import aiohttp
import pytest

from aaisp_multi_exporter.obs.logs import LogfmtFormatter
from aaisp_multi_exporter.simulator import Simulator
from tests.conftest import SENTINEL, ExporterFactory, config_text
from tests.processes import run_exporter, running_exporter

#: Credential set -> its body, with the sentinel where a password does not belong.
PLACEMENTS: dict[str, str] = {
    "in-account-password-env": f'account_number = "A1"\naccount_password_env = "{SENTINEL}"',
    "in-control-password-env": f'control_login = "a"\ncontrol_password_env = "{SENTINEL}"',
    "in-password-file": f'control_login = "a"\ncontrol_password_file = "{SENTINEL}"',
    "in-login-env": f'control_login_env = "{SENTINEL}"\ncontrol_password = "x"',
    "in-number-file": f'account_number_file = "{SENTINEL}"\naccount_password = "x"',
    "in-misspelt-key": f'account_number = "A1"\naccount_pasword_env = "{SENTINEL}"',
    "in-misspelt-inline-key": f'control_login = "a"\ncontrol_pasword = "{SENTINEL}"',
    "wrong-type-array": f'control_login = "a"\ncontrol_password = ["{SENTINEL}"]',
    "wrong-type-table": f'account_number = {{ n = "{SENTINEL}" }}\naccount_password = "x"',
    "two-forms": f'control_login = "a"\ncontrol_password = "{SENTINEL}"\n'
    f'control_password_env = "{SENTINEL}"',
    "beside-another-problem": f'control_login = "a"\ncontrol_password = "{SENTINEL}"\n'
    "max_concurrency = 0",
}
#: In a second file, so the multi-file path is covered too.
SECOND_FILE = {"second-file": f'control_login = "a"\ncontrol_password_file = "{SENTINEL}"'}


def tables(placements: dict[str, str]) -> str:
    return "".join(f"[auths.{name}]\n{body}\n\n" for name, body in placements.items())


def write_broken(directory: Path, chaos_url: str = "http://127.0.0.1:9") -> list[str]:
    """The broken configuration in two files; returns the --config.file arguments."""
    (directory / "conf.d").mkdir(exist_ok=True)
    (directory / "modules.toml").write_text(
        f'[chaos]\nurl = "{chaos_url}"\n\n{tables(PLACEMENTS)}'
        '[modules.line]\ncommands = ["broadband/info"]\n'
    )
    (directory / "conf.d" / "second.toml").write_text(tables(SECOND_FILE))
    return [str(directory / "modules.toml"), str(directory / "conf.d" / "*.toml")]


def assert_reported_without_the_sentinel(text: str) -> None:
    assert SENTINEL not in text
    for name in [*PLACEMENTS, *SECOND_FILE]:
        assert f"auths.{name}" in text, f"{name} not reported"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_exporter(*args, env={**os.environ, "A1": "unused"})


def test_config_check(tmp_path: Path) -> None:
    files = write_broken(tmp_path)
    result = run_cli("--config.check", "--config.file", files[0], "--config.file", files[1])
    assert result.returncode == 1
    assert result.stdout == ""
    assert_reported_without_the_sentinel(result.stderr)
    assert result.stderr.endswith(f"{files[0]}, {files[1]}: 14 problem(s) found\n")


def test_start_up(tmp_path: Path) -> None:
    files = write_broken(tmp_path)
    result = run_cli(
        "--config.file", files[0], "--config.file", files[1], "--web.listen-address", "127.0.0.1:0"
    )
    assert result.returncode == 1
    assert "invalid configuration; not starting" in result.stderr  # the log line
    assert_reported_without_the_sentinel(result.stderr)


async def test_reload_health_and_log(
    make_exporter: ExporterFactory,
    simulator: Simulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "modules.toml"
    path.write_text(config_text(simulator.url, password="good-password"))
    exporter = await make_exporter(path=path)
    (tmp_path / "modules.toml").write_text(
        f'[chaos]\nurl = "{simulator.url}"\n\n{tables({**PLACEMENTS, **SECOND_FILE})}'
        '[modules.line]\ncommands = ["broadband/info"]\n'
    )
    with caplog.at_level(logging.DEBUG):
        async with exporter.http.post(exporter.url + "/-/reload") as response:
            assert response.status == 500
            answer = await response.text()
    assert_reported_without_the_sentinel(answer)
    # As the exporter writes it: the problems travel in the record's fields, not its message.
    logged = "\n".join(LogfmtFormatter().format(record) for record in caplog.records)
    assert "reload failed" in logged
    assert_reported_without_the_sentinel(logged)

    status, text, _ = await exporter.get("/health")
    assert status == 200
    health = json.loads(text)
    assert health["last_reload"]["success"] is False
    assert_reported_without_the_sentinel(health["last_reload"]["error"])
    assert SENTINEL not in text


async def test_sighup_log_and_health(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[chaos]\nurl = "http://127.0.0.1:9"\n[auths.home]\ncontrol_login = "a"\n'
        'control_password = "pw"\n[modules.line]\ncommands = ["broadband/info"]\n'
    )
    files = [str(good), str(tmp_path / "conf.d" / "*.toml")]
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "empty.toml").write_text("")
    args = [arg for file in files for arg in ("--config.file", file)]
    async with running_exporter(*args) as process, aiohttp.ClientSession() as http:
        (tmp_path / "conf.d" / "second.toml").write_text(tables({**PLACEMENTS, **SECOND_FILE}))
        process.proc.send_signal(signal.SIGHUP)
        line = await process.wait_for_log("reload on SIGHUP failed")
        assert_reported_without_the_sentinel(line)
        async with http.get(process.url + "/health") as response:
            health = await response.json()
        assert_reported_without_the_sentinel(health["last_reload"]["error"])
        process.proc.send_signal(signal.SIGTERM)
        await process.proc.wait()
        assert process.proc.stderr is not None
        rest = (await process.proc.stderr.read()).decode()
    assert SENTINEL not in "".join(process.stderr) + rest
