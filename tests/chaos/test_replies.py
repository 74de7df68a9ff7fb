"""Parsing CHAOS replies: every documented quirk, and hostile replies that must stay bounded."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from aaisp_multi_exporter.chaos.commands import INFO, QUOTA
from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome, classify_error
from aaisp_multi_exporter.chaos.records import LineIndex, LineRecord, parse_line
from aaisp_multi_exporter.chaos.replies import MAX_NOTES, MAX_UNUSABLE_ENTRIES, parse_reply


def utc(year: int, month: int, day: int, hour: int = 0) -> float:
    return datetime(year, month, day, hour, tzinfo=UTC).timestamp()


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
                "12345",
                {
                    "login": "something4@a",
                    "postcode": "XX1 1XX",
                    "rx_rate": 7272000,
                    "tx_rate_adjusted": 944955500,
                },
            ),
            id="fixture-missing-tx_rate-quota-fields-not-read-for-info",
        ),
        pytest.param({"ID": "1"}, LineRecord("1"), id="only-id"),
        pytest.param(
            {"id": "2", "Tx-Rate": "1000", "LOGIN": "a@a"},
            LineRecord("2", {"login": "a@a", "tx_rate": 1000}),
            id="case-and-hyphen-insensitive",
        ),
        pytest.param(
            {"ID": "3", "postcode": "  SA65 9RR "},
            LineRecord("3", {"postcode": "SA65 9RR"}),
            id="postcode-stripped",
        ),
        pytest.param(
            {"ID": "4", "tx_rate": "fast", "rx_rate": "100"},
            LineRecord("4", {"rx_rate": 100}),
            id="bad-number-dropped",
        ),
        pytest.param({"ID": 77, "rx_rate": "1"}, LineRecord("77", {"rx_rate": 1}), id="int-id"),
        pytest.param({"login": "x@a"}, None, id="no-id"),
        pytest.param({"ID": ""}, None, id="empty-id"),
        pytest.param({"ID": ["1"]}, None, id="id-wrong-type"),
        pytest.param({"ID": "1" * 65}, None, id="id-too-long"),
    ],
)
def test_parse_info_line(raw: dict[str, object], expected: LineRecord | None) -> None:
    assert parse_line(INFO, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            FIX_INFO_LINE,
            LineRecord(
                "12345",
                {
                    "quota_monthly": 10000000000000,
                    "quota_remaining": 18881390851534,
                    "quota_timestamp": utc(2024, 7, 31, 9),
                },
            ),
            id="remaining-above-monthly",
        ),
        pytest.param(
            {"ID": "54321", "quota_monthly": "0"},
            LineRecord("54321", {"quota_monthly": 0}),
            id="unlimited-quota-zero",
        ),
        pytest.param(
            {"ID": "5", "QUOTA-MONTHLY": "5", "login": "x@a"},
            LineRecord("5", {"quota_monthly": 5}),
            id="hyphen-and-fields-it-does-not-own",
        ),
    ],
)
def test_parse_quota_line(raw: dict[str, object], expected: LineRecord) -> None:
    assert parse_line(QUOTA, raw) == expected


def test_bad_fields_leave_bounded_notes() -> None:
    record = parse_line(
        INFO, {"ID": "4", "tx_rate": "fast", "login": 5, "rx_rate": ["x"] * 100_000}
    )
    assert record is not None
    assert record.values == {}
    assert record.notes == (
        "field login is not a string of at most 256 characters: 5; ignored",
        'field tx_rate is not a whole number below 2^63: "fast"; ignored',
        "field rx_rate is not a whole number below 2^63: an array of 100000; ignored",
    )


def test_reply_indexes_lines_by_id() -> None:
    body = json.dumps(
        {"info": [FIX_INFO_LINE, {"ID": "2", "tx_rate": "5"}, {"nope": "1"}, "junk"]}
    ).replace("/", "\\/")
    reply = parse_reply(INFO, body.encode())
    assert sorted(reply.lines) == ["12345", "2"]
    assert reply.lines["2"].get("tx_rate") == 5
    assert reply.notes == ("info[2] has no usable ID; skipped", "info[3] has no usable ID; skipped")
    assert reply.note_count == 2


def test_lone_object_is_a_one_element_array() -> None:
    body = b'{"quota":{"ID":"54321","quota_monthly":"10"}}'
    reply = parse_reply(QUOTA, body)
    assert list(reply.lines) == ["54321"]
    assert reply.lines["54321"].get("quota_monthly") == 10


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("Control authorisation failed", Outcome.AUTH_ERROR),
        ("Account authorisation failed", Outcome.AUTH_ERROR),
        ("Bad control-login", Outcome.AUTH_ERROR),
        ("Login locked", Outcome.AUTH_ERROR),
        ("Too many failed logins, account locked", Outcome.AUTH_ERROR),
        ("Password expired", Outcome.AUTH_ERROR),
        ("Control authorization failed", Outcome.AUTH_ERROR),
        ("Unknown command", Outcome.API_ERROR),
        ("Bad service", Outcome.API_ERROR),
        ("Service temporarily unavailable", Outcome.API_ERROR),
    ],
)
def test_every_error_string_is_a_refusal(text: str, outcome: Outcome) -> None:
    assert classify_error(text) is outcome
    with pytest.raises(ChaosError) as caught:
        parse_reply(INFO, json.dumps({"error": text, "info": []}).encode())
    assert caught.value.outcome is outcome
    assert caught.value.retryable is False
    assert caught.value.definitive is True


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
            "reply is a JSON array, not an object",
            id="top-level-array",
        ),
        pytest.param(
            b'{"info":"oops"}',
            Outcome.INVALID_RESPONSE,
            False,
            'reply has no "info" array (a string)',
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
            b"[" * 100_000 + b"]" * 100_000,
            Outcome.INVALID_RESPONSE,
            False,
            "reply is nested too deeply",
            id="nested-100000-deep",
        ),
        pytest.param(
            b'{"info":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            Outcome.INVALID_RESPONSE,
            False,
            "reply is nested too deeply",
            id="payload-nested-deep",
        ),
        pytest.param(
            b'{"error":"Control authorisation failed"}',
            Outcome.AUTH_ERROR,
            False,
            "CHAOS refused the credentials: Control authorisation failed",
            id="auth",
        ),
        pytest.param(
            b'{"error":"Unknown command","info":[]}',
            Outcome.API_ERROR,
            False,
            'CHAOS error: "Unknown command"',
            id="api-error",
        ),
        pytest.param(
            b'{"error":"' + b"x" * 10_000 + b'"}',
            Outcome.API_ERROR,
            False,
            'CHAOS error: "' + "x" * 40 + '..."',
            id="long-error-text-cut",
        ),
        pytest.param(
            json.dumps({"info": [{"login": "x"}] * (MAX_UNUSABLE_ENTRIES + 1)}).encode(),
            Outcome.INVALID_RESPONSE,
            False,
            f'reply has more than {MAX_UNUSABLE_ENTRIES} "info" entries without a usable ID',
            id="flood-of-entries-without-id",
        ),
    ],
)
def test_reply_failures(body: bytes, outcome: Outcome, retryable: bool, message: str) -> None:
    with pytest.raises(ChaosError) as caught:
        parse_reply(INFO, body)
    assert caught.value.outcome is outcome
    assert caught.value.retryable is retryable
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "note"),
    [
        pytest.param(b"9" * 5000, "a number of 5000 digits", id="json-number-5000-digits"),
        pytest.param(b'"' + b"9" * 5000 + b'"', '"' + "9" * 40 + '..."', id="string-5000-digits"),
        pytest.param(b"1e400", "inf", id="float-overflow"),
        pytest.param(b"Infinity", "inf", id="infinity"),
        pytest.param(b"NaN", "nan", id="nan"),
        pytest.param(str(2**64).encode(), str(2**64), id="beyond-2-63"),
    ],
)
def test_insane_numbers_become_notes(value: bytes, note: str) -> None:
    body = b'{"info":[{"ID":"1","tx_rate":' + value + b',"rx_rate":"8"}]}'
    record = parse_reply(INFO, body).lines["1"]
    assert record.values == {"rx_rate": 8}
    assert record.notes == (f"field tx_rate is not a whole number below 2^63: {note}; ignored",)


@pytest.mark.parametrize("error", ["", "  ", "\n"])
def test_an_empty_error_is_no_refusal(error: str) -> None:
    """Clients disagree whether it refuses; the data is there, so it is used.
    (An earlier rule took any ``error`` key for a refusal: the contract changed.)"""
    body = json.dumps({"error": error, "info": [{"ID": "1", "tx_rate": "8"}]}).encode()
    reply = parse_reply(INFO, body)
    assert reply.lines["1"].get("tx_rate") == 8
    assert reply.notes == ('CHAOS sent an empty "error"; the reply is used',)


def test_a_repeated_id_keeps_the_first_entry_and_says_so() -> None:
    entries = [{"ID": "1", "tx_rate": "8"}, {"ID": "2"}, {"ID": " 1 ", "tx_rate": "16"}]
    reply = parse_reply(INFO, json.dumps({"info": entries}).encode())
    assert list(reply.lines) == ["1", "2"]
    assert reply.lines["1"].get("tx_rate") == 8
    assert reply.notes == ('info[2] repeats ID "1"; the first entry is used',)
    assert (reply.note_count, reply.skipped) == (1, 0)


#: A lone high surrogate as CESU-8 bytes: what a JSON "\ud800" escape is, written raw.
CESU_D800 = b"\xed\xa0\x80"


@pytest.mark.parametrize(
    ("body", "charset", "line_id", "login"),
    [
        pytest.param(
            b'{"info":[{"ID":"1","login":"ab\\ud800@a"}]}', None, "1", "ab\ufffd@a", id="escape"
        ),
        pytest.param(
            b'{"info":[{"ID":"1","login":"ab' + CESU_D800 + b'@a"}]}',
            None,
            "1",
            "ab\ufffd\ufffd\ufffd@a",
            id="cesu-bytes",
        ),
        pytest.param(
            b'{"info":[{"ID":"1\\udfff","login":"a@a"}]}', None, "1\ufffd", "a@a", id="in-id"
        ),
        pytest.param(
            b'{"info":[{"ID":"1","login":"\\ud83d\\ude00@a"}]}',
            None,
            "1",
            "\U0001f600@a",
            id="a-valid-pair-is-kept",
        ),
        pytest.param(
            b'{"info":[{"ID":"1","login":"caf\xe9@a"}]}',
            "iso-8859-1",
            "1",
            "caf\xe9@a",
            id="latin-1-said",
        ),
        pytest.param(
            b'{"info":[{"ID":"1","login":"caf\xe9@a"}]}',
            None,
            "1",
            "caf\ufffd@a",
            id="latin-1-unsaid",
        ),
        pytest.param(
            b'{"info":[{"ID":"1","login":"caf\xe9@a"}]}',
            "no-such-charset",
            "1",
            "caf\ufffd@a",
            id="unknown-charset-read-as-utf-8",
        ),
        pytest.param(
            '{"info":[{"ID":"1","login":"café@a"}]}'.encode("utf-16"),
            None,
            "1",
            "café@a",
            id="utf-16-with-bom",
        ),
    ],
)
def test_text_from_chaos_is_always_writable(
    body: bytes, charset: str | None, line_id: str, login: str
) -> None:
    """Lone surrogates become U+FFFD at parsing; a named charset is used (docs/design.md,
    "Text from CHAOS")."""
    reply = parse_reply(INFO, body, charset)
    record = reply.lines[line_id]
    assert record.line_id == line_id
    assert record.get("login") == login
    login.encode()  # writable as UTF-8


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b'{"error":"Bad \\ud800 service"}', 'CHAOS error: "Bad \\ufffd service"', id="escape"
        ),
        pytest.param(
            b'{"error":"Login \\udc00 locked"}',
            "CHAOS refused the credentials: Login \ufffd locked",
            id="auth-escape",
        ),
        pytest.param(
            b'{"error":"Bad ' + CESU_D800 + b' service"}',
            'CHAOS error: "Bad \\ufffd\\ufffd\\ufffd service"',
            id="cesu-bytes",
        ),
    ],
)
def test_refusal_texts_are_writable(body: bytes, message: str) -> None:
    with pytest.raises(ChaosError) as caught:
        parse_reply(INFO, body)
    assert str(caught.value) == message
    str(caught.value).encode()


def test_notes_are_capped_and_counted() -> None:
    entries = [{"login": "x"}] * 5000 + [{"ID": "1"}]
    reply = parse_reply(INFO, json.dumps({"info": entries}).encode())
    assert list(reply.lines) == ["1"]
    assert len(reply.notes) == MAX_NOTES
    assert reply.note_count == reply.skipped == 5000


def test_hostile_reply_parses_in_bounded_time() -> None:
    """200,000 entries without an ID: refused quickly, whatever the count."""
    body = json.dumps({"info": [{"x": "y"}] * 200_000}).encode()
    started = time.process_time()
    with pytest.raises(ChaosError):
        parse_reply(INFO, body)
    assert time.process_time() - started < 5  # generous: a sanity bound, not a benchmark


def test_quota_reply_uses_quota_key() -> None:
    body = b'{"quota":[{"ID":"54321","quota_monthly":"10000000000000"}]}'
    assert parse_reply(QUOTA, body).lines["54321"].get("quota_monthly") == 10**13


def test_lines_are_parsed_when_asked_for() -> None:
    """Rows are kept compact and parsed on each lookup (issue 19: a parsed record per line
    was most of the memory of 100,000 lines; the probe layer keeps the rendered text)."""
    body = json.dumps({"info": [{"ID": str(n), "tx_rate": str(n)} for n in range(1000)]})
    reply = parse_reply(INFO, body.encode())
    lines = reply.lines
    assert isinstance(lines, LineIndex)
    assert len(lines) == 1000
    assert lines["7"] == lines["7"]
    assert lines["7"] is not lines["7"]
    assert lines["7"].get("tx_rate") == 7
    assert "1000" not in lines
    assert lines.get("nope") is None
    assert [record.get("tx_rate") for record in lines.values()][:3] == [0, 1, 2]
