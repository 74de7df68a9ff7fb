"""Where ``--chaos.suggest`` finds a command's entries, and what names them or tells them apart.

For a declaration whose payload the reply does not have: the arrays of objects it does have.
For entries that do not carry the declared key: a field naming each of them (an ID, number or
login); failing that, a table of the account (``entries = "all"``) and the fields that tell
its entries apart. For a key that repeats: the latest entry by a date, or each entry told apart
(SPEC 6b). Values are compared, never kept; only field names come out.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.errors import ChaosError
from aaisp_multi_exporter.chaos.parsers import parse_number
from aaisp_multi_exporter.chaos.records import usable_id
from aaisp_multi_exporter.chaos.shapes import descend, members
from aaisp_multi_exporter.config.commands import field_problem, normalise_field
from aaisp_multi_exporter.diagnostics.suggest_types import GAUGE_KINDS, FieldSeen

Entry = Mapping[str, Any]
#: Members of every reply that are CHAOS's envelope, never a command's entries.
_ENVELOPE = frozenset({"request", "options"})
#: How far down, and how many arrays, a reply is searched for entries.
_MAX_DEPTH = 4
_MAX_TABLES = 16
#: Entries typed to choose between arrays.
_SCORED = 1000
#: Fields tried in pairs when no one field tells the entries apart.
_PAIRED = 12
#: Fields remembered per command; a reply with more names is not one a person declares.
MAX_FIELDS = 500
#: Field names that name a line, a number or a login, best first.
_NAMES = ("id", "number", "login", "service", "username", "cli", "msisdn", "iccid", "circuit")
_NAMING_ENDS = ("_id", "_number", "_login")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NOTLABELS = frozenset({"instance", "job", "module"})


@dataclass(frozen=True)
class Shape:
    """What one reply says about a declaration: where the entries are, and what the
    declaration should say to read them (None and () where it reads them already)."""

    path: tuple[str, ...] | None
    #: The declared payload is not in the reply; ``path`` is the array found instead.
    moved: bool = False
    #: The other arrays of objects found, with their entry counts.
    others: tuple[tuple[str, int], ...] = ()
    #: The reply's members, when no array of objects was found.
    found: str = ""
    key: str | None = None
    entries: str | None = None
    order_by: str | None = None
    labels: tuple[str, ...] = ()
    #: The reply holds one entry without the key: a line-scope answer (the service's).
    lone: bool = False
    #: The key repeats and nothing tells its entries apart: the first is read.
    repeats: bool = False
    #: No entry carries the key, and no field names or tells the entries apart.
    unnamed: bool = False


@dataclass
class CommandSeen:
    """What the check saw of one command, over every credential set's reply."""

    command: Command
    #: Where the first reply held the entries, and what the declaration should say.
    shape: Shape | None = None
    fields: dict[str, FieldSeen] = field(default_factory=dict)
    entries: int = 0
    #: Replies whose entries were not where the first reply's were.
    elsewhere: int = 0
    #: Fields past MAX_FIELDS, counted.
    more_fields: int = 0
    #: A reply listed adjustable settings in its ``options``.
    settings: bool = False


def entries_at(document: Mapping[str, Any], path: Sequence[str]) -> list[Entry] | None:
    """The entries at a payload path, as a probe finds them; None when the path is not there."""
    value = document.get(path[0])
    if value is None:
        return None
    if len(path) > 1:
        try:
            value = descend(value, tuple(path))
        except ChaosError:
            return None
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [entry for entry in value if isinstance(entry, dict)]
    return None


def find_tables(document: Mapping[str, Any]) -> list[tuple[str, list[Entry]]]:
    """Every array of objects in the reply, by a path a ``payload`` can name, in the
    reply's order (the envelope's ``request`` and ``options`` aside)."""
    found: list[tuple[str, list[Entry]]] = []
    stack: list[tuple[tuple[str, ...], object]] = [
        ((name,), value)
        for name, value in reversed(list(document.items()))
        if name not in _ENVELOPE and isinstance(name, str)
    ]
    while stack and len(found) < _MAX_TABLES:
        path, value = stack.pop()
        if field_problem(path[-1]) is not None:
            continue
        if isinstance(value, list):
            entries: list[Entry] = [entry for entry in value if isinstance(entry, dict)]
            if entries:
                found.append((".".join(path), entries))
            if len(value) == 1 and isinstance(value[0], dict) and len(path) < _MAX_DEPTH:
                value = value[0]
        if isinstance(value, dict) and len(path) < _MAX_DEPTH:
            stack += [
                ((*path, name), inner)
                for name, inner in reversed(list(value.items()))
                if isinstance(name, str) and isinstance(inner, dict | list)
            ]
    return found


def _score(entries: Sequence[Entry]) -> int:
    """How many fields of the entries a gauge could read: the array a user wants."""
    fields: dict[str, FieldSeen] = {}
    for entry in entries[:_SCORED]:
        for name, value in entry.items():
            fields.setdefault(normalise_field(name), FieldSeen(name)).add(value, _never)
    return sum(seen.kind() in GAUGE_KINDS and seen.kind() != "states" for seen in fields.values())


def _never(_: str) -> bool:
    return False


