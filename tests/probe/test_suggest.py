"""``--chaos.suggest``'s pure parts: which fields become gauges, their names, and a file that
always loads beside the configuration, whatever keys a reply carries.

The round trip against a real simulator is in ``test_run_declared.py``.
"""

from __future__ import annotations

import json
import tomllib

import pytest

from aaisp_multi_exporter.chaos.commands import compile_commands
from aaisp_multi_exporter.chaos.replies import parse_reply
from aaisp_multi_exporter.config import parse_config
from aaisp_multi_exporter.probe.suggest import Suggestions, _metric_name, render
from tests.config.support import MINIMAL
from tests.declared import TELEPHONY_COMMAND

DECLARED = '[modules.phones]\ncommands = ["telephony/info"]\n' + TELEPHONY_COMMAND
NAME = "telephony/info"


@pytest.mark.parametrize(
    ("field", "taken", "metric"),
    [
        ("calls_today", set(), "aaisp_telephony_calls_today"),
        ("Calls-Today", set(), "aaisp_telephony_calls_today"),
        ("calls_today", {"aaisp_telephony_calls_today"}, "aaisp_telephony_info_calls_today"),
        (
            "calls_today",
            {"aaisp_telephony_calls_today", "aaisp_telephony_info_calls_today"},
            "aaisp_telephony_info_calls_today_2",
        ),
        ("total", set(), "aaisp_telephony_total_value"),  # _total is a counter's
        ("calls_count", set(), "aaisp_telephony_calls_count_value"),
        ("--", set(), "aaisp_telephony_field"),
    ],
)
def test_metric_names(field: str, taken: set[str], metric: str) -> None:
    assert _metric_name(NAME, field, taken) == metric


def suggested(entries: list[dict[str, object]]) -> str:
    config = parse_config(MINIMAL + DECLARED, env={})
    command = compile_commands(config.commands)[NAME]
    body = json.dumps({"info": entries}).encode()
    lines = parse_reply(command, body, keep_entries=True).lines
    suggestions = Suggestions()
    suggestions.add(command, lines)  # type: ignore[arg-type]  # a LineIndex with keep_entries
    taken = [metric for declared in config.commands.values() for metric in declared.metrics()]
    return render(suggestions, taken, {NAME: len(lines)})


def gauges_loaded(text: str) -> list[tuple[str, str, str]]:
    """The file loads beside the configuration; the gauges it added."""
    config = parse_config(MINIMAL + DECLARED + "\n" + text, env={})
    return [(g.field, g.metric, g.kind) for g in config.commands[NAME].gauges[1:]]


@pytest.mark.parametrize(
    ("entries", "gauges", "comments"),
    [
        pytest.param(
            [{"number": f"0163296000{i}", "calls_today": str(i)} for i in range(3)],
            [("calls_today", "aaisp_telephony_calls_today", "count")],
            ['# "calls_today": carried by 3 entries'],
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
            [{"number": "1", "plan": "7"}, {"number": "2", "plan": "gold"}],
            [],
            ["# Nothing to suggest from telephony/info (2 entries)."],
            id="one-text-value-is-not-a-gauge",
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
            [
                '# Not suggested: telephony/info field "x\\"\\n[evil]\\nk = 1" (carried by '
                "1 entry): its name is not one a declaration can hold."
            ],
            id="a-name-cannot-write-toml",
        ),
        pytest.param(
            [{"number": "1", "x" * 200: "3"}],
            [],
            [f'# Not suggested: telephony/info field "{"x" * 77}"... (carried by 1 entry)'],
            id="a-long-name-is-cut",
        ),
        pytest.param(
            [],
            [],
            ["# Nothing to suggest from telephony/info (0 entries)."],
            id="no-entries",
        ),
    ],
)
def test_suggestions(
    entries: list[dict[str, object]], gauges: list[tuple[str, str, str]], comments: list[str]
) -> None:
    text = suggested(entries)
    assert gauges_loaded(text) == gauges
    assert all(any(line.startswith(c) for line in text.splitlines()) for c in comments), text
    assert set(tomllib.loads(text)) <= {"commands"}


def test_help_does_not_change_with_the_replies() -> None:
    """A HELP line is part of what Prometheus stores; two checks write the same one."""
    one = suggested([{"number": "1", "calls": "1"}])
    three = suggested([{"number": str(i), "calls": "1"} for i in range(3)])
    help_of = [line for line in one.splitlines() if line.startswith("help")]
    assert help_of == [line for line in three.splitlines() if line.startswith("help")]
    assert help_of == ['help = "CHAOS telephony/info field calls; its unit is not known."']
