"""Bounded parsing of CHAOS v2 JSON replies into line records, a piece at a time.

CHAOS sends every value as a JSON string and any field may be missing (docs/chaos-api.md
sections 4-5), so everything here is lenient: a field that is absent or unusable is left out
with a note, never a zero and never an exception. It is also bounded: a hostile or broken
reply (nested too deep, numbers thousands of digits long, floods of entries without an
``ID``) ends as one ``invalid_response``, not a crash, a 500 or a probe past its deadline.

A reply may list 100,000 lines (docs/scaling.md). It is read entry by entry (``jsonwalk``),
pausing for the event loop every few thousand, and each line is kept as one compact row of
the raw values its command reads, parsed into a ``LineRecord`` only when asked for
(docs/design.md, "Replies").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from aaisp_multi_exporter.chaos.commands import Command, FieldValue
from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome, classify_error
from aaisp_multi_exporter.chaos.jsonwalk import WALKED, NotAnObject, walk
from aaisp_multi_exporter.chaos.text import clean_text, decode_body

#: Notes kept per reply; the rest are counted, so a flood of bad entries costs no memory.
MAX_NOTES = 20
#: More entries than this without a usable ID is not an account but a broken reply.
MAX_UNUSABLE_ENTRIES = 10_000
#: Line IDs are the probe's target, which is at most 64 characters.
MAX_ID_CHARS = 64
#: Key layouts of entries remembered per reply; CHAOS sends one or two.
_MAX_PLANS = 256

#: A row is the raw values of a line's fields joined by _SEP, _ABSENT standing for a field
#: the entry does not carry: one string a line rather than a dict. An entry with a value that
#: is not a string, or that holds either character, keeps a tuple instead.
_SEP = "\x1f"
_ABSENT = "\x1e"
_MISSING = object()
Row = str | tuple[object, ...]


@dataclass(frozen=True, slots=True)
class LineRecord:
    """One broadband line as one CHAOS command described it; absent means CHAOS did not say."""

    line_id: str
    values: Mapping[str, FieldValue] = field(default_factory=dict)
    notes: tuple[str, ...] = field(default=(), compare=False)
    #: Fields the command is read for that CHAOS left out (or sent unusable), for the log.
    absent: tuple[str, ...] = field(default=(), compare=False)

    def get(self, name: str) -> FieldValue | None:
        return self.values.get(name)


def normalise_key(key: str) -> str:
    """CHAOS treats attribute names case-insensitively with ``-`` equal to ``_``."""
    return key.strip().lower().replace("-", "_")


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
    if isinstance(value, _Huge):
        return repr(value)
    return type(value).__name__


def _int_text(value: int) -> str:
    return (
        str(value) if value.bit_length() < 128 else f"a number of about {value.bit_length()} bits"
    )


def _usable_id(value: object) -> str | None:
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
        return _usable_id(raw[command.key_spelling])
    for key, value in raw.items():
        if isinstance(key, str) and normalise_key(key) == command.key:
            return _usable_id(value)
    return None


def parse_line(command: Command, raw: Mapping[str, Any]) -> LineRecord | None:
    """One payload entry as ``command`` reads it; ``None`` when it has no usable key."""
    line_id = key_of(raw, command)
    if line_id is None:
        return None
    given = {normalise_key(key): value for key, value in raw.items() if isinstance(key, str)}
    return _record(
        command, line_id, tuple(given.get(name, _MISSING) for name in command.field_names)
    )


def _split(row: Row, count: int) -> tuple[object, ...]:
    """A row's raw values, _MISSING for a field the entry did not carry."""
    if not isinstance(row, str):
        return row
    if not count:
        return ()
    return tuple(_MISSING if part == _ABSENT else part for part in row.split(_SEP))


