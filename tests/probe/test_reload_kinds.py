"""A reload adds and removes each kind of declaration SPEC 6b brings, on a real exporter: a
text map and a state set (the login recipe), an account table (``entries = "all"``), rows
per line (``"each"``, ``"latest"``) and a service's settings. The declarations are
docs/commands.md's cookbook recipes, so what the page shows is what a reload gives.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import ExporterFactory, config_text, samples
from tests.probe.test_cookbook import FIXTURES, Recipe, recipes


def _series_names(recipe: Recipe) -> set[str]:
    return {line.partition("{")[0].partition(" ")[0] for line in recipe.series}


@pytest.mark.parametrize("recipe", recipes(), ids=lambda recipe: recipe.name)
async def test_a_reload_adds_and_removes_each_kind(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path, recipe: Recipe
) -> None:
    simulator.add_fault(
        Fault("replay", command=recipe.command, path=str(FIXTURES / recipe.fixture))
    )
    path = tmp_path / "modules.toml"
    await asyncio.to_thread(path.write_text, config_text(simulator.url))
    exporter = await make_exporter(path=path)
    query = f"target={recipe.target}&module={recipe.module}"
    chaos_series = f'command="{recipe.command}"'

    status, _ = await exporter.probe(query)
    assert status == 400  # no such module yet
    assert not [name for name in await exporter.self_metrics() if chaos_series in name]

    await asyncio.to_thread(path.write_text, config_text(simulator.url, extra=recipe.toml))
    exporter.state.reload()
    status, text = await exporter.probe(query)
    assert status == 200, text
    assert samples(text)["probe_success"] == 1, text
    for line in recipe.series:
        assert line in text, f"{line!r} not in\n{text}"
    assert [name for name in await exporter.self_metrics() if chaos_series in name]

    await asyncio.to_thread(path.write_text, config_text(simulator.url))
    exporter.state.reload()
    status, _ = await exporter.probe(query)
    assert status == 400
    assert not [name for name in await exporter.self_metrics() if chaos_series in name]
    # The built-in modules answer as before, without a series of the removed declaration.
    _, text = await exporter.probe("target=10001&module=line")
    assert samples(text)["probe_success"] == 1
    assert not _series_names(recipe) & {name.partition("{")[0] for name in samples(text)}


async def test_a_reload_changes_a_field_from_a_map_to_a_state_set(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path
) -> None:
    """The same field, first a text map then a state set: the reply read by the old
    declaration is dropped, and the next probe writes the new kind, in text and
    OpenMetrics."""
    login = next(recipe for recipe in recipes() if recipe.name == "login")
    simulator.add_fault(Fault("replay", command="login/info", path=str(FIXTURES / login.fixture)))
    as_map = login.toml.replace(
        'states = ["Active", "Suspended", "Ceased"]', "map = { active = 2, suspended = 1 }"
    )
    assert as_map != login.toml
    path = tmp_path / "modules.toml"
    await asyncio.to_thread(path.write_text, config_text(simulator.url, extra=as_map))
    exporter = await make_exporter(path=path)
    got = await exporter.samples("target=user2@a&module=logins")
    assert got["aaisp_login_state"] == 1  # Suspended
    await asyncio.to_thread(path.write_text, config_text(simulator.url, extra=login.toml))
    exporter.state.reload()
    got = await exporter.samples("target=user2@a&module=logins")
    assert "aaisp_login_state" not in got
    assert got['aaisp_login_state{aaisp_login_state="Suspended"}'] == 1
    assert got['aaisp_login_state{aaisp_login_state="Active"}'] == 0
    _, body, _ = await exporter.get(
        "/probe?target=user2@a&module=logins",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
    )
    assert "# TYPE aaisp_login_state stateset" in body
