"""Line records: one CHAOS entry as a command reads it, kept compact until asked for.

A reply may list 100,000 lines (docs/scaling.md), so each is kept as one row of the raw
values its command reads (a string, not a dict) and parsed into a ``LineRecord`` only when a
probe, ``/discover`` or ``--chaos.check`` needs it. Parsing is lenient: a field that is absent
or unusable is left out with a note, never a zero and never an exception.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from aaisp_multi_exporter.chaos.commands import Command, FieldValue
from aaisp_multi_exporter.chaos.jsonwalk import Oversized
from aaisp_multi_exporter.chaos.parsers import NO_STATE
from aaisp_multi_exporter.chaos.settings import Setting
from aaisp_multi_exporter.chaos.text import clean_text
from aaisp_multi_exporter.config import normalise_field

#: Line IDs are the probe's target, which is at most 64 characters.
MAX_ID_CHARS = 64
#: A row is the raw values of a line's fields joined by SEP, ABSENT standing for a field
#: the entry does not carry: one string a line rather than a dict. An entry with a value that
#: is not a string, or that holds either character, keeps a tuple instead.
SEP = "\x1f"
ABSENT = "\x1e"
MISSING = object()
Row = str | tuple[object, ...]


@dataclass(frozen=True, slots=True)
class LineRecord:
    """One broadband line as one CHAOS command described it; absent means CHAOS did not say."""

    line_id: str
    values: Mapping[str, FieldValue] = field(default_factory=dict)
    notes: tuple[str, ...] = field(default=(), compare=False)
    #: Fields the command is read for that CHAOS left out (or sent unusable), for the log.
    absent: tuple[str, ...] = field(default=(), compare=False)
    #: With ``entries = "each"`` or ``"all"``, every entry's values, the first's included
    #: (``values``); empty for one entry.
    entries: tuple[Mapping[str, FieldValue], ...] = field(default=(), compare=False)
    #: The service's adjustable settings (``settings = true``), from the reply's options.
    settings: tuple[Setting, ...] = field(default=(), compare=False)

    def rows(self) -> tuple[Mapping[str, FieldValue], ...]:
        """The values of each entry the record stands for: usually one."""
        return self.entries or (self.values,)

    def get(self, name: str) -> FieldValue | None:
        return self.values.get(name)


def describe(value: object) -> str:
    """A short, safe rendering of a bad value for a note (line data, never credentials).

    Bounded whatever the value: a huge list or string is named, not serialised.
    """
    if isinstance(value, str):
        text = json.dumps(value[:40])
        return text if len(value) <= 40 else text[:-1] + '..."'
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else _int_text(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, list):
        return f"an array of {len(value)}"
    if isinstance(value, dict):
        return f"an object of {len(value)} keys"
    if isinstance(value, Huge | Oversized):
        return repr(value)
    return type(value).__name__


def _int_text(value: int) -> str:
    return (
        str(value) if value.bit_length() < 128 else f"a number of about {value.bit_length()} bits"
    )


def usable_id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() < 64:
        value = str(value)
    if not isinstance(value, str):
        return None
    text = clean_text(value.strip())
    return text if 0 < len(text) <= MAX_ID_CHARS else None


def key_of(raw: Mapping[str, Any], command: Command) -> str | None:
    """The entry's key (``ID`` for a broadband line) without parsing the rest: spelt as
    declared, or in any case with ``-`` for ``_``."""
    if command.key_spelling in raw:
        return usable_id(raw[command.key_spelling])
    for key, value in raw.items():
        if isinstance(key, str) and normalise_field(key) == command.key:
            return usable_id(value)
    return None


def parse_line(command: Command, raw: Mapping[str, Any]) -> LineRecord | None:
    """One payload entry as ``command`` reads it; ``None`` when it has no usable key."""
    line_id = key_of(raw, command)
    if line_id is None:
        return None
    given = {normalise_field(key): value for key, value in raw.items() if isinstance(key, str)}
    return _record(
        command, line_id, tuple(given.get(name, MISSING) for name in command.field_names)
    )


def _split(row: Row, count: int) -> tuple[object, ...]:
    """A row's raw values, MISSING for a field the entry did not carry."""
    if not isinstance(row, str):
        return row
    if not count:
        return ()
    return tuple(MISSING if part == ABSENT else part for part in row.split(SEP))


def raw_value(row: Row, index: int) -> object:
    """One raw value of a row (MISSING when the entry did not carry it), splitting no
    further than it."""
    if not isinstance(row, str):
        return row[index]
    part = row.split(SEP, index + 1)[index]
    return MISSING if part == ABSENT else part


def _values(command: Command, row: Row, notes: list[str]) -> dict[str, FieldValue]:
    """A row's values parsed, with a note for each that is unusable."""
    raw = _split(row, len(command.fields))
    values: dict[str, FieldValue] = {}
    for spec, given in zip(command.fields, raw, strict=True):
        if given is MISSING:
            if spec.when_absent is not None:
                values[spec.name] = spec.when_absent
            continue
        parsed = spec.parse(given)
        if parsed is None:
            notes.append(f"field {spec.name} is not {spec.expect}: {describe(given)}; ignored")
            continue
        if (
            spec.gauge is not None
            and not isinstance(parsed, str)
            and not math.isfinite(parsed * spec.gauge.scale)
        ):
            notes.append(
                f"field {spec.name} times its scale {spec.gauge.scale!r} is not a finite "
                f"number: {describe(given)}; ignored"
            )
            continue
        if parsed == NO_STATE and spec.gauge is not None and spec.gauge.states is not None:
            notes.append(f"field {spec.name} is not {spec.expect}: {describe(given)}; all 0")
        values[spec.name] = parsed
    return values


