"""Which entries a probe reads, and where they are (SPEC 6b): nested payloads, first, latest,
each and all, a line-scope reply's one keyless entry, checkboxes and state sets, each as the
series it gives, table-driven."""

from __future__ import annotations

import json

import pytest

from aaisp_multi_exporter.chaos.commands import Command, compile_commands
from aaisp_multi_exporter.chaos.errors import ChaosError
from aaisp_multi_exporter.chaos.replies import parse_reply
from aaisp_multi_exporter.chaos.shapes import MAX_TABLE_ENTRIES
from aaisp_multi_exporter.config import parse_config
from aaisp_multi_exporter.probe.exposition import TEXT, encode
from aaisp_multi_exporter.probe.metrics import line_families
from tests.config.support import MINIMAL


def command(declared: str) -> Command:
    commands = compile_commands(parse_config(MINIMAL + declared, env={}).commands)
    return next(cmd for cmd in commands.values() if not cmd.builtin)


def series(cmd: Command, reply: object, key: str) -> list[str]:
    parsed = parse_reply(cmd, json.dumps(reply).encode())
    text = encode(line_families(cmd, parsed.lines[key]), TEXT).decode()
    return [line for line in text.splitlines() if not line.startswith("#")]


USAGE = """
[commands."broadband/usage"]
payload = "usage"
{extra}
[[commands."broadband/usage".gauges]]
field = "down"
metric = "aaisp_usage_down_bytes"
help = "h"
parse = "count"
"""
ROWS = {
    "usage": [
        {"ID": "1", "date": "2024-07-30", "down": "20"},
        {"ID": "1", "date": "2024-07-31", "down": "30"},
        {"ID": "1", "date": "2024-07-29", "down": "10"},
        {"ID": "2", "date": "2024-07-31", "down": "99"},
    ]
}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param("", ["aaisp_usage_down_bytes 20.0"], id="first"),
        pytest.param(
            'entries = "latest"\norder_by = "date"\n', ["aaisp_usage_down_bytes 30.0"], id="latest"
        ),
        pytest.param(
            'entries = "each"\nlabels = ["date"]\n',
            [
                'aaisp_usage_down_bytes{date="2024-07-30"} 20.0',
                'aaisp_usage_down_bytes{date="2024-07-31"} 30.0',
                'aaisp_usage_down_bytes{date="2024-07-29"} 10.0',
            ],
            id="each",
        ),
    ],
)
def test_which_entries_of_a_key(extra: str, expected: list[str]) -> None:
    assert series(command(USAGE.format(extra=extra)), ROWS, "1") == expected


def test_latest_takes_a_date_time_and_keeps_the_first_of_undated() -> None:
    cmd = command(USAGE.format(extra='entries = "latest"\norder_by = "when"\n'))
    reply = {
        "usage": [
            {"ID": "1", "when": "garbage", "down": "1"},
            {"ID": "1", "when": "2024-07-31 09:00:00", "down": "2"},
            {"ID": "1", "when": "2024-07-31 08:00:00", "down": "3"},
            {"ID": "1", "down": "4"},
        ]
    }
    assert series(cmd, reply, "1") == ["aaisp_usage_down_bytes 2.0"]


def test_each_leaves_out_a_repeat_of_the_labels_with_a_note() -> None:
    cmd = command(USAGE.format(extra='entries = "each"\nlabels = ["date"]\n'))
    reply = {
        "usage": [{"ID": "1", "date": "d", "down": "1"}, {"ID": "1", "date": "d", "down": "2"}]
    }
    parsed = parse_reply(cmd, json.dumps(reply).encode())
    record = parsed.lines["1"]
    assert [dict(values) for values in record.rows()] == [{"date": "d", "down": 1}]
    assert record.notes == ('entry 1 repeats the labels of an earlier one (date="d"); left out',)


