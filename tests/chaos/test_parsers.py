"""Every attribute type of the CHAOS manual, read as the declarations' parsers read it
(SPEC 6b): each accepted form, each refused one, and the hostile values every field may hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aaisp_multi_exporter.chaos.parsers import (
    PARSERS,
    mapping_parser,
    parse_bool,
    parse_count,
    parse_date,
    parse_duration,
    parse_number,
    parse_present,
    parse_uk_timestamp,
    state_parser,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


HOSTILE = [
    pytest.param(None, None, id="null"),
    pytest.param([1], None, id="array"),
    pytest.param({"a": "1"}, None, id="object"),
    pytest.param("x" * 100_000, None, id="huge-text"),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Y", 1),
        ("N", 0),
        ("y", 1),
        ("n", 0),
        ("Yes", 1),
        ("NO", 0),
        ("true", 1),
        ("False", 0),
        ("on", 1),
        ("OFF", 0),
        ("1", 1),
        ("0", 0),
        (" Y ", 1),
        (True, 1),
        (False, 0),
        (1, 1),
        (0, 0),
        ("A", None),  # block's third letter: not a flag
        ("", None),
        ("maybe", None),
        ("2", None),
        (2, None),
        ("Y" * 100, None),
        *HOSTILE,
    ],
)
def test_parse_bool(value: object, expected: int | None) -> None:
    assert parse_bool(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Y", 1),
        ("on", 1),
        ("anything", 1),
        ("0", 1),  # a checkbox is set by being there, whatever it says
        (1, 1),
        (True, 1),
        ("", 0),
        ("   ", 0),
        (None, 0),  # what the record passes for an absent field
        (False, 0),
    ],
)
def test_parse_present(value: object, expected: int) -> None:
    assert parse_present(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-08-01", utc(2024, 7, 31, 23)),  # BST: UK midnight is 23:00 UTC the day before
        ("2024-01-15", utc(2024, 1, 15)),  # GMT
        (" 2024-01-15 ", utc(2024, 1, 15)),
        ("2024-03-31", utc(2024, 3, 31)),  # the spring change is at 01:00: midnight is GMT
        ("2024-02-30", None),
        ("2024-1-5", None),
        ("01/08/2024", None),
        ("2024-08-01 10:00:00", None),  # a date-time is uk_time's
        ("\u0662\u0660\u0662\u0664-08-01", None),  # Arabic-Indic digits
        ("", None),
        (20240801, None),
        *HOSTILE,
    ],
)
def test_parse_date(value: object, expected: float | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01:23:45", 5025.0),
        ("1:23:45", 5025.0),
        ("123:00:01", 442801.0),  # hours pass 24 in a long session
        ("23:45", 1425.0),
        ("75:00", 4500.0),  # minutes lead: no cap
        ("00:00:00", 0.0),
        ("90", 90.0),
        ("12.5", 12.5),
        (30, 30.0),
        ("01:60:00", None),
        ("01:00:60", None),
        ("-5", None),
        ("1:2:3", None),
        ("01:23:45:00", None),
        ("", None),
        ("\u0661:\u0662\u0663", None),
        *HOSTILE,
    ],
)
def test_parse_duration(value: object, expected: float | None) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2024-07-31 10:00:00", utc(2024, 7, 31, 9), id="space"),
        pytest.param("2024-07-31T10:00:00", utc(2024, 7, 31, 9), id="iso-t"),
        pytest.param(" 2024-01-15 10:00:00 ", utc(2024, 1, 15, 10), id="padded"),
        pytest.param("2024-07-31 10:00", None, id="no-seconds"),
        pytest.param("2024-07-31 10:00:00Z", None, id="zone"),
        pytest.param("2024-07-31 10:00:00+01:00", None, id="offset"),
        pytest.param("2024-07-31", None, id="date-only"),
        pytest.param("\u0662\u0660\u0662\u0664-07-31 10:00:00", None, id="arabic-indic-digits"),
    ],
)
def test_uk_time_forms(value: object, expected: float | None) -> None:
    assert parse_uk_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\u0663", None),  # Arabic-Indic three: int() and float() would take it
        ("\uff11\uff12", None),  # full-width digits
        ("1_000", None),  # int() takes underscores
        ("+7", 7),
        ("-7", -7),
        ("1e3", None),  # a count is whole digits
    ],
)
def test_parse_count_ascii_only(value: object, expected: int | None) -> None:
    assert parse_count(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1e3", 1000.0),
        ("1.5E-2", 0.015),
        ("+2.5", 2.5),
        ("-.5e1", -5.0),
        ("1e400", None),  # not finite
        ("1e1234", None),  # exponent too long to be sane
        ("\u0663.\u0665", None),
        ("1_000.5", None),
        ("1e", None),
        ("e3", None),
        ("0x10", None),
        ("infinity", None),
    ],
)
def test_parse_number_forms(value: object, expected: float | None) -> None:
    assert parse_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("up", 1.0),
        ("UP", 1.0),
        (" Down ", 0.0),
        ("unknown", -1.0),
        ("", -1.0),
        (5, None),
        (None, None),
        ("x" * 1000, None),
    ],
)
def test_mapping_with_default(value: object, expected: float | None) -> None:
    assert mapping_parser({"up": 1, "Down": 0}, -1.0)(value) == expected


@pytest.mark.parametrize(("value", "expected"), [("up", 1), ("sideways", None)])
def test_mapping_without_default(value: object, expected: float | None) -> None:
    assert mapping_parser({"up": 1, "down": 0}, None)(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Active", "Active"),
        ("ACTIVE", "Active"),
        (" suspended ", "Suspended"),
        ("Gone", ""),  # none of the states: every state 0
        ("", ""),
        (1, None),
        (None, None),
    ],
)
def test_state_parser(value: object, expected: str | None) -> None:
    assert state_parser(["Active", "Suspended", "Ceased"])(value) == expected


def test_every_parse_name_has_a_parser_that_never_raises() -> None:
    """The names a declaration may give, each tried on every kind of JSON value."""
    assert set(PARSERS) == {"count", "number", "uk_time", "bool", "present", "date", "duration"}
    values: list[object] = [None, True, 1, 1.5, float("nan"), "", "x" * 10**6, [], {}, "\u0663"]
    for parse, expect in PARSERS.values():
        assert expect
        for value in values:
            parse(value)
