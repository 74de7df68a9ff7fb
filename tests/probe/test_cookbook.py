"""docs/commands.md's cookbook, run: each recipe's declaration loaded by a real exporter, its
illustrative reply served by the simulator, the probe read back in every format, and the series
the page shows found in the answer. A recipe that drifts from the code fails here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import ExporterFactory, config_text
from tests.realprograms import promtool_clean

REPO = Path(__file__).resolve().parent.parent.parent
FIXTURES = REPO / "tests" / "fixtures"
_RECIPE = re.compile(
    r"<!-- recipe: (?P<name>\S+) fixture=(?P<fixture>\S+) module=(?P<module>\S+) "
    r"target=(?P<target>\S+) -->\n```toml\n(?P<toml>.*?)```\n\n```text\n(?P<series>.*?)```",
    re.DOTALL,
)
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@dataclass(frozen=True)
class Recipe:
    name: str
    fixture: str
    module: str
    target: str
    toml: str
    series: list[str]

    @property
    def command(self) -> str:
        found = re.search(r'\[commands\."([^"]+)"\]', self.toml)
        assert found is not None
        return found.group(1)


def recipes() -> list[Recipe]:
    text = (REPO / "docs" / "commands.md").read_text()
    found = [
        Recipe(
            match["name"],
            match["fixture"],
            match["module"],
            match["target"],
            match["toml"],
            match["series"].strip().splitlines(),
        )
        for match in _RECIPE.finditer(text)
    ]
    assert len(found) == text.count("<!-- recipe:"), "a recipe the pattern cannot read"
    return found


def test_the_cookbook_has_every_shape() -> None:
    names = {recipe.name for recipe in recipes()}
    assert names >= {"login", "ratecard", "usage", "latest", "settings"}
    for recipe in recipes():
        assert recipe.fixture.startswith("illustrative-"), "an invented reply says so"
        assert (FIXTURES / recipe.fixture).exists()


@pytest.mark.parametrize("recipe", recipes(), ids=lambda recipe: recipe.name)
async def test_a_recipe_gives_the_series_it_shows(
    make_exporter: ExporterFactory, simulator: Simulator, recipe: Recipe
) -> None:
    simulator.add_fault(
        Fault("replay", command=recipe.command, path=str(FIXTURES / recipe.fixture))
    )
    exporter = await make_exporter(config_text(simulator.url, extra=recipe.toml))
    query = f"target={recipe.target}&module={recipe.module}"
    status, text = await exporter.probe(query)
    assert status == 200, text
    assert "probe_success 1.0" in text, text
    for line in recipe.series:
        assert line in text, f"{line!r} not in\n{text}"
    promtool_clean(text)
    list(text_string_to_metric_families(text))
    status, body, _ = await exporter.get(f"/probe?{query}", headers={"Accept": OPENMETRICS})
    assert status == 200
    families = {
        family.name: family
        for family in openmetrics_families(body)  # type: ignore[no-untyped-call]
    }
    for name in re.findall(r'metric = "([^"]+)"\n[^\n]*\nstates = ', recipe.toml):
        assert families[name].type == "stateset"


async def test_a_state_set_is_a_stateset_in_openmetrics(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """Read back by prometheus_client's OpenMetrics parser as a stateset, each state a
    sample labelled with the metric's name."""
    login = next(recipe for recipe in recipes() if recipe.name == "login")
    simulator.add_fault(Fault("replay", command="login/info", path=str(FIXTURES / login.fixture)))
    exporter = await make_exporter(config_text(simulator.url, extra=login.toml))
    for target, current in (("user1@a", "Active"), ("user2@a", "Suspended"), ("user3@a", None)):
        _, body, _ = await exporter.get(
            f"/probe?target={target}&module=logins", headers={"Accept": OPENMETRICS}
        )
        families = {
            family.name: family
            for family in openmetrics_families(body)  # type: ignore[no-untyped-call]
        }
        state = families["aaisp_login_state"]
        assert state.type == "stateset"
        got = {sample.labels["aaisp_login_state"]: sample.value for sample in state.samples}
        assert got == {s: float(s == current) for s in ("Active", "Suspended", "Ceased")}