def _record(
    command: Command,
    line_id: str,
    row: Row,
    more: Sequence[Row] = (),
    settings: tuple[Setting, ...] = (),
) -> LineRecord:
    """A row parsed; with ``more`` (``entries = "each"`` or ``"all"``), every row, told
    apart by the command's labels (a repeat of the labels is left out with a note)."""
    notes: list[str] = []
    values = _values(command, row, notes)
    absent = tuple(name for name in command.field_names if name not in values)
    if not more:
        return LineRecord(line_id, values, tuple(notes), absent, settings=settings)
    seen: set[tuple[object, ...]] = set()
    entries: list[Mapping[str, FieldValue]] = []
    for index, each in enumerate((row, *more)):
        parsed = values if index == 0 else _values(command, each, notes)
        labels = tuple(parsed.get(name) for name in command.labels)
        if labels in seen:
            shown = ", ".join(
                f"{name}={describe(value)}"
                for name, value in zip(command.labels, labels, strict=True)
            )
            notes.append(f"entry {index} repeats the labels of an earlier one ({shown}); left out")
            continue
        seen.add(labels)
        entries.append(parsed)
    return LineRecord(line_id, values, tuple(notes), absent, tuple(entries), settings)


_T = TypeVar("_T")


class LineIndex(Mapping[str, LineRecord]):
    """Line records by key (``ID``), each kept as a compact row and parsed when asked for.

    A probe needs one line of a reply that may hold 100,000; its rendered series are kept by
    the probe layer, so a row is parsed about once per reply. ``raw`` gives the entries as
    CHAOS sent them, for ``--chaos.check``, when the reply was read with ``keep_entries``.
    """

    __slots__ = ("_command", "_entries", "_more", "_rows", "_settings")

    def __init__(
        self,
        command: Command,
        rows: dict[str, Row],
        entries: dict[str, Mapping[str, Any]] | None = None,
        more: Mapping[str, Sequence[Row]] | None = None,
        settings: tuple[Setting, ...] = (),
    ) -> None:
        self._command = command
        self._rows = rows
        self._entries = entries
        #: The rows after a key's first, for ``entries = "each"`` or ``"all"``.
        self._more = more or {}
        #: The reply's settings: a line-scope reply's, so its one line's.
        self._settings = settings

    def __getitem__(self, line_id: str) -> LineRecord:
        return self._make(line_id, self._rows[line_id])

    def _make(self, line_id: str, row: Row) -> LineRecord:
        return _record(self._command, line_id, row, self._more.get(line_id, ()), self._settings)

    @overload
    def get(self, line_id: str, /) -> LineRecord | None: ...
    @overload
    def get(self, line_id: str, /, default: LineRecord | _T) -> LineRecord | _T: ...
    def get(self, line_id: str, /, default: object = None) -> object:
        """``Mapping.get`` without its KeyError."""
        row = self._rows.get(line_id)
        return default if row is None else self._make(line_id, row)

    def __contains__(self, line_id: object) -> bool:
        return line_id in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def reader(self, names: Sequence[str]) -> Callable[[str], list[FieldValue | None]]:
        """A function giving the named fields of a line parsed (None where absent or
        unusable), in the order of ``names`` (fields of the command), the others left alone:
        ``/discover`` needs the labels of every line and nothing else, so this is its hot
        loop (one bounded split and a parse per name; no record, no dict)."""
        fields = {spec.name: (index, spec) for index, spec in enumerate(self._command.fields)}
        picks = [fields[name] for name in names]
        rows = self._rows
        # Split no further than the last field read: info labels come first in a row.
        splits = max((index for index, _ in picks), default=-1) + 1

        def read(line_id: str) -> list[FieldValue | None]:
            row = rows[line_id]
            if type(row) is str:
                parts: Sequence[object] = row.split(SEP, splits)
                absent: object = ABSENT
            else:
                parts, absent = row, MISSING
            values: list[FieldValue | None] = []
            for index, spec in picks:
                given = parts[index]
                if given == absent:
                    values.append(spec.when_absent)
                else:
                    values.append(spec.parse(given))
            return values

        return read

    def raw(self, line_id: str) -> Mapping[str, Any]:
        """The entry as CHAOS sent it (``--chaos.check`` counts the fields it carried)."""
        if self._entries is None:
            raise LookupError("the reply was read without keep_entries")
        return self._entries[line_id]


class Huge:
    """A JSON number too long to convert; it becomes a field note, not a crash."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"


def bounded_int(text: str) -> int | Huge:
    """JSON's ``parse_int``: Python refuses to convert a number of thousands of digits."""
    return int(text) if len(text) <= 40 else Huge(len(text))
