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
    "metric_problem",
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

Parse = Literal["count", "number", "uk_time", "bool", "present", "date", "duration"]
#: The parsers whose values are quantities: only these take ``scale`` and ``omit_zero``.
NUMERIC = ("count", "number", "duration")
Entries = Literal["first", "latest", "each", "all"]
_MAX_MAP = 256
_MAX_STATES = 64
_MAX_WORD = 128


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


def metric_problem(name: str) -> str | None:
    """Why ``name`` cannot be a declared metric (``--chaos.suggest`` never writes one)."""
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


#: A list of names in TOML (strict strings, in a tuple so the table stays frozen).
_Names = Annotated[tuple[Annotated[str, Strict()], ...], Strict(False)]


class GaugeDeclaration(Table):
    """One ``[[commands."<name>".gauges]]`` entry: a field exported as a per-line gauge, read
    by one of ``parse``, ``map`` or ``states`` (SPEC 6b)."""

    field: str
    metric: str
    help: Annotated[str, Field(min_length=1, max_length=_MAX_HELP)]
    parse: Parse = "number"
    """How the text becomes a number, unless ``map`` or ``states`` says instead."""
    map: dict[str, float] | None = None
    """Text to a number, compared case-insensitively."""
    default: float | None = None
    """``map``'s number for any other text; without it such a text is left out."""
    states: _Names | None = None
    """A state set: one series per state, 1 for the current one."""
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
        _raise(metric_problem(name))
        return name

    @field_validator("map")
    @classmethod
    def _map(cls, table: dict[str, float]) -> dict[str, float]:
        if not 1 <= len(table) <= _MAX_MAP:
            _raise(f"must map 1 to {_MAX_MAP} texts to numbers, got {len(table)}")
        _raise(_words_problem(list(table), "text"))
        return table

    @field_validator("states")
    @classmethod
    def _states(cls, states: tuple[str, ...]) -> tuple[str, ...]:
        if not 1 <= len(states) <= _MAX_STATES:
            _raise(f"must list 1 to {_MAX_STATES} states, got {len(states)}")
        _raise(_words_problem(list(states), "state"))
        return tuple(state.strip() for state in states)

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

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], *, context: LoadContext | None = None, name: str = ""
    ) -> Self:
        """The table's keys one by one, then how they go together (each problem at its key)."""
        model, found = cls._validate_table(table, cls._fixed(name), context or LoadContext())
        if model is not None:
            found += model._together()
        if found or model is None:
            raise TableInvalid(found)
        return model

    def _together(self) -> list[tuple[tuple[PathPart, ...], str]]:
        given = [key for key in ("parse", "map", "states") if key in self.model_fields_set]
        found: list[tuple[tuple[PathPart, ...], str]] = [
            ((key,), f"{' and '.join(given)} are alternatives: give one of parse, map, states")
            for key in given[1:]
        ]
        if "default" in self.model_fields_set and self.map is None:
            found.append((("default",), "needs map: it is the number for a text map leaves out"))
        if self.kind not in NUMERIC:
            # omit_zero naming another field applies to any gauge; its own 0, to numbers only
            numbers_only = {"scale": self.scale != 1.0, "omit_zero": self.omit_zero is True}
            found += [
                ((key,), f"applies to numbers only (parse = {', '.join(NUMERIC)})")
                for key, used in numbers_only.items()
                if used
            ]
        return found

    @property
    def kind(self) -> str:
        """``map``, ``states``, or the parser's name."""
        if self.states is not None:
            return "states"
        if self.map is not None:
            return "map"
        return self.parse


def _words_problem(words: list[str], what: str) -> str | None:
    """Map keys and state names: short printable texts, each once whatever its case."""
    seen: dict[str, str] = {}
    for word in words:
        folded = word.strip().casefold()
        if not folded or len(word) > _MAX_WORD or not word.isprintable():
            return f"each {what} must be 1 to {_MAX_WORD} printable characters, got {quote(word)}"
        if folded in seen:
            return f"{quote(seen[folded])} and {quote(word)} are one {what} (case is ignored)"
        seen[folded] = word
    return None


