"""The command table's field parsers: every quirk and hostile value docs/chaos-api.md implies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aaisp_multi_exporter.chaos.commands import (
    BUILTIN,
    INFO,
    QUOTA,
    Command,
    compile_commands,
    parse_count,
    parse_text,
    parse_uk_timestamp,
)
from aaisp_multi_exporter.config import parse_config
from aaisp_multi_exporter.demo import TELEPHONY_COMMAND
from tests.conftest import config_text


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2024-07-31 10:00:00", utc(2024, 7, 31, 9), id="bst-is-utc-plus-one"),
        pytest.param("2024-01-15 10:00:00", utc(2024, 1, 15, 10), id="gmt-is-utc"),
        pytest.param("2024-03-31 00:30:00", utc(2024, 3, 31, 0, 30), id="before-spring-change"),
        pytest.param("2024-03-31 03:00:00", utc(2024, 3, 31, 2), id="after-spring-change"),
        pytest.param("2024-10-27 01:30:00", utc(2024, 10, 27, 0, 30), id="repeated-hour-first"),
        pytest.param("2024-10-27 02:00:00", utc(2024, 10, 27, 2), id="after-autumn-change"),
        pytest.param(" 2016-11-16 01:00:00 ", utc(2016, 11, 16, 1), id="whitespace"),
        pytest.param("2024-02-30 10:00:00", None, id="impossible-date"),
        pytest.param("31/07/2024 10:00", None, id="other-format"),
        pytest.param("", None, id="empty"),
        pytest.param(1722416400, None, id="not-a-string"),
        pytest.param("2024-07-31 10:00:00" + " " * 10_000, None, id="padded-huge"),
    ],
)
def test_uk_timestamp(text: object, expected: float | None) -> None:
    assert parse_uk_timestamp(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7272000", 7272000),
        ("18881390851534", 18881390851534),  # beyond 2**32: quotas are huge
        ("0", 0),
        ("-5", -5),
        (" 12 ", 12),
        (42, 42),
        (str(2**63 - 1), 2**63 - 1),
        (str(2**63), None),  # beyond 2^63 is not a sane counter (README, "Metrics")
        (2**63, None),
        ("9" * 5000, None),  # past Python's 4,300-digit conversion limit: refused, not raised
        ("", None),
        ("12.5", None),
        ("1e400", None),
        ("inf", None),
        ("NaN", None),
        (float("inf"), None),
        (12.0, None),
        ("n/a", None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_parse_count(value: object, expected: int | None) -> None:
    assert parse_count(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  SA65 9RR ", "SA65 9RR"),
        ("gb12@a.1", "gb12@a.1"),
        ("", ""),
        ("x" * 256, "x" * 256),
        ("x" * 257, None),
        (5, None),
        (None, None),
        (["a"], None),
    ],
)
def test_parse_text(value: object, expected: str | None) -> None:
    assert parse_text(value) == expected


def test_every_metric_has_exactly_one_owner() -> None:
    metrics = [
        field.gauge.metric
        for command in BUILTIN.values()
        for field in command.fields
        if field.gauge is not None
    ] + [command.info.metric for command in BUILTIN.values() if command.info is not None]
    assert len(metrics) == len(set(metrics))


def test_info_does_not_export_the_quota_fields_it_carries() -> None:
    quota_fields = set(QUOTA.field_names)
    assert quota_fields == set(INFO.not_owned)
    assert not quota_fields & set(INFO.field_names)


def test_only_read_commands() -> None:
    assert set(BUILTIN) == {"broadband/info", "broadband/quota"}
    assert [command.payload_key for command in BUILTIN.values()] == ["info", "quota"]


def telephony(declaration: str) -> Command:
    config = parse_config(config_text("http://127.0.0.1:1", extra=declaration), source="t.toml")
    return compile_commands(config.commands)["telephony/info"]


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        pytest.param("", "", True, id="compiled-again"),
        pytest.param('payload = "info"', 'payload = "info"  # the array', True, id="comment"),
        pytest.param(
            "aaisp_telephony_credit_gbp", "aaisp_telephony_balance_gbp", False, id="metric"
        ),
        pytest.param('help = "Prepaid', 'help = "Topped-up', False, id="help"),
        pytest.param('help = "', 'scale = 0.01\nhelp = "', False, id="scale"),
        pytest.param('help = "', 'parse = "count"\nhelp = "', False, id="parse"),
        pytest.param('help = "', 'omit_zero = true\nhelp = "', False, id="omit-zero"),
        pytest.param('["name"]', '["name", "status"]', False, id="info-labels"),
        pytest.param('["name"]', '["name"]\ninfo_help = "Numbers."', False, id="info-help"),
        pytest.param("_number_info", "_line_info", False, id="info-metric"),
        pytest.param(
            'key = "number"', 'key = "number"\nkey_label = "phone"', False, id="key-label"
        ),
        pytest.param('payload = "info"', 'payload = "numbers"', False, id="payload"),
        pytest.param('payload = "info"', 'payload = "info.numbers"', False, id="payload-path"),
        pytest.param('help = "', 'map = { a = 1 }\nhelp = "', False, id="map"),
        pytest.param('help = "', 'states = ["a", "b"]\nhelp = "', False, id="states"),
        pytest.param('help = "', 'parse = "present"\nhelp = "', False, id="present"),
        pytest.param('payload = "info"', 'payload = "info"\nsettings = true', False, id="settings"),
        pytest.param(
            'payload = "info"',
            'payload = "info"\nentries = "each"\nlabels = ["day"]',
            False,
            id="entries",
        ),
    ],
)
def test_a_commands_digest_follows_its_declaration(old: str, new: str, same: bool) -> None:
    """What is kept per command (stored replies, HELP and TYPE lines) is kept by the digest:
    a reload that changes the declaration must change it, one that does not must keep it."""
    changed = TELEPHONY_COMMAND.replace(old, new, 1)
    assert changed != TELEPHONY_COMMAND or not old
    assert (telephony(changed).digest == telephony(TELEPHONY_COMMAND).digest) is same


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("map = { a = 1, b = 0 }", "map = { a = 2, b = 0 }"),
        ("map = { a = 1, b = 0 }", "map = { a = 1, b = 0 }\ndefault = 5"),
    ],
)
def test_a_maps_numbers_change_the_digest(old: str, new: str) -> None:
    """A map's numbers are in no field of the compiled command: a reload that changes one
    must still not serve the series rendered with the old."""
    declared = TELEPHONY_COMMAND.replace('help = "', old + '\nhelp = "', 1)
    assert telephony(declared).digest != telephony(declared.replace(old, new)).digest


def test_the_built_ins_digests_are_the_same_at_every_load() -> None:
    again = compile_commands(parse_config(config_text("http://127.0.0.1:1")).commands)
    assert {name: command.digest for name, command in again.items()} == {
        name: command.digest for name, command in BUILTIN.items()
    }
