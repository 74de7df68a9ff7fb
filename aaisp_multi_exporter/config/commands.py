"""``[commands."<subsystem>/<command>"]``: what the exporter reads from a CHAOS command.

The built-in commands (``builtin_commands.toml``, in this package) and a user's declared ones
are the same tables, validated by the same models, so any read-only command, or a field A&A
adds, can be exported without a release (docs/commands.md). This module holds the models and
the rules that need more than one table: read-only commands only, one owner per metric, a
built-in extended only with gauges on fields it does not read. ``chaos/commands.py`` turns
the result into the parsers a probe runs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal, Self

from pydantic import Field, Strict, field_validator
from pydantic_core import PydanticCustomError

from aaisp_multi_exporter.config.problems import PathPart, quote
from aaisp_multi_exporter.config.tables import LoadContext, NamedTable, Table, TableInvalid

__all__ = [
    "READ_ONLY",
    "CommandDeclaration",
    "CommandParts",
    "GaugeDeclaration",
    "builtin_declarations",
    "check_commands",
    "command_name_problem",
    "normalise_field",
]

#: Commands that only read (docs/chaos-api.md section 3); ``kill``, ``adjust``, ``order``,
#: ``cease`` and ``check`` change things or cost money, and are never declared.
READ_ONLY = ("info", "quota", "services", "usage", "ratecard")
_NAME = re.compile(r"[a-z][a-z0-9_]*/[a-z][a-z0-9_]*")
_FIELD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_METRIC = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OWN_PREFIXES = ("aaisp_probe_", "aaisp_exporter_")
_RESERVED_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")
#: Labels Prometheus or the exporter sets on every probe series.
_RESERVED_LABELS = frozenset({"instance", "job", "module"})
_MAX_HELP = 300

Parse = Literal["count", "number", "uk_time"]


def normalise_field(name: str) -> str:
    """CHAOS reads attribute names case-insensitively with ``-`` equal to ``_``."""
    return name.strip().lower().replace("-", "_")


def command_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be declared: not ``<subsystem>/<command>``, or not read-only."""
    if not _NAME.fullmatch(name):
        return (
            f'expected "<subsystem>/<command>" in lower case, such as "telephony/info", '
            f"got {quote(name)}"
        )
    command = name.partition("/")[2]
    if command not in READ_ONLY:
        return (
            f"{quote(command)} is not a read-only command, and the exporter never calls one "
            f"that changes a line; read-only: {', '.join(READ_ONLY)}"
        )
    return None


def _metric_problem(name: str) -> str | None:
    if not _METRIC.fullmatch(name):
        return f"must be a metric name (letters, digits and _), got {quote(name)}"
    if not name.startswith("aaisp_"):
        return f'must start with "aaisp_", got {quote(name)}'
    if name.startswith(_OWN_PREFIXES):
        return f'must not start with "aaisp_probe_" or "aaisp_exporter_", got {quote(name)}'
    if name.endswith(_RESERVED_SUFFIXES):
        endings = ", ".join(quote(ending) for ending in _RESERVED_SUFFIXES)
        return f"must not end in {endings}: they are for counters and histograms"
    return None


def _label_problem(field_name: str) -> str | None:
    label = normalise_field(field_name)
    if not _LABEL.fullmatch(label) or label.startswith("__"):
        return f"{quote(field_name)} cannot be a label name (letters, digits and _)"
    if label in _RESERVED_LABELS:
        return f"{quote(label)} is a label Prometheus or the exporter sets"
    return None


def _raise(problem: str | None) -> None:
    if problem is not None:
        raise PydanticCustomError("command", "{message}", {"message": problem})


