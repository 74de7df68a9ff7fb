"""``--chaos.suggest``'s file: which fields become gauges of which type, where a declaration's
entries are and what names or tells them apart, and a file that always loads beside the
configuration, whatever the reply and whatever the configuration already sets.

Types and names are in ``test_suggest_types.py``; declarations the reply does not fit in
``test_suggest_shapes.py``; the file on disk in
``test_suggest_write.py``; the round trips against a real simulator in
``test_suggest_fixtures.py``.
"""

from __future__ import annotations

import json
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aaisp_multi_exporter.chaos.commands import compile_commands
from aaisp_multi_exporter.config import Config, load_config, parse_config
from aaisp_multi_exporter.demo import TELEPHONY_COMMAND
from aaisp_multi_exporter.diagnostics.suggest import Suggestions, render
from tests.config.support import MINIMAL

FIXTURES = Path(__file__).parent.parent / "fixtures"
DECLARED = '[modules.phones]\ncommands = ["telephony/info"]\n' + TELEPHONY_COMMAND
NAME = "telephony/info"
#: The commented-out lines a user uncomments to make texts labels.
_UNCOMMENT = re.compile(r"^# (info_metric|info_labels) = ", re.MULTILINE)


def load_beside(declared: str, text: str) -> Config:
    """The configuration and the suggested file, loaded as two files, as a user would."""
    with tempfile.TemporaryDirectory() as directory:
        config, extra = Path(directory, "modules.toml"), Path(directory, "suggested.toml")
        config.write_text(MINIMAL + declared)
        extra.write_text(text)
        return load_config([config, extra], env={})


def unwrapped(text: str) -> str:
    """The file with its long comments on one line each, as written before wrapping."""
    lines: list[str] = []
    for line in text.splitlines():
        if lines and line.startswith("#   "):
            lines[-1] += " " + line[4:]  # a continuation of a comment wrapped at 99
        else:
            lines.append(line)
    return "\n".join(lines)


def suggested(
    entries: list[dict[str, Any]] | None = None,
    declared: str = DECLARED,
    name: str = NAME,
    document: dict[str, Any] | None = None,
) -> str:
    config = parse_config(MINIMAL + declared, env={})
    command = compile_commands(config.commands)[name]
    suggestions = Suggestions()
    suggestions.add(command, document if document is not None else {"info": entries or []})
    return render(suggestions, config)


def gauges_loaded(text: str, declared: str = DECLARED, name: str = NAME) -> list[tuple[str, ...]]:
    """The file loads beside the configuration, also with its label lines uncommented; the
    gauges it added, with their type (or states)."""
    load_beside(declared, _UNCOMMENT.sub(r"\1 = ", text))
    before = len(parse_config(MINIMAL + declared, env={}).commands[name].gauges)
    gauges = load_beside(declared, text).commands[name].gauges[before:]
    return [(g.field, g.metric, ",".join(g.states) if g.states else g.kind) for g in gauges]


