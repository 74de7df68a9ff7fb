"""``--chaos.suggest=FILE``: declarations for what a check saw and the exporter does not export.

For each command checked, each field of the reply's entries that the exporter does not read
becomes a gauge of the type every value seen fits (``suggest_types``); a declaration whose
entries the reply holds elsewhere, or names otherwise, is told where and how
(``suggest_shapes``). The file loads unchanged beside the configuration
(``--config.file modules.toml --config.file FILE``), so a field A&A adds is a series after one
check and a reload. It names fields and metrics only: no credential, and no value but the
states of a state set (never personal data).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.replies import refusal as chaos_refusal
from aaisp_multi_exporter.chaos.settings import read_settings
from aaisp_multi_exporter.config import Config
from aaisp_multi_exporter.config.commands import normalise_field
from aaisp_multi_exporter.diagnostics import suggest_text
from aaisp_multi_exporter.diagnostics.capture import Redactor
from aaisp_multi_exporter.diagnostics.suggest_shapes import (
    MAX_FIELDS,
    CommandSeen,
    entries_at,
    locate,
)
from aaisp_multi_exporter.diagnostics.suggest_types import FieldSeen

#: The start of every file written: a file that starts otherwise is never written over.
HEADER = "# Written by aaisp-multi-exporter --chaos.suggest"


def _shaped_private(text: str) -> bool:
    """Personal data by its shape (a login, postcode, phone number): what the capture's
    redactor replaces, when the check has not lent its own."""
    return _SHAPES.redact_text(text) != text


_SHAPES = Redactor((), ())


class Suggestions:
    """What the check saw, command by command, in the order commands were checked.

    ``private`` says whether a text is personal data (the check lends its redactor's
    judgement, which knows the logins and postcodes of the replies): never a state."""

    def __init__(self, private: Callable[[str], bool] = _shaped_private) -> None:
        self.seen: dict[str, CommandSeen] = {}
        self.private = private
        self.replies = 0

    def add(self, command: Command, document: object) -> None:
        """One reply, as decoded JSON (``None`` for no usable answer): every field of its
        entries that no gauge or label of ``command`` reads."""
        seen = self.seen.setdefault(command.name, CommandSeen(command))
        if not isinstance(document, dict) or chaos_refusal(document) is not None:
            return
        self.replies += 1
        entries: list[Any] | None
        if seen.shape is None:
            seen.shape, entries = locate(command, document)
        elif seen.shape.path is None:
            return
        else:
            entries = entries_at(document, seen.shape.path)
            if entries is None:
                seen.elsewhere += 1
                return
        if not command.builtin and read_settings(document.get("options"))[0]:
            seen.settings = True
        read = {command.key, *command.field_names, *command.not_owned}
        fields = seen.fields
        seen.entries += len(entries)
        for entry in entries:
            counted: set[str] = set()  # ``Foo-Bar`` and ``foo_bar`` are one field of one entry
            for key, value in entry.items():
                name = normalise_field(key) if isinstance(key, str) else ""
                if not name or name in read or name in counted:
                    continue
                found = fields.get(name)
                if found is None:
                    if len(fields) >= MAX_FIELDS:
                        seen.more_fields += 1
                        continue
                    found = fields[name] = FieldSeen(key)
                if value is not None and not (isinstance(value, str) and not value.strip()):
                    counted.add(name)
                found.add(value, self.private, self.replies)


def render(suggestions: Suggestions, config: Config) -> str:
    """The TOML file: a comment saying what to do with it, then each command's proposals."""
    lines = [
        f"{HEADER}: declarations for what the",
        "# checked replies carried and the exporter does not export, each typed by every value",
        "# seen. CHAOS does not say a field's unit: check each gauge, rename its metric (with its",
        '# unit, e.g. "_bytes") and set scale, then load this file beside the configuration:',
        "# --config.file modules.toml --config.file <this file> (docs/commands.md). No",
        "# credential is written here, and no value but a state set's states.",
    ]
    taken = {metric for command in config.commands.values() for metric in command.metrics()}
    blocks: list[str] = []
    for name, seen in suggestions.seen.items():
        modules = [m for m in config.modules.values() if name in m.commands]
        line_scope = bool(modules) and all(module.scope == "line" for module in modules)
        blocks += suggest_text.command_block(seen, config.commands[name], line_scope, taken)
    if not blocks:
        checked = ", ".join(
            f"{name} ({_entries(seen.entries)})" for name, seen in suggestions.seen.items()
        )
        lines.append(f"# Nothing to suggest from {checked or 'no reply'}.")
    return "\n".join(lines + blocks) + "\n"


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
