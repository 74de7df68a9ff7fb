"""Pure, bounded parsing of CHAOS v2 JSON replies into line records.

CHAOS sends every value as a JSON string and any field may be missing (docs/chaos-api.md sections
4-5), so everything here is lenient: a field that is absent or unusable is left out with a
note, never a zero and never an exception. It is also bounded: a hostile or broken reply
(nested too deep, numbers thousands of digits long, floods of entries without an ``ID``)
ends as one ``invalid_response``, not a crash, a 500 or a probe past its deadline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from aaisp_multi_exporter.chaos.commands import Command, FieldValue
from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome, classify_error
from aaisp_multi_exporter.chaos.text import clean_text, decode_body

#: Notes kept per reply; the rest are counted, so a flood of bad entries costs no memory.
MAX_NOTES = 20
#: More entries than this without a usable ID is not an account but a broken reply.
MAX_UNUSABLE_ENTRIES = 10_000
#: Line IDs are the probe's target, which is at most 64 characters.
MAX_ID_CHARS = 64


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
    values: dict[str, FieldValue] = {}
    notes: list[str] = []
    for spec in command.fields:
        if spec.name not in given:
            continue
        parsed = spec.parse(given[spec.name])
        if parsed is None:
            notes.append(
                f"field {spec.name} is not {spec.expect}: {describe(given[spec.name])}; ignored"
            )
        else:
            values[spec.name] = parsed
    absent = tuple(name for name in command.field_names if name not in values)
    return LineRecord(line_id=line_id, values=values, notes=tuple(notes), absent=absent)


_T = TypeVar("_T")


class LineIndex(Mapping[str, LineRecord]):
    """Line records by ``ID``, each parsed on first use.

    A probe needs one line of an answer that may hold ten thousand; parsing them all on the
    event loop at every cache refresh stalled every other probe for a sizeable fraction of a
    second. Discovery, which needs them all, parses them all.
    """

    __slots__ = ("_command", "_parsed", "_raw")

    def __init__(self, command: Command, raw: dict[str, Mapping[str, Any]]) -> None:
        self._command = command
        self._raw = raw
        self._parsed: dict[str, LineRecord] = {}

    def __getitem__(self, line_id: str) -> LineRecord:
        record = self._parsed.get(line_id)
        if record is None:
            record = parse_line(self._command, self._raw[line_id])
            assert record is not None  # indexed by the same ID rule
            self._parsed[line_id] = record
        return record

    @overload
    def get(self, line_id: str, /) -> LineRecord | None: ...
    @overload
    def get(self, line_id: str, /, default: LineRecord | _T) -> LineRecord | _T: ...
    def get(self, line_id: str, /, default: object = None) -> object:
        """``Mapping.get`` without its KeyError: it is every probe's lookup."""
        record = self._parsed.get(line_id)
        if record is not None:
            return record
        return self[line_id] if line_id in self._raw else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def raw(self, line_id: str) -> Mapping[str, Any]:
        """The entry as CHAOS sent it (``--chaos.check`` counts the fields it carried)."""
        return self._raw[line_id]


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


def parse_reply(command: Command, body: bytes, charset: str | None = None) -> Reply:
    """Check the envelope of a reply to ``command`` and index its entries by their key
    (``ID`` for a broadband line).

    Raises ChaosError: not JSON (retryable: an outage page or a cut connection), an
    ``error`` string (a refusal, never retried) or a payload of the wrong shape. A key
    given twice keeps its first entry, and the repeat is noted.
    """
    document = load_json(body, charset)
    if not isinstance(document, dict):
        raise ChaosError(
            Outcome.INVALID_RESPONSE, f"reply is a JSON {_json_type(document)}, not an object"
        )
    refused = refusal(document)
    if refused is not None:
        raise refused
    notes = _Notes()
    if "error" in document and document["error"] is not None:
        notes.add('CHAOS sent an empty "error"; the reply is used')
    key = command.payload_key
    payload = document.get(key)
    if isinstance(payload, dict):
        payload = [payload]  # "arrays are used normally": a lone object is one entry
    if not isinstance(payload, list):
        found = "missing" if payload is None else f"a {_json_type(payload)}"
        raise ChaosError(Outcome.INVALID_RESPONSE, f'reply has no "{key}" array ({found})')
    raw: dict[str, Mapping[str, Any]] = {}
    unusable = 0
    for index, entry in enumerate(payload):
        line_id = key_of(entry, command) if isinstance(entry, dict) else None
        if line_id is None:
            unusable += 1
            if unusable > MAX_UNUSABLE_ENTRIES:
                raise ChaosError(
                    Outcome.INVALID_RESPONSE,
                    f'reply has more than {MAX_UNUSABLE_ENTRIES} "{key}" entries without a '
                    f"usable {command.key_spelling}",
                )
            notes.add(f"{key}[{index}] has no usable {command.key_spelling}; skipped")
        elif line_id in raw:
            notes.add(
                f"{key}[{index}] repeats {command.key_spelling} {describe(line_id)}; "
                "the first entry is used"
            )
        else:
            raw[line_id] = entry
    return Reply(
        lines=LineIndex(command, raw),
        notes=tuple(notes.kept),
        note_count=notes.count,
        skipped=unusable,
    )


def _json_type(value: object) -> str:
    return {
        list: "array",
        dict: "object",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }.get(type(value), "value")