@pytest.mark.parametrize(
    ("entries", "gauges", "comments"),
    [
        pytest.param(
            [{"number": f"0163296000{i}", "calls_today": str(i)} for i in range(3)],
            [("calls_today", "aaisp_telephony_calls_today", "count")],
            ['# "calls_today": carried by 3 entries; whole numbers'],
            id="whole-numbers",
        ),
        pytest.param(
            [{"number": "01632960000", "minutes_left": "120"}, {"number": "01632960001"}],
            [("minutes_left", "aaisp_telephony_minutes_left", "count")],
            ['# "minutes_left": carried by 1 entry'],
            id="one-entry",
        ),
        pytest.param(
            [{"number": "1", "rate": "1"}, {"number": "2", "rate": "1.5"}],
            [("rate", "aaisp_telephony_rate", "number")],
            [],
            id="a-fraction-makes-it-a-number",
        ),
        pytest.param(
            [
                {"number": "1", "barred": "Y", "since": "2024-08-01", "up": "01:00:00"},
                {"number": "2", "barred": "n", "since": "2019-03-31", "up": "12:00"},
            ],
            [
                ("barred", "aaisp_telephony_barred", "bool"),
                ("since", "aaisp_telephony_since_timestamp_seconds", "date"),
                ("up", "aaisp_telephony_up_seconds", "duration"),
            ],
            ['# "since": carried by 2 entries; dates (YYYY-MM-DD)'],
            id="flag-date-time",
        ),
        pytest.param(
            [
                {"number": "1", "last_call": "2024-08-01 10:00:00", "state": "Active"},
                {"number": "2", "last_call": "2024-08-01 11:00:00", "state": "Barred"},
            ],
            [
                ("last_call", "aaisp_telephony_last_call_timestamp_seconds", "uk_time"),
                ("state", "aaisp_telephony_state", "Active,Barred"),
            ],
            [],
            id="date-time-and-states",
        ),
        pytest.param(
            [{"number": "1", "plan": "7"}, {"number": "2", "plan": "gold"}],
            [],
            [
                '# Texts, left out as a text may be personal data: "plan" (2 entries).',
                "# To carry them as labels of an info metric, add them to info_labels",
            ],
            id="a-text-is-never-a-series",
        ),
        pytest.param(
            [{"number": "1", "credit": "2.50", "name": "Home", "NAME": "x"}],
            [],
            ["# Nothing to suggest from telephony/info (1 entry)."],
            id="fields-already-read",
        ),
        pytest.param(
            [{"number": "1", "total": "3"}],
            [("total", "aaisp_telephony_total_value", "count")],
            [],
            id="counter-suffix",
        ),
        pytest.param(
            [{"number": "1", "a b": "3", "calls": "1"}],
            [("calls", "aaisp_telephony_calls", "count")],
            [
                '# Not suggested: telephony/info field "a b" (carried by 1 entry): its name '
                "is not one a declaration can hold."
            ],
            id="a-name-no-declaration-holds",
        ),
        pytest.param(
            [{"number": "1", 'x"\n[evil]\nk = 1': "3"}],
            [],
            ['# Not suggested: telephony/info field "x\\"\\n[evil]\\nk = 1" (carried by'],
            id="a-name-cannot-write-toml",
        ),
        pytest.param(
            [{"number": "1", "x" * 200: "3"}],
            [],
            [f'# Not suggested: telephony/info field "{"x" * 77}"... (carried by 1 entry)'],
            id="a-long-name-is-cut",
        ),
        pytest.param(
            [{"number": "1", "prices": {"price": []}}],
            [],
            ['# Not suggested: "prices" (objects or arrays, not values).'],
            id="nested",
        ),
        pytest.param([], [], ["# Nothing to suggest from telephony/info (0 entries)."], id="none"),
    ],
)
def test_suggestions(
    entries: list[dict[str, object]], gauges: list[tuple[str, str, str]], comments: list[str]
) -> None:
    text = suggested(entries)
    assert gauges_loaded(text) == gauges
    assert all(c in unwrapped(text) for c in comments), text
    assert set(tomllib.loads(text)) <= {"commands"}


def test_help_does_not_change_with_the_replies() -> None:
    """A HELP line is part of what Prometheus stores; two checks write the same one."""
    one = suggested([{"number": "1", "calls": "1"}])
    three = suggested([{"number": str(i), "calls": "1"} for i in range(3)])
    help_of = [line for line in one.splitlines() if line.startswith("help")]
    assert help_of == [line for line in three.splitlines() if line.startswith("help")]
    assert help_of == ['help = "CHAOS telephony/info field calls; its unit is not known."']


@pytest.mark.parametrize(
    ("entries", "comment"),
    [
        pytest.param(
            [{"number": "1", "Calls-Today": "4", "calls_today": "4"}],
            '# "Calls-Today": carried by 1 entry; whole numbers',
            id="two-spellings-one-entry",
        ),
        pytest.param(
            [{"number": "1", "calls_today": "4"}, {"number": "2", "CALLS_TODAY": "5"}],
            '# "calls_today": carried by 2 entries; whole numbers',
            id="two-spellings-two-entries",
        ),
    ],
)
def test_spellings_of_one_field_are_one_field(
    entries: list[dict[str, object]], comment: str
) -> None:
    """CHAOS reads ``Foo-Bar`` as ``foo_bar``: one field, counted once per entry."""
    text = suggested(entries)
    assert comment in text.splitlines(), text
    assert text.count("[[commands.") == 1


