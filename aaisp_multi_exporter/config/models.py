"""The configuration itself: one pydantic model per kind of table in ``modules.toml``.

Each model's fields are the table's keys, with their types, defaults and limits, so a new key
is one field: validation, messages (``problems.explain`` reads the limits back) and ``/config``
(``render.py`` walks the fields) follow from it. Models are strict (TOML values carry exact
types, so coercion would only hide mistakes) and frozen: a reload swaps the whole ``Config``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from aaisp_multi_exporter.config.commands import (
    CommandDeclaration,
    builtin_declarations,
    command_name_problem,
)
from aaisp_multi_exporter.config.credentials import (
    CREDENTIAL_FIELDS,
    CREDENTIAL_KEYS,
    CredentialSource,
    given_forms,
    pairing_problem,
    resolve_credentials,
    resolve_one,
)
from aaisp_multi_exporter.config.problems import (
    custom_error,
    did_you_mean,
    quote,
    reraisable,
)
from aaisp_multi_exporter.config.proxy import PROXY_KEYS, ProxyAddress, parse_proxy_url
from aaisp_multi_exporter.config.secret import Secret
from aaisp_multi_exporter.config.tables import (
    LoadContext,
    NamedTable,
    Table,
    TableInvalid,
    Unset,
    valid_name,
)

__all__ = [
    "DEFAULT_CHAOS_URL",
    "KNOWN_COMMANDS",
    "MAX_MODULE_TIMEOUT_SECONDS",
    "AuthConfig",
    "ChaosSettings",
    "Config",
    "LoadContext",
    "ModuleConfig",
    "TableInvalid",
    "Unset",
    "valid_name",
]

KNOWN_COMMANDS: frozenset[str] = frozenset(builtin_declarations())
"""The built-in read-only CHAOS commands; others are declared (``config/commands.py``)."""

DEFAULT_CHAOS_URL = "https://chaos2.aa.net.uk"
#: The longest ``timeout_seconds`` a module may set (the systemd unit's TimeoutStopSec and
#: the shutdown grace follow it).
MAX_MODULE_TIMEOUT_SECONDS = 600.0


class ChaosSettings(Table):
    """``[chaos]``: where the API lives (tests and ``--demo`` point it at the simulator),
    and the proxy to reach it through, if the environment's is not the one."""

    hidden_keys: ClassVar[frozenset[str]] = frozenset(PROXY_KEYS)

    url: str = DEFAULT_CHAOS_URL
    proxy_url: Annotated[
        Secret | None, Unset("the environment's HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply")
    ] = None
    """The whole URL is kept as a secret: its user and password are."""
    proxy_source: CredentialSource | None = Field(None, exclude=True)

    @field_validator("url")
    @classmethod
    def _usable_url(cls, url: str) -> str:
        problem = _url_problem(url)
        if problem is not None:
            raise PydanticCustomError("url", problem)
        return url.rstrip("/")

    @classmethod
    def file_keys(cls) -> list[str]:
        return [key for key in super().file_keys() if key != "proxy_url"] + list(PROXY_KEYS)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, context: LoadContext, name: str = "") -> Self:
        """``proxy_url`` in one of its three forms, resolved and checked as a credential is."""
        resolved, found = resolve_one("proxy_url", table, context.env, context.base_dir)
        fixed: dict[str, Any] = {}
        if resolved is not None:
            value, source = resolved
            try:
                parse_proxy_url(value)
            except ValueError as error:
                key = "proxy_url" if source.kind == "inline" else f"proxy_url_{source.kind}"
                found.append(((key,), str(error)))
            fixed = {"proxy_url": Secret(value), "proxy_source": source}
        rest = {key: value for key, value in table.items() if key not in PROXY_KEYS}
        model, more = cls._validate_table(rest, fixed, context)
        found += more
        if found or model is None:
            raise TableInvalid(found)
        return model

    @property
    def proxy(self) -> ProxyAddress | None:
        """The configured proxy, taken apart; None when the environment decides."""
        return None if self.proxy_url is None else parse_proxy_url(self.proxy_url.reveal())


