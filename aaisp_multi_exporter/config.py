"""Load, validate and render ``modules.toml``: the modules (tiers) and auths (credential sets).

Validation runs in two passes. Strict pydantic models check each table's keys and types
(TOML values already carry exact types, so coercion would only hide mistakes); plain code
then checks what a schema cannot express: one form per credential, files and environment
variables, credential pairs and references between tables. Every table is checked even
after another one failed, so ``--config.check`` and a failed reload list every problem at
once, each naming the file, the table and the key. Secret values never reach a message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aaisp_multi_exporter.secret import REDACTED, Secret

__all__ = [
    "CREDENTIAL_FIELDS",
    "DEFAULT_CHAOS_URL",
    "KNOWN_COMMANDS",
    "AuthConfig",
    "ChaosSettings",
    "Config",
    "ConfigError",
    "CredentialSource",
    "ModuleConfig",
    "load_config",
    "parse_config",
    "render_config_toml",
    "subset_config",
]

KNOWN_COMMANDS: frozenset[str] = frozenset({"broadband/info", "broadband/quota"})
"""Read-only CHAOS commands; anything that changes a line (``kill``, ``order``...) is refused."""

DEFAULT_CHAOS_URL = "https://chaos2.aa.net.uk"
DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_RETRIES = 2
DEFAULT_CACHE_SECONDS = 60.0

CREDENTIAL_FIELDS: tuple[str, ...] = (
    "control_login",
    "control_password",
    "account_number",
    "account_password",
)
"""The CHAOS credential attributes, in the order they are sent and rendered."""

_SECRET_FIELDS = frozenset({"control_password", "account_password"})
_FORM_SUFFIXES: tuple[str, ...] = ("", "_file", "_env")
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_MAX_SECRET_FILE_BYTES = 64 * 1024
_MAX_SHOWN_CHARS = 80
_ALLOWED_COMMANDS_TEXT = ", ".join(sorted(KNOWN_COMMANDS))
_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}

PathPart = str | int
_M = TypeVar("_M", bound="_Strict")


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """Where a credential came from, so ``/config`` can name the file or variable, not the value."""

    kind: Literal["inline", "file", "env"]
    reference: str | None = None
    """The file path (as opened) or the environment variable name; None for inline."""


@dataclass(frozen=True, slots=True)
class ChaosSettings:
    """``[chaos]``: where the API lives (tests and ``--demo`` point it at the simulator)."""

    url: str = DEFAULT_CHAOS_URL


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """``[auths.<name>]``: one CHAOS credential set, with its own request concurrency."""

    name: str
    control_login: str | None = None
    control_password: Secret | None = None
    account_number: str | None = None
    account_password: Secret | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    sources: Mapping[str, CredentialSource] = field(default_factory=dict)
    _fingerprint: str = field(init=False, repr=False, compare=False, default="")

    def form_fields(self) -> dict[str, str]:
        """The credentials for the CHAOS POST body: the only place their values are needed."""
        fields: dict[str, str] = {}
        for name in CREDENTIAL_FIELDS:
            value = _credential_text(self, name)
            if value is not None:
                fields[name] = value
        return fields

    def secret_fingerprint(self) -> str:
        """A SHA-256 over every credential value, to drop cached answers when one changes.

        For comparisons inside the process only: an unsalted hash of a weak password can be
        brute-forced, so it is not meant for labels, logs or pages. Computed once per loaded
        configuration: every probe needs it.
        """
        return self._fingerprint

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fingerprint", self._compute_fingerprint())

    def _compute_fingerprint(self) -> str:
        digest = hashlib.sha256(b"aaisp-multi-exporter credentials v1\x00")
        for name in CREDENTIAL_FIELDS:
            value = _credential_text(self, name)
            if value is None:
                digest.update(b"\x00")
            else:
                encoded = value.encode("utf-8", "surrogatepass")
                digest.update(b"\x01" + len(encoded).to_bytes(8, "big") + encoded)
        return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ModuleConfig:
    """``[modules.<name>]``: a tier, i.e. which CHAOS commands one scrape needs and how."""

    name: str
    commands: tuple[str, ...]
    auth: str | None = None
    timeout_seconds: float | None = None
    retries: int = DEFAULT_RETRIES
    cache_seconds: float = DEFAULT_CACHE_SECONDS
    scope: Literal["account", "line"] = "account"
    refresh_ahead: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    """A whole validated ``modules.toml``; replaced as one object on reload, never mutated."""

    source: str
    chaos: ChaosSettings
    auths: Mapping[str, AuthConfig]
    modules: Mapping[str, ModuleConfig]


class ConfigError(Exception):
    """Every problem found in a configuration, so one ``--config.check`` run shows them all."""

    problems: list[str]

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[str]]]:
        # The default would rebuild from the joined text and split it into characters.
        return (ConfigError, (self.problems,))


# --------------------------------------------------------------------------- loading


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a ``modules.toml``; relative ``*_file`` paths are next to it."""
    source = str(path)
    file_path = Path(path)
    try:
        data = file_path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read file: {_os_reason(exc)}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"{source}: invalid TOML: not valid UTF-8 (at byte {exc.start})"]
        ) from None
    return parse_config(text, source=source, env=env, base_dir=file_path.parent)


