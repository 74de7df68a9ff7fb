"""Bounded parsing of CHAOS v2 JSON replies into line records, a piece at a time.

CHAOS sends every value as a JSON string and any field may be missing (docs/chaos-api.md
sections 4-5), so everything here is lenient: a field that is absent or unusable is left out
with a note, never a zero and never an exception. It is also bounded: a hostile or broken
reply (nested too deep, numbers thousands of digits long, floods of entries without an
``ID``) ends as one ``invalid_response``, not a crash, a 500 or a probe past its deadline.

A reply may list 100,000 lines (docs/scaling.md). It is read entry by entry (``jsonwalk``),
pausing for the event loop every few thousand, and each line is kept as one compact row
(``records``), parsed into a ``LineRecord`` only when asked for (docs/design.md, "Replies").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome, classify_error
from aaisp_multi_exporter.chaos.jsonwalk import WALKED, NotAnObject, walk
from aaisp_multi_exporter.chaos.records import (
    ABSENT,
    MAX_ID_CHARS,
    MISSING,
    SEP,
    LineIndex,
    LineRecord,
    Row,
    bounded_int,
    describe,
    usable_id,
)
from aaisp_multi_exporter.chaos.settings import Setting, read_settings
from aaisp_multi_exporter.chaos.shapes import MAX_TABLE_ENTRIES, descend, json_type, moment_of
from aaisp_multi_exporter.chaos.text import clean_text, decode_body
from aaisp_multi_exporter.config import normalise_field

#: Notes kept per reply; the rest are counted, so a flood of bad entries costs no memory.
MAX_NOTES = 20
#: More entries than this without a usable ID is not an account but a broken reply.
MAX_UNUSABLE_ENTRIES = 10_000
#: Key layouts of entries remembered per reply; CHAOS sends one or two.
_MAX_PLANS = 256
#: Field names of keyless entries remembered for --chaos.check.
_MAX_FIELDS_NAMED = 64


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
    #: The fields those entries carried (``--chaos.check`` names them: the key may be one).
    unkeyed_fields: tuple[str, ...] = ()


def load_json(body: bytes, charset: str | None = None) -> Any:
    """``json.loads`` that cannot be made to crash or stall by a hostile reply.

    Nesting beyond the interpreter's recursion limit and integers too long to convert are
    refused or kept as markers; ``NaN``/``Infinity`` and overflowing floats stay floats and
    are refused by the field parsers. ``charset`` is the one the reply's ``Content-Type``
    names, if any.
    """
    with _read_errors():
        return json.loads(decode_body(body, charset), parse_int=bounded_int)


def json_or_none(body: bytes, charset: str | None = None) -> object:
    """``load_json``, or None for what is not JSON: an error page may or may not carry
    CHAOS's refusal."""
    try:
        return load_json(body, charset)
    except ChaosError:
        return None