def locate(command: Command, document: Mapping[str, Any]) -> tuple[Shape, list[Entry]]:
    """Where the entries are, and what the declaration should say to read them."""
    entries = entries_at(document, command.payload_path)
    moved = False
    others: tuple[tuple[str, int], ...] = ()
    path: tuple[str, ...] = command.payload_path
    if entries is None:
        tables = find_tables(document)
        if command.builtin or not tables:
            return Shape(None, found=members(document) if not tables else ""), []
        best = max(tables, key=lambda table: (_score(table[1]), len(table[1])))
        others = tuple((name, len(rows)) for name, rows in tables if name != best[0])
        path, entries, moved = tuple(best[0].split(".")), best[1], True
    shape = Shape(path, moved=moved, others=others)
    if command.builtin or command.entries == "all" or not entries:
        return shape, entries
    read = {command.key, *command.field_names, *command.not_owned}
    keyed = [entry for entry in entries if _key(entry, command.key) is not None]
    key = command.key
    if not keyed:
        if len(entries) == 1:
            return _replace(shape, lone=True), entries
        names = _naming_fields(entries, read)
        if not names:
            labels = telling_apart([entries], read)
            if not labels:
                return _replace(shape, unnamed=True), entries
            return _replace(shape, entries="all", labels=labels), entries
        key = normalise_field(names[0])
        shape = _replace(shape, key=names[0])
        keyed = entries
    return _repeats(shape, command, keyed, key, read), entries


def _repeats(
    shape: Shape, command: Command, entries: list[Entry], key: str, read: set[str]
) -> Shape:
    """For a key that repeats (several rows a line): the latest by a date or time every
    entry carries, else each told apart by a field, else the first (noted)."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(_key(entry, key) or "", []).append(entry)
    if command.entries != "first" or len(groups) == len(entries):
        return shape
    read = read | {key}
    for name in _carried(entries, read):
        seen = FieldSeen(name)
        for entry in entries:
            seen.add(_value(entry, normalise_field(name)), _never)
        if seen.kind() in ("date", "uk_time") and seen.entries == len(entries):
            return _replace(shape, entries="latest", order_by=name)
    labels = telling_apart(list(groups.values()), read)
    if labels:
        return _replace(shape, entries="each", labels=labels)
    return _replace(shape, repeats=True)


def telling_apart(groups: Sequence[Sequence[Entry]], read: Iterable[str]) -> tuple[str, ...]:
    """One field, or two, whose texts differ between any two entries of a group: labels
    for ``entries = "each"`` or ``"all"``. Naming fields first, then texts, then the rest."""
    every = [entry for group in groups for entry in group]
    carried = [
        name
        for name in _carried(every, set(read))
        if LABEL.fullmatch(normalise_field(name))
        and not normalise_field(name).startswith("__")
        and normalise_field(name) not in _NOTLABELS
    ]
    carried.sort(key=lambda name: _rank(name, every))
    for names in itertools.chain(
        ((name,) for name in carried), itertools.combinations(carried[:_PAIRED], 2)
    ):
        if all(_distinct(group, names) for group in groups):
            return names
    return ()


def _rank(name: str, entries: Sequence[Entry]) -> int:
    """A naming field first, then a text, then a number (a price is a poor label)."""
    if _naming(name) is not None:
        return 0
    field_name = normalise_field(name)
    numbers = all(parse_number(_value(entry, field_name)) is not None for entry in entries)
    return 2 if numbers else 1


def _distinct(entries: Sequence[Entry], names: tuple[str, ...]) -> bool:
    fields = [normalise_field(name) for name in names]
    seen = {tuple(str(_value(entry, name)).strip() for name in fields) for entry in entries}
    return len(seen) == len(entries)


def _naming_fields(entries: Sequence[Entry], read: set[str]) -> list[str]:
    """Fields every entry carries with a usable key value and whose name names a line, a
    number or a login, best first."""
    found = [
        (rank, index, name)
        for index, name in enumerate(_carried(entries, read, key=True))
        if (rank := _naming(name)) is not None
    ]
    return [name for _, _, name in sorted(found)]


def _naming(name: str) -> int | None:
    field_name = normalise_field(name)
    if field_name in _NAMES:
        return _NAMES.index(field_name)
    if field_name.endswith(_NAMING_ENDS):
        return len(_NAMES)
    return None


def _carried(entries: Sequence[Entry], read: set[str], *, key: bool = False) -> list[str]:
    """Fields every entry carries (as a text, or a usable key value), not read already, by
    their first spelling, in the first entry's order."""
    if not entries:
        return []
    found = []
    for name in entries[0]:
        field_name = normalise_field(name) if isinstance(name, str) else ""
        if not field_name or field_name in read or field_problem(name) is not None:
            continue
        values = [_value(entry, field_name) for entry in entries]
        usable = (
            all(_key_value(value) is not None for value in values)
            if key
            else all(isinstance(value, str) and value.strip() for value in values)
        )
        if usable:
            found.append(name)
    return found


def _value(entry: Entry, field_name: str) -> object:
    """A field's value, whatever its spelling (the last spelling wins, as in a probe)."""
    found: object = None
    for name, value in entry.items():
        if isinstance(name, str) and normalise_field(name) == field_name:
            found = value
    return found


def _key(entry: Entry, key: str) -> str | None:
    return _key_value(_value(entry, key))


def _key_value(value: object) -> str | None:
    return usable_id(value)


def _replace(shape: Shape, **changes: Any) -> Shape:
    return dataclasses.replace(shape, **changes)