def parse_config(
    text: str,
    *,
    source: str = "modules.toml",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Validate TOML text; ``source`` only names the file in messages.

    ``env`` defaults to ``os.environ``; relative ``*_file`` paths resolve against
    ``base_dir`` (default: the current directory).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages give a position, never the offending text.
        raise ConfigError([f"{source}: invalid TOML: {exc}"]) from None
    checker = _Checker(source, os.environ if env is None else env, base_dir)
    return checker.check(data)


# --------------------------------------------------------------------------- raw schema


class _Strict(BaseModel):
    """Shared rules: no unknown keys, no coercion, no inf/nan, never echo input in errors."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        frozen=True,
        hide_input_in_errors=True,
    )


class _RawChaos(_Strict):
    url: str = DEFAULT_CHAOS_URL


class _RawAuth(_Strict):
    control_login: str | None = None
    control_login_file: str | None = None
    control_login_env: str | None = None
    control_password: str | None = None
    control_password_file: str | None = None
    control_password_env: str | None = None
    account_number: str | None = None
    account_number_file: str | None = None
    account_number_env: str | None = None
    account_password: str | None = None
    account_password_file: str | None = None
    account_password_env: str | None = None
    max_concurrency: int = Field(DEFAULT_MAX_CONCURRENCY, ge=1, le=64)


class _RawModule(_Strict):
    # Optional here so a missing list gets the same helpful message as an empty one.
    commands: list[str] | None = None
    auth: str | None = None
    timeout_seconds: float | None = Field(None, gt=0, le=600)
    retries: int = Field(DEFAULT_RETRIES, ge=0, le=10)
    cache_seconds: float = Field(DEFAULT_CACHE_SECONDS, ge=0, le=86400)
    scope: Literal["account", "line"] = "account"
    refresh_ahead: bool = True


# --------------------------------------------------------------------------- checking


class _Checker:
    """One validation run: collects problems instead of stopping at the first."""

    def __init__(self, source: str, env: Mapping[str, str], base_dir: Path | None) -> None:
        self.source = source
        self.env = env
        self.base_dir = base_dir
        self.found: list[tuple[tuple[PathPart, ...], str]] = []

    def add(self, path: Sequence[PathPart], message: str) -> None:
        self.found.append((tuple(path), message))

    def in_file_order(self, start: int, raw: Mapping[str, Any]) -> None:
        """Sort the problems found since ``start`` by where their key sits in ``raw``.

        Schema errors and later checks are found in two passes; the operator reads top down.
        A credential's problem ranks with whichever of its forms comes first.
        """
        order = {key: index for index, key in enumerate(raw)}

        def rank(item: tuple[tuple[PathPart, ...], str]) -> int:
            key = str(item[0][2]) if len(item[0]) > 2 else ""
            forms = [index for name, index in order.items() if name.startswith(key + "_")]
            return order.get(key, min(forms, default=len(order)))

        self.found[start:] = sorted(self.found[start:], key=rank)

    def check(self, data: Mapping[str, Any]) -> Config:
        for key in data:
            if key not in ("chaos", "auths", "modules"):
                self.add((key,), "unknown key")
        chaos = self._check_chaos(self._section(data, "chaos", show=True))

        auth_tables = self._section(data, "auths", show=False)
        if auth_tables == {}:
            self.add(("auths",), "at least one credential set is required")
        auths: dict[str, AuthConfig] = {}
        for name, table in (auth_tables or {}).items():
            auth = self._check_auth(name, table)
            if auth is not None:
                auths[name] = auth

        module_tables = self._section(data, "modules", show=True)
        if module_tables == {}:
            self.add(("modules",), "at least one module is required")
        modules: dict[str, ModuleConfig] = {}
        auth_names = list(auth_tables or {})
        for name, table in (module_tables or {}).items():
            module = self._check_module(name, table, auth_names)
            if module is not None:
                modules[name] = module

        if self.found or chaos is None:
            raise ConfigError(
                f"{self.source}: {_format_path(path)}: {message}" for path, message in self.found
            )
        return Config(source=self.source, chaos=chaos, auths=auths, modules=modules)

    def _section(self, data: Mapping[str, Any], key: str, *, show: bool) -> dict[str, Any] | None:
        """A top-level table, ``{}`` when absent, None when it is not a table."""
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.add((key,), f"expected a table, got {_describe(value, show=show)}")
            return None
        return value

    def _table(
        self, path: tuple[PathPart, ...], value: object, *, show: bool
    ) -> dict[str, Any] | None:
        """A named ``[auths.x]``/``[modules.x]`` table, after checking its name."""
        if not _NAME_RE.fullmatch(str(path[-1])):
            self.add(path, "invalid name; use 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
        if not isinstance(value, dict):
            self.add(path, f"expected a table, got {_describe(value, show=show)}")
            return None
        return value

    def _validate(
        self,
        model: type[_M],
        path: tuple[PathPart, ...],
        raw: Mapping[str, Any],
        hidden: frozenset[str] = frozenset(),
    ) -> _M | None:
        """Validate, report every bad key, then retry without them to check what is left."""
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            errors = exc.errors()
        for err in errors:
            key = str(err["loc"][0])
            self.add(path + tuple(err["loc"]), _explain(err, model, key, show=key not in hidden))
        bad = {str(err["loc"][0]) for err in errors}
        try:
            return model.model_validate({k: v for k, v in raw.items() if k not in bad})
        except ValidationError:  # pragma: no cover - every field has a default
            return None

    def _check_chaos(self, raw: Mapping[str, Any] | None) -> ChaosSettings | None:
        path: tuple[PathPart, ...] = ("chaos",)
        parsed = self._validate(_RawChaos, path, raw or {})  # url is its only key: no sorting
        if parsed is None:
            return None
        problem = _url_problem(parsed.url)
        if problem is not None:
            self.add((*path, "url"), problem)
            return None
        return ChaosSettings(url=parsed.url.rstrip("/"))

    def _check_auth(self, name: str, table: object) -> AuthConfig | None:
        path: tuple[PathPart, ...] = ("auths", name)
        before = len(self.found)
        raw = self._table(path, table, show=False)
        if raw is None:
            return None
        start = len(self.found)
        parsed = self._validate(_RawAuth, path, raw, hidden=_SECRET_FIELDS)
        if parsed is None:
            return None

        present: set[str] = set()
        values: dict[str, str] = {}
        sources: dict[str, CredentialSource] = {}
        for credential in CREDENTIAL_FIELDS:
            forms = [credential + suffix for suffix in _FORM_SUFFIXES if credential + suffix in raw]
            if not forms:
                continue
            present.add(credential)
            if len(forms) > 1:
                choices = ", ".join(credential + suffix for suffix in _FORM_SUFFIXES)
                self.add((*path, credential), f"give only one of {choices}")
                continue
            given = getattr(parsed, forms[0])
            if given is None:  # wrong type, already reported
                continue
            resolved = self._resolve(path, forms[0], given)
            if resolved is not None:
                values[credential], sources[credential] = resolved
        self.in_file_order(start, raw)

        problem = _pairing_problem(present)
        if problem is not None:
            self.add(path, problem)
        if len(self.found) > before:
            return None

        def secret(key: str) -> Secret | None:
            return Secret(values[key]) if key in values else None

        return AuthConfig(
            name=name,
            control_login=values.get("control_login"),
            control_password=secret("control_password"),
            account_number=values.get("account_number"),
            account_password=secret("account_password"),
            max_concurrency=parsed.max_concurrency,
            sources=sources,
        )

    def _resolve(
        self, path: tuple[PathPart, ...], form: str, given: str
    ) -> tuple[str, CredentialSource] | None:
        """The value of one credential from its inline, file or environment form."""
        where = (*path, form)
        if given == "":
            self.add(where, "must not be empty")
            return None
        if form.endswith("_file"):
            file_path = Path(given)
            if self.base_dir is not None and not file_path.is_absolute():
                file_path = self.base_dir / file_path
            shown = _quote(str(file_path))
            try:
                value = _read_secret_file(file_path)
            except OSError as exc:
                self.add(where, f"cannot read {shown}: {_os_reason(exc)}")
                return None
            except ValueError as exc:
                self.add(where, f"cannot read {shown}: {exc}")
                return None
            if value == "":
                self.add(where, f"file {shown} is empty")
                return None
            return value, CredentialSource("file", str(file_path))
        if form.endswith("_env"):
            env_value = self.env.get(given)
            if env_value is None:
                self.add(where, f"environment variable {_quote(given)} is not set")
                return None
            if env_value == "":
                self.add(where, f"environment variable {_quote(given)} is empty")
                return None
            return env_value, CredentialSource("env", given)
        return given, CredentialSource("inline", None)

    def _check_commands(self, path: tuple[PathPart, ...], commands: Sequence[str]) -> None:
        seen: set[str] = set()
        duplicates: set[str] = set()
        for command in commands:
            if command in seen:
                if command not in duplicates:  # once, however often it repeats
                    duplicates.add(command)
                    self.add((*path, "commands"), f"duplicate command {_quote(command)}")
                continue
            seen.add(command)
            if command not in KNOWN_COMMANDS:
                self.add(
                    (*path, "commands"),
                    f"unknown command {_quote(command)}; allowed: {_ALLOWED_COMMANDS_TEXT}",
                )

    def _check_module(
        self, name: str, table: object, auth_names: Sequence[str]
    ) -> ModuleConfig | None:
        path: tuple[PathPart, ...] = ("modules", name)
        before = len(self.found)
        raw = self._table(path, table, show=True)
        if raw is None:
            return None
        start = len(self.found)
        parsed = self._validate(_RawModule, path, raw)
        if parsed is None:
            return None

        given = raw.get("commands")
        if "commands" not in raw or given == []:
            self.add(
                (*path, "commands"),
                f"at least one command is required; allowed: {_ALLOWED_COMMANDS_TEXT}",
            )
        elif isinstance(given, list):
            # The strings of a list with a wrong-typed item are still worth checking.
            self._check_commands(path, [item for item in given if isinstance(item, str)])

        if parsed.auth is not None and auth_names and parsed.auth not in auth_names:
            known = ", ".join(sorted(n for n in auth_names if _NAME_RE.fullmatch(n)))
            self.add((*path, "auth"), f"unknown auth {_quote(parsed.auth)}; known: {known}")
        self.in_file_order(start, raw)

        if len(self.found) > before or parsed.commands is None:
            return None
        return ModuleConfig(
            name=name,
            commands=tuple(parsed.commands),
            auth=parsed.auth,
            timeout_seconds=parsed.timeout_seconds,
            retries=parsed.retries,
            cache_seconds=parsed.cache_seconds,
            scope=parsed.scope,
            refresh_ahead=parsed.refresh_ahead,
        )


def _pairing_problem(present: set[str]) -> str | None:
    """Why a set of credential fields does not make a usable CHAOS login, if it does not."""
    login = "control_login" in present
    password = "control_password" in present
    number = "account_number" in present
    account_password = "account_password" in present
    if password and not login:
        return "control_password needs control_login"
    if account_password and not number:
        return "account_password needs account_number"
    if number and not account_password:
        return "account_number needs account_password"
    if password and number:
        return (
            "give control_login and control_password, or account_number and "
            "account_password (optionally with control_login), not both"
        )
    if (login and password) or (number and account_password):
        return None
    return "needs control_login and control_password, or account_number and account_password"


def _read_secret_file(path: Path) -> str:
    """A credential file's text minus one trailing newline (what ``echo`` and editors add)."""
    with path.open("rb") as handle:
        data = handle.read(_MAX_SECRET_FILE_BYTES + 1)
    if len(data) > _MAX_SECRET_FILE_BYTES:
        raise ValueError(f"larger than {_MAX_SECRET_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not valid UTF-8") from None
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the CHAOS base URL; checks credentials first so none is echoed."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        parts = None
        netloc = url
    if "@" in netloc:
        return "must not contain a user name or password"
    shown = _quote(url)
    if parts is None:
        return f"not a valid URL, got {shown}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"must be an http:// or https:// URL, got {shown}"
    if not parts.hostname:
        return f"must name a host, got {shown}"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"invalid port, got {shown}"
    if "?" in url:
        return f"must not contain a query string, got {shown}"
    if "#" in url:
        return f"must not contain a fragment, got {shown}"
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return f"must not contain spaces or control characters, got {shown}"
    return None


# --------------------------------------------------------------------------- messages


def _explain(err: Any, model: type[BaseModel], key: str, *, show: bool) -> str:
    """Turn one pydantic error into plain words about TOML; ``show`` False hides the value."""
    kind: str = err["type"]
    value: object = err.get("input")
    got = _describe(value, show=show)
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing required key"
    expected = {
        "int_type": "an integer",
        "float_type": "a number",
        "string_type": "a string",
        "list_type": "an array",
        "dict_type": "a table",
        "model_type": "a table",
    }.get(kind)
    if expected is not None:
        return f"expected {expected}, got {got}"
    if kind == "literal_error":
        choices = get_args(model.model_fields[key].annotation)
        return f"must be {' or '.join(_quote(str(c)) for c in choices)}, got {got}"
    if kind == "finite_number":
        return f"must be a finite number, got {got}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        shown = _toml_value(value) if show and isinstance(value, int | float) else "a hidden value"
        return f"{_range_text(model, key)}, got {shown}"
    return str(err.get("msg", "invalid value"))


def _range_text(model: type[BaseModel], key: str) -> str:
    """``must be between 0 and 10`` from the field's own constraints, so they cannot drift."""
    low: object = None
    high: object = None
    low_inclusive = True
    for item in model.model_fields[key].metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low, low_inclusive = item.gt, False
        elif isinstance(item, annotated_types.Le):
            high = item.le
    if low_inclusive and low is not None and high is not None:
        return f"must be between {_number(low)} and {_number(high)}"
    parts = []
    if low is not None:
        parts.append(f"{'at least' if low_inclusive else 'greater than'} {_number(low)}")
    if high is not None:
        parts.append(f"at most {_number(high)}")
    return "must be " + " and ".join(parts)


def _describe(value: object, *, show: bool) -> str:
    """A TOML-flavoured name for a value's type, plus the value unless it may be a secret."""
    if isinstance(value, bool):
        kind, text = "boolean", "true" if value else "false"
    elif isinstance(value, int):
        kind, text = "integer", str(value)
    elif isinstance(value, float):
        kind, text = "float", _toml_value(value)
    elif isinstance(value, str):
        shortened = value if len(value) <= _MAX_SHOWN_CHARS else value[:_MAX_SHOWN_CHARS] + "..."
        kind, text = "string", _quote(shortened)
    elif isinstance(value, list):
        return "array"
    elif isinstance(value, dict):
        return "table"
    elif isinstance(value, dt.datetime):
        return "date-time"
    elif isinstance(value, dt.date):
        return "date"
    elif isinstance(value, dt.time):
        return "time"
    else:
        return type(value).__name__
    return f"{kind} {text}" if show else kind


def _number(value: object) -> str:
    """A bound as an operator would write it: ``600`` rather than ``600.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _format_path(path: Sequence[PathPart]) -> str:
    """``auths.home.control_login`` / ``modules.quota.commands[0]``, quoting odd names."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + _toml_key(part)
    return out


# --------------------------------------------------------------------------- rendering


def render_config_toml(config: Config) -> str:
    """The effective configuration as TOML for ``GET /config``: defaults filled in, no secrets.

    Passwords given inline show as ``"<secret>"``; file and environment sources show the
    path or the variable name, never what was read from them.
    """
    lines = [
        f"# Effective configuration loaded from {_quote(config.source)}.",
        f"# Secrets are shown as {_quote(REDACTED)}; *_file and *_env keys show their source.",
        "",
        "[chaos]",
        f"url = {_toml_value(config.chaos.url)}",
    ]
    if not config.auths:
        lines += ["", "[auths]"]
    for name, auth in config.auths.items():
        lines += ["", f"[auths.{_toml_key(name)}]"]
        for credential in CREDENTIAL_FIELDS:
            if getattr(auth, credential) is None:
                continue
            source = auth.sources.get(credential, CredentialSource("inline"))
            if source.kind == "inline":
                shown = (
                    REDACTED if credential in _SECRET_FIELDS else _credential_text(auth, credential)
                )
                lines.append(f"{credential} = {_toml_value(shown or '')}")
            else:
                lines.append(f"{credential}_{source.kind} = {_toml_value(source.reference or '')}")
        lines.append(f"max_concurrency = {_toml_value(auth.max_concurrency)}")
    if not config.modules:
        lines += ["", "[modules]"]
    for name, module in config.modules.items():
        lines += ["", f"[modules.{_toml_key(name)}]"]
        lines.append(f"commands = {_toml_value(list(module.commands))}")
        if module.auth is None:
            lines.append("# auth: not set; the ?auth= parameter or the only credential set is used")
        else:
            lines.append(f"auth = {_toml_value(module.auth)}")
        if module.timeout_seconds is None:
            lines.append("# timeout_seconds: not set; the scrape timeout (or 120 s) applies")
        else:
            lines.append(f"timeout_seconds = {_toml_value(float(module.timeout_seconds))}")
        lines.append(f"retries = {_toml_value(module.retries)}")
        lines.append(f"cache_seconds = {_toml_value(float(module.cache_seconds))}")
        lines.append(f"scope = {_toml_value(module.scope)}")
        lines.append(f"refresh_ahead = {_toml_value(module.refresh_ahead)}")
    return "\n".join(lines) + "\n"


def subset_config(config: Config, *, modules: Iterable[str], auths: Iterable[str]) -> Config:
    """The part of ``config`` one probe used, for its debug answer; names in the order given.

    An unknown name is a KeyError: callers take names from this same configuration.
    """
    return Config(
        source=config.source,
        chaos=config.chaos,
        auths={name: config.auths[name] for name in auths},
        modules={name: config.modules[name] for name in modules},
    )


def _credential_text(auth: AuthConfig, name: str) -> str | None:
    value: str | Secret | None = getattr(auth, name)
    if isinstance(value, Secret):
        return value.reveal()
    return value


def _toml_value(value: str | bool | int | float | Sequence[str]) -> str:
    """The few TOML value types the configuration uses; bool before int, as bool is an int."""
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return "[" + ", ".join(_quote(item) for item in value) + "]"


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.fullmatch(key) else _quote(key)


def _quote(text: str) -> str:
    """A TOML basic string; also makes odd characters visible in messages."""
    out = []
    for char in text:
        code = ord(char)
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:  # lone surrogates (os.environ) are not valid TOML
            out.append("\\uFFFD")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
