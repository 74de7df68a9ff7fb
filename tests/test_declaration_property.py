"""A configuration that loads works: declarations drawn from the whole space of the rules
(docs/commands.md), each served a matching reply by the simulator.

For every declaration the loader accepts, a real exporter reloaded with it answers ``/probe``
in every format with exposition that prometheus_client's parsers (and promtool, when
installed) accept, ``debug=true``, ``/discover`` with each label once, ``/config`` as TOML,
and ``--chaos.check`` over the same reply, none with a 500. For every one it refuses, each
problem names the file, the table and the key, and a reload keeps the running configuration.

The exporter and the simulator run on their own event loop in a thread (as in
``tests/test_fuzz.py``); each example declares a command of its own subsystem, so nothing
one example left behind (a reply, a rendered line) is another's.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import itertools
import json
import re
import subprocess
import threading
import tomllib
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from aaisp_multi_exporter.chaos.snapshots import SnapshotStore
from aaisp_multi_exporter.config import Config, ConfigError, load_config
from aaisp_multi_exporter.config.problems import quote, toml_value
from aaisp_multi_exporter.diagnostics.check import check_chaos
from aaisp_multi_exporter.server.app import create_app
from aaisp_multi_exporter.server.state import build_state
from aaisp_multi_exporter.simulator import Fault, SimAccount, Simulator, generate_lines
from tests.conftest import HOME_LOGIN, SENTINEL, OffsetClock, config_text, new_event_loop
from tests.realprograms import find_program, programs_required, require_program

T = TypeVar("T")
TARGET = "70001"
OTHER = "70002"
FORMATS = {
    "text": "",
    "text-1.0.0": "text/plain;version=1.0.0;escaping=allow-utf-8",
    "openmetrics": "application/openmetrics-text;version=1.0.0",
}
#: A problem as every config problem is told: the file, the table and a key in it.
PROBLEM = re.compile(r'(?P<file>[^:]+): commands\."p[a-z]+/\w+"(?P<key>(\.\w+|\[\d+\])+): \S')
#: promtool's advice on names (units, case, suffixes): about style, not validity.
ADVICE = ("abbreviated units", "base unit", "snake_case", '"_total" suffix', "should not include")
_subsystems = itertools.count(1)


def subsystem() -> str:
    """A fresh subsystem name per example (the simulator takes letters only)."""
    number, letters = next(_subsystems), ""
    while number:
        number, digit = divmod(number, 26)
        letters += "abcdefghijklmnopqrstuvwxyz"[digit]
    return "p" + letters


class Live:
    """The running servers (a plain class: hypothesis prints a dataclass whole)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        simulator: Simulator,
        port: int,
        clock: OffsetClock,
        path: Path,
        holder: list[Config | None],
    ) -> None:
        self.loop, self.simulator, self.port, self.clock = loop, simulator, port, clock
        self.path = path
        #: The configuration the exporter's last successful reload loaded.
        self.holder = holder

    def __repr__(self) -> str:
        return f"Live(port={self.port})"

    def run(self, coroutine: Coroutine[object, object, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8")
        finally:
            connection.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    loop = new_event_loop()
    clock = OffsetClock()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    path = tmp_path_factory.mktemp("declared") / "declared.toml"

    async def start() -> tuple[Simulator, web.AppRunner, int, list[Config | None]]:
        simulator = Simulator([SimAccount(HOME_LOGIN, SENTINEL, generate_lines(3))])
        await simulator.start()
        path.write_text(config_text(simulator.url, retries="0"))
        loaded: list[Config | None] = [None]

        def loader() -> Config:
            config = load_config(path)  # what --config.check and a reload read
            loaded[0] = config
            return config

        state = build_state(loader, store=SnapshotStore(clock=clock))
        state.reload()
        runner = web.AppRunner(create_app(state))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(addr[1] for addr in runner.addresses if isinstance(addr, tuple))
        return simulator, runner, port, loaded

    simulator, runner, port, loaded = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    try:
        yield Live(loop, simulator, port, clock, path, loaded)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        asyncio.run_coroutine_threadsafe(simulator.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# -- the space of declarations -------------------------------------------------------------------

#: Field names as a declaration spells them: plain, in other cases, with "-", and the odd ones
#: each rule is about (reserved labels, "__", a leading digit, discovery's own, too long).
PLAIN_FIELDS = ["number", "name", "credit", "calls", "since", "status", "Tx-Rate", "a-b", "c_d"]
ODD_FIELDS = [
    "NAME",
    "Name",
    "a_b",
    "ID",
    "auth",
    "Auth",
    "instance",
    "job",
    "module",
    "__name__",
    "__x",
    "9number",
    "le",
    "quantile",
    "x" * 64,
    "x" * 65,
    "a b",
    "é",
    "",
]
PLAIN_METRICS = ["aaisp_p_info", "aaisp_p_credit_gbp", "aaisp_p_calls", "aaisp_p_seconds"]
ODD_METRICS = [
    "aaisp_p_total",
    "aaisp_p_created",
    "aaisp_p_bucket",
    "aaisp_p_count",
    "aaisp_probe_p",
    "aaisp_exporter_p",
    "aaisp_broadband_line_info",
    "aaisp_p:q",
    "p_info",
    "aaisp_",
    "aaisp_p_info_info",
]
ODD_TEXT = [
    "",
    "h" * 300,
    "h" * 301,
    'quote " and \\ backslash',
    "new\nline",
    "tab\tand \x00 nul",
    "% percent %s",
    "café ☎ 🙂",
    "\u2028 line separator",
]
PAYLOADS = ["info", "data", "entries"]
ODD_PAYLOADS = [
    *("error", "request", "options", "Error", "subsystem"),
    *("a.b", "a..b", "error.x", "", "x" * 65),  # a dotted payload is a path (SPEC 6b)
]
SCALES: list[object] = [1, 1.0, 0.125, 1000, 8, -1.0, 1e-9]
ODD_SCALES: list[object] = [0, 0.0, 1e12, -1e12, 1e13, 1e308, 5e-324, "2"]
VALUES = ["12", "-3.5", "0", "2024-07-31 10:00:00", "9223372036854775807", " 7 ", "1e5"]
ODD_VALUES = st.one_of(
    st.sampled_from(["abc", "", "NaN", "Infinity", "99999999999999999999999"]),
    st.text(st.characters(exclude_categories=()), max_size=20),
)


def sometimes(plain: st.SearchStrategy[T], odd: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """Mostly ``plain``, one draw in eight ``odd``: most declarations load, and every rule
    is still met."""
    return st.integers(0, 7).flatmap(lambda n: odd if n == 7 else plain)  # 0 is drawn most


fields = sometimes(st.sampled_from(PLAIN_FIELDS), st.sampled_from(ODD_FIELDS))
metrics = sometimes(
    st.one_of(
        st.sampled_from(PLAIN_METRICS), st.from_regex(r"aaisp_p_[a-z0-9_]{1,12}", fullmatch=True)
    ),
    st.sampled_from(ODD_METRICS),
)
texts = sometimes(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=60),
    st.sampled_from(ODD_TEXT)
    | st.text(st.characters(exclude_categories=()), min_size=1, max_size=40),
)


@dataclass
class Declared:
    """One ``[commands."<name>"]`` table and module, and the reply CHAOS gives it."""

    name: str
    table: dict[str, Any]
    scope: str
    #: Each entry's values by field, before the key: the key field is added by ``reply``.
    values: dict[str, object]

    def toml(self) -> str:
        header = f"[commands.{quote(self.name)}]\n"
        rest = {key: value for key, value in self.table.items() if key != "gauges"}
        text = header + "".join(f"{key} = {toml_value(value)}\n" for key, value in rest.items())
        for gauge in self.table.get("gauges", []):
            text += f"\n[[commands.{quote(self.name)}.gauges]]\n"
            text += "".join(f"{key} = {toml_value(value)}\n" for key, value in gauge.items())
        module = f'\n[modules.m]\ncommands = [{quote(self.name)}]\nauth = "home"\n'
        return text + module + f'scope = "{self.scope}"\n'

    def reply(self) -> dict[str, object]:
        key = str(self.table.get("key", "ID"))
        payload = str(self.table.get("payload", self.name.partition("/")[2]))
        entries: object = [{**self.values, key: target} for target in (TARGET, OTHER)]
        *outer, last = payload.split(".")  # a dotted payload is a path (SPEC 6b)
        nested: dict[str, object] = {last: entries}
        for step in reversed(outer[1:]):
            nested = {step: nested}
        top = {outer[0]: nested} if outer else nested
        return {"subsystem": self.name.partition("/")[0], "command": "info", **top}


@st.composite
def declarations(draw: st.DrawFn) -> Declared:
    name = f"{subsystem()}/" + draw(st.sampled_from(["info", "usage", "services"]))
    table: dict[str, Any] = {}
    if draw(sometimes(st.just(True), st.just(False))):
        table["payload"] = draw(sometimes(st.sampled_from(PAYLOADS), st.sampled_from(ODD_PAYLOADS)))
    if draw(st.booleans()):
        table["key"] = draw(fields)
    if draw(sometimes(st.just(False), st.just(True))):
        table["key_label"] = draw(fields)
    labels = draw(st.lists(fields, max_size=3, unique=True))
    with_info: bool = bool(labels) or draw(st.booleans())
    if with_info:  # info_labels need info_metric
        table["info_metric"] = draw(metrics)
        table["info_labels"] = labels
        if draw(st.booleans()):
            table["info_help"] = draw(texts)
    if draw(sometimes(st.just(False), st.just(True))):
        table["also_carries"] = draw(st.lists(fields, max_size=2))
    gauges = []
    for _ in range(draw(st.integers(0, 3))):
        gauge: dict[str, object] = {"field": draw(fields), "metric": draw(metrics)}
        gauge["help"] = draw(texts)
        if draw(st.booleans()):
            gauge["parse"] = draw(
                sometimes(st.sampled_from(["count", "number", "uk_time"]), st.just("float"))
            )
        if draw(st.booleans()):
            gauge["scale"] = draw(sometimes(st.sampled_from(SCALES), st.sampled_from(ODD_SCALES)))
        if draw(st.booleans()):
            gauge["omit_zero"] = draw(st.one_of(st.booleans(), fields))
        gauges.append(gauge)
    if gauges:
        table["gauges"] = gauges
    read = [*labels, *(str(gauge["field"]) for gauge in gauges)]
    values: dict[str, object] = {
        spelling: draw(sometimes(st.sampled_from(VALUES), ODD_VALUES) | texts) for spelling in read
    }
    scope = draw(st.sampled_from(["account", "line"]))
    return Declared(name, table, scope, values)


def issue_row(name: str, table: dict[str, Any], values: dict[str, object]) -> Declared:
    return Declared(f"pz{name}/info", {"payload": "info", **table}, "account", values)


# -- the property --------------------------------------------------------------------------------


def each_label_once(pairs: list[tuple[str, object]]) -> dict[str, object]:
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), names
    return dict(pairs)


def promtool(text: str) -> None:
    tool = find_program("promtool")
    if tool is None and programs_required():
        require_program("promtool", "apt-get install prometheus")  # fails the test
    if tool is None:
        return
    checked = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    said = (checked.stdout + checked.stderr).splitlines()
    assert not [line for line in said if not any(advice in line for advice in ADVICE)], said


def served(live: Live, declared: Declared) -> None:
    """Every surface over the declaration the loader accepted."""
    config = live.holder[0]
    assert config is not None
    assert declared.name in config.commands
    for fmt, accept in FORMATS.items():
        status, text = live.request("GET", f"/probe?target={TARGET}&module=m", {"Accept": accept})
        assert status == 200, (fmt, text)
        if fmt == "openmetrics":
            families = list(openmetrics_families(text))  # type: ignore[no-untyped-call]
        else:
            families = list(text_string_to_metric_families(text))
            promtool(text)
        found = {sample.name: sample for family in families for sample in family.samples}
        assert found["probe_success"].value == 1, text
        info = config.commands[declared.name].info_metric
        labels = config.commands[declared.name].info_labels
        if info is not None and not labels:  # N13: with the key as its only label
            assert found[info].labels == {config.commands[declared.name].key_label_name: TARGET}
    status, text = live.request("GET", f"/probe?target={TARGET}&module=m&debug=true")
    assert status == 200, text
    status, body = live.request("GET", "/discover?module=m&auth=home")
    assert status == 200, body
    groups = json.loads(body, object_pairs_hook=each_label_once)
    assert [group["targets"] for group in groups] == [[TARGET], [OTHER]]
    assert groups[0]["labels"]["__meta_aaisp_auth"] == "home"
    status, shown = live.request("GET", "/config")
    assert status == 200, shown
    assert declared.name in tomllib.loads(shown)["commands"]
    status, page = live.request("GET", "/")
    assert status == 200, page
    report = io.StringIO()
    home = config.model_copy(update={"auths": {"home": config.auths["home"]}})
    suggested = live.path.with_name(f"suggested-{declared.name.partition('/')[0]}.toml")
    assert live.run(check_chaos(home, report, suggest_path=suggested)) == 0, report.getvalue()
    # SPEC 6b: "The file it writes always loads", beside the configuration it was made from.
    load_config([live.path, suggested])


def refused(live: Live, problems: list[str], running: Config | None) -> None:
    for problem in problems:
        match = PROBLEM.match(problem)
        assert match is not None, problem
        assert match["file"] == str(live.path)
    status, text = live.request("POST", "/-/reload")
    assert status == 500
    assert text.startswith("reload failed; keeping the running configuration:\n"), text
    assert all(problem in text for problem in problems)
    assert live.holder[0] is running  # the loader never gave the exporter the new one
    assert live.request("GET", "/-/ready")[0] == 200


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(declared=declarations())
# The rows of issue 23, so each is tried whatever hypothesis draws.
@example(issue_row("twoa", {"info_metric": "aaisp_n2_info", "info_labels": ["name", "NAME"]}, {}))
@example(issue_row("foura", {"key": "__name__", "info_metric": "aaisp_n4_info"}, {}))
@example(issue_row("fourb", {"key": "9number", "info_metric": "aaisp_n4b_info"}, {}))
@example(issue_row("five", {"info_metric": "aaisp_n5_info", "info_labels": ["auth"]}, {}))
@example(issue_row("thirteena", {"key": "number", "info_metric": "aaisp_n13_info"}, {}))
@example(issue_row("thirteenb", {"payload": "error"}, {}))
@example(
    issue_row(
        "thirteenc",
        {"gauges": [{"field": "c", "metric": "aaisp_thirteen_c", "help": "h", "scale": 1e308}]},
        {"c": "5"},
    )
)
def test_a_declaration_that_loads_works(live: Live, declared: Declared) -> None:
    live.clock.advance(3600)  # past any failure an earlier example left to share
    live.run(_serve(live, declared))
    live.path.write_text(config_text(live.simulator.url, retries="0") + declared.toml())
    try:
        load_config(live.path)
    except ConfigError as error:
        event("refused")
        refused(live, error.problems, live.holder[0])
        return
    event("accepted")
    status, text = live.request("POST", "/-/reload")
    assert status == 200, text
    served(live, declared)


async def _serve(live: Live, declared: Declared) -> None:
    live.simulator.clear_faults()
    live.simulator.add_fault(Fault("body", command=declared.name, body=declared.reply()))