class AuthConfig(NamedTable):
    """``[auths.<name>]``: one CHAOS credential set, with its own request concurrency.

    The credential fields hold values; the table gives each in one of three forms, which
    :class:`CredentialForms` resolves (see ``credentials.py``).
    """

    hidden_keys: ClassVar[frozenset[str]] = frozenset(CREDENTIAL_KEYS)

    control_login: str | None = None
    control_password: Secret | None = None
    account_number: str | None = None
    account_password: Secret | None = None
    max_concurrency: int = Field(4, ge=1, le=64)
    """CHAOS requests in flight at once for this credential set."""
    sources: dict[str, CredentialSource] = Field(default_factory=dict, exclude=True)

    @classmethod
    def file_keys(cls) -> list[str]:
        plain = [key for key in super().file_keys() if key not in CREDENTIAL_FIELDS]
        return [*CREDENTIAL_KEYS, *plain]

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, context: LoadContext, name: str = "") -> Self:
        resolved, found = resolve_credentials(table, context.env, context.base_dir)
        problem = pairing_problem([c for c in CREDENTIAL_FIELDS if given_forms(c, table)])
        rest = {key: value for key, value in table.items() if key not in CREDENTIAL_KEYS}
        model, more = cls._validate_table(rest, {**resolved, **cls._fixed(name)}, context)
        found += more
        if problem is not None:
            found.append(((), problem))
        if found or model is None:
            raise TableInvalid(found)
        return model

    def form_fields(self) -> dict[str, str]:
        """The credentials for the CHAOS POST body: the only place their values are needed."""
        fields: dict[str, str] = {}
        for name in CREDENTIAL_FIELDS:
            value = self.credential_text(name)
            if value is not None:
                fields[name] = value
        return fields

    def secret_fingerprint(self) -> str:
        """A SHA-256 over every credential value, to drop cached answers when one changes.

        For comparisons inside the process only: an unsalted hash of a weak password can be
        brute-forced, so it is not meant for labels, logs or pages.
        """
        return self._fingerprint

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy never inherits the fingerprint of the credentials it replaced."""
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("_fingerprint", None)
        return copy

    @cached_property
    def _fingerprint(self) -> str:
        """Once per loaded configuration: every probe needs it, and the table never changes."""
        digest = hashlib.sha256(b"aaisp-multi-exporter credentials v1\x00")
        for name in CREDENTIAL_FIELDS:
            value = self.credential_text(name)
            if value is None:
                digest.update(b"\x00")
            else:
                encoded = value.encode("utf-8", "surrogatepass")
                digest.update(b"\x01" + len(encoded).to_bytes(8, "big") + encoded)
        return digest.hexdigest()

    def credential_text(self, name: str) -> str | None:
        value: str | Secret | None = getattr(self, name)
        return value.reveal() if isinstance(value, Secret) else value


class ModuleConfig(NamedTable):
    """``[modules.<name>]``: a tier, i.e. which CHAOS commands one scrape needs and how."""

    # Lax only to take TOML's list as a tuple; each item is a strict string.
    commands: Annotated[tuple[Annotated[str, Strict()], ...], Strict(False)] = Field(
        (), validate_default=True
    )
    auth: Annotated[
        str | None, Unset("the ?auth= parameter or the only credential set is used")
    ] = None
    timeout_seconds: Annotated[
        float | None,
        Unset("the scrape timeout (or 120 s) applies"),
        Field(gt=0, le=MAX_MODULE_TIMEOUT_SECONDS),
    ] = None
    retries: int = Field(2, ge=0, le=10)
    cache_seconds: float = Field(60.0, ge=0, le=86400)
    scope: Literal["account", "line"] = "account"
    refresh_ahead: bool = True
    """Refresh a cached answer in the background once 75 % of ``cache_seconds`` has passed."""

    @field_validator("commands", mode="wrap")
    @classmethod
    def _known_commands(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> tuple[str, ...]:
        """Type errors per item and unknown commands together, each duplicate once."""
        context = info.context
        known = sorted(  # a built-in extended in a file is named there too: once here
            set(
                context.command_names
                if isinstance(context, LoadContext) and context.command_names
                else KNOWN_COMMANDS
            )
        )
        allowed_text = ", ".join(known)
        errors: list[InitErrorDetails] = []
        try:
            commands: tuple[str, ...] = handler(value)
        except ValidationError as exc:
            errors += [reraisable(err) for err in exc.errors()]
        items = value if isinstance(value, list | tuple) else []
        if not items and not errors:
            errors.append(
                custom_error(f"at least one command is required; allowed: {allowed_text}")
            )
        seen: set[str] = set()
        duplicates: set[str] = set()
        for command in (item for item in items if isinstance(item, str)):
            if command in seen:
                if command not in duplicates:  # once, however often it repeats
                    duplicates.add(command)
                    errors.append(custom_error(f"duplicate command {quote(command)}"))
                continue
            seen.add(command)
            if command not in known:
                # "broadband/" is common to all: only a near miss of the whole is a hint.
                hint = did_you_mean(command, known, cutoff=0.85)
                why = command_name_problem(command)
                if hint:
                    more = ""
                elif why is not None:
                    more = f"; {why}"
                else:
                    more = f"; declare it as [commands.{quote(command)}] to read it"
                errors.append(
                    custom_error(
                        f"unknown command {quote(command)}; allowed: {allowed_text}{hint}{more}"
                    )
                )
        if errors:
            raise ValidationError.from_exception_data("commands", errors)
        return commands

    @field_validator("auth")
    @classmethod
    def _known_auth(cls, auth: str | None, info: ValidationInfo) -> str | None:
        context = info.context
        if auth is None or not isinstance(context, LoadContext) or not context.auth_names:
            return auth
        if auth not in context.auth_names:
            known = sorted(name for name in context.auth_names if valid_name(name))
            hint = did_you_mean(auth, known)
            raise PydanticCustomError(
                "auth", f"unknown auth {quote(auth)}; known: {', '.join(known)}{hint}"
            )
        return auth


class Config(BaseModel):
    """The whole validated configuration; replaced as one object on reload, never mutated."""

    model_config = ConfigDict(frozen=True, strict=True)

    source: str
    """The files it was read from, for messages and ``/config``."""
    chaos: ChaosSettings
    auths: dict[str, AuthConfig]
    modules: dict[str, ModuleConfig]
    commands: dict[str, CommandDeclaration] = Field(default_factory=builtin_declarations)
    """Every command, the built-ins first, then the declared ones."""
    origins: dict[str, str] = Field(default_factory=dict)
    """The file each table came from, by its header (``chaos``, ``auths.home``...)."""


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
    shown = quote(url)
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
