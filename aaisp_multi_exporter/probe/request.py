"""A ``/probe`` request: its query (every way it can be wrong, as a 400 with a useful text)
and its deadline (blackbox_exporter's rule, so operators' intuitions carry over)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aaisp_multi_exporter.chaos.commands import Command, compile_commands
from aaisp_multi_exporter.chaos.snapshots import Policy
from aaisp_multi_exporter.config import AuthConfig, Config, ModuleConfig

#: Line IDs, phone numbers, circuit IDs and logins all fit; nothing that could reshape a URL.
TARGET_PATTERN = re.compile(r"^[A-Za-z0-9+._@-]{1,64}$")
MAX_ECHO = 64


class QueryLike(Protocol):
    """The slice of aiohttp's MultiDict the parser needs."""

    def getall(self, key: str, default: list[str]) -> list[str]: ...
    def __contains__(self, key: object) -> bool: ...


class ProbeRejected(Exception):
    """A request the exporter refuses; ``reason`` is the rejected-counter label.

    ``value`` is the offending value as sent, for the log line (which echoes it, shortened).
    """

    def __init__(
        self, reason: str, message: str, status: int = 400, *, value: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.value = value


@dataclass(frozen=True, slots=True)
class ModulePlan:
    """One module of a probe with the credential set it will use, and what every probe of
    it needs from them: its commands in the table's order, and its cache policy."""

    module: ModuleConfig
    auth: AuthConfig
    commands: tuple[Command, ...]
    policy: Policy

    @classmethod
    def of(cls, module: ModuleConfig, auth: AuthConfig, table: Mapping[str, Command]) -> ModulePlan:
        names = module.commands
        commands = tuple(command for command in table.values() if command.name in names)
        return cls(module, auth, commands, Policy(module.cache_seconds, module.refresh_ahead))


@dataclass(frozen=True, slots=True)
class ProbePlan:
    """What a request's ``module`` and ``auth`` resolve to; the same for every target."""

    modules: tuple[ModulePlan, ...]
    #: Every command of the configuration, in the order a probe's series are written.
    commands: Mapping[str, Command]
    #: Named once here: the log, the history and the page all show them.
    module_names: tuple[str, ...]
    auth_names: tuple[str, ...]
    #: The strictest module ``timeout_seconds``: several modules share one deadline.
    module_timeout: float | None
    #: The names joined with commas, as logs and the page show them.
    module_list: str = ""
    auth_list: str = ""


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    target: str
    plan: ProbePlan
    debug: bool

    @property
    def modules(self) -> tuple[ModulePlan, ...]:
        return self.plan.modules

    @property
    def module_names(self) -> tuple[str, ...]:
        return self.plan.module_names

    @property
    def auth_names(self) -> tuple[str, ...]:
        return self.plan.auth_names


def echo(value: str) -> str:
    """Quote a caller's value for an error text, cut short so the answer stays small."""
    shown = value if len(value) <= MAX_ECHO else value[:MAX_ECHO] + "..."
    return '"' + shown.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _known(names: Iterable[str]) -> str:
    listed = ", ".join(names)
    return listed or "(none)"


def valid_target(value: str) -> bool:
    """Whether ``/probe`` takes ``value`` as its target; ``/discover`` lists only those."""
    return TARGET_PATTERN.fullmatch(value) is not None


def parse_target(values: list[str]) -> str:
    if not values:
        raise ProbeRejected("missing_target", 'parameter "target" is required')
    if len(values) > 1:
        raise ProbeRejected("invalid_target", 'parameter "target" must be given exactly once')
    target = values[0]
    if not valid_target(target):
        raise ProbeRejected(
            "invalid_target",
            f"invalid target {echo(target)}: use 1 to 64 characters of A-Z a-z 0-9 + . _ @ -",
            value=target,
        )
    return target


def parse_modules(values: list[str], modules: Mapping[str, ModuleConfig]) -> list[ModuleConfig]:
    """Comma lists and repeats both work, because relabeling can set only one value."""
    if not values:
        if len(modules) == 1:
            return list(modules.values())
        raise ProbeRejected(
            "missing_module",
            f'parameter "module" is required when several modules exist; known: {_known(modules)}',
        )
    names: list[str] = []
    for value in values:
        for raw in value.split(","):
            name = raw.strip()
            if not name:
                raise ProbeRejected(
                    "unknown_module",
                    f"empty module name in {echo(value)}; known: {_known(modules)}",
                    value=value,
                )
            if name not in modules:
                raise ProbeRejected(
                    "unknown_module",
                    f"unknown module {echo(name)}; known: {_known(modules)}",
                    value=name,
                )
            if name not in names:
                names.append(name)
    return [modules[name] for name in names]


def parse_auth(values: list[str], auths: Mapping[str, AuthConfig]) -> AuthConfig | None:
    """An empty ``auth=`` means omitted: the landing page form sends it for "module default"."""
    if not values or values == [""]:
        return None
    if len(values) > 1:
        raise ProbeRejected("unknown_auth", 'parameter "auth" may be given at most once')
    auth = auths.get(values[0])
    if auth is None:
        raise ProbeRejected(
            "unknown_auth",
            f"unknown auth {echo(values[0])}; known: {_known(auths)}",
            value=values[0],
        )
    return auth


def choose_auth(
    module: ModuleConfig, explicit: AuthConfig | None, auths: Mapping[str, AuthConfig]
) -> AuthConfig:
    """``auth=`` wins, then the module's own, then the only credential set there is."""
    if explicit is not None:
        return explicit
    if module.auth is not None:
        return auths[module.auth]
    if len(auths) == 1:
        return next(iter(auths.values()))
    raise ProbeRejected(
        "missing_auth",
        f'module "{module.name}" names no auth and several exist; pass "auth"; '
        f"known: {_known(auths)}",
    )


def parse_debug(values: list[str]) -> bool:
    if not values:
        return False
    if len(values) == 1 and values[0].lower() in ("true", "false"):
        return values[0].lower() == "true"
    raise ProbeRejected(
        "invalid_parameter", 'parameter "debug" must be "true" or "false"', value=",".join(values)
    )


def resolve_plan(
    module_values: list[str],
    auth_values: list[str],
    config: Config,
    commands: Mapping[str, Command],
) -> ProbePlan:
    modules = parse_modules(module_values, config.modules)
    explicit = parse_auth(auth_values, config.auths)
    plans = tuple(
        ModulePlan.of(module, choose_auth(module, explicit, config.auths), commands)
        for module in modules
    )
    timeouts = [m.timeout_seconds for m in modules if m.timeout_seconds is not None]
    module_names = tuple(plan.module.name for plan in plans)
    auth_names = tuple(sorted({plan.auth.name for plan in plans}))
    return ProbePlan(
        modules=plans,
        commands=commands,
        module_names=module_names,
        auth_names=auth_names,
        module_timeout=min(timeouts, default=None),
        module_list=",".join(module_names),
        auth_list=",".join(auth_names),
    )


#: Query strings whose request is kept: one per target a job probes, so a reseller's
#: exporter keeps its lines'. Bounded in bytes, not only in entries: a query may carry up to
#: 8 KB of unknown parameters, and 16,384 of those were 130 MB.
KNOWN_QUERIES = 16_384
#: A longer query string is parsed every time: Prometheus' are a few dozen bytes.
KNOWN_QUERY_CHARS = 256
#: The characters of all kept query strings together (with the entries, about 6 MB at most).
KNOWN_QUERY_TOTAL_CHARS = 2 * 1024 * 1024


class QueryParser:
    """Validates probe requests against one configuration.

    What each ``module`` and ``auth`` combination resolves to is kept (up to ``limit``
    combinations), and so is each valid request by its query string as sent (up to
    ``known_limit``, and ``known_chars_limit`` characters in all): Prometheus sends the same
    one for a target at every scrape. Either starts afresh when full; a refused request is
    never kept.
    """

    def __init__(
        self,
        config: Config,
        commands: Mapping[str, Command] | None = None,
        limit: int = 256,
        known_limit: int = KNOWN_QUERIES,
        known_chars_limit: int = KNOWN_QUERY_TOTAL_CHARS,
    ) -> None:
        self.config = config
        #: The configuration's commands, compiled once (docs/design.md, "Layers").
        self.commands = compile_commands(config.commands) if commands is None else commands
        self._plans: dict[tuple[tuple[str, ...], tuple[str, ...]], ProbePlan] = {}
        self._limit = limit
        self._known: dict[str, ProbeRequest] = {}
        self._known_limit = known_limit
        self._known_chars_limit = known_chars_limit
        self._known_chars = 0

    def known(self, raw_query: str) -> ProbeRequest | None:
        """The request of a query string already parsed and valid, if it is kept."""
        return self._known.get(raw_query)

    def parse(self, query: QueryLike, raw_query: str | None = None) -> ProbeRequest:
        """Modules are checked before the target, as blackbox_exporter does, so a typo in a
        scrape config is reported as the typo. With ``raw_query`` (the query string it was
        read from), a valid request is kept for ``known``."""
        request = self._parse(query)
        if raw_query is not None and len(raw_query) <= KNOWN_QUERY_CHARS:
            if (
                len(self._known) >= self._known_limit
                or self._known_chars + len(raw_query) > self._known_chars_limit
            ):
                self._known.clear()
                self._known_chars = 0
            self._known[raw_query] = request
            self._known_chars += len(raw_query)
        return request

    @property
    def known_chars(self) -> int:
        """The characters of the query strings kept, for the bound's tests."""
        return self._known_chars

    def _parse(self, query: QueryLike) -> ProbeRequest:
        module_values = query.getall("module", [])
        auth_values = query.getall("auth", [])
        key = (tuple(module_values), tuple(auth_values))
        plan = self._plans.get(key)
        if plan is None:
            plan = resolve_plan(module_values, auth_values, self.config, self.commands)
            # A long list ("line,line,line...") is valid but not kept: the bound is in bytes.
            if sum(map(len, module_values)) + sum(map(len, auth_values)) <= KNOWN_QUERY_CHARS:
                if len(self._plans) >= self._limit:
                    self._plans.clear()
                self._plans[key] = plan
        target = parse_target(query.getall("target", []))
        debug = parse_debug(query.getall("debug", [])) if "debug" in query else False
        return ProbeRequest(target, plan, debug)


# --------------------------------------------------------------------------- deadline

SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
#: What a probe gets when neither Prometheus nor the module says.
DEFAULT_TIMEOUT_SECONDS = 120.0
#: The longest probe: a header asking for more (or for 1e308 s) gets this, the largest
#: module timeout, so no request can hold a probe slot for ever.
MAX_TIMEOUT_SECONDS = 600.0


class BadTimeoutHeader(ValueError):
    """The scrape-timeout header is not a usable number."""


def parse_timeout_header(value: str | None) -> float | None:
    """Seconds from the header; ``None`` when absent or zero (Prometheus sends no limit)."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise BadTimeoutHeader(f"{SCRAPE_TIMEOUT_HEADER} is not a number: {value[:32]!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise BadTimeoutHeader(f"{SCRAPE_TIMEOUT_HEADER} must be a positive number")
    return min(seconds, MAX_TIMEOUT_SECONDS) or None


@functools.lru_cache(maxsize=64)
def probe_timeout(header: str | None, offset: float, module_timeout: float | None) -> float:
    """``effective_timeout`` of the header as sent: Prometheus sends the same few values."""
    return effective_timeout(parse_timeout_header(header), offset, module_timeout)


def effective_timeout(
    scrape_timeout: float | None, offset: float, module_timeout: float | None
) -> float:
    """The whole probe's timeout in seconds.

    Prometheus' scrape timeout less ``offset`` (time to send the answer back); the module's
    ``timeout_seconds`` wins when smaller, or when the header leaves nothing; with neither,
    120 s.
    """
    if scrape_timeout is None:
        return module_timeout if module_timeout else DEFAULT_TIMEOUT_SECONDS
    left = scrape_timeout - offset
    if module_timeout and (module_timeout < left or left <= 0):
        return module_timeout
    if left <= 0:
        # Nothing left and no module timeout: blackbox would cancel at once; give the
        # probe the scrape timeout itself rather than a guaranteed failure.
        return scrape_timeout
    return left
