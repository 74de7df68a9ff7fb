"""``--chaos.suggest=FILE``: declarations for what a check saw and the exporter does not export.

For each command checked, each field of the reply's entries that the exporter does not read,
and whose values all parse as numbers, becomes a gauge in the declaration format
(docs/commands.md). The file loads unchanged beside the configuration
(``--config.file modules.toml --config.file FILE``), so a field A&A adds is a series after one
check and a reload. It names fields and metrics only: no value, no credential.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aaisp_multi_exporter.chaos.commands import Command, parse_count, parse_number
from aaisp_multi_exporter.chaos.records import LineIndex
from aaisp_multi_exporter.config.commands import (
    RESERVED_SUFFIXES,
    field_problem,
    metric_problem,
    normalise_field,
)
from aaisp_multi_exporter.config.problems import quote, toml_key

_NOT_NAME = re.compile(r"[^a-z0-9_]+")
#: The start of every file written: a file that starts otherwise is never written over.
HEADER = "# Written by aaisp-multi-exporter --chaos.suggest"


@dataclass
class FieldSeen:
    """One unexported field of one command across every reply checked."""

    spelling: str
    lines: int = 0
    numeric: bool = True
    whole: bool = True


@dataclass
class Suggestions:
    """What the check saw, command by command, in the order commands were checked."""

    seen: dict[str, dict[str, FieldSeen]] = field(default_factory=dict)

    def add(self, command: Command, lines: LineIndex) -> None:
        """Read one reply: every field no gauge or label of ``command`` reads."""
        read = {command.key, *command.field_names, *command.not_owned}
        fields = self.seen.setdefault(command.name, {})
        for line_id in lines:
            counted: set[str] = set()  # ``Foo-Bar`` and ``foo_bar`` are one field of one entry
            for key, value in lines.raw(line_id).items():
                name = normalise_field(key) if isinstance(key, str) else ""
                if not name or name in read or value is None or value == "":
                    continue
                seen = fields.setdefault(name, FieldSeen(key))
                if name not in counted:
                    counted.add(name)
                    seen.lines += 1
                if parse_count(value) is None:
                    seen.whole = False
                    seen.numeric = seen.numeric and parse_number(value) is not None

    def gauges(self, taken: Iterable[str]) -> list[tuple[str, FieldSeen, str]]:
        """(command, field, metric) for each field whose every value is a number, with a
        metric name no other command owns."""
        names = set(taken)
        found = []
        for command, fields in self.seen.items():
            for seen in fields.values():
                if seen.numeric and field_problem(seen.spelling) is None:
                    metric = _metric_name(command, seen.spelling, names)
                    names.add(metric)
                    found.append((command, seen, metric))
        return found

    def undeclarable(self) -> list[tuple[str, FieldSeen]]:
        """Numeric fields whose name a declaration cannot hold (a space, a dot, 65 letters):
        named in a comment, so nothing is left out without a word."""
        return [
            (command, seen)
            for command, fields in self.seen.items()
            for seen in fields.values()
            if seen.numeric and field_problem(seen.spelling) is not None
        ]


def _metric_name(command: str, spelling: str, taken: set[str]) -> str:
    """``aaisp_<subsystem>_<field>``; the command's name goes in too if that is taken.

    A name the loader refuses is never written: a subsystem that would make the exporter's
    own prefix (``probe``, ``exporter``) becomes ``aaisp_chaos_<subsystem>_<field>``, and a
    counter's ending gets ``_value``."""
    subsystem, _, name = command.partition("/")
    field_name = _NOT_NAME.sub("_", normalise_field(spelling)).strip("_") or "field"
    stem = f"aaisp_{subsystem}"
    if metric_problem(f"{stem}_{field_name}_value") is not None:
        stem = f"aaisp_chaos_{subsystem}"
    candidates = [f"{stem}_{field_name}", f"{stem}_{name}_{field_name}"]
    candidates = [f"{c}_value" if c.endswith(RESERVED_SUFFIXES) else c for c in candidates]
    for metric in candidates:
        if metric not in taken:
            return metric
    metric = candidates[-1]
    number = 2
    while f"{metric}_{number}" in taken:
        number += 1
    return f"{metric}_{number}"


