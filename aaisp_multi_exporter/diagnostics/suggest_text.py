"""The TOML ``--chaos.suggest`` writes for one command (SPEC 6b): where its entries are and
what names or tells them apart, a gauge per typed field, and a commented-out ``info_labels``
line for its texts, which may be personal data.

Every line written loads beside the configuration: a key the configuration sets already is
written commented out (a key other than ``gauges`` is set in one file only), and so is any
proposal the merged declaration would refuse (``CommandDeclaration.entry_rules``).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from aaisp_multi_exporter.config.commands import (
    CommandDeclaration,
    builtin_declarations,
    field_problem,
    normalise_field,
)
from aaisp_multi_exporter.config.problems import quote, toml_key
from aaisp_multi_exporter.diagnostics.suggest_shapes import LABEL, CommandSeen
from aaisp_multi_exporter.diagnostics.suggest_types import (
    SUFFIXES,
    FieldSeen,
    described,
    help_text,
    metric_name,
)

#: The keys each proposal sets: a proposal is written live only when the configuration
#: sets none of them.
_GROUPS = {
    "payload": frozenset({"payload"}),
    "key": frozenset({"key"}),
    "entries": frozenset({"entries", "order_by", "labels"}),
    "settings": frozenset({"settings"}),
}
_WIDTH = 99
#: A commented-out key (``# info_labels = [...]``): kept on one line.
_KEY_LINE = re.compile(r"# [a-z_]+ = ")
Proposal = tuple[str, str, str | bool | tuple[str, ...]]


def command_block(
    seen: CommandSeen, declaration: CommandDeclaration, line_scope: bool, taken: set[str]
) -> list[str]:
    """The lines for one command; empty when there is nothing to say. ``taken`` holds every
    metric named so far, and takes the ones named here."""
    table, exclude, key_label = _structure(seen, declaration, line_scope, taken)
    gauges, texts, notes = _fields(seen, exclude, taken)
    table += _info_lines(seen, declaration, texts, key_label, taken)
    if not (table or gauges or notes):
        return []
    name = seen.command.name
    head = [f"[commands.{toml_key(name)}]"] if table else []
    lines = ["", f"# -- {name}: {_entries(seen.entries)} --", *head, *table, *notes, *gauges]
    return [part for line in lines for part in _wrapped(line)]


def _wrapped(line: str) -> list[str]:
    """A long comment as several lines, the later ones indented; never a commented-out key,
    which a user uncomments."""
    if len(line) <= _WIDTH or not line.startswith("# ") or _KEY_LINE.match(line):
        return [line]
    return textwrap.wrap(
        line[2:],
        _WIDTH - 2,
        initial_indent="# ",
        subsequent_indent="#   ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _structure(
    seen: CommandSeen, declaration: CommandDeclaration, line_scope: bool, taken: set[str]
) -> tuple[list[str], set[str], str]:
    """Lines saying where the entries are and which are read, each proposal after its
    reason; the fields they make labels or the key (no gauge reads them), and the key's
    label once they apply."""
    shape, command = seen.shape, seen.command
    if shape is None or command.builtin:
        return [], set(), declaration.key_label_name
    notes: list[str] = []
    reasons: dict[str, str] = {}
    proposals: list[Proposal] = []
    payload, key = quote(command.payload_key), quote(command.key_spelling)
    if shape.path is None:
        notes.append(
            f"# The reply has no {payload} and no array of objects; its members: {shape.found}."
        )
    if shape.moved and shape.path is not None:
        others = "; ".join(f"{path} ({_entries(count)})" for path, count in shape.others)
        reasons["payload"] = f"# The reply has no {payload} array: its entries are here" + (
            f" (other arrays of objects in it: {others})." if others else "."
        )
        proposals.append(("payload", "payload", ".".join(shape.path)))
    if shape.key:
        reasons["key"] = f"# No entry carries {key}; every one carries this field, which names it."
        proposals.append(("key", "key", shape.key))
        key = quote(shape.key)
    if shape.entries is not None:
        reasons["entries"] = _entries_reason(shape.entries, key)
        proposals.append(("entries", "entries", shape.entries))
        if shape.order_by is not None:
            proposals.append(("entries", "order_by", shape.order_by))
        else:
            proposals.append(("entries", "labels", shape.labels))
    if shape.lone:
        notes.append(
            f"# The reply holds one entry without {key}: a module with scope = "
            '"line" reads it as the service asked for.'
        )
    if shape.repeats:
        notes.append(
            f"# Entries repeat {key} and no field tells them apart: a probe reads the first."
        )
    if shape.unnamed:
        notes.append(
            f"# No entry carries {key}, and no field names the entries or tells them apart."
        )
    if seen.settings and not declaration.settings:
        reasons["settings"] = "# The reply lists the service's adjustable settings (options)."
        proposals.append(("settings", "settings", True))
    live, why = _live(proposals, declaration, line_scope, taken)
    lines = notes
    for group, name, value in proposals:
        if group in reasons:
            lines.append(reasons.pop(group))
        text = f"{name} = {_value(value)}"
        lines.append(text if group in live else f"# {text}")
    lines += why
    exclude = {normalise_field(str(v)) for _, n, v in proposals if n == "key"}
    exclude |= {label for _, n, v in proposals if n == "labels" for label in _names(v)}
    changed = declaration.model_copy(update=_typed(proposals, live))
    return lines, exclude, changed.key_label_name


def _entries_reason(entries: str, key: str) -> str:
    if entries == "latest":
        return f"# Entries repeat {key}: a probe reads the latest by this date."
    if entries == "each":
        return f"# Entries repeat {key}: a probe reads each, told apart by these fields."
    return (
        "# No field names an entry (an ID, a number, a login): a table of the account; a "
        "probe with any target reads every entry, told apart by these fields, and /discover "
        "lists none."
    )


def _live(
    proposals: Sequence[Proposal],
    declaration: CommandDeclaration,
    line_scope: bool,
    taken: set[str],
) -> tuple[set[str], list[str]]:
    """The proposal groups written live, and why the others are commented out."""
    user = declaration.model_fields_set - {"name", "gauges"}
    live = {group for group, _, _ in proposals if not _GROUPS[group] & user}
    why: list[str] = []
    clash = sorted({group for group, _, _ in proposals} - live)
    if clash:
        why.append(
            f"# Commented out: your configuration sets {', '.join(clash)} of "
            f"{declaration.name} already (a key is set in one file only); change it there."
        )
    if "settings" in live:
        metrics = declaration.model_copy(update={"settings": True}).settings_metrics()
        entries = next((v for _, n, v in proposals if n == "entries"), None)
        first = (entries if "entries" in live else declaration.entries) in (None, "first")
        if not line_scope or taken & set(metrics) or not first:
            live.discard("settings")
            why.append(
                "# settings = true needs every module of this command to have scope = "
                '"line", and entries = "first"; its metrics must be free.'
            )
    changed = declaration.model_copy(update=_typed(proposals, live))
    problems = [message for _, message in changed.entry_rules()]
    if changed.key_label_name in changed.info_labels:
        problems.append(f"{quote(changed.key_label_name)} is an info label already")
    if problems and live:
        why.append(f"# Commented out, as your declaration would refuse it: {problems[0]}.")
        live = set()
    if "settings" in live:
        taken.update(changed.settings_metrics())
    return live, why


def _typed(proposals: Sequence[Proposal], live: set[str]) -> dict[str, object]:
    """The proposals written live, as the declaration holds them (labels normalised)."""
    return {
        name: tuple(normalise_field(label) for label in _names(value))
        if name == "labels"
        else value
        for group, name, value in proposals
        if group in live
    }


def _fields(
    seen: CommandSeen, exclude: set[str], taken: set[str]
) -> tuple[list[str], list[FieldSeen], list[str]]:
    """A gauge per field of a type a gauge reads; the text fields; notes on the rest."""
    command = seen.command.name
    gauges: list[str] = []
    texts: list[FieldSeen] = []
    notes: list[str] = []
    nested: list[str] = []
    for name, found in seen.fields.items():
        if name in exclude or not found.entries:
            continue
        kind = found.kind()
        if field_problem(found.spelling) is not None:
            notes.append(
                f"# Not suggested: {command} field {_shown(found.spelling)} (carried by "
                f"{_entries(found.entries)}): its name is not one a declaration can hold."
            )
        elif kind == "nested":
            nested.append(_shown(found.spelling))
        elif kind == "text":
            texts.append(found)
        else:
            metric = metric_name(command, found.spelling, taken, SUFFIXES.get(kind, ""))
            taken.add(metric)
            gauges += [
                "",
                f"# {quote(found.spelling)}: carried by {_entries(found.entries)}; "
                f"{described(kind)}",
                f"[[commands.{toml_key(command)}.gauges]]",
                f"field = {quote(found.spelling)}",
                f"metric = {quote(metric)}",
                f"help = {quote(help_text(command, found.spelling, kind))}",
                f"states = {_value(tuple(found.state_list()))}"
                if kind == "states"
                else f'parse = "{kind}"',
            ]
    if nested:
        notes.append(f"# Not suggested: {', '.join(nested)} (objects or arrays, not values).")
    if seen.more_fields:
        notes.append(f"# Not read: {seen.more_fields} more field(s) past the first 500.")
    if seen.elsewhere:
        notes.append(
            f"# {seen.elsewhere} other repl(ies) held no entries where the first did; "
            "their fields are not in this file."
        )
    return gauges, texts, notes


def _info_lines(
    seen: CommandSeen,
    declaration: CommandDeclaration,
    texts: list[FieldSeen],
    key_label: str,
    taken: set[str],
) -> list[str]:
    """The text fields, named, and the commented-out lines that would make them labels."""
    if not texts:
        return []
    shown = ", ".join(f"{_shown(f.spelling)} ({_entries(f.entries)})" for f in texts)
    lines = [f"# Texts, left out as a text may be personal data: {shown}."]
    labels = [
        normalise_field(f.spelling)
        for f in texts
        if LABEL.fullmatch(normalise_field(f.spelling))
        and normalise_field(f.spelling) not in ("instance", "job", "module", key_label)
        and not normalise_field(f.spelling).startswith("__")
    ]
    builtin = builtin_declarations().get(declaration.name)
    added = (
        declaration.info_labels != builtin.info_labels
        if builtin is not None
        else "info_labels" in declaration.model_fields_set
    )
    if not labels:
        return lines
    if added:
        return [
            *lines,
            "# To carry them as labels of an info metric, add them to info_labels in "
            f"{declaration.name}.",
        ]
    lines.append("# To carry them as labels of an info metric, uncomment:")
    if declaration.info_metric is None:
        info = metric_name(seen.command.name, "info", taken)
        taken.add(info)
        lines.append(f"# info_metric = {quote(info)}")
    lines.append(f"# info_labels = {_value(tuple(labels))}")
    return lines


def _names(value: object) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, tuple) else ()


def _value(value: str | bool | tuple[str, ...]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(quote(item) for item in value) + "]"
    return quote(value)


def _shown(spelling: str) -> str:
    """A field name from a reply, as a TOML string: escaped, and cut when it is long."""
    return quote(spelling) if len(spelling) <= 80 else quote(spelling[:77]) + "..."


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count:,} entries"
