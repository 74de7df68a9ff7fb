"""``[commands."<subsystem>/<command>"]``: what the exporter reads from a CHAOS command.

The built-in commands (``builtin_commands.toml``, in this package) and a user's declared ones
are the same tables, validated by the same models, so any read-only command, or a field A&A
adds, can be exported without a release (docs/commands.md). This module holds the models, which
check one table at a time; ``command_rules`` merges one command's tables from every file and
checks the rules across them. ``chaos/commands.py`` turns the result into the parsers a probe
runs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal, Self

from pydantic import Field, Strict, field_validator
from pydantic_core import PydanticCustomError

from aaisp_multi_exporter.config.problems import PathPart, quote, toml_value
from aaisp_multi_exporter.config.tables import LoadContext, NamedTable, Table, TableInvalid

__all__ = [
    "DISCOVERY_LABELS",
    "ENVELOPE",
    "MAX_SCALE",
    "READ_ONLY",
    "RESERVED_SUFFIXES",
    "CommandDeclaration",
    "GaugeDeclaration",
    "builtin_declarations",
    "command_name_problem",
    "field_problem",
    "label_problem",
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
#: Endings of counters and histograms: a gauge's metric never takes one.
RESERVED_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")
#: Labels Prometheus or the exporter sets on every probe series.
_RESERVED_LABELS = frozenset({"instance", "job", "module"})
#: Labels of histograms' buckets and summaries' quantiles: promtool reports them on a gauge.
_SERIES_LABELS = frozenset({"le", "quantile"})
#: The labels ``/discover`` writes for itself as ``__meta_aaisp_<label>``, with what they
#: carry (server/discovery.py): an info label of the same name would be written twice.
DISCOVERY_LABELS: Mapping[str, str] = {"auth": "the credential set's name"}
#: The members every CHAOS reply carries around its payload (docs/chaos-api.md section 4).
ENVELOPE = ("subsystem", "command", "request", "prices", "state", "options", "error")
#: A scale converts units (0.125 bits to bytes, 1e9 giga to base units); beyond this in size
#: it is a typo, and a value below 2^63 times it could overflow to +Inf.
MAX_SCALE = 1e12
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


def field_problem(name: str) -> str | None:
    """Why ``name`` cannot be a declared field (``--chaos.suggest`` skips such a field)."""
    if not _FIELD.fullmatch(name):
        return f"must be a field name (letters, digits, _ and -), got {quote(name)}"
    return None


def _metric_problem(name: str) -> str | None:
    if not _METRIC.fullmatch(name):
        return f"must be a metric name (letters, digits and _), got {quote(name)}"
    if not name.startswith("aaisp_"):
        return f'must start with "aaisp_", got {quote(name)}'
    if name.startswith(_OWN_PREFIXES):
        return f'must not start with "aaisp_probe_" or "aaisp_exporter_", got {quote(name)}'
    if name.endswith(RESERVED_SUFFIXES):
        endings = ", ".join(quote(ending) for ending in RESERVED_SUFFIXES)
        return f"must not end in {endings}: they are for counters and histograms"
    return None


def label_problem(field_name: str) -> str | None:
    """Why the label made from ``field_name`` cannot be written: not a label name,
    Prometheus's own (``__``), one Prometheus or the exporter sets, or a histogram's."""
    label = normalise_field(field_name)
    if not _LABEL.fullmatch(label):
        return (
            f"{quote(field_name)} cannot be a label name (letters, digits and _, "
            "not starting with a digit)"
        )
    if label.startswith("__"):
        return (
            f"{quote(field_name)} cannot be a label name: names starting with "
            '"__" are reserved for Prometheus'
        )
    if label in _RESERVED_LABELS:
        return f"{quote(label)} is a label Prometheus or the exporter sets"
    if label in _SERIES_LABELS:
        return f"{quote(label)} is the label of a histogram's or a summary's series, not a gauge's"
    return None


def _info_label_problems(labels: tuple[str, ...]) -> str | None:
    """The first problem of ``info_labels``: a label that cannot be written, one that
    ``/discover`` writes itself, or one field given twice in two spellings."""
    seen: dict[str, str] = {}
    for label in labels:
        problem = label_problem(label) or field_problem(label)
        if problem is not None:
            return problem
        name = normalise_field(label)
        if name in DISCOVERY_LABELS:
            return (
                f"{quote(name)} is a label /discover writes itself: __meta_aaisp_{name} "
                f"carries {DISCOVERY_LABELS[name]}"
            )
        if name in seen:
            first = seen[name]
            if first == label:
                return f"{quote(label)} is given twice"
            return (
                f"{quote(first)} and {quote(label)} are one field (names are compared "
                'case-insensitively, with "-" as "_")'
            )
        seen[name] = label
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
        _raise(field_problem(name))
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
        if abs(scale) > MAX_SCALE:
            _raise(
                "must be at most 1e12 in size (a unit conversion, such as 0.125 or 1000), "
                f"got {toml_value(scale)}"
            )
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
    info_help: Annotated[str, Field(min_length=1, max_length=_MAX_HELP)] | None = None
    info_labels: _Names = ()
    also_carries: _Names = ()
    """Fields the reply carries that another command exports: never read here."""
    gauges: tuple[GaugeDeclaration, ...] = ()

    @field_validator("payload", "key")
    @classmethod
    def _a_field(cls, name: str | None) -> str | None:
        if name is not None:
            _raise(field_problem(name))
        return name

    @field_validator("payload")
    @classmethod
    def _not_envelope(cls, name: str | None) -> str | None:
        if name is not None and normalise_field(name) in ENVELOPE:
            _raise(
                f"{quote(name)} is a member of every CHAOS reply, not a payload "
                f"(the envelope: {', '.join(ENVELOPE)})"
            )
        return name

    @field_validator("key_label")
    @classmethod
    def _key_label(cls, label: str | None) -> str | None:
        if label is not None:
            _raise(label_problem(label))
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
        _raise(_info_label_problems(labels))
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
