"""``--config.enable-auto-reload`` on the real process (SPEC 8, R4): a change of the files is
picked up as SIGHUP would, a broken edit keeps the running configuration (and the reload
metric says so), a repaired one applies; and a reload says which values only a restart can
change. Every wait is bounded polling, never a sleep that assumes how fast a reload is."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.conftest import samples
from tests.processes import Process, running_exporter

SENTINEL = "S3NTINEL-autoreload"
GOOD = (
    '[chaos]\nurl = "http://127.0.0.1:9"\n'
    '[auths.home]\ncontrol_login_env = "AUTORELOAD_LOGIN"\n'
    'control_password_env = "AUTORELOAD_PASSWORD"\n'
    '[auths.files]\ncontrol_login = "f@a"\ncontrol_password_file = "secret"\n'
    '[modules.line]\ncommands = ["broadband/info"]\nauth = "home"\n'
)
RELOADED = "configuration reloaded after its files changed"
RESTART_NOTE = "a reload cannot change these values; restart the exporter to apply a new one"
ENV = {**os.environ, "AUTORELOAD_LOGIN": "h@a", "AUTORELOAD_PASSWORD": SENTINEL}


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 20) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while not await check():  # noqa: ASYNC110 - another process: no event to wait on
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {within:.0f} s: {what}") from None


class Client:
    def __init__(self, process: Process, http: aiohttp.ClientSession) -> None:
        self.process = process
        self.http = http

    async def text(self, path: str) -> str:
        async with self.http.get(self.process.url + path) as response:
            assert response.status == 200
            return await response.text()

    async def metric(self, name: str) -> float:
        return samples(await self.text("/metrics"))[name]

    async def config_has(self, text: str) -> bool:
        return text in await self.text("/config")


async def test_auto_reload_follows_the_files(tmp_path: Path) -> None:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "00-none-yet.toml").write_text("# one file per customer goes here\n")
    main = tmp_path / "modules.toml"
    main.write_text(GOOD)
    (tmp_path / "secret").write_text(SENTINEL + "-file\n")
    args = (
        "--config.file", str(main), "--config.file", str(conf_d / "*.toml"),
        "--config.enable-auto-reload", "--config.auto-reload-interval", "200ms",
    )  # fmt: skip
    async with running_exporter(*args, env=ENV) as process, aiohttp.ClientSession() as http:
        client = Client(process, http)
        ok = "aaisp_exporter_config_last_reload_successful"
        stamp = "aaisp_exporter_config_last_reload_success_timestamp_seconds"

        # A new file matching the glob: a module appears, as after a SIGHUP.
        (conf_d / "quota.toml").write_text('[modules.quota]\ncommands = ["broadband/quota"]\n')
        await until(lambda: client.config_has("[modules.quota]"), "the new file's module")

        # A broken edit: the running configuration stays, and the metric says it failed.
        main.write_text(GOOD.replace("broadband/info", "broadband/kill"))
        await until(lambda: _equals(client.metric(ok), 0), "the failed reload in /metrics")
        assert await client.config_has('commands = ["broadband/info"]')
        assert await client.config_has("[modules.quota]")
        failed_at = await client.metric(stamp)

        # Repaired: applied, and the metric says so again.
        main.write_text(GOOD.replace("[modules.line]", "[modules.line2]"))
        await until(lambda: _equals(client.metric(ok), 1), "the repaired file applied")
        assert await client.config_has("[modules.line2]")
        assert await client.metric(stamp) >= failed_at

        # A secret file a credential set reads is watched too: rotating it reloads.
        reloaded_at = await client.metric(stamp)
        (tmp_path / "secret").write_text("rotated-" + SENTINEL + "\n")
        await until(
            lambda: _above(client.metric(stamp), reloaded_at), "a reload after the rotation"
        )
        log = await process.stop()

    lines = log.splitlines()
    assert len([line for line in lines if RELOADED in line]) == 3, log
    assert len([line for line in lines if "reload after its files changed failed" in line]) == 1
    assert any("broadband/kill" in line for line in lines if "failed" in line)
    # Each reload says the set read from the environment needs a restart (keys, no values);
    # the start-up load does not.
    notes = [line for line in lines if RESTART_NOTE in line]
    assert len(notes) == 3, log
    assert all("table=auths.home keys=control_login_env,control_password_env" in n for n in notes)
    assert "auths.files" not in "".join(notes)
    assert SENTINEL not in log


async def _equals(value: Awaitable[float], expected: float) -> bool:
    return await value == expected


async def _above(value: Awaitable[float], floor: float) -> bool:
    return await value > floor


async def test_sighup_names_the_sets_a_reload_cannot_change(tmp_path: Path) -> None:
    """Without the flag, files are read at start and on a reload only (blackbox_exporter's
    default); SIGHUP reads the change and names the sets only a restart changes."""
    main = tmp_path / "modules.toml"
    main.write_text(GOOD)
    (tmp_path / "secret").write_text("pw\n")
    async with (
        running_exporter("--config.file", str(main), env=ENV) as process,
        aiohttp.ClientSession() as http,
    ):
        client = Client(process, http)
        main.write_text(GOOD.replace("[modules.line]", "[modules.line2]"))
        process.proc.send_signal(signal.SIGHUP)
        note = await process.wait_for_log(RESTART_NOTE)
        assert "keys=control_login_env,control_password_env" in note
        await process.wait_for_log("configuration reloaded on SIGHUP")
        assert await client.config_has("[modules.line2]")
        log = await process.stop()
    assert RELOADED not in log
    assert SENTINEL not in log
