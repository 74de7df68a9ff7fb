"""Reading the configuration: one or more TOML files (globs allowed), merged into one Config.

Several files follow snmp_exporter: ``--config.file`` may repeat and take glob patterns, so a
reseller keeps a file per customer. Every table of every file is checked even after another
failed, so ``--config.check`` and a failed reload list every problem at once, each naming the
file, the table and the key, in file order. Secret values never reach a message.
"""

from __future__ import annotations

import glob
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aaisp_multi_exporter.config.command_rules import CommandParts, check_commands
from aaisp_multi_exporter.config.commands import (
    CommandDeclaration,
    builtin_declarations,
    command_name_problem,
)
from aaisp_multi_exporter.config.example import missing_file_hint
from aaisp_multi_exporter.config.models import (
    AuthConfig,
    ChaosSettings,
    Config,
    LoadContext,
    ModuleConfig,
    TableInvalid,
    valid_name,
)
from aaisp_multi_exporter.config.problems import (
    ConfigError,
    PathPart,
    Problems,
    describe,
    did_you_mean,
    format_path,
    os_reason,
    quote,
)

__all__ = ["config_paths", "load_config", "parse_config"]

_SECTIONS = ("chaos", "auths", "modules", "commands")
_BAD_NAME = "invalid name; use 1 to 64 characters of A-Z, a-z, 0-9, _ and -"
_GLOB_CHARS = re.compile(r"[*?[]")
#: The first meaningful line of a YAML file in blackbox_exporter's style: ``---``,
#: ``modules:``, ``key: value`` or ``- item``. No TOML line looks like that.
_YAML_START = re.compile(r"---|[A-Za-z_][\w.-]*:(\s.*)?|-(\s.*)?")
_YAML_HINT = (
    "this looks like YAML, but the configuration is TOML: "
    "tables such as [modules.quota], keys such as retries = 2"
)

ConfigFiles = str | Path | Sequence[str | Path]


@dataclass(frozen=True, slots=True)
class _Document:
    source: str
    data: dict[str, Any]
    base_dir: Path | None


