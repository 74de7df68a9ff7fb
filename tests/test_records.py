"""Parsing CHAOS replies: every quirk chaos-api.md documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from aaisp_multi_exporter.records import (
    ChaosReplyError,
    LineIndex,
    LineRecord,
    Outcome,
    parse_int,
    parse_line,
    parse_reply,
    parse_uk_timestamp,
)


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
        (42, 42),
        ("", None),
        ("12.5", None),
        ("n/a", None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_parse_int(value: object, expected: int | None) -> None:
    assert parse_int(value) == expected


FIX_INFO_LINE = {
    "ID": "12345",
    "login": "something4@a",
    "postcode": "XX1 1XX",
    "rx_rate": "7272000",
    "tx_rate_adjusted": "944955500",
    "quota_monthly": "10000000000000",
    "quota_remaining": "18881390851534",
    "quota_timestamp": "2024-07-31 10:00:00",
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            FIX_INFO_LINE,
            LineRecord(
                line_id="12345",
                login="something4@a",
                postcode="XX1 1XX",
                rx_rate=7272000,
                tx_rate_adjusted=944955500,
                quota_monthly=10000000000000,
                quota_remaining=18881390851534,
                quota_timestamp=utc(2024, 7, 31, 9),
            ),
            id="fixture-missing-tx_rate-remaining-above-monthly",
        ),
        pytest.param(
            {"ID": "54321", "quota_monthly": "0"},
            LineRecord(line_id="54321", quota_monthly=0),
            id="unlimited-quota-zero",
        ),
        pytest.param({"ID": "1"}, LineRecord(line_id="1"), id="only-id"),
        pytest.param(
            {"id": "2", "Tx-Rate": "1000", "QUOTA_MONTHLY": "5"},
            LineRecord(line_id="2", tx_rate=1000, quota_monthly=5),
            id="case-and-hyphen-insensitive",
        ),
        pytest.param(
            {"ID": "3", "postcode": "  SA65 9RR "},
            LineRecord(line_id="3", postcode="SA65 9RR"),
            id="postcode-stripped",
        ),
        pytest.param(
            {"ID": "4", "tx_rate": "fast", "rx_rate": "100"},
            LineRecord(line_id="4", rx_rate=100),
            id="bad-number-dropped",
        ),
        pytest.param({"login": "x@a"}, None, id="no-id"),
        pytest.param({"ID": ""}, None, id="empty-id"),
        pytest.param({"ID": ["1"]}, None, id="id-wrong-type"),
    ],
)
def test_parse_line(raw: dict[str, object], expected: LineRecord | None) -> None:
    assert parse_line(raw) == expected


def test_bad_fields_leave_notes() -> None:
    record = parse_line({"ID": "4", "tx_rate": "fast", "quota_timestamp": "soon", "login": 5})
    assert record is not None
    assert record.notes == (
        "field login is not a string; ignored",
        'field tx_rate is not a number: "fast"; ignored',
        'field quota_timestamp is not YYYY-MM-DD HH:MM:SS: "soon"; ignored',
    )


def test_reply_indexes_lines_by_id() -> None:
    body = json.dumps(
        {"info": [FIX_INFO_LINE, {"ID": "2", "tx_rate": "5"}, {"nope": "1"}, "junk"]}
    ).replace("/", "\\/")
    reply = parse_reply("broadband/info", body.encode())
    assert sorted(reply.lines) == ["12345", "2"]
    assert reply.lines["2"].tx_rate == 5
    assert reply.notes == ("info[2] has no usable ID; skipped", "info[3] has no usable ID; skipped")


@pytest.mark.parametrize(
    ("body", "outcome", "retryable", "message"),
    [
        pytest.param(
            b"<html>down</html>",
            Outcome.INVALID_RESPONSE,
            True,
            "reply is not JSON (JSONDecodeError)",
            id="html",
        ),
        pytest.param(
            b'{"info":[{"ID":"1"',
            Outcome.INVALID_RESPONSE,
            True,
            "reply is not JSON (JSONDecodeError)",
            id="truncated",
        ),
        pytest.param(
            b"\xff\xfe",
            Outcome.INVALID_RESPONSE,
            True,
            "reply is not JSON (JSONDecodeError)",
            id="binary",
        ),
        pytest.param(
            b"[]",
            Outcome.INVALID_RESPONSE,
            False,
            "reply is a JSON list, not an object",
            id="top-level-list",
        ),
        pytest.param(
            b'{"info":"oops"}',
            Outcome.INVALID_RESPONSE,
            False,
            'reply has no "info" array (a str)',
            id="payload-string",
        ),
        pytest.param(
            b'{"subsystem":"broadband"}',
            Outcome.INVALID_RESPONSE,
            False,
            'reply has no "info" array (missing)',
            id="payload-missing",
        ),
        pytest.param(
            b'{"error":"Control authorisation failed"}',
            Outcome.AUTH_ERROR,
            False,
            "CHAOS refused the credentials: Control authorisation failed",
            id="auth",
        ),
        pytest.param(
            b'{"error":"Bad control-login"}',
            Outcome.AUTH_ERROR,
            False,
            "CHAOS refused the credentials: Bad control-login",
            id="bad-login",
        ),
        pytest.param(
            b'{"error":"Account authorisation failed"}',
            Outcome.AUTH_ERROR,
            False,
            "CHAOS refused the credentials: Account authorisation failed",
            id="account",
        ),
        pytest.param(
            b'{"error":"Unknown command","info":[]}',
            Outcome.API_ERROR,
            False,
            'CHAOS error: "Unknown command"',
            id="api-error",
        ),
    ],
)
def test_reply_failures(body: bytes, outcome: Outcome, retryable: bool, message: str) -> None:
    with pytest.raises(ChaosReplyError) as caught:
        parse_reply("broadband/info", body)
    assert caught.value.outcome is outcome
    assert caught.value.retryable is retryable
    assert str(caught.value) == message


def test_quota_reply_uses_quota_key() -> None:
    body = b'{"quota":[{"ID":"54321","quota_monthly":"10000000000000"}]}'
    assert parse_reply("broadband/quota", body).lines["54321"].quota_monthly == 10**13


def test_lines_are_parsed_on_first_use() -> None:
    body = json.dumps({"info": [{"ID": str(n), "tx_rate": str(n)} for n in range(1000)]})
    reply = parse_reply("broadband/info", body.encode())
    lines = reply.lines
    assert isinstance(lines, LineIndex)
    assert len(lines) == 1000
    assert lines["7"] is lines["7"]  # parsed once, kept
    assert lines["7"].tx_rate == 7
    assert "1000" not in lines
    assert lines.get("nope") is None
    assert [record.tx_rate for record in lines.values()][:3] == [0, 1, 2]
