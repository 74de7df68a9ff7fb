"""What each CHAOS command is, as a probe runs it: its payload key, the fields it reads, how
each is parsed, and the metric families it owns.

The commands are data (``[commands."<subsystem>/<command>"]`` tables, the built-ins in
``config/builtin_commands.toml``), validated by ``config/commands.py``; ``compile_commands``
turns them into these objects once per configuration load, so a probe only calls the named
parsers. docs/commands.md has the format.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from aaisp_multi_exporter.chaos.text import clean_text
from aaisp_multi_exporter.config import (
    CommandDeclaration,
    GaugeDeclaration,
    builtin_declarations,
)

UK = ZoneInfo("Europe/London")

#: Beyond this a number is not a sane counter or rate: left out, never exported.
LIMIT = 2**63
#: Longer digit strings are refused before conversion: they cannot be below LIMIT, and
#: converting thousands of digits is slow (and refused by Python past 4,300).
_MAX_DIGITS = 20
#: Label values longer than this are not a login or a postcode.
MAX_TEXT_CHARS = 256

_INTEGER = re.compile(rf"\s*-?\d{{1,{_MAX_DIGITS}}}\s*")
_DECIMAL = re.compile(
    rf"\s*-?(?:\d{{1,{_MAX_DIGITS}}}(?:\.\d{{0,{_MAX_DIGITS}}})?|\.\d{{1,{_MAX_DIGITS}}})\s*"
)
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


def parse_number(value: object) -> float | None:
    """A decimal (``"12.34"``, ``"-0.5"``, ``"7"``), or a bare JSON number; finite and below
    2^63 in size, like a count."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and _DECIMAL.fullmatch(value)):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) and -LIMIT < number < LIMIT else None


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
    #: The field whose 0 or absence leaves the series out, for the probe's log.
    omitted_without: str | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """One CHAOS attribute as the exporter reads it."""

    name: str  # as normalised: lower case, "_" for "-"
    parse: Callable[[object], FieldValue | None]
    expect: str  # what a usable value looks like, for the note when it is not
    gauge: Gauge | None = None


@dataclass(frozen=True, slots=True)
class InfoMetric:
    """An always-1 gauge whose labels carry text fields, plus the entry's key."""

    metric: str
    help: str
    labels: tuple[str, ...]
    key_label: str = "line_id"


@dataclass(frozen=True, slots=True)
class Command:
    """A read-only CHAOS command and everything the exporter does with its reply."""

    name: str  # "broadband/info"
    payload_key: str  # the reply's array: "info"
    fields: tuple[Field, ...]
    info: InfoMetric | None = None
    #: Fields the reply carries that another command exports (documented, never read here).
    not_owned: tuple[str, ...] = ()
    #: The entry field a target is matched against, normalised ("id"), and as declared.
    key: str = "id"
    key_spelling: str = "ID"
    builtin: bool = True

    field_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: A hash of all the above: what is kept per command (stored replies, rendered HELP and
    #: TYPE lines) is kept by it, so a reload that changes the declaration never serves what
    #: the old one read or wrote, and one that leaves it alone keeps it all.
    digest: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_names", tuple(spec.name for spec in self.fields))
        object.__setattr__(self, "digest", _digest(self))


def _digest(command: Command) -> str:
    """The same for two compilations of one declaration (functions are named, not
    compared), different when anything the exporter reads or writes differs."""

    def named(function: Callable[..., object] | None) -> str | None:
        return None if function is None else f"{function.__module__}.{function.__qualname__}"

    def gauge(spec: Gauge | None) -> tuple[object, ...] | None:
        if spec is None:
            return None
        return (spec.metric, spec.help, spec.scale, named(spec.when), spec.omitted_without)

    info = command.info
    parts = (
        command.name,
        command.payload_key,
        command.key,
        command.key_spelling,
        command.builtin,
        command.not_owned,
        None if info is None else (info.metric, info.help, info.labels, info.key_label),
        tuple((f.name, named(f.parse), f.expect, gauge(f.gauge)) for f in command.fields),
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


TEXT = "a string of at most 256 characters"
PARSERS: Mapping[str, tuple[Callable[[object], FieldValue | None], str]] = {
    "count": (parse_count, "a whole number below 2^63"),
    "number": (parse_number, "a decimal number below 2^63"),
    "uk_time": (parse_uk_timestamp, "YYYY-MM-DD HH:MM:SS"),
}


def _present(name: str) -> Callable[[Mapping[str, FieldValue]], bool]:
    def present(values: Mapping[str, FieldValue]) -> bool:
        return bool(values.get(name))

    present.__qualname__ = f"present({name})"
    return present


def _gauge_field(declaration: GaugeDeclaration) -> Field:
    parse, expect = PARSERS[declaration.parse]
    omit = declaration.omit_zero
    without = declaration.field if omit is True else omit or None
    gauge = Gauge(
        declaration.metric,
        declaration.help,
        declaration.scale,
        when=_present(without) if without else None,
        omitted_without=without,
    )
    return Field(declaration.field, parse, expect, gauge)


def compile_command(declaration: CommandDeclaration, *, builtin: bool) -> Command:
    """The runtime form of one declaration: fields in the order their series are written,
    the info metric's text labels first, then the gauges."""
    info = None
    if declaration.info_metric is not None:
        labels = declaration.info_labels
        help_text = declaration.info_help or (
            f"Always 1; labels carry CHAOS {declaration.name}'s "
            + ", ".join([declaration.key, *labels])
            + "."
        )
        info = InfoMetric(declaration.info_metric, help_text, labels, declaration.key_label_name)
    fields = [Field(label, parse_text, TEXT) for label in declaration.info_labels]
    fields += [_gauge_field(gauge) for gauge in declaration.gauges]
    return Command(
        name=declaration.name,
        payload_key=declaration.payload_key,
        fields=tuple(fields),
        info=info,
        not_owned=declaration.also_carries,
        key=declaration.key_field,
        key_spelling=declaration.key,
        builtin=builtin,
    )


def compile_commands(declarations: Mapping[str, CommandDeclaration]) -> dict[str, Command]:
    """Every command of a configuration, in its order (the built-ins first): the order a
    probe's series are written in."""
    builtin = builtin_declarations()
    return {
        name: compile_command(declaration, builtin=name in builtin)
        for name, declaration in declarations.items()
    }


#: The built-in commands alone (a configuration with no declared command).
BUILTIN: Mapping[str, Command] = compile_commands(builtin_declarations())
INFO = BUILTIN["broadband/info"]
QUOTA = BUILTIN["broadband/quota"]