class GaugeDeclaration(Table):
    """One ``[[commands."<name>".gauges]]`` entry: a field exported as a per-line gauge."""

    field: str
    metric: str
    help: Annotated[str, Field(min_length=1, max_length=_MAX_HELP)]
    parse: Parse = "number"
    scale: float = 1.0
    omit_zero: bool | str = False
    """Leave the series out when the value is 0, or, naming a field, when that one is 0 or
    absent (the quota gauges of a line with no monthly quota)."""

    @field_validator("field")
    @classmethod
    def _field(cls, name: str) -> str:
        if not _FIELD.fullmatch(name):
            _raise(f"must be a field name (letters, digits, _ and -), got {quote(name)}")
        return normalise_field(name)

    @field_validator("metric")
    @classmethod
    def _metric(cls, name: str) -> str:
        _raise(_metric_problem(name))
        return name

    @field_validator("scale")
    @classmethod
    def _scale(cls, scale: float) -> float:
        if scale == 0:
            _raise("must not be 0")
        return scale

    @field_validator("omit_zero")
    @classmethod
    def _omit_zero(cls, value: bool | str) -> bool | str:
        if isinstance(value, str):
            if not _FIELD.fullmatch(value):
                _raise(f"must be true, false or a field name, got {quote(value)}")
            return normalise_field(value)
        return value


_Names = Annotated[tuple[Annotated[str, Strict()], ...], Strict(False)]


class CommandDeclaration(NamedTable):
    """``[commands."<subsystem>/<command>"]``: a read-only command's reply and series."""

    payload: str | None = None
    """The reply key holding the entries: an array, or a lone object."""
    key: str = "ID"
    """The entry field a probe's target is matched against."""
    key_label: str | None = None
    """The label carrying the key on the info metric; by default the key field's name."""
    info_metric: str | None = None
    info_help: str | None = None
    info_labels: _Names = ()
    also_carries: _Names = ()
    """Fields the reply carries that another command exports: never read here."""
    gauges: tuple[GaugeDeclaration, ...] = ()

    @field_validator("payload", "key")
    @classmethod
    def _a_field(cls, name: str | None) -> str | None:
        if name is not None and not _FIELD.fullmatch(name):
            _raise(f"must be a field name (letters, digits, _ and -), got {quote(name)}")
        return name

    @field_validator("key_label")
    @classmethod
    def _key_label(cls, label: str | None) -> str | None:
        if label is not None:
            _raise(_label_problem(label))
        return label

    @field_validator("info_metric")
    @classmethod
    def _info_metric(cls, name: str | None) -> str | None:
        if name is not None:
            _raise(_metric_problem(name))
        return name

    @field_validator("info_labels")
    @classmethod
    def _info_labels(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        for label in labels:
            _raise(_label_problem(label))
        return tuple(normalise_field(label) for label in labels)

    @field_validator("also_carries")
    @classmethod
    def _also_carries(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalise_field(name) for name in names)

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], *, context: LoadContext | None = None, name: str = ""
    ) -> Self:
        """Each gauge is validated as a table of its own, so its problems name it
        (``gauges[1].metric``)."""
        context = context or LoadContext()
        found: list[tuple[tuple[PathPart, ...], str]] = []
        gauges: list[GaugeDeclaration] = []
        raw = table.get("gauges", [])
        if not isinstance(raw, list):
            found.append((("gauges",), "expected an array of tables ([[...gauges]])"))
            raw = []
        for index, gauge in enumerate(raw):
            if not isinstance(gauge, dict):
                found.append((("gauges", index), "expected a table"))
                continue
            try:
                gauges.append(GaugeDeclaration.from_table(gauge, context=context))
            except TableInvalid as exc:
                found += [(("gauges", index, *where), what) for where, what in exc.found]
        rest = {key: value for key, value in table.items() if key != "gauges"}
        model, more = cls._validate_table(rest, {"name": name}, context)
        found += more
        if found or model is None:
            raise TableInvalid(found)
        return model.model_copy(update={"gauges": tuple(gauges)})

    @property
    def key_field(self) -> str:
        return normalise_field(self.key)

    @property
    def key_label_name(self) -> str:
        return normalise_field(self.key_label or self.key)

    @property
    def payload_key(self) -> str:
        return self.payload or self.name.partition("/")[2]

    def fields_read(self) -> dict[str, str]:
        """Every field read, with what reads it: the key, the info labels, the gauges."""
        read = {self.key_field: "the key"}
        for label in self.info_labels:
            read.setdefault(label, "info_labels")
        for index, gauge in enumerate(self.gauges):
            read.setdefault(gauge.field, f"gauges[{index}]")
        return read

    def metrics(self) -> list[str]:
        return [*([self.info_metric] if self.info_metric else []), *(g.metric for g in self.gauges)]


