"""The one way to a snapshot: the key it builds, and the CHAOS URL a reload swaps with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aaisp_multi_exporter.chaos.commands import INFO, QUOTA, Command
from aaisp_multi_exporter.chaos.snapshots import Policy, SnapshotKey
from aaisp_multi_exporter.config import AuthConfig
from aaisp_multi_exporter.config.secret import Secret
from aaisp_multi_exporter.probe.fetching import REFRESH_TIMEOUT_SECONDS, Fetcher
from aaisp_multi_exporter.simulator import SimAccount, Simulator, generate_lines
from tests.conftest import HOME_LOGIN, SENTINEL, ExporterFactory, config_text
from tests.server.test_state import post_reload

HOME = AuthConfig(name="home", control_login="l", control_password=Secret("pw"))
ROTATED = AuthConfig(name="home", control_login="l", control_password=Secret("new"))


@pytest.mark.parametrize(
    ("auth", "command", "scope", "service", "expected"),
    [
        (HOME, INFO, "account", "", ("home", INFO.name, "account", "", INFO.digest)),
        (HOME, QUOTA, "line", "10001", ("home", QUOTA.name, "line", "10001", QUOTA.digest)),
        (ROTATED, INFO, "account", "", ("home", INFO.name, "account", "", INFO.digest)),
    ],
)
def test_the_key_holds_the_set_its_secrets_the_command_and_its_declaration(
    auth: AuthConfig, command: Command, scope: str, service: str, expected: tuple[str, ...]
) -> None:
    wanted = Fetcher.want(auth, command, Policy(60), scope, service, 2, None)
    name, command_name, key_scope, key_service, declaration = expected
    assert wanted.key == SnapshotKey(
        name, auth.secret_fingerprint(), command_name, key_scope, key_service, declaration
    )


def test_a_changed_secret_is_another_key() -> None:
    keys = {
        Fetcher.want(auth, INFO, Policy(60), "account", "", 2, None).key for auth in (HOME, ROTATED)
    }
    assert len(keys) == 2


@pytest.mark.parametrize(
    ("timeout_seconds", "expected"),
    [(None, REFRESH_TIMEOUT_SECONDS), (0.0, REFRESH_TIMEOUT_SECONDS), (7.5, 7.5)],
)
def test_a_refresh_ahead_has_the_modules_timeout_or_its_own(
    timeout_seconds: float | None, expected: float
) -> None:
    wanted = Fetcher.want(HOME, INFO, Policy(60), "account", "", 2, timeout_seconds)
    assert wanted.refresh_timeout == expected


async def test_a_reload_swaps_the_chaos_url_for_probes_and_discovery_alike(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    lines = generate_lines(3, start_id=70000)
    other = Simulator([SimAccount(HOME_LOGIN, SENTINEL, lines)])
    await other.start()
    try:
        path = tmp_path / "modules.toml"
        path.write_text(config_text(simulator.url, cache_seconds="0"))
        exporter = await make_exporter(path=path)
        assert (await exporter.samples("target=10001&module=line"))["probe_success"] == 1
        before = simulator.total_calls
        path.write_text(config_text(other.url, cache_seconds="0"))
        assert await post_reload(exporter) == (200, "configuration reloaded\n")
        got = await exporter.samples(f"target={lines[0]['ID']}&module=line")
        assert got["probe_success"] == 1
        status, text, _ = await exporter.get("/discover?auth=home&module=line")
        assert status == 200
        assert f'"{lines[2]["ID"]}"' in text
        assert (simulator.total_calls, other.total_calls) == (before, 2)
    finally:
        await other.stop()
