"""Pure parsing of CHAOS v2 JSON replies into typed line records.

CHAOS sends every value as a JSON string and any field may be missing (chaos-api.md §4-5), so
everything here is lenient: a field that is absent or unparseable becomes ``None`` and a note,
never a zero and never an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")

#: The three error strings CHAOS uses for bad credentials (chaos-api.md §7). Retrying them could
#: lock an account, so they get their own outcome.
AUTH_ERRORS = frozenset(
    {"Control authorisation failed", "Account authorisation failed", "Bad control-login"}
)

_TIMESTAMP = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})\s*$")
_INTEGER = re.compile(r"^\s*-?\d+\s*$")


class Outcome(StrEnum):
    """How one CHAOS request ended; the label values of ``chaos_requests_total``."""

    OK = "ok"
    AUTH_ERROR = "auth_error"
    API_ERROR = "api_error"
    HTTP_ERROR = "http_error"
    INVALID_RESPONSE = "invalid_response"
    TIMEOUT = "timeout"
    TRANSPORT_ERROR = "transport_error"


class ChaosReplyError(Exception):
    """A reply that arrived but cannot be used. The message never holds request data."""

    def __init__(self, outcome: Outcome, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class LineRecord:
    """One broadband line as CHAOS described it; ``None`` means CHAOS did not say."""

    line_id: str
    login: str | None = None
    postcode: str | None = None
    tx_rate: int | None = None
    rx_rate: int | None = None
    tx_rate_adjusted: int | None = None
    quota_monthly: int | None = None
    quota_remaining: int | None = None
    quota_timestamp: float | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)


_INT_FIELDS = ("tx_rate", "rx_rate", "tx_rate_adjusted", "quota_monthly", "quota_remaining")
_TEXT_FIELDS = ("login", "postcode")


def normalise_key(key: str) -> str:
    """CHAOS treats attribute names case-insensitively with ``-`` equal to ``_``."""
    return key.strip().lower().replace("-", "_")


def parse_int(value: object) -> int | None:
    """A CHAOS number: a decimal string (64-bit and beyond), tolerating a bare JSON integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    return None


def parse_uk_timestamp(value: object) -> float | None:
    """``YYYY-MM-DD HH:MM:SS`` in UK local time to Unix seconds.

    In the repeated hour when clocks go back the first (BST) reading is taken; CHAOS gives no
    offset to tell them apart.
    """
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.match(value)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        local = datetime(year, month, day, hour, minute, second, tzinfo=UK)
    except ValueError:
        return None
    return local.timestamp()


def _usable_id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def line_id_of(raw: Mapping[str, Any]) -> str | None:
    """The entry's ``ID`` without parsing the rest (CHAOS spells it ``ID``; accept any case)."""
    if "ID" in raw:
        return _usable_id(raw["ID"])
    for key, value in raw.items():
        if isinstance(key, str) and normalise_key(key) == "id":
            return _usable_id(value)
    return None


def parse_line(raw: Mapping[str, Any]) -> LineRecord | None:
    """Turn one ``info``/``quota`` entry into a record; ``None`` when it has no usable ``ID``."""
    line_id = line_id_of(raw)
    if line_id is None:
        return None
    fields = {normalise_key(key): value for key, value in raw.items() if isinstance(key, str)}
    notes: list[str] = []
    values: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        text = fields.get(name)
        if text is None:
            continue
        if isinstance(text, str):
            values[name] = text.strip()
        else:
            notes.append(f"field {name} is not a string; ignored")
    for name in _INT_FIELDS:
        if name not in fields:
            continue
        number = parse_int(fields[name])
        if number is None:
            notes.append(f"field {name} is not a number: {_describe(fields[name])}; ignored")
        else:
            values[name] = number
    if "quota_timestamp" in fields:
        stamp = parse_uk_timestamp(fields["quota_timestamp"])
        if stamp is None:
            notes.append(
                "field quota_timestamp is not YYYY-MM-DD HH:MM:SS: "
                f"{_describe(fields['quota_timestamp'])}; ignored"
            )
        else:
            values["quota_timestamp"] = stamp
    return LineRecord(line_id=line_id, notes=tuple(notes), **values)


def _describe(value: object) -> str:
    """A short, safe rendering of a bad value for a log line (line data, never credentials)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


class LineIndex(Mapping[str, LineRecord]):
    """Line records by ``ID``, each parsed on first use.

    A probe needs one line of an answer that may hold ten thousand; parsing them all on the
    event loop at every cache refresh stalled every other probe for a sizeable fraction of a
    second. Discovery, which needs them all, parses them all.
    """

    __slots__ = ("_parsed", "_raw")

    def __init__(self, raw: dict[str, Mapping[str, Any]]) -> None:
        self._raw = raw
        self._parsed: dict[str, LineRecord] = {}

    def __getitem__(self, line_id: str) -> LineRecord:
        record = self._parsed.get(line_id)
        if record is None:
            record = parse_line(self._raw[line_id])
            assert record is not None  # indexed by the same ID rule
            self._parsed[line_id] = record
        return record

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """The usable part of one CHAOS reply."""

    lines: Mapping[str, LineRecord]
    notes: tuple[str, ...] = ()


def parse_reply(command: str, body: bytes) -> ParsedReply:
    """Check the envelope of a ``broadband/<command>`` reply and index its lines by ``ID``.

    Raises ChaosReplyError: not JSON (retryable: an outage page or a cut connection), an
    ``error`` string (auth or API error) or a payload of the wrong shape.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChaosReplyError(
            Outcome.INVALID_RESPONSE,
            f"reply is not JSON ({exc.__class__.__name__})",
            retryable=True,
        ) from None
    if not isinstance(document, dict):
        raise ChaosReplyError(
            Outcome.INVALID_RESPONSE, f"reply is a JSON {type(document).__name__}, not an object"
        )
    error = document.get("error")
    if error is not None:
        text = str(error).strip()
        if text in AUTH_ERRORS:
            raise ChaosReplyError(Outcome.AUTH_ERROR, f"CHAOS refused the credentials: {text}")
        raise ChaosReplyError(Outcome.API_ERROR, f"CHAOS error: {_describe(text)}")
    key = command.rsplit("/", 1)[-1]
    payload = document.get(key)
    if not isinstance(payload, list):
        found = "missing" if payload is None else f"a {type(payload).__name__}"
        raise ChaosReplyError(Outcome.INVALID_RESPONSE, f'reply has no "{key}" array ({found})')
    raw: dict[str, Mapping[str, Any]] = {}
    notes: list[str] = []
    for index, entry in enumerate(payload):
        line_id = line_id_of(entry) if isinstance(entry, dict) else None
        if line_id is None:
            notes.append(f"{key}[{index}] has no usable ID; skipped")
            continue
        raw[line_id] = entry
    return ParsedReply(lines=LineIndex(raw), notes=tuple(notes))