def render(suggestions: Suggestions, taken: Iterable[str], checked: Mapping[str, int]) -> str:
    """The TOML file: a comment saying what to do with it, then one table per gauge."""
    gauges = suggestions.gauges(taken)
    lines = [
        f"{HEADER}: a gauge for each field the checked",
        "# replies carried, whose values were all numbers, and that the exporter does not",
        "# export. CHAOS does not say a field's unit: check each one, rename its metric (with",
        '# its unit, e.g. "_bytes") and set scale, then load this file beside the',
        "# configuration: --config.file modules.toml --config.file <this file>",
        "# (docs/commands.md). No value or credential is written here.",
    ]
    if not gauges:
        commands = ", ".join(f"{name} ({_entries(count)})" for name, count in checked.items())
        lines.append(f"# Nothing to suggest from {commands or 'no reply'}.")
    for command, seen in suggestions.undeclarable():
        lines.append(
            f"# Not suggested: {command} field {_shown(seen.spelling)} (carried by "
            f"{_entries(seen.lines)}): its name is not one a declaration can hold."
        )
    for command, seen, metric in gauges:
        parse = "count" if seen.whole else "number"
        lines += [
            "",
            f"# {quote(seen.spelling)}: carried by {_entries(seen.lines)}",
            f"[[commands.{toml_key(command)}.gauges]]",
            f"field = {quote(seen.spelling)}",
            f"metric = {quote(metric)}",
            f"help = {quote(_help(command, seen))}",
            f'parse = "{parse}"',
        ]
    return "\n".join(lines) + "\n"


def _help(command: str, seen: FieldSeen) -> str:
    """The same whatever the replies held: a HELP line is part of a series' identity."""
    return f"CHAOS {command} field {seen.spelling}; its unit is not known."


def _shown(spelling: str) -> str:
    """A field name from a reply, as a TOML string: escaped, and cut when it is long."""
    return quote(spelling) if len(spelling) <= 80 else quote(spelling[:77]) + "..."


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count:,} entries"


def refusal(path: Path, config_files: Iterable[str | Path]) -> str | None:
    """Why ``path`` must not be written, or None: a ``--config.file`` (compared as the same
    file, through links), something other than a file, or a file that does not start with
    ``HEADER``. An empty file holds nothing to lose."""
    shown = _shown_path(path)
    for config_file in config_files:
        if os.path.realpath(config_file) == os.path.realpath(path) or _same_file(config_file, path):
            return f"{shown} is a --config.file; write the suggestions to another file"
    target = Path(os.path.realpath(path))
    if not target.parent.is_dir():
        return f"{shown}: no directory {_shown_path(target.parent)}"
    if not target.exists():
        return None
    if not target.is_file():
        return f"{shown} exists and is not a file"
    try:
        with target.open("rb") as existing:
            start = existing.read(len(HEADER) + 1)
    except OSError as error:
        return f"{shown}: cannot read it: {error.strerror or error}"
    if start and not start.startswith(HEADER.encode()):
        return (
            f"{shown} exists and was not written by --chaos.suggest (its first line would "
            "say so); remove it or choose another file"
        )
    return None


def write(path: Path, text: str, config_files: Iterable[str | Path] = ()) -> tuple[bool, str]:
    """Write the file, whole or not at all (a new file renamed over the old); whether it was
    written, and the line the check prints about it."""
    problem = refusal(path, config_files)
    if problem is not None:
        return False, f"Suggestions not written: {problem}"
    target = Path(os.path.realpath(path))
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        # 0o666 less the umask, as open() would make the file itself.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as error:
        return False, f"Suggestions not written: cannot write {path}: {error.strerror or error}"
    count = text.count("[[commands.")
    return True, (
        f"Suggestions written to {path}: {count} gauge(s). Review them, then load the file "
        f"beside the configuration: --config.file modules.toml --config.file {path}"
    )


def _same_file(one: str | Path, other: str | Path) -> bool:
    """Hard links too; False when either is missing."""
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _shown_path(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else text[:117] + "..."