class CommandDeclaration(NamedTable):
    """``[commands."<subsystem>/<command>"]``: a read-only command's reply and series."""

    payload: str | None = None
    """The reply key holding the entries (an array, or a lone object), or a dotted path to
    them through objects and one-element arrays (``rate_card.rates.rate``)."""
    key: str = "ID"
    """The entry field a probe's target is matched against."""
    key_label: str | None = None
    """The label carrying the key on the info metric; by default the key field's name."""
    info_metric: str | None = None
    info_help: Annotated[str, Field(min_length=1, max_length=_MAX_HELP)] | None = None
    info_labels: _Names = ()
    also_carries: _Names = ()
    """Fields the reply carries that another command exports: never read here."""
    entries: Entries = "first"
    """Which entries a probe reads: the target's first, its latest by ``order_by``, each of
    its own (told apart by ``labels``), or all of them (an account-level table)."""
    order_by: str | None = None
    labels: _Names = ()
    """Fields labelling every series of the command, for ``entries = "each"`` or ``"all"``."""
    settings: bool = False
    """Export the service's adjustable settings that an ``info`` reply lists in ``options``."""
    gauges: tuple[GaugeDeclaration, ...] = ()

    @field_validator("payload")
    @classmethod
    def _payload(cls, path: str | None) -> str | None:
        if path is not None and not all(_FIELD.fullmatch(step) for step in path.split(".")):
            _raise(
                "must be a field name, or field names joined by dots "
                f"(letters, digits, _ and -), got {quote(path)}"
            )
        return path

    @field_validator("key", "order_by")
    @classmethod
    def _a_field(cls, name: str | None) -> str | None:
        if name is not None:
            _raise(field_problem(name))
        return name

    @field_validator("payload")
    @classmethod
    def _not_envelope(cls, name: str | None) -> str | None:
        first = None if name is None else name.partition(".")[0]
        if first is not None and normalise_field(first) in ENVELOPE:
            _raise(
                f"{quote(first)} is a member of every CHAOS reply, not a payload "
                f"(the envelope: {', '.join(ENVELOPE)})"
            )
        return name

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        for label in labels:
            _raise(label_problem(label))
        return tuple(normalise_field(label) for label in labels)

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
            _raise(metric_problem(name))
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

    @property
    def payload_path(self) -> tuple[str, ...]:
        """The steps to the entries: one for a plain ``payload``."""
        return tuple(self.payload_key.split("."))

    def entry_rules(self) -> list[tuple[tuple[PathPart, ...], str]]:
        """How ``entries``, ``order_by``, ``labels`` and ``settings`` go together (SPEC 6b),
        for the merged declaration; each problem at its key."""
        found: list[tuple[tuple[PathPart, ...], str]] = []
        if self.entries == "latest" and self.order_by is None:
            found.append((("order_by",), 'entries = "latest" needs order_by, a date field'))
        if self.order_by is not None and self.entries != "latest":
            found.append((("order_by",), 'is read with entries = "latest" only'))
        if self.entries in ("each", "all") and not self.labels:
            found.append(
                (("labels",), f'entries = "{self.entries}" needs labels that tell entries apart')
            )
        if self.labels and self.entries not in ("each", "all"):
            found.append((("labels",), 'label entries with entries = "each" or "all" only'))
        if self.settings and self.entries != "first":
            found.append((("settings",), 'settings are one service\'s: entries = "first" only'))
        taken = {self.key_label_name: "the key's label", **dict.fromkeys(self.info_labels, "")}
        taken.update({g.metric: "a state set's name" for g in self.gauges if g.states})
        seen: set[str] = set()
        for label in self.labels:
            if label in seen:
                found.append((("labels",), f"{quote(label)} is given twice"))
            elif label in taken:
                why = taken[label] or "an info label"
                found.append((("labels",), f"{quote(label)} is {why} already"))
            seen.add(label)
        return found

    def fields_read(self) -> dict[str, str]:
        """Every field read, with what reads it: the key, the labels, the gauges."""
        read = {self.key_field: "the key"}
        if self.order_by is not None:
            read.setdefault(normalise_field(self.order_by), "order_by")
        for label in (*self.info_labels, *self.labels):
            read.setdefault(label, "info_labels" if label in self.info_labels else "labels")
        for index, gauge in enumerate(self.gauges):
            read.setdefault(gauge.field, f"gauges[{index}]")
        return read

    def metrics(self) -> list[str]:
        return [
            *([self.info_metric] if self.info_metric else []),
            *(g.metric for g in self.gauges),
            *self.settings_metrics(),
        ]

    def settings_metrics(self) -> list[str]:
        """The families ``settings = true`` writes: checkboxes, quantities, the rest."""
        if not self.settings:
            return []
        prefix = f"aaisp_{self.name.partition('/')[0]}_setting"
        return [f"{prefix}_enabled", f"{prefix}_value", f"{prefix}_info"]


@cache
def builtin_declarations() -> dict[str, CommandDeclaration]:
    """The built-in commands, from ``builtin_commands.toml``; read once."""
    text = resources.files(__package__).joinpath("builtin_commands.toml").read_text("utf-8")
    tables = tomllib.loads(text)["commands"]
    return {name: CommandDeclaration.from_table(table, name=name) for name, table in tables.items()}