TABLE = """
[commands."telephony/ratecard"]
payload = "rate_card.rates.rate"
entries = "all"
labels = ["rate"]
info_metric = "aaisp_rate_info"
info_labels = ["band"]

[[commands."telephony/ratecard".gauges]]
field = "ppm"
metric = "aaisp_rate_ppm"
help = "h"
"""


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            {
                "rate_card": {
                    "rates": {"rate": [{"rate": "A", "ppm": "1"}, {"rate": "B", "ppm": "2"}]}
                }
            },
            ['aaisp_rate_ppm{rate="A"} 1.0', 'aaisp_rate_ppm{rate="B"} 2.0'],
            id="objects",
        ),
        pytest.param(
            {"rate_card": [{"rates": [{"rate": [{"rate": "A", "ppm": "1", "band": "x"}]}]}]},
            ['aaisp_rate_info{band="x",rate="A"} 1.0', 'aaisp_rate_ppm{rate="A"} 1.0'],
            id="one-element-arrays",
        ),
        pytest.param(
            {
                "Rate_Card": {"Rates": {"rate": {"rate": "A", "ppm": "1"}}},
                "rate_card": {"rates": {"rate": {"rate": "Z", "ppm": "9"}}},
            },
            ['aaisp_rate_ppm{rate="Z"} 9.0'],
            id="exact-first-step-then-lone-object",
        ),
    ],
)
def test_nested_tables(reply: object, expected: list[str]) -> None:
    assert series(command(TABLE), reply, "") == expected


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        pytest.param(
            {"rate_card": {"codes": {}, "prices": {}}},
            'reply has no "rates" in "rate_card" (members there: "codes", "prices")',
            id="missing-step",
        ),
        pytest.param(
            {"rate_card": {"rates": "none"}},
            'reply\'s "rate_card.rates" is a JSON string, not an object holding "rate"',
            id="step-not-an-object",
        ),
        pytest.param(
            {"rate_card": {"rates": {"rate": "7"}}},
            'reply\'s "rate_card.rates.rate" is a JSON string, not entries',
            id="entries-not-entries",
        ),
        pytest.param(
            {"rate_card": [{"a": 1}, {"b": 2}]},
            'reply\'s "rate_card" is a JSON array, not an object holding "rates"',
            id="array-of-two",
        ),
    ],
)
def test_a_missing_step_names_it(reply: object, message: str) -> None:
    with pytest.raises(ChaosError) as raised:
        parse_reply(command(TABLE), json.dumps(reply).encode())
    assert str(raised.value) == message


def test_a_table_reads_at_most_its_cap_and_notes_the_rest() -> None:
    rows = [{"rate": f"r{index}", "ppm": "1"} for index in range(MAX_TABLE_ENTRIES + 5)]
    parsed = parse_reply(
        command(TABLE), json.dumps({"rate_card": {"rates": {"rate": rows}}}).encode()
    )
    assert len(parsed.lines[""].rows()) == MAX_TABLE_ENTRIES
    assert (
        parsed.notes[-1]
        == f"the table has {MAX_TABLE_ENTRIES + 5} entries; the first 1000 are read"
    )


PHONE = """
[commands."telephony/info"]
payload = "info"
key = "number"

[[commands."telephony/info".gauges]]
field = "credit"
metric = "aaisp_credit_gbp"
help = "h"

[[commands."telephony/info".gauges]]
field = "voip"
metric = "aaisp_voip_enabled"
help = "h"
parse = "present"

[[commands."telephony/info".gauges]]
field = "state"
metric = "aaisp_phone_state"
help = "h"
states = ["on", "off"]
"""


@pytest.mark.parametrize(
    ("entries", "lines"),
    [
        pytest.param([{"credit": "1"}], {""}, id="one-keyless-entry-is-the-service"),
        pytest.param([{"credit": "1"}, {"credit": "2"}], set(), id="two-keyless-entries"),
        pytest.param([{"credit": "1"}, {"number": "7", "credit": "2"}], {"7"}, id="keyless-first"),
        pytest.param([{"number": "", "credit": "1"}], set(), id="unusable-key-is-not-keyless"),
    ],
)
def test_a_keyless_entry(entries: list[object], lines: set[str]) -> None:
    parsed = parse_reply(command(PHONE), json.dumps({"info": entries}).encode())
    assert set(parsed.lines) == lines
    assert parsed.skipped == len(entries) - len(lines)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            {"state": "ON", "voip": "Y"},
            [
                "aaisp_voip_enabled 1.0",
                'aaisp_phone_state{aaisp_phone_state="off"} 0.0',
                'aaisp_phone_state{aaisp_phone_state="on"} 1.0',
            ],
            id="set",
        ),
        pytest.param(
            {"state": "unplugged", "voip": ""},
            [
                "aaisp_voip_enabled 0.0",
                'aaisp_phone_state{aaisp_phone_state="off"} 0.0',
                'aaisp_phone_state{aaisp_phone_state="on"} 0.0',
            ],
            id="unknown-state-every-state-0",
        ),
        pytest.param({}, ["aaisp_voip_enabled 0.0"], id="absent-checkbox-is-0"),
    ],
)
def test_checkboxes_and_state_sets(entry: dict[str, str], expected: list[str]) -> None:
    assert series(command(PHONE), {"info": [{"number": "1", **entry}]}, "1") == expected
