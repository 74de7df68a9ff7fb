"""Declarations compiled into commands: the built-ins byte for byte as before, the named
parsers, omit_zero and scale, table-driven."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.core import GaugeMetricFamily

from aaisp_multi_exporter.chaos.commands import (
    BUILTIN,
    compile_command,
    compile_commands,
    parse_number,
)
from aaisp_multi_exporter.chaos.errors import ChaosError
from aaisp_multi_exporter.chaos.replies import parse_reply
from aaisp_multi_exporter.config import CommandDeclaration, parse_config
from aaisp_multi_exporter.probe.exposition import encode, negotiate
from aaisp_multi_exporter.probe.metrics import line_families
from tests.config.support import MINIMAL

FIXTURES = Path(__file__).parent.parent / "fixtures"
ACCEPTS = {
    "text": "",
    "text-1.0.0": "text/plain;version=1.0.0;escaping=allow-utf-8",
    "openmetrics": "application/openmetrics-text;version=1.0.0",
}


def test_the_builtins_write_what_they_wrote_before_they_were_declared() -> None:
    """``builtin-series.json`` was written by the build before commands became data."""
    expected = json.loads((FIXTURES / "builtin-series.json").read_text())
    written = {}
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name == "builtin-series.json":
            continue
        for command in BUILTIN.values():
            try:
                reply = parse_reply(command, path.read_bytes())
            except ChaosError:
                continue
            for line_id in reply.lines:
                for name, accept in ACCEPTS.items():
                    text = encode(line_families(command, reply.lines[line_id]), negotiate(accept))
                    written[f"{path.name} {command.name} {line_id} {name}"] = text.decode()
    written = {key: value for key, value in written.items() if not key.startswith("illustr")}
    if encode([big_number()]).endswith(b" 1e+13\n"):
        assert written == expected
    else:  # prometheus_client before 0.25 wrote "1e+013"
        assert numbers_as_values(written) == numbers_as_values(expected)


def big_number() -> GaugeMetricFamily:
    return GaugeMetricFamily("aaisp_big", "A number written with an exponent.", value=1e13)


def numbers_as_values(texts: dict[str, str]) -> dict[str, list[object]]:
    """Each text with its sample values read as numbers: the same series whatever way the
    installed prometheus_client writes an exponent (the golden file is the newest's)."""
    read: dict[str, list[object]] = {}
    for key, text in texts.items():
        lines: list[object] = []
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            lines.append(line if line.startswith("#") else (series, float(value)))
        read[key] = lines
    return read


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.50", 12.5),
        ("0.00", 0.0),
        ("-3", -3.0),
        (" 7 ", 7.0),
        (".5", 0.5),
        ("7.", 7.0),
        (42, 42.0),
        (1.25, 1.25),
        ("1e3", 1000.0),  # SPEC 6b: an exponent is a number (it was refused before R4)
        ("12,50", None),
        ("nan", None),
        (float("inf"), None),
        (str(2**63), None),
        (True, None),
        ("", None),
        ("9" * 5000, None),
    ],
)
def test_parse_number(value: object, expected: float | None) -> None:
    assert parse_number(value) == expected


DECLARED = """
[commands."telephony/info"]
payload = "info"
key = "number"

[[commands."telephony/info".gauges]]
field = "credit"
metric = "aaisp_telephony_credit_pence"
help = "Credit in pence."
parse = "number"
scale = 100

[[commands."telephony/info".gauges]]
field = "calls"
metric = "aaisp_telephony_calls"
help = "Calls."
parse = "count"
omit_zero = true

[[commands."telephony/info".gauges]]
field = "since"
metric = "aaisp_telephony_since_seconds"
help = "Since."
parse = "uk_time"
omit_zero = "calls"
"""


