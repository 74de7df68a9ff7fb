"""What each CHAOS command is, as a probe runs it: its payload key, the fields it reads, how
each is parsed, and the metric families it owns.

The commands are data (``[commands."<subsystem>/<command>"]`` tables, the built-ins in
``config/builtin_commands.toml``), validated by ``config/commands.py``; ``compile_commands``
turns them into these objects once per configuration load, so a probe only calls the named
parsers. docs/commands.md has the format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aaisp_multi_exporter.chaos.parsers import (
    LIMIT,
    MAX_TEXT_CHARS,
    PARSERS,
    UK,
    FieldValue,
    Parser,
    mapping_parser,
    parse_count,
    parse_number,
    parse_text,
    parse_uk_timestamp,
    state_parser,
)
from aaisp_multi_exporter.config import (
    CommandDeclaration,
    GaugeDeclaration,
    builtin_declarations,
    normalise_field,
)

__all__ = [
    "BUILTIN",
    "INFO",
    "LIMIT",
    "MAX_TEXT_CHARS",
    "QUOTA",
    "UK",
    "Command",
    "Field",
    "FieldValue",
    "Gauge",
    "InfoMetric",
    "compile_command",
    "compile_commands",
    "parse_count",
    "parse_number",
    "parse_text",
    "parse_uk_timestamp",
]


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
    #: A state set's states as declared: the field's value is one of them (or none).
    states: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """One CHAOS attribute as the exporter reads it."""

    name: str  # as normalised: lower case, "_" for "-"
    parse: Callable[[object], FieldValue | None]
    expect: str  # what a usable value looks like, for the note when it is not
    gauge: Gauge | None = None
    #: The value of a field the entry does not carry (a checkbox's 0); None leaves it out.
    when_absent: FieldValue | None = None


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
    #: The steps from the reply to the entries: ``(payload_key,)`` unless nested.
    payload_path: tuple[str, ...] = ()
    #: Which entries a probe reads (SPEC 6b): "first", "latest", "each" or "all".
    entries: str = "first"
    #: The date or time field that orders entries for "latest", normalised.
    order_by: str | None = None
    #: Fields labelling every series of the command ("each", "all"), normalised.
    labels: tuple[str, ...] = ()
    #: The families of the service's adjustable settings (``options``): checkboxes,
    #: quantities, the rest; empty unless ``settings = true``.
    settings: tuple[str, ...] = ()
    #: A hash of the declaration compiled: what is kept per command (stored replies,
    #: rendered HELP and TYPE lines) is kept by it, so a reload that changes the declaration
    #: never serves what the old one read or wrote, and one that leaves it alone keeps it all.
    digest: str = field(default="", repr=False, compare=False)

    field_names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_names", tuple(spec.name for spec in self.fields))
        if not self.payload_path:
            object.__setattr__(self, "payload_path", (self.payload_key,))


def declaration_digest(declaration: CommandDeclaration, *, builtin: bool) -> str:
    """The same for two loads of one declaration (comments and layout aside), different when
    any key differs: the command is compiled from it alone, a map's numbers included."""
    source = repr((builtin, declaration.model_dump()))
    return hashlib.blake2b(source.encode(), digest_size=12).hexdigest()


TEXT = "a string of at most 256 characters"


def _present(name: str) -> Callable[[Mapping[str, FieldValue]], bool]:
    def present(values: Mapping[str, FieldValue]) -> bool:
        return bool(values.get(name))

    present.__qualname__ = f"present({name})"
    return present


def _reader(declaration: GaugeDeclaration) -> tuple[Parser, str]:
    """The parser a gauge's value goes through, and what a usable value looks like."""
    if declaration.states is not None:
        return state_parser(declaration.states), "one of " + ", ".join(declaration.states)
    if declaration.map is not None:
        return mapping_parser(declaration.map, declaration.default), "one of " + ", ".join(
            declaration.map
        )
    return PARSERS[declaration.kind]


def _gauge_field(declaration: GaugeDeclaration) -> Field:
    parse, expect = _reader(declaration)
    omit = declaration.omit_zero
    without = declaration.field if omit is True else omit or None
    gauge = Gauge(
        declaration.metric,
        declaration.help,
        declaration.scale,
        when=_present(without) if without else None,
        omitted_without=without,
        states=declaration.states,
    )
    absent = 0 if declaration.kind == "present" else None
    return Field(declaration.field, parse, expect, gauge, when_absent=absent)


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
    texts = [*declaration.info_labels, *declaration.labels]
    if declaration.order_by is not None:
        texts.append(normalise_field(declaration.order_by))
    gauged = {gauge.field for gauge in declaration.gauges}
    fields = [Field(name, parse_text, TEXT) for name in dict.fromkeys(texts) if name not in gauged]
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
        payload_path=declaration.payload_path,
        entries=declaration.entries,
        order_by=None if declaration.order_by is None else normalise_field(declaration.order_by),
        labels=declaration.labels,
        settings=tuple(declaration.settings_metrics()),
        digest=declaration_digest(declaration, builtin=builtin),
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
