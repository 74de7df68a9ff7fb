"""CHAOS values read as numbers or text: one function per attribute type of the manual.

Every value arrives as a JSON string, and any may be absent or unusable (docs/chaos-api.md),
so each parser returns ``None`` for what it cannot read, never raises and never guesses: the
caller leaves the series out with a note. Digits are ASCII only (``re.ASCII``): Python's
``int`` and ``float`` would also take ``"٣"`` or ``"1_000"``, which CHAOS never sends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from aaisp_multi_exporter.chaos.text import clean_text

UK = ZoneInfo("Europe/London")

#: Beyond this a number is not a sane counter or rate: left out, never exported.
LIMIT = 2**63
#: Longer digit strings are refused before conversion: they cannot be below LIMIT, and
#: converting thousands of digits is slow (and refused by Python past 4,300).
_MAX_DIGITS = 20
#: Label values longer than this are not a login or a postcode.
MAX_TEXT_CHARS = 256
#: Longer than any date, time or flag CHAOS writes; a padded huge string is refused unread.
_MAX_SHORT = 40

_INTEGER = re.compile(rf"\s*[+-]?\d{{1,{_MAX_DIGITS}}}\s*", re.ASCII)
_DECIMAL = re.compile(
    rf"\s*[+-]?(?:\d{{1,{_MAX_DIGITS}}}(?:\.\d{{0,{_MAX_DIGITS}}})?|\.\d{{1,{_MAX_DIGITS}}})"
    r"(?:[eE][+-]?\d{1,3})?\s*",
    re.ASCII,
)
_TIMESTAMP = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})\s*", re.ASCII)
_DATE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})\s*", re.ASCII)
_HMS = re.compile(r"\s*(\d{1,6}):(\d{2}):(\d{2})\s*", re.ASCII)
_MS = re.compile(r"\s*(\d{1,6}):(\d{2})\s*", re.ASCII)
_TRUE = frozenset({"y", "yes", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "false", "off", "0"})

FieldValue = str | int | float
Parser = Callable[[object], FieldValue | None]


def parse_text(value: object) -> str | None:
    """A string field, stripped (postcodes arrive padded with spaces: NATM), and writable as
    UTF-8 (``clean_text``)."""
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        return None
    return clean_text(value.strip())


def parse_count(value: object) -> int | None:
    """A whole number (a decimal string, 64-bit), tolerating a bare JSON integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if -LIMIT < number < LIMIT else None


def parse_number(value: object) -> float | None:
    """A decimal (``"12.34"``, ``"-0.5"``, ``"7"``, ``"1.5e3"``), or a bare JSON number;
    finite and below 2^63 in size, like a count."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and _DECIMAL.fullmatch(value)):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) and -LIMIT < number < LIMIT else None


def parse_uk_timestamp(value: object) -> float | None:
    """``YYYY-MM-DD HH:MM:SS`` (or with ``T`` between) in UK local time, to Unix seconds.

    In the repeated hour when clocks go back the first (BST) reading is taken; CHAOS gives no
    offset to tell them apart. A time that does not exist (the hour skipped in spring) is
    read as the clock would have shown it an hour later, as ``zoneinfo`` does.
    """
    if not isinstance(value, str) or len(value) > _MAX_SHORT:
        return None
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        local = datetime(year, month, day, hour, minute, second, tzinfo=UK)
    except ValueError:
        return None
    return local.timestamp()


def parse_date(value: object) -> float | None:
    """``YYYY-MM-DD``: that day's midnight, UK time, as Unix seconds."""
    if not isinstance(value, str) or len(value) > _MAX_SHORT:
        return None
    match = _DATE.fullmatch(value)
    if match is None:
        return None
    try:
        year, month, day = (int(part) for part in match.groups())
        return datetime(year, month, day, tzinfo=UK).timestamp()
    except ValueError:
        return None


def parse_duration(value: object) -> float | None:
    """``HH:MM:SS`` (hours may pass 24), ``MM:SS``, or plain seconds, as seconds; never
    negative."""
    if isinstance(value, str) and len(value) <= _MAX_SHORT and ":" in value:
        match = _HMS.fullmatch(value) or _MS.fullmatch(value)
        if match is None:
            return None
        *larger, minutes, seconds = (int(part) for part in match.groups())
        if seconds > 59 or (larger and minutes > 59):
            return None
        return float(sum(larger) * 3600 + minutes * 60 + seconds)
    number = parse_number(value)
    return number if number is not None and number >= 0 else None


def parse_bool(value: object) -> int | None:
    """A flag: Y/N, yes/no, true/false, on/off, 1/0 in any case (or a JSON boolean) as 1/0.
    Anything else, such as ``block``'s ``A``, is not a flag."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if not isinstance(value, str) or len(value) > _MAX_SHORT:
        return None
    word = value.strip().lower()
    if word in _TRUE:
        return 1
    if word in _FALSE:
        return 0
    return None


def parse_present(value: object) -> int:
    """A checkbox: set when the field is there and not empty (``null``, ``false``, ``""``
    and blanks are empty). The caller passes ``None`` for an absent field."""
    if value is None or value is False:
        return 0
    if isinstance(value, str):
        return 1 if value.strip() else 0
    return 1


def mapping_parser(table: Mapping[str, float], default: float | None) -> Parser:
    """Text to a number by ``table`` (keys compared case-insensitively, blanks stripped);
    any other text gives ``default``, or nothing when there is none."""
    folded = {key.strip().casefold(): value for key, value in table.items()}

    def parse_mapped(value: object) -> float | None:
        if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
            return None
        return folded.get(value.strip().casefold(), default)

    return parse_mapped


#: A state parser's answer for a text that is none of the states: every state 0.
NO_STATE = ""


def state_parser(states: Sequence[str]) -> Parser:
    """Text to one of ``states`` as declared (compared case-insensitively); any other text
    gives NO_STATE (every state 0, and a note); what is not text, nothing."""
    folded = {state.strip().casefold(): state for state in states}

    def parse_state(value: object) -> str | None:
        if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
            return None
        return folded.get(value.strip().casefold(), NO_STATE)

    return parse_state


#: The ``parse`` names of a declaration, each with what a usable value looks like (the
#: note for one that is not).
PARSERS: Mapping[str, tuple[Parser, str]] = {
    "count": (parse_count, "a whole number below 2^63"),
    "number": (parse_number, "a decimal number below 2^63"),
    "uk_time": (parse_uk_timestamp, "YYYY-MM-DD HH:MM:SS"),
    "bool": (parse_bool, "a flag (Y/N, yes/no, true/false, on/off, 1/0)"),
    "present": (parse_present, "a checkbox"),
    "date": (parse_date, "YYYY-MM-DD"),
    "duration": (parse_duration, "HH:MM:SS, MM:SS or seconds"),
}
