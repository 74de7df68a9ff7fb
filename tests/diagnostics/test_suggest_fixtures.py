"""``--chaos.suggest`` round trips on every reply fixture (tests/fixtures/README.md): the
simulator replays the file, the check writes its suggestions from a configuration that names
the command and no more, the file loads beside that configuration unchanged, and the next
probes export every series it suggests, with no value of the reply written in the file but a
state set's states.
"""

from __future__ import annotations

import asyncio
import io
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from aaisp_multi_exporter.diagnostics.check import check_chaos
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import SENTINEL, ExporterFactory, config_text, samples

FIXTURES = Path(__file__).parent.parent / "fixtures"
BUILTIN = ("broadband/info", "broadband/quota")
#: The service a line-scope probe of a reply holding one keyless entry asks for.
SERVICE = "01632960001"


def replies() -> list[Path]:
    return sorted(path for path in FIXTURES.glob("*.json") if path.name != "builtin-series.json")


def command_of(document: dict[str, Any]) -> str:
    """The envelope's command, or ``broadband/info`` for a reply without one (NATM's)."""
    if "command" in document:
        return f"{document.get('subsystem', 'broadband')}/{document['command']}"
    return "broadband/quota" if "quota" in document else "broadband/info"


def declared_only(command: str, line_scope: bool) -> str:
    """What a user writes before the first check: the command's name, and a module."""
    if command in BUILTIN:
        return ""
    scope = 'scope = "line"\n' if line_scope else ""
    return (
        f'[commands."{command}"]\n\n[modules.m]\ncommands = ["{command}"]\nauth = "home"\n{scope}'
    )


def values_of(document: object) -> set[str]:
    """Every text of the reply long enough to be telling, wherever it is."""
    if isinstance(document, dict):
        return {text for value in document.values() for text in values_of(value)}
    if isinstance(document, list):
        return {text for value in document for text in values_of(value)}
    return {document} if isinstance(document, str) and len(document.strip()) >= 4 else set()


def suggested_metrics(text: str) -> tuple[set[str], set[str]]:
    """The metrics the file declares, and the states it writes."""
    metrics: set[str] = set()
    states: set[str] = set()
    for name, table in tomllib.loads(text).get("commands", {}).items():
        for gauge in table.get("gauges", []):
            metrics.add(gauge["metric"])
            states.update(gauge.get("states", []))
        if table.get("settings"):
            metrics.add(f"aaisp_{name.partition('/')[0]}_setting")
    return metrics, states


@pytest.mark.parametrize("fixture", replies(), ids=lambda path: path.stem)
async def test_suggest_round_trip(
    make_exporter: ExporterFactory, simulator: Simulator, tmp_path: Path, fixture: Path
) -> None:
    document = json.loads(await asyncio.to_thread(fixture.read_text))
    command = command_of(document)
    line_scope = "settings" in fixture.name  # a line-scope reply: one entry, no key
    simulator.add_fault(Fault("replay", command=command, path=str(fixture)))
    modules = tmp_path / "modules.toml"
    configured = config_text(simulator.url, extra=declared_only(command, line_scope))
    await asyncio.to_thread(modules.write_text, configured)
    first = await make_exporter(path=modules)
    assert first.state.loaded is not None
    suggestions = tmp_path / "suggested.toml"
    report = io.StringIO()
    await check_chaos(
        first.state.loaded.config, report, suggest_path=suggestions, config_files=[modules]
    )
    assert f"Suggestions written to {suggestions}" in report.getvalue(), report.getvalue()
    text = await asyncio.to_thread(suggestions.read_text)
    metrics, states = suggested_metrics(text)
    envelope = {"subsystem", "command", "request"}
    entries = {key: value for key, value in document.items() if key not in envelope}
    for value in values_of(entries) - states:
        assert json.dumps(value) not in text, f"{value!r} is in the file"
    assert SENTINEL not in text

    both = await make_exporter(path=[modules, suggestions])
    module = "line" if command == "broadband/info" else "quota" if command in BUILTIN else "m"
    status, listed, _ = await both.get(f"/discover?module={module}&auth=home")
    targets = [SERVICE]
    if status == 200:  # 503 when CHAOS refused the set (the authentication error's reply)
        targets += [group["targets"][0] for group in json.loads(listed)]
    targets += [str(entry.get("ID") or entry.get("id")) for entry in _payload(document)]
    exported: dict[str, float] = {}
    succeeded = False
    for target in dict.fromkeys(t for t in targets if t and t != "None"):
        status, answer = await both.probe(f"target={target}&module={module}")
        assert status == 200, answer
        got = samples(answer)
        succeeded = succeeded or got["probe_success"] == 1
        exported.update(got)
    assert succeeded or "error" in document, "no probe of the fixture answered"
    names = {name.partition("{")[0] for name in exported}
    missing = {m for m in metrics if not any(n.startswith(m) for n in names)}
    assert not missing, f"suggested but not exported: {missing}\n{text}"


def _payload(document: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("info", "quota"):
        value = document.get(key)
        if isinstance(value, list):
            return [entry for entry in value if isinstance(entry, dict)]
        if isinstance(value, dict):
            return [value]
    return []