@cache
def builtin_declarations() -> dict[str, CommandDeclaration]:
    """The built-in commands, from ``builtin_commands.toml``; read once."""
    text = resources.files(__package__).joinpath("builtin_commands.toml").read_text("utf-8")
    tables = tomllib.loads(text)["commands"]
    return {name: CommandDeclaration.from_table(table, name=name) for name, table in tables.items()}


# --------------------------------------------------------------------------- across tables


@dataclass
class CommandParts:
    """One command's tables from every file, in load order, before they are one declaration.

    A key other than ``gauges`` may be set in one file only; ``gauges`` add up, so
    ``--chaos.suggest``'s file can extend a command declared elsewhere.
    """

    name: str
    builtin: CommandDeclaration | None = None
    #: Each key set so far: its value, and the file that set it.
    values: dict[str, tuple[Any, str]] = field(default_factory=dict)
    #: Each gauge, the file it came from, and its index in that file's table.
    gauges: list[tuple[GaugeDeclaration, str, int]] = field(default_factory=list)

    def add(self, declaration: CommandDeclaration, source: str) -> CommandProblems:
        """Take one file's table (already validated); the problems of merging it."""
        problems: CommandProblems = []
        for key in sorted(declaration.model_fields_set - {"name", "gauges"}):
            if self.builtin is not None:
                message = f"{self.name} is built in; only gauges may be added to it"
                problems.append((source, self.path(key), message))
            elif key in self.values:
                message = f"already set in {quote(self.values[key][1])}"
                problems.append((source, self.path(key), message))
            else:
                self.values[key] = (getattr(declaration, key), source)
        for index, gauge in enumerate(declaration.gauges):
            self.gauges.append((gauge, source, index))
        return problems

    def declaration(self) -> CommandDeclaration:
        """The merged table: a built-in's own, or the values set, with every gauge."""
        gauges = tuple(gauge for gauge, _, _ in self.gauges)
        if self.builtin is not None:
            return self.builtin.model_copy(update={"gauges": self.builtin.gauges + gauges})
        values = {key: value for key, (value, _) in self.values.items()}
        return CommandDeclaration.model_construct(
            set(values) | {"name", "gauges"},
            **{**_defaults(), **values, "name": self.name, "gauges": gauges},
        )

    def source_of(self, key: str) -> str:
        """The file that set ``key``, else the first file that gave the command anything."""
        if key in self.values:
            return self.values[key][1]
        sources = [source for _, source in self.values.values()]
        sources += [source for _, source, _ in self.gauges]
        return sources[0] if sources else "built-in"

    def path(self, *inside: PathPart) -> tuple[PathPart, ...]:
        return ("commands", self.name, *inside)


#: Problems found across tables: each with the file and the path from ``commands``.
CommandProblems = list[tuple[str, tuple[PathPart, ...], str]]


def _defaults() -> dict[str, Any]:
    return {
        key: info.get_default(call_default_factory=True)
        for key, info in CommandDeclaration.model_fields.items()
        if key not in ("name", "gauges")
    }