# -- replies and declarations (test_suggest_shapes.py reads them too) ---------------------------

RATECARD = json.loads((FIXTURES / "illustrative-telephony-ratecard.json").read_text())
PHONES = json.loads((FIXTURES / "illustrative-telephony-info.json").read_text())
USAGE = json.loads((FIXTURES / "illustrative-broadband-usage.json").read_text())
SETTINGS = json.loads((FIXTURES / "illustrative-telephony-info-settings.json").read_text())


def table(name: str, body: str = "", scope: str = "account") -> str:
    """A module reading ``name`` and the user's own table of it."""
    return f'[modules.m]\ncommands = ["{name}"]\nscope = "{scope}"\n[commands."{name}"]\n{body}'


# -- whatever the reply, the file loads ----------------------------------------------------------

_VALUE = st.one_of(
    st.sampled_from(["Y", "N", "yes", "0", "1", "7", "1.5", "-2e3", "", " ", "up", "down"]),
    st.sampled_from(["2024-08-01", "2024-08-01 10:00:00", "01:23:45", "12:30", "x@y", "٣"]),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.just({"a": "1"}),
)
_FIELD = st.sampled_from(
    ["ID", "number", "login", "status", "state", "date", "when", "n", "Calls-Today", "a b",
     "aaisp_telephony_status", "info", "instance", "9lives", "rate", "x" * 70, "_x", "__y"]
)  # fmt: skip
_ENTRY = st.dictionaries(_FIELD, _VALUE, max_size=8)
_BODY = st.sampled_from(
    [
        "",
        'key = "ID"\n',
        'payload = "info"\n',
        'entries = "first"\n',
        'info_metric = "aaisp_telephony_info"\ninfo_labels = ["rate"]\n',
        'key = "number"\nkey_label = "status"\n',
        'entries = "each"\nlabels = ["date"]\n',
        'entries = "all"\nlabels = ["n"]\n',
        'settings = true\n',
        '[[commands."telephony/info".gauges]]\nfield = "n"\nmetric = "aaisp_telephony_n"\n'
        'help = "h"\n',
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(_ENTRY, max_size=6),
    nested=st.booleans(),
    body=_BODY,
    scope=st.sampled_from(["account", "line"]),
    options=st.booleans(),
)
def test_every_file_it_writes_loads(
    entries: list[dict[str, Any]], nested: bool, body: str, scope: str, options: bool
) -> None:
    """Whatever the reply's entries hold, wherever they are, and whatever the configuration
    sets of the declaration already: the file loads beside it, and so does it with its label
    lines uncommented."""
    if "settings" in body and scope != "line":
        scope = "line"
    declared = table(NAME, body, scope)
    document: dict[str, Any] = {"deep": {"rows": {"row": entries}}} if nested else {"info": entries}
    if options:
        document["options"] = SETTINGS["options"]
    text = suggested(declared=declared, document=document)
    gauges_loaded(text, declared)
    assert "S3NTINEL" not in text  # a setting's value, never written


def test_the_walk_through_in_the_docs_is_what_suggest_writes() -> None:
    """docs/commands.md shows a file --chaos.suggest wrote; it is the file it writes."""
    docs = (FIXTURES.parent.parent / "docs" / "commands.md").read_text()
    found = re.search(
        r"<!-- suggest: fixture=(\S+) -->\n```toml\n(.*?)```\n.*?```toml\n(.*?)```", docs, re.DOTALL
    )
    assert found is not None
    fixture, declared, shown = found.groups()
    name = re.findall(r'\[commands\."([^"]+)"\]', declared)[0]
    document = json.loads((FIXTURES / fixture).read_text())
    text = suggested(declared=table(name), name=name, document=document)
    assert text.partition("\n\n")[2] == shown
    assert declared == f'[commands."{name}"]\n'
