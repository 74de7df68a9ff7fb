"""Rules across tables: one command's tables merged from every file, and checked together.

Each table is valid on its own (``commands``); these rules need more than one: a key other
than ``gauges`` set in one file only, a built-in extended only with gauges on fields it does
not read, each field read once, each metric exported by one command. A problem names the file
and the path, as every config problem does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aaisp_multi_exporter.config.commands import (
    CommandDeclaration,
    GaugeDeclaration,
    label_problem,
)
from aaisp_multi_exporter.config.problems import PathPart, quote

__all__ = ["CommandParts", "CommandProblems", "check_commands"]


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
    #: The files that gave the command a table, even an empty one, in load order.
    sources: list[str] = field(default_factory=list)

    def add(self, declaration: CommandDeclaration, source: str) -> CommandProblems:
        """Take one file's table (already validated); the problems of merging it."""
        problems: CommandProblems = []
        self.sources.append(source)
        for key in sorted(declaration.model_fields_set - {"name", "gauges"}):
            if self.builtin is not None and key not in _BUILTIN_ADDITIONS:
                message = f"{self.name} is built in; only gauges and info_labels may be added to it"
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
            added = self.values.get("info_labels", ((), ""))[0]
            return self.builtin.model_copy(
                update={
                    "gauges": self.builtin.gauges + gauges,
                    "info_labels": self.builtin.info_labels + tuple(added),
                }
            )
        values = {key: value for key, (value, _) in self.values.items()}
        return CommandDeclaration.model_construct(
            set(values) | {"name", "gauges"},
            **{**_defaults(), **values, "name": self.name, "gauges": gauges},
        )

    def source_of(self, key: str) -> str:
        """The file that set ``key``, else the first file that gave the command a table."""
        if key in self.values:
            return self.values[key][1]
        return self.sources[0] if self.sources else "built-in"

    def path(self, *inside: PathPart) -> tuple[PathPart, ...]:
        return ("commands", self.name, *inside)


#: What a user's table may add to a built-in command (SPEC 6b).
_BUILTIN_ADDITIONS = frozenset({"info_labels"})

#: Problems found across tables: each with the file and the path from ``commands``.
CommandProblems = list[tuple[str, tuple[PathPart, ...], str]]


def _defaults() -> dict[str, Any]:
    return {
        key: info.get_default(call_default_factory=True)
        for key, info in CommandDeclaration.model_fields.items()
        if key not in ("name", "gauges")
    }


def check_commands(commands: Sequence[CommandParts]) -> CommandProblems:
    """Rules across one command's tables, and across commands: each field is read once; a
    built-in is extended only on fields it does not read; ``omit_zero`` names a gauge's
    field; each metric has one owner. Paths start at ``commands``."""
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
    problems: CommandProblems = [
        # ``payload`` may be left out: the command's own name (docs/chaos-api.md: the payload
        # is named after the command), which ``--chaos.check`` shows right or wrong.
        (parts.source_of(str(path[0])), path, message)
        for path, message in declaration.entry_rules()
    ]
    if declaration.info_labels and declaration.info_metric is None:
        problems.append(
            (
                parts.source_of("info_labels"),
                ("info_labels",),
                "needs info_metric, the always-1 gauge that carries them",
            )
        )
    problems += _key_label_problems(parts, declaration)
    own = parts.builtin.fields_read() if parts.builtin is not None else {}
    elsewhere = set(declaration.also_carries)
    for label in parts.values.get("info_labels", ((), ""))[0] if parts.builtin else ():
        if label in own or label in elsewhere:
            problems.append(
                (
                    parts.source_of("info_labels"),
                    ("info_labels",),
                    f"{parts.name} already reads {quote(label)}"
                    if label in own
                    else f"{quote(label)} is exported by another command; a field has one owner",
                )
            )
    read = {
        declaration.key_field: "the key",
        **{label: "info_labels" for label in declaration.info_labels},
        **{label: "labels" for label in declaration.labels},
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


def _key_label_problems(parts: CommandParts, declaration: CommandDeclaration) -> CommandProblems:
    """The key's label on the info metric: a valid label name (when it is the key's own
    name), and neither an info label nor the key read again as one."""
    problems: CommandProblems = []
    label = declaration.key_label_name
    if declaration.info_metric is not None and declaration.key_label is None:
        problem = label_problem(declaration.key)
        if problem is not None:
            message = f"the key's label: {problem}; name it with key_label"
            problems.append((parts.source_of("key"), ("key",), message))
    if label in declaration.info_labels:
        message = f"{quote(label)} is the key's label already"
        problems.append((parts.source_of("info_labels"), ("info_labels",), message))
    elif declaration.key_field in declaration.info_labels:
        message = (
            f"{quote(declaration.key_field)} is the key, which the info metric carries "
            f"already (label {quote(label)})"
        )
        problems.append((parts.source_of("info_labels"), ("info_labels",), message))
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
    found += [
        (metric, parts.source_of("settings"), parts.path("settings"))
        for metric in declaration.settings_metrics()
    ]
    return found