def check_commands(commands: Sequence[CommandParts]) -> CommandProblems:
    """Rules across one command's tables, and across commands: a declared command names its
    payload; each field is read once; a built-in is extended only on fields it does not
    read; ``omit_zero`` names a gauge's field; each metric has one owner. Paths start at
    ``commands``."""
    problems: CommandProblems = []
    owners: dict[str, tuple[str, str]] = {}  # metric -> (command, file)
    for parts in commands:
        declaration = parts.declaration()
        problems += [
            (source, parts.path(*path), message)
            for source, path, message in _check_one(parts, declaration, commands)
        ]
        for metric, source, path in _metrics_of(parts, declaration):
            if metric in owners and owners[metric][0] != parts.name:
                command, first = owners[metric]
                message = (
                    f"{quote(metric)} is already exported by {command} ({quote(first)}); "
                    "a metric has one owner"
                )
                problems.append((source, path, message))
            elif metric in owners:
                problems.append((source, path, f"{quote(metric)} is exported twice here"))
            else:
                owners[metric] = (parts.name, source)
    return problems


def _check_one(
    parts: CommandParts, declaration: CommandDeclaration, commands: Sequence[CommandParts]
) -> CommandProblems:
    """One command's rules; paths inside its table."""
    problems: CommandProblems = []
    first = parts.source_of("payload")
    if parts.builtin is None and "payload" not in parts.values:
        problems.append(
            (
                first,
                ("payload",),
                'missing required key: the reply key holding the entries, such as "info"',
            )
        )
    if declaration.info_labels and declaration.info_metric is None:
        problems.append(
            (
                parts.source_of("info_labels"),
                ("info_labels",),
                "needs info_metric, the always-1 gauge that carries them",
            )
        )
    if declaration.key_label_name in declaration.info_labels:
        problems.append(
            (
                parts.source_of("info_labels"),
                ("info_labels",),
                f"{quote(declaration.key_label_name)} is the key's label already",
            )
        )
    own = parts.builtin.fields_read() if parts.builtin is not None else {}
    elsewhere = set(declaration.also_carries)
    read = {
        declaration.key_field: "the key",
        **{label: "info_labels" for label in declaration.info_labels},
    }
    base = len(parts.builtin.gauges) if parts.builtin is not None else 0
    for number, (gauge, source, index) in enumerate(parts.gauges):
        path: tuple[PathPart, ...] = ("gauges", index, "field")
        if gauge.field in own:
            problems.append(
                (
                    source,
                    path,
                    f"{parts.name} already reads {quote(gauge.field)} ({own[gauge.field]})",
                )
            )
        elif gauge.field in elsewhere:
            owner = _exporter_of(gauge.field, parts.name, commands)
            problems.append(
                (
                    source,
                    path,
                    f"{quote(gauge.field)} is exported by {owner}; a field has one owner",
                )
            )
        elif gauge.field in read:
            problems.append(
                (source, path, f"{quote(gauge.field)} is already read ({read[gauge.field]})")
            )
        read.setdefault(gauge.field, f"gauges[{base + number}]")
    gauge_fields = {gauge.field for gauge in declaration.gauges}
    for gauge, source, index in parts.gauges:
        if isinstance(gauge.omit_zero, str) and gauge.omit_zero not in gauge_fields:
            problems.append(
                (
                    source,
                    ("gauges", index, "omit_zero"),
                    f"names {quote(gauge.omit_zero)}, which no gauge of {parts.name} reads",
                )
            )
    return problems


def _exporter_of(field_name: str, name: str, commands: Iterable[CommandParts]) -> str:
    for parts in commands:
        if parts.name != name and any(
            gauge.field == field_name for gauge in parts.declaration().gauges
        ):
            return parts.name
    return "another command"


def _metrics_of(
    parts: CommandParts, declaration: CommandDeclaration
) -> list[tuple[str, str, tuple[PathPart, ...]]]:
    """Each metric the command exports, where it was declared."""
    found: list[tuple[str, str, tuple[PathPart, ...]]] = []
    if declaration.info_metric is not None:
        source = "built-in" if parts.builtin is not None else parts.source_of("info_metric")
        found.append((declaration.info_metric, source, parts.path("info_metric")))
    if parts.builtin is not None:
        found += [
            (g.metric, "built-in", parts.path("gauges", i, "metric"))
            for i, g in enumerate(parts.builtin.gauges)
        ]
    found += [
        (g.metric, source, parts.path("gauges", index, "metric"))
        for g, source, index in parts.gauges
    ]
    return found