@pytest.mark.parametrize(
    ("entry", "series"),
    [
        pytest.param(
            {"number": "1", "credit": "1.5", "calls": "2", "since": "2024-01-15 10:00:00"},
            [
                "aaisp_telephony_credit_pence 150.0",
                "aaisp_telephony_calls 2.0",
                "aaisp_telephony_since_seconds 1.7053128e+09",
            ],
            id="every-parser",
        ),
        pytest.param(
            {"number": "1", "credit": "0", "calls": "0", "since": "2024-01-15 10:00:00"},
            ["aaisp_telephony_credit_pence 0.0"],
            id="omit-zero-own-and-another-field",
        ),
        pytest.param(
            {"number": "1", "since": "2024-01-15 10:00:00"},
            [],
            id="omit-zero-when-absent",
        ),
        pytest.param(
            {"number": "1", "credit": "lots", "calls": "1.5"},
            [],
            id="unusable-values-left-out",
        ),
    ],
)
def test_declared_gauges(entry: dict[str, str], series: list[str]) -> None:
    table = compile_commands(parse_config(MINIMAL + DECLARED, env={}).commands)
    command = table["telephony/info"]
    reply = parse_reply(command, json.dumps({"info": [entry]}).encode())
    text = encode(line_families(command, reply.lines["1"])).decode()
    assert [line for line in text.splitlines() if not line.startswith("#")] == series


def test_the_table_keeps_the_configurations_order() -> None:
    table = compile_commands(parse_config(MINIMAL + DECLARED, env={}).commands)
    assert list(table) == ["broadband/info", "broadband/quota", "telephony/info"]
    assert [command.builtin for command in table.values()] == [True, True, False]
    assert table["telephony/info"].info is None


INFO_ALONE = """
[commands."telephony/info"]
payload = "info"
key = "number"
info_metric = "aaisp_telephony_number_info"
"""


@pytest.mark.parametrize(
    ("accept", "series"),
    [
        ("text", 'aaisp_telephony_number_info{number="1"} 1.0'),
        ("openmetrics", 'aaisp_telephony_number_info{number="1"} 1.0'),
    ],
)
def test_an_info_metric_without_info_labels_carries_the_key_alone(accept: str, series: str) -> None:
    """N13: it was never written, the loader having accepted it."""
    command = compile_commands(parse_config(MINIMAL + INFO_ALONE, env={}).commands)[
        "telephony/info"
    ]
    reply = parse_reply(command, json.dumps({"info": [{"number": "1"}]}).encode())
    text = encode(line_families(command, reply.lines["1"]), negotiate(ACCEPTS[accept])).decode()
    assert series in text.splitlines()


def refused_declaration(**changes: object) -> CommandDeclaration:
    """A declaration the loader refuses, built around it: what the reply reader and the
    exposition do with one must still not crash or write +Inf."""
    declared = parse_config(MINIMAL + DECLARED, env={}).commands["telephony/info"]
    return declared.model_copy(update=changes)


def test_a_field_read_twice_fills_both_slots() -> None:
    """N2: the reader's plan was one slot short, and every reply an IndexError."""
    declaration = refused_declaration(
        info_metric="aaisp_telephony_number_info", info_labels=("name", "name")
    )
    command = compile_command(declaration, builtin=False)
    reply = parse_reply(command, json.dumps({"info": [{"number": "1", "NAME": "x"}]}).encode())
    assert reply.lines["1"].values["name"] == "x"
    assert command.field_names.count("name") == 1  # compiled once, whatever the declaration


def test_a_scaled_value_that_is_not_finite_is_left_out_with_a_note() -> None:
    gauges = refused_declaration().gauges
    declaration = refused_declaration(gauges=(gauges[0].model_copy(update={"scale": 1e308}),))
    command = compile_command(declaration, builtin=False)
    reply = parse_reply(command, json.dumps({"info": [{"number": "1", "credit": "5"}]}).encode())
    record = reply.lines["1"]
    assert encode(line_families(command, record)) == b""
    assert record.notes == (
        'field credit times its scale 1e+308 is not a finite number: "5"; ignored',
    )