def load_config(files: ConfigFiles, *, env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and merge configuration files; every call expands the globs again.

    ``files`` is one path or pattern, or several. Relative ``*_file`` paths are read from the
    directory of the file that names them; ``env`` defaults to ``os.environ``.
    """
    patterns = [files] if isinstance(files, str | Path) else list(files)
    problems: list[str] = []
    paths = _expand([str(pattern) for pattern in patterns], problems)
    documents = [doc for doc in (_read(path, problems) for path in paths) if doc is not None]
    source = ", ".join(paths) or ", ".join(str(pattern) for pattern in patterns)
    complete = len(documents) == len(paths) and not problems
    return _Merge(source, os.environ if env is None else env, problems, complete).run(documents)


def parse_config(
    text: str,
    *,
    source: str = "modules.toml",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Validate TOML text; ``source`` only names the file in messages.

    Relative ``*_file`` paths resolve against ``base_dir`` (default: the current directory).
    """
    problems: list[str] = []
    data = _parse(text, source, problems)
    documents = [] if data is None else [_Document(source, data, base_dir)]
    environ = os.environ if env is None else env
    return _Merge(source, environ, problems, complete=data is not None).run(documents)


def config_paths(patterns: Sequence[str]) -> list[str]:
    """The files ``load_config`` would read now: each glob expanded afresh, in order (what
    the auto-reload watches, and what ``--chaos.suggest`` must never write over)."""
    return _expand(patterns, [])


def _expand(patterns: Sequence[str], problems: list[str]) -> list[str]:
    """Files in the order given, each glob sorted; a file named twice is read once."""
    files: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        if _GLOB_CHARS.search(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                problems.append(f"{pattern}: no file matches this pattern")
        else:
            matches = [pattern]  # a missing file is told as such by _read
        for match in matches:
            identity = os.path.realpath(match)
            if identity not in seen:
                seen.add(identity)
                files.append(match)
    return files


def _read(path: str, problems: list[str]) -> _Document | None:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        problems.append(f"{path}: cannot read file: {os_reason(exc)}; {missing_file_hint(path)}")
        return None
    except OSError as exc:
        problems.append(f"{path}: cannot read file: {os_reason(exc)}")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: invalid TOML: not valid UTF-8 (at byte {exc.start})")
        return None
    parsed = _parse(text, path, problems)
    return None if parsed is None else _Document(path, parsed, Path(path).parent)


def _parse(text: str, source: str, problems: list[str]) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages give a position, never the offending text.
        hint = f"; {_YAML_HINT}" if _looks_like_yaml(text) else ""
        problems.append(f"{source}: invalid TOML: {exc}{hint}")
        return None


def _names(documents: Sequence[_Document], section: str) -> list[str]:
    """The table names of a section across every file (for references between tables)."""
    return [
        name
        for doc in documents
        if isinstance(doc.data.get(section), dict)
        for name in doc.data[section]
    ]


def _looks_like_yaml(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return _YAML_START.fullmatch(stripped) is not None
    return False


class _Merge:
    """One load: validates every table of every file and merges them, collecting problems."""

    def __init__(
        self, source: str, env: Mapping[str, str], problems: list[str], complete: bool
    ) -> None:
        self.source = source
        self.env = env
        self.problems = problems
        self.complete = complete
        self.chaos: ChaosSettings | None = None
        self.auths: dict[str, AuthConfig] = {}
        self.modules: dict[str, ModuleConfig] = {}
        #: The file that defined each table first, by its path (``("auths", "home")``).
        self.owners: dict[tuple[str, ...], str] = {}
        self.not_tables: set[str] = set()
        self.commands: dict[str, CommandParts] = {
            name: CommandParts(name, builtin=declaration)
            for name, declaration in builtin_declarations().items()
        }

    def run(self, documents: Sequence[_Document]) -> Config:
        context = LoadContext(
            env=self.env,
            auth_names=_names(documents, "auths"),
            command_names=[*self.commands, *_names(documents, "commands")],
        )
        for doc in documents:
            self._document(doc, context)
        for source, path, message in check_commands(list(self.commands.values())):
            self.problems.append(f"{source}: {format_path(path)}: {message}")
        self._settings_in_line_scope()
        if self.complete:
            for section, what in (("auths", "credential set"), ("modules", "module")):
                if section not in self.not_tables and not self.owners_of(section):
                    self.problems.append(
                        f"{self.source}: {section}: at least one {what} is required"
                    )
        if self.problems:
            raise ConfigError(self.problems)
        return Config(
            source=self.source,
            chaos=self.chaos or ChaosSettings(),
            auths=self.auths,
            modules=self.modules,
            commands={name: parts.declaration() for name, parts in self.commands.items()},
            origins={format_path(path): file for path, file in self.owners.items()},
        )

    def _settings_in_line_scope(self) -> None:
        """Settings are one service's: a module reading them asks for one service."""
        for name, module in self.modules.items():
            for command in module.commands:
                parts = self.commands.get(command)
                if parts is not None and parts.declaration().settings and module.scope != "line":
                    source = self.owners.get(("modules", name), self.source)
                    self.problems.append(
                        f"{source}: {format_path(('modules', name, 'scope'))}: {command} reads "
                        'a service\'s settings (settings = true): needs scope = "line"'
                    )

    def owners_of(self, section: str) -> list[str]:
        return [path[1] for path in self.owners if path[0] == section and len(path) == 2]

    def _document(self, doc: _Document, loaded: LoadContext) -> None:
        for key, value in doc.data.items():
            if key not in _SECTIONS:
                what = "unknown table" if isinstance(value, dict) else "unknown key"
                self._add(doc, (key,), what + did_you_mean(key, _SECTIONS))
        context = replace(loaded, base_dir=doc.base_dir)
        if "chaos" in doc.data:
            self._chaos(doc, doc.data["chaos"], context)
        commands = doc.data.get("commands", {})
        if isinstance(commands, dict):
            for name, table in commands.items():
                self._command(doc, name, table, context)
        else:
            self._add(doc, ("commands",), f"expected a table, got {describe(commands)}")
        for section in ("auths", "modules"):
            tables = doc.data.get(section, {})
            if not isinstance(tables, dict):
                got = describe(tables, show=section != "auths")
                self._add(doc, (section,), f"expected a table, got {got}")
                self.not_tables.add(section)
                continue
            for name, table in tables.items():
                self._named(doc, section, name, table, context)

    def _chaos(self, doc: _Document, table: object, context: LoadContext) -> None:
        if not isinstance(table, dict):
            self._add(doc, ("chaos",), f"expected a table, got {describe(table)}")
            return
        first = self.owners.setdefault(("chaos",), doc.source)
        if first != doc.source:
            message = f"already defined in {quote(first)}; [chaos] may appear in one file only"
            self._add(doc, ("chaos",), message)
        try:
            chaos = ChaosSettings.from_table(table, context=context)
        except TableInvalid as exc:
            self._add_found(doc, ("chaos",), table, exc.found)
            return
        if first == doc.source:
            self.chaos = chaos

    def _named(
        self, doc: _Document, section: str, name: str, table: object, context: LoadContext
    ) -> None:
        path = (section, name)
        if not valid_name(name):
            self._add(doc, path, _BAD_NAME)
        first = self.owners.setdefault(path, doc.source)
        if first != doc.source:
            self._add(doc, path, f"already defined in {quote(first)}")
        if not isinstance(table, dict):
            self._add(
                doc, path, f"expected a table, got {describe(table, show=section != 'auths')}"
            )
            return
        model = AuthConfig if section == "auths" else ModuleConfig
        try:
            parsed = model.from_table(table, context=context, name=name)
        except TableInvalid as exc:
            self._add_found(doc, path, table, exc.found)
            return
        if first == doc.source and valid_name(name):
            if isinstance(parsed, AuthConfig):
                self.auths[name] = parsed
            elif isinstance(parsed, ModuleConfig):
                self.modules[name] = parsed

    def _command(self, doc: _Document, name: str, table: object, context: LoadContext) -> None:
        """One ``[commands."<name>"]`` table; its parts are merged with the other files'."""
        path = ("commands", name)
        self.owners.setdefault(path, doc.source)
        if not isinstance(table, dict):
            self._add(doc, path, f"expected a table, got {describe(table)}")
            return
        problem = command_name_problem(name)
        if problem is not None:
            if "/" not in name and table and all(isinstance(v, dict) for v in table.values()):
                # [commands.telephony.info] is a table "telephony" holding "info".
                first = next(iter(table))
                problem += f'; write the name in quotes: [commands."{name}/{first}"]'
            self._add(doc, path, problem)
            return
        try:
            declaration = CommandDeclaration.from_table(table, context=context, name=name)
        except TableInvalid as exc:
            self._add_found(doc, path, table, exc.found)
            return
        parts = self.commands.setdefault(name, CommandParts(name))
        for source, where, message in parts.add(declaration, doc.source):
            self.problems.append(f"{source}: {format_path(where)}: {message}")

    def _add(self, doc: _Document, path: Sequence[PathPart], message: str) -> None:
        self.problems.append(f"{doc.source}: {format_path(path)}: {message}")

    def _add_found(
        self, doc: _Document, path: tuple[PathPart, ...], table: Mapping[str, Any], found: Problems
    ) -> None:
        """A table's problems in the order of its keys: the operator reads top down.

        A credential's problem ranks with whichever of its forms comes first; problems of the
        table as a whole come last.
        """
        order = {key: index for index, key in enumerate(table)}

        def rank(item: tuple[tuple[PathPart, ...], str]) -> int:
            key = str(item[0][0]) if item[0] else ""
            forms = [index for name, index in order.items() if key and name.startswith(key + "_")]
            return order.get(key, min(forms, default=len(order)))

        for where, message in sorted(found, key=rank):
            self._add(doc, path + where, message)