def _record(command: Command, line_id: str, row: Row) -> LineRecord:
    """A row's values parsed, with a note for each that is unusable."""
    raw = _split(row, len(command.fields))
    values: dict[str, FieldValue] = {}
    notes: list[str] = []
    for spec, given in zip(command.fields, raw, strict=True):
        if given is _MISSING:
            continue
        parsed = spec.parse(given)
        if parsed is None:
            notes.append(f"field {spec.name} is not {spec.expect}: {describe(given)}; ignored")
        else:
            values[spec.name] = parsed
    absent = tuple(name for name in command.field_names if name not in values)
    return LineRecord(line_id=line_id, values=values, notes=tuple(notes), absent=absent)


_T = TypeVar("_T")


class LineIndex(Mapping[str, LineRecord]):
    """Line records by key (``ID``), each kept as a compact row and parsed when asked for.

    A probe needs one line of a reply that may hold 100,000; its rendered series are kept by
    the probe layer, so a row is parsed about once per reply. ``raw`` gives the entries as
    CHAOS sent them, for ``--chaos.check``, when the reply was read with ``keep_entries``.
    """

    __slots__ = ("_command", "_entries", "_rows")

    def __init__(
        self,
        command: Command,
        rows: dict[str, Row],
        entries: dict[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._command = command
        self._rows = rows
        self._entries = entries

    def __getitem__(self, line_id: str) -> LineRecord:
        return _record(self._command, line_id, self._rows[line_id])

    @overload
    def get(self, line_id: str, /) -> LineRecord | None: ...
    @overload
    def get(self, line_id: str, /, default: LineRecord | _T) -> LineRecord | _T: ...
    def get(self, line_id: str, /, default: object = None) -> object:
        """``Mapping.get`` without its KeyError."""
        row = self._rows.get(line_id)
        return default if row is None else _record(self._command, line_id, row)

    def __contains__(self, line_id: object) -> bool:
        return line_id in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def reader(self, names: Collection[str]) -> Callable[[str], dict[str, FieldValue]]:
        """A function giving some of a line's fields parsed, the others left alone:
        ``/discover`` needs the labels of every line, and nothing else."""
        fields = self._command.fields
        picks = [(index, spec) for index, spec in enumerate(fields) if spec.name in names]
        rows, count = self._rows, len(fields)

        def read(line_id: str) -> dict[str, FieldValue]:
            raw = _split(rows[line_id], count)
            found: dict[str, FieldValue] = {}
            for index, spec in picks:
                given = raw[index]
                if given is not _MISSING:
                    parsed = spec.parse(given)
                    if parsed is not None:
                        found[spec.name] = parsed
            return found

        return read

    def raw(self, line_id: str) -> Mapping[str, Any]:
        """The entry as CHAOS sent it (``--chaos.check`` counts the fields it carried)."""
        if self._entries is None:
            raise LookupError("the reply was read without keep_entries")
        return self._entries[line_id]


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class Reply:
    """The usable part of one CHAOS reply, with at most MAX_NOTES notes and a count of all.

    Compared and hashed by identity, and weakly referable: what is kept per reply (a line's
    rendered series) is kept by whoever needs it, and goes with the reply.
    """

    lines: Mapping[str, LineRecord]
    notes: tuple[str, ...] = ()
    note_count: int = 0
    #: Entries left out for having no usable ``ID``.
    skipped: int = 0


class _Huge:
    """A JSON number too long to convert; it becomes a field note, not a crash."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"


def _bounded_int(text: str) -> int | _Huge:
    return int(text) if len(text) <= 40 else _Huge(len(text))


def load_json(body: bytes, charset: str | None = None) -> Any:
    """``json.loads`` that cannot be made to crash or stall by a hostile reply.

    Nesting beyond the interpreter's recursion limit and integers too long to convert are
    refused or kept as markers; ``NaN``/``Infinity`` and overflowing floats stay floats and
    are refused by the field parsers. ``charset`` is the one the reply's ``Content-Type``
    names, if any.
    """
    try:
        return json.loads(decode_body(body, charset), parse_int=_bounded_int)
    except RecursionError:
        raise ChaosError(Outcome.INVALID_RESPONSE, "reply is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ChaosError(
            Outcome.INVALID_RESPONSE,
            f"reply is not JSON ({exc.__class__.__name__})",
            retryable=True,
        ) from None
    except ValueError as exc:  # pragma: no cover - parse_int covers the known cases
        raise ChaosError(
            Outcome.INVALID_RESPONSE, f"reply cannot be read ({exc.__class__.__name__})"
        ) from None


def refusal(document: object) -> ChaosError | None:
    """CHAOS's refusal, when ``document`` carries a non-empty ``error``; never retried.

    An empty ``error`` (``""``) refuses nothing: clients disagree on it, and the data next to
    it is what was asked for. ``parse_reply`` notes it.
    """
    if not isinstance(document, dict):
        return None
    error = document.get("error")
    if error is None or (isinstance(error, str) and not error.strip()):
        return None
    text = clean_text(error.strip()) if isinstance(error, str) else describe(error)
    outcome = classify_error(text)
    if outcome is Outcome.AUTH_ERROR:
        shown = text if len(text) <= 80 else text[:77] + "..."
        return ChaosError(outcome, f"CHAOS refused the credentials: {shown}")
    return ChaosError(outcome, f"CHAOS error: {describe(text)}")


class _Notes:
    """The first MAX_NOTES notes of a reply, and a count of them all."""

    __slots__ = ("count", "kept")

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.count = 0

    def add(self, note: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_NOTES:
            self.kept.append(note)

    def first(self, note: str) -> None:
        """A note about the whole reply, before those about its entries."""
        self.count += 1
        self.kept.insert(0, note)
        del self.kept[MAX_NOTES:]


class _Rows:
    """Takes the payload's entries one at a time: each line's key, and its row."""

    def __init__(self, command: Command, *, keep_entries: bool) -> None:
        self.command = command
        self.rows: dict[str, Row] = {}
        self.entries: dict[str, Mapping[str, Any]] | None = {} if keep_entries else None
        self.notes = _Notes()
        self.unusable = 0
        self._index = 0
        self._plans: dict[tuple[str, ...], tuple[str | None, tuple[str | None, ...]]] = {}

    def _plan(self, keys: tuple[str, ...]) -> tuple[str | None, tuple[str | None, ...]]:
        """Which of an entry's keys is the key field and which is each field (CHAOS reads
        names case-insensitively, ``-`` as ``_``; the last spelling wins), per layout."""
        plan = self._plans.get(keys)
        if plan is not None:
            return plan
        command = self.command
        slots = {name: index for index, name in enumerate(command.field_names)}
        key: str | None = None
        spellings: list[str | None] = [None] * len(slots)
        for spelling in keys:
            name = normalise_key(spelling)
            if name == command.key:
                key = spelling
            elif name in slots:
                spellings[slots[name]] = spelling
        plan = (key, tuple(spellings))
        if len(self._plans) < _MAX_PLANS:
            self._plans[keys] = plan
        return plan

    def __call__(self, entry: object) -> None:
        """One entry: the hot path of a large reply, so the usual case (a string key, every
        value a string) is written out."""
        index = self._index
        self._index = index + 1
        line_id = None
        if isinstance(entry, dict):
            keys = tuple(entry)
            plan = self._plans.get(keys) or self._plan(keys)
            key, spellings = plan
            if key is not None:
                value = entry[key]
                if type(value) is str and value.isascii() and 0 < len(value) <= MAX_ID_CHARS:
                    line_id = value if value == value.strip() else _usable_id(value)
                else:
                    line_id = _usable_id(value)
        if line_id is None:
            self._unusable(index)
            return
        assert isinstance(entry, dict)
        rows = self.rows
        if line_id in rows:
            self.notes.add(
                f"{self.command.payload_key}[{index}] repeats {self.command.key_spelling} "
                f"{describe(line_id)}; the first entry is used"
            )
            return
        joined = [_ABSENT if name is None else entry[name] for name in spellings]
        try:
            row: Row = _SEP.join(joined)
        except TypeError:  # a value that is not a string
            row = self._tuple(entry, spellings)
        else:
            if row.count(_SEP) != len(joined) - 1 or (
                _ABSENT in row
                and any(_ABSENT in entry[name] for name in spellings if name is not None)
            ):
                row = self._tuple(entry, spellings)  # a value holds a separator
        rows[line_id] = row
        if self.entries is not None:
            self.entries[line_id] = entry

    @staticmethod
    def _tuple(entry: Mapping[str, Any], spellings: tuple[str | None, ...]) -> Row:
        return tuple(_MISSING if name is None else entry[name] for name in spellings)

    def _unusable(self, index: int) -> None:
        self.unusable += 1
        payload, spelling = self.command.payload_key, self.command.key_spelling
        if self.unusable > MAX_UNUSABLE_ENTRIES:
            raise ChaosError(
                Outcome.INVALID_RESPONSE,
                f'reply has more than {MAX_UNUSABLE_ENTRIES} "{payload}" entries without a '
                f"usable {spelling}",
            )
        self.notes.add(f"{payload}[{index}] has no usable {spelling}; skipped")


def _parse(
    command: Command, body: bytes, charset: str | None, keep_entries: bool
) -> Generator[None, None, Reply]:
    text = decode_body(body, charset)
    yield  # decoding 30 MB took a few milliseconds: let the loop run
    rows = _Rows(command, keep_entries=keep_entries)
    key = command.payload_key
    try:
        kept = yield from walk(text, key, rows, parse_int=_bounded_int)
    except NotAnObject:
        document = load_json(body, charset)
        raise ChaosError(
            Outcome.INVALID_RESPONSE, f"reply is a JSON {_json_type(document)}, not an object"
        ) from None
    except RecursionError:
        raise ChaosError(Outcome.INVALID_RESPONSE, "reply is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ChaosError(
            Outcome.INVALID_RESPONSE,
            f"reply is not JSON ({exc.__class__.__name__})",
            retryable=True,
        ) from None
    refused = refusal(kept)
    if refused is not None:
        raise refused
    if kept.get("error") is not None:
        rows.notes.first('CHAOS sent an empty "error"; the reply is used')
    payload = kept.get(key)
    if isinstance(payload, dict):
        rows(payload)  # "arrays are used normally": a lone object is one entry
    elif payload is not WALKED:
        found = "missing" if payload is None else f"a {_json_type(payload)}"
        raise ChaosError(Outcome.INVALID_RESPONSE, f'reply has no "{key}" array ({found})')
    return Reply(
        lines=LineIndex(command, rows.rows, rows.entries),
        notes=tuple(rows.notes.kept),
        note_count=rows.notes.count,
        skipped=rows.unusable,
    )


def parse_reply(
    command: Command, body: bytes, charset: str | None = None, *, keep_entries: bool = False
) -> Reply:
    """Check the envelope of a reply to ``command`` and index its entries by their key
    (``ID`` for a broadband line), in one go (``--chaos.check``, tests).

    Raises ChaosError: not JSON (retryable: an outage page or a cut connection), an
    ``error`` string (a refusal, never retried) or a payload of the wrong shape. A key
    given twice keeps its first entry, and the repeat is noted.
    """
    parsing = _parse(command, body, charset, keep_entries)
    while True:
        try:
            next(parsing)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def parse_reply_async(command: Command, body: bytes, charset: str | None = None) -> Reply:
    """``parse_reply``, pausing for the event loop every few thousand values, so a reply of
    100,000 lines never holds up the probes in flight."""
    parsing = _parse(command, body, charset, keep_entries=False)
    while True:
        try:
            next(parsing)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        await asyncio.sleep(0)


def _json_type(value: object) -> str:
    return {
        list: "array",
        dict: "object",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }.get(type(value), "value")