@contextlib.contextmanager
def _read_errors() -> Iterator[None]:
    """A reply that cannot be read ends as one ``invalid_response``; retried only when it is
    not JSON at all (an outage page, a cut connection), never when it is too deep."""
    try:
        yield
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
        #: Rows after a key's first (``entries = "each"``; every row for ``"all"``).
        self.more: dict[str, list[Row]] = {}
        #: The first entry carrying no key field at all: a line-scope reply's one entry.
        self.keyless: Row | None = None
        self.keyless_entry: Mapping[str, Any] = {}
        self.dropped = 0  # entries of an "all" table past MAX_TABLE_ENTRIES
        #: Fields of the entries without a usable key, for --chaos.check (keep_entries).
        self.unkeyed: dict[str, None] | None = {} if keep_entries else None
        self._mode = command.entries
        self._order = (
            command.field_names.index(command.order_by) if command.order_by is not None else -1
        )

    def restart(self) -> None:
        """The payload key came again: as ``json.loads``, only the last one counts."""
        self.rows.clear()
        if self.entries is not None:
            self.entries.clear()
        self.notes = _Notes()
        self.unusable = 0
        self._index = 0
        self.more.clear()
        self.keyless = None
        self.dropped = 0
        if self.unkeyed is not None:
            self.unkeyed.clear()

    def _plan(self, keys: tuple[str, ...]) -> tuple[str | None, tuple[str | None, ...]]:
        """Which of an entry's keys is the key field and which is each field (CHAOS reads
        names case-insensitively, ``-`` as ``_``; the last spelling wins), per layout.

        A field read twice (the loader refuses it; a command built another way may not) fills
        each of its slots."""
        plan = self._plans.get(keys)
        if plan is not None:
            return plan
        command = self.command
        slots: dict[str, list[int]] = {}
        for index, name in enumerate(command.field_names):
            slots.setdefault(name, []).append(index)
        key: str | None = None
        spellings: list[str | None] = [None] * len(command.field_names)
        for spelling in keys:
            name = normalise_field(spelling)
            if name == command.key:
                key = spelling
            for index in slots.get(name, ()):
                spellings[index] = spelling
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
                    line_id = value if value == value.strip() else usable_id(value)
                else:
                    line_id = usable_id(value)
        if self._mode == "all" and isinstance(entry, dict):
            self._table_row(entry)
            return
        if line_id is None:
            if self.unkeyed is not None and isinstance(entry, dict):
                self._remember_fields(entry)
            if index == 0 and isinstance(entry, dict) and plan[0] is None:
                self.keyless = self._row(entry, plan[1])  # noted unusable at the end, if so
                self.keyless_entry = entry
                return
            self._unusable(index)
            return
        assert isinstance(entry, dict)
        rows = self.rows
        if line_id in rows:
            self._repeat(index, line_id, self._row(entry, spellings))
            return
        rows[line_id] = self._row(entry, spellings)
        if self.entries is not None:
            self.entries[line_id] = entry

    def _remember_fields(self, entry: Mapping[str, Any]) -> None:
        assert self.unkeyed is not None
        for name in entry:
            if len(self.unkeyed) >= _MAX_FIELDS_NAMED:
                return
            if isinstance(name, str):
                self.unkeyed.setdefault(clean_text(name[:64]))

    def finish(self) -> None:
        """A reply of one entry that does not name its key is the one asked for (a line-scope
        reply answers for the ``service`` sent); otherwise that entry was unusable."""
        if self.keyless is None:
            return
        if self._index == 1:
            self.rows[""] = self.keyless
            if self.entries is not None:  # --chaos.check counts its fields
                self.entries[""] = self.keyless_entry
        else:
            self._unusable(0)

    def _table_row(self, entry: dict[str, Any]) -> None:
        """An ``entries = "all"`` table: every entry, whatever its key, at most
        MAX_TABLE_ENTRIES."""
        row = self._row(entry, self._plan(tuple(entry))[1])
        if "" not in self.rows:
            self.rows[""] = row
            if self.entries is not None:
                self.entries[""] = entry
            return
        more = self.more.setdefault("", [])
        if len(more) + 1 < MAX_TABLE_ENTRIES:
            more.append(row)
        else:
            self.dropped += 1

    def _repeat(self, index: int, line_id: str, row: Row) -> None:
        """A key seen before: kept for "each", the later by ``order_by`` for "latest", else
        noted (9: the first entry is used)."""
        if self._mode == "each":
            self.more.setdefault(line_id, []).append(row)
            return
        if self._mode == "latest":
            latest = moment_of(row, self._order)
            if latest is not None and (
                (kept := moment_of(self.rows[line_id], self._order)) is None or latest > kept
            ):
                self.rows[line_id] = row
            return
        self.notes.add(
            f"{self.command.payload_key}[{index}] repeats {self.command.key_spelling} "
            f"{describe(line_id)}; the first entry is used"
        )

    def _row(self, entry: Mapping[str, Any], spellings: tuple[str | None, ...]) -> Row:
        """The entry's values as one string, or a tuple when one is not a plain string."""
        joined = [ABSENT if name is None else entry[name] for name in spellings]
        try:
            row: Row = SEP.join(joined)
        except TypeError:  # a value that is not a string
            row = self._tuple(entry, spellings)
        else:
            if row.count(SEP) != len(joined) - 1 or (
                ABSENT in row
                and any(ABSENT in entry[name] for name in spellings if name is not None)
            ):
                row = self._tuple(entry, spellings)  # a value holds a separator
        return row

    @staticmethod
    def _tuple(entry: Mapping[str, Any], spellings: tuple[str | None, ...]) -> Row:
        return tuple(MISSING if name is None else entry[name] for name in spellings)

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
    yield  # gathering a reply's bytes (64 MB at most) took tens of milliseconds
    text = decode_body(body, charset)
    yield  # and so did decoding them: let the loop run
    rows = _Rows(command, keep_entries=keep_entries)
    path = command.payload_path
    key = path[0]
    nested: list[object] = []
    take = rows if len(path) == 1 else nested.append
    keep = frozenset({"error", "options"} if command.settings else {"error"})
    try:
        with _read_errors():
            restart = rows.restart if len(path) == 1 else nested.clear
            kept = yield from walk(
                text, key, take, keep=keep, restart=restart, parse_int=bounded_int
            )
    except NotAnObject:
        document = load_json(body, charset)
        raise ChaosError(
            Outcome.INVALID_RESPONSE, f"reply is a JSON {json_type(document)}, not an object"
        ) from None
    refused = refusal(kept)
    if refused is not None:
        raise refused
    if kept.get("error") is not None:
        rows.notes.first('CHAOS sent an empty "error"; the reply is used')
    payload = kept.get(key)
    if len(path) > 1:
        payload = descend(nested if payload is WALKED else payload, path)
        for count, entry in enumerate(payload if isinstance(payload, list) else [payload]):
            rows(entry)
            if count % 1000 == 999:
                yield
    elif isinstance(payload, dict):
        rows(payload)  # "arrays are used normally": a lone object is one entry
    elif payload is not WALKED:
        found = "missing" if payload is None else f"a {json_type(payload)}"
        raise ChaosError(Outcome.INVALID_RESPONSE, f'reply has no "{key}" array ({found})')
    rows.finish()
    if rows.dropped:
        rows.notes.add(
            f"the table has {MAX_TABLE_ENTRIES + rows.dropped} entries; the first "
            f"{MAX_TABLE_ENTRIES} are read"
        )
    settings: tuple[Setting, ...] = ()
    if command.settings:
        settings, notes = read_settings(kept.get("options"))
        for note in notes:
            rows.notes.add(note)
    return Reply(
        lines=LineIndex(command, rows.rows, rows.entries, rows.more, settings),
        notes=tuple(rows.notes.kept),
        note_count=rows.notes.count,
        skipped=rows.unusable,
        unkeyed_fields=tuple(rows.unkeyed or ()),
    )


def parse_reply(
    command: Command, body: bytes, charset: str | None = None, *, keep_entries: bool = False
) -> Reply:
    """Check the envelope of a reply to ``command`` and index its entries by their key
    (``ID`` for a broadband line), in one go (``--chaos.check``, tests).

    Raises ChaosError: not JSON (retryable: an outage page or a cut connection), an
    ``error`` string (a refusal, never retried) or a payload of the wrong shape. A key
    given twice keeps its first entry, and the repeat is noted; a payload given twice is
    read as ``json.loads`` reads it, the last one.
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
