"""Reload: validate then swap, keep the last good config, rotate secrets, lose no probe."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import HOME_LOGIN, SENTINEL, Exporter, ExporterFactory, config_text


def file_config(simulator: Simulator, password_file: Path, *, retries: int = 2) -> str:
    """``config_text`` with home's password read from a file instead of inline."""
    text = config_text(simulator.url, retries=str(retries), cache_seconds="300")
    return text.replace(
        f'control_password = "{SENTINEL}"', f'control_password_file = "{password_file}"'
    )


async def post_reload(exporter: Exporter) -> tuple[int, str]:
    async with exporter.http.post(exporter.url + "/-/reload") as response:
        return response.status, await response.text()


async def reload_gauges(exporter: Exporter) -> tuple[float, float]:
    metrics = await exporter.self_metrics()
    return (
        metrics["aaisp_exporter_config_last_reload_successful"],
        metrics["aaisp_exporter_config_last_reload_success_timestamp_seconds"],
    )


async def test_valid_change_is_applied(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "modules.toml"
    path.write_text(config_text(simulator.url))
    exporter = await make_exporter(path=path)
    _, first_stamp = await reload_gauges(exporter)
    path.write_text(
        config_text(simulator.url)
        + '[modules.fresh]\ncommands = ["broadband/info"]\nauth = "home"\n'
    )
    await asyncio.sleep(0.01)
    assert await post_reload(exporter) == (200, "configuration reloaded\n")
    assert (await exporter.samples("target=10001&module=fresh"))["probe_success"] == 1
    successful, stamp = await reload_gauges(exporter)
    assert successful == 1
    assert stamp > first_stamp


async def test_invalid_change_keeps_the_running_config(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "modules.toml"
    path.write_text(config_text(simulator.url))
    exporter = await make_exporter(path=path)
    _, stamp = await reload_gauges(exporter)
    path.write_text(
        config_text(simulator.url).replace(
            'commands = ["broadband/info"]', 'commands = ["broadband/kill"]'
        )
    )
    status, text = await post_reload(exporter)
    assert status == 500
    assert text.startswith("reload failed; keeping the running configuration:\n")
    assert 'unknown command "broadband/kill"' in text
    assert (await exporter.samples("target=10001&module=line"))["probe_success"] == 1
    assert await reload_gauges(exporter) == (0, stamp)
    status, text, _ = await exporter.get("/health")
    assert status == 200
    assert '"success": false' in text


async def test_reload_needs_post(exporter: Exporter) -> None:
    for method in ("GET", "PUT", "DELETE"):
        async with exporter.http.request(method, exporter.url + "/-/reload") as response:
            assert response.status == 405
            assert response.headers["Allow"] == "POST"


async def test_rotated_secret_file_is_used_and_old_answers_dropped(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text(SENTINEL + "\n")
    path = tmp_path / "modules.toml"
    path.write_text(file_config(simulator, secret))
    exporter = await make_exporter(path=path)
    assert (await exporter.samples("target=10001&module=line"))["probe_success"] == 1
    # CHAOS changes the password; until the file is rotated the cached answer still serves.
    simulator.accounts[0].control_password = "rotated-password"
    assert (await exporter.samples("target=10002&module=line"))["probe_success"] == 1
    assert simulator.total_calls == 1
    secret.write_text("rotated-password\n")
    assert (await post_reload(exporter))[0] == 200
    # New credentials: the old snapshot is not reused; a fresh call with the new password.
    got = await exporter.samples("target=10002&module=line")
    assert got["probe_success"] == 1
    assert got['aaisp_probe_data_age_seconds{module="line"}'] == 0
    assert simulator.calls[(HOME_LOGIN, "broadband/info", "")] == 2


async def test_reload_during_concurrent_probes_loses_none(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "modules.toml"
    path.write_text(config_text(simulator.url, cache_seconds="0"))
    exporter = await make_exporter(path=path, max_requests=0)
    simulator.add_fault(Fault("latency", latency_seconds=0.3))
    probes = [
        asyncio.create_task(exporter.samples(f"target={10000 + i % 40}&module=quota,line"))
        for i in range(50)
    ]
    await asyncio.sleep(0.1)
    path.write_text(config_text(simulator.url, cache_seconds="0", retries="1"))
    assert (await post_reload(exporter))[0] == 200
    results = await asyncio.gather(*probes)
    assert [result["probe_success"] for result in results] == [1.0] * 50
    metrics = await exporter.self_metrics()
    assert metrics["aaisp_exporter_probes_in_flight"] == 0
    assert metrics['aaisp_exporter_probes_total{module="line",result="success"}'] == 50


async def test_metrics_follow_a_renamed_module(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    """A module renamed by a reload leaves /metrics; the new name starts at 0."""
    path = tmp_path / "modules.toml"
    path.write_text(config_text(simulator.url))
    exporter = await make_exporter(path=path)
    await exporter.samples("target=10001&module=line")
    before = await exporter.self_metrics()
    assert before['aaisp_exporter_probes_total{module="line",result="success"}'] == 1
    path.write_text(config_text(simulator.url).replace("[modules.line]", "[modules.sync]"))
    assert (await post_reload(exporter))[0] == 200
    after = await exporter.self_metrics()
    assert not any('module="line"' in name for name in after)
    assert after['aaisp_exporter_probes_total{module="sync",result="success"}'] == 0
    assert after['aaisp_exporter_probes_total{module="sync",result="failure"}'] == 0
    assert after['aaisp_exporter_probes_total{module="quota",result="success"}'] == 0
