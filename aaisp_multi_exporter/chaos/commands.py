"""What each CHAOS command is: its payload key, the fields it is read for, how each field is
parsed, and the metric families it owns. Adding a field or a metric is one entry here.

Each metric has exactly one owner. ``broadband/info`` also carries the quota fields
(docs/chaos-api.md section 5), but only ``broadband/quota`` exports them, so a line scraped by both
tiers has each series once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from aaisp_multi_exporter.chaos.text import clean_text

UK = ZoneInfo("Europe/London")
PREFIX = "aaisp_broadband"

#: Beyond this a number is not a sane counter or rate: left out, never exported.
LIMIT = 2**63
#: Longer digit strings are refused before conversion: they cannot be below LIMIT, and
#: converting thousands of digits is slow (and refused by Python past 4,300).
_MAX_DIGITS = 20
#: Label values longer than this are not a login or a postcode.
MAX_TEXT_CHARS = 256

_INTEGER = re.compile(rf"\s*-?\d{{1,{_MAX_DIGITS}}}\s*")
_TIMESTAMP = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})\s*")

FieldValue = str | int | float


def parse_text(value: object) -> str | None:
    """A string field, stripped (postcodes arrive padded with spaces: NATM), and writable as
    UTF-8 (``clean_text``)."""
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        return None
    return clean_text(value.strip())


def parse_count(value: object) -> int | None:
    """A CHAOS number: a decimal string (64-bit), tolerating a bare JSON integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if -LIMIT < number < LIMIT else None


def parse_uk_timestamp(value: object) -> float | None:
    """``YYYY-MM-DD HH:MM:SS`` in UK local time to Unix seconds.

    In the repeated hour when clocks go back the first (BST) reading is taken; CHAOS gives no
    offset to tell them apart.
    """
    if not isinstance(value, str) or len(value) > 40:
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


@dataclass(frozen=True, slots=True)
class Gauge:
    """A per-line gauge made from one field; ``scale`` converts CHAOS units to base units."""

    metric: str
    help: str
    scale: float = 1.0
    #: Only exported when this holds for the record's values (e.g. the line has a quota).
    when: Callable[[Mapping[str, FieldValue]], bool] | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """One CHAOS attribute as the exporter reads it."""

    name: str  # as normalised: lower case, "_" for "-"
    parse: Callable[[object], FieldValue | None]
    expect: str  # what a usable value looks like, for the note when it is not
    gauge: Gauge | None = None


@dataclass(frozen=True, slots=True)
class InfoMetric:
    """An always-1 gauge whose labels carry text fields, plus the line ID."""

    metric: str
    help: str
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command:
    """A read-only CHAOS command and everything the exporter does with its answer."""

    name: str  # "broadband/info"
    payload_key: str  # the reply's array: "info"
    fields: tuple[Field, ...]
    info: InfoMetric | None = None
    #: Documented fields this command carries but does not own (another command exports them).
    not_owned: tuple[str, ...] = ()

    field_names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_names", tuple(spec.name for spec in self.fields))


TEXT = "a string of at most 256 characters"
COUNT = "a whole number below 2^63"
UK_TIME = "YYYY-MM-DD HH:MM:SS"
BITS = 1 / 8  # CHAOS rates are bits per second; Prometheus' base unit is bytes


def _has_monthly_quota(values: Mapping[str, FieldValue]) -> bool:
    """Unlimited lines report ``quota_monthly`` "0" (NIK) or leave it out (MUN)."""
    return bool(values.get("quota_monthly"))


QUOTA_FIELDS = ("quota_monthly", "quota_remaining", "quota_timestamp")

INFO = Command(
    name="broadband/info",
    payload_key="info",
    fields=(
        Field("login", parse_text, TEXT),
        Field("postcode", parse_text, TEXT),
        Field(
            "tx_rate",
            parse_count,
            COUNT,
            Gauge(
                f"{PREFIX}_line_sync_download_bytes_per_second",
                "Download sync rate of the line (CHAOS tx_rate / 8), in bytes per second.",
                BITS,
            ),
        ),
        Field(
            "rx_rate",
            parse_count,
            COUNT,
            Gauge(
                f"{PREFIX}_line_sync_upload_bytes_per_second",
                "Upload sync rate of the line (CHAOS rx_rate / 8), in bytes per second.",
                BITS,
            ),
        ),
        Field(
            "tx_rate_adjusted",
            parse_count,
            COUNT,
            Gauge(
                f"{PREFIX}_line_adjusted_download_bytes_per_second",
                "Download rate after A&A's shaping adjustment (CHAOS tx_rate_adjusted / 8), "
                "in bytes per second.",
                BITS,
            ),
        ),
    ),
    info=InfoMetric(
        f"{PREFIX}_line_info",
        "Always 1; labels carry the line's CHAOS ID, login and postcode.",
        ("login", "postcode"),
    ),
    not_owned=QUOTA_FIELDS,
)

QUOTA = Command(
    name="broadband/quota",
    payload_key="quota",
    fields=(
        Field(
            "quota_monthly",
            parse_count,
            COUNT,
            Gauge(
                f"{PREFIX}_quota_total_bytes",
                "Monthly quota of the line excluding rollover (CHAOS quota_monthly), in bytes.",
                when=_has_monthly_quota,
            ),
        ),
        Field(
            "quota_remaining",
            parse_count,
            COUNT,
            Gauge(
                f"{PREFIX}_quota_remaining_bytes",
                "Quota left this month (CHAOS quota_remaining), in bytes; may exceed the total "
                "with rollover and top-ups.",
                when=_has_monthly_quota,
            ),
        ),
        Field(
            "quota_timestamp",
            parse_uk_timestamp,
            UK_TIME,
            Gauge(
                f"{PREFIX}_quota_timestamp_seconds",
                "When CHAOS last updated the quota figures (quota_timestamp, UK local time), "
                "as Unix seconds.",
            ),
        ),
    ),
)

#: Every command the exporter may call, in the order a probe's series are rendered. Nothing
#: that changes a line (``kill``, ``order``...) is ever here.
COMMANDS: Mapping[str, Command] = {command.name: command for command in (INFO, QUOTA)}
