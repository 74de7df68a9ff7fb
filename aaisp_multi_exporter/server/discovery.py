"""Prometheus HTTP service discovery from CHAOS: every line of every credential set.

Built on the probes' own snapshots (``broadband/info`` in account scope; for a module of a
declared command, that command's), so discovery and probing share CHAOS calls; a credential
set whose call fails keeps its last good list, and a set that never answered is reported, so
a job that names it shows an error instead of silently finding no targets.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii

from aaisp_multi_exporter.chaos.commands import INFO, Command
from aaisp_multi_exporter.chaos.records import LineIndex
from aaisp_multi_exporter.chaos.replies import Reply
from aaisp_multi_exporter.chaos.snapshots import Policy, SnapshotKey
from aaisp_multi_exporter.config import AuthConfig, Config, ModuleConfig
from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.probe.log import ProbeLog
from aaisp_multi_exporter.probe.run import ProbeServices

LOGGER = logging.getLogger("aaisp_multi_exporter.discovery")
#: Used when no module says how long the command's replies may be kept or waited for.
DEFAULT_CACHE_SECONDS = 60.0
DEFAULT_TIMEOUT_SECONDS = 30.0
#: Rendered answers kept for repeated requests; one per filter combination in practice,
#: and at most this many bytes in all (a reseller's 100,000 lines are 13 MB each).
MAX_RENDERED = 64
MAX_BYTES = 64 * 1024 * 1024
#: Lines written between two pauses for the event loop (a few milliseconds' work).
RENDER_BATCH = 2000


def _meta_reader(reply: Reply, command: Command) -> Callable[[str], dict[str, str]]:
    """A line's ``__meta_aaisp_<label>`` labels: the command's info labels it carries."""
    lines = reply.lines
    assert isinstance(lines, LineIndex)
    names = command.info.labels if command.info is not None else ()
    read = lines.reader(names)
    keys = {name: f"__meta_aaisp_{name}" for name in names}

    def meta(line_id: str) -> dict[str, str]:
        return {keys[name]: v for name, v in read(line_id).items() if isinstance(v, str)}

    return meta


async def _render(listed: Sequence[_Listed], added: Mapping[str, str]) -> bytes:
    """The HTTP SD JSON of every line of ``listed``, byte for byte what ``json.dumps`` writes
    for one group per line (its labels: the credential set, the command's info labels as
    ``__meta_aaisp_<label>``, then ``added``), without building them: a reseller's 100,000
    lines are written in a few hundred milliseconds, a batch at a time between pauses for
    the event loop."""
    quote = encode_basestring_ascii
    tail = "".join(f", {quote(name)}: {quote(value)}" for name, value in added.items())
    chunks: list[bytes] = []
    batch: list[str] = []
    for entry in listed:
        head = f'"__param_auth": {quote(entry.auth)}, "__meta_aaisp_auth": {quote(entry.auth)}'
        meta = _meta_reader(entry.reply, entry.command)
        for line_id in targets(entry.reply, entry.command):
            labels = [f", {quote(name)}: {quote(value)}" for name, value in meta(line_id).items()]
            batch.append(
                f'{{"targets": [{quote(line_id)}], "labels": {{{head}{"".join(labels)}{tail}}}}}'
            )
            if len(batch) == RENDER_BATCH:
                chunks.append(", ".join(batch).encode())
                batch.clear()
                await asyncio.sleep(0)
    if batch:
        chunks.append(", ".join(batch).encode())
    return b"[" + b", ".join(chunks) + b"]"


def targets(reply: Reply, command: Command) -> Iterator[str]:
    """The keys a reply lists as targets: none for an account-level table (``entries =
    "all"``, SPEC 6b: no line's), and never the ``""`` a reply of one entry without its key
    is kept under (a line-scope answer, whatever the target)."""
    if command.entries == "all":
        return iter(())
    return (line_id for line_id in reply.lines if line_id)


def discovered_command(
    config: Config, commands: Mapping[str, Command], module: str | None
) -> Command:
    """``broadband/info``, whose reply lists every line; for a module whose commands include
    a declared one, the first of those that lists keys (its key values are the targets), else
    the first declared one: an account-level table, which lists none."""
    if module is not None:
        declared = [
            commands[name] for name in config.modules[module].commands if not commands[name].builtin
        ]
        keyed = [command for command in declared if command.entries != "all"]
        if keyed or declared:
            return (keyed or declared)[0]
    return commands.get(INFO.name, INFO)


def _sharing_modules(config: Config, auth: AuthConfig, command: str) -> list[ModuleConfig]:
    """Modules whose replies discovery can share: the command in account scope."""
    return [
        module
        for module in config.modules.values()
        if command in module.commands
        and module.scope == "account"
        and (module.auth in (None, auth.name))
    ]


@dataclass(frozen=True, slots=True)
class _Listed:
    """A credential set's lines: the reply that lists them, read by ``command``."""

    auth: str
    reply: Reply
    command: Command


@dataclass(frozen=True, slots=True)
class DiscoveryResponse:
    """The HTTP SD JSON, and why each set that never answered is missing from it."""

    body: bytes
    never_answered: dict[str, str]


@dataclass
class Discovery:
    """Keeps each credential set's last good list; bounded by the number of credential sets.

    The JSON is written once per combination of replies and filters and kept while those
    replies live (weakly), so a flood of discovery requests costs little more than the HTTP
    exchange and never slows the probes down.
    """

    services: ProbeServices
    last_good: dict[tuple[str, str, str], _Listed] = field(default_factory=dict)
    _rendered: dict[tuple[object, ...], tuple[bytes, tuple[weakref.ref[Reply], ...]]] = field(
        default_factory=dict
    )

    async def discover(
        self,
        config: Config,
        auths: Sequence[AuthConfig],
        module: str | None,
        *,
        commands: Mapping[str, Command] | None = None,
        metrics_path: str | None = None,
    ) -> DiscoveryResponse:
        """``metrics_path`` (behind ``--web.route-prefix``) goes in every group as
        ``__metrics_path__``, so a job scrapes ``<prefix>/probe`` without being told."""
        command = discovered_command(config, commands or {INFO.name: INFO}, module)
        results = await asyncio.gather(*(self._for_auth(config, auth, command) for auth in auths))
        listed = tuple(result for result in results if isinstance(result, _Listed))
        never = {
            auth.name: result
            for auth, result in zip(auths, results, strict=True)
            if isinstance(result, str)
        }
        key = (module, metrics_path, *((entry.auth, id(entry.reply)) for entry in listed))
        cached = self._rendered.get(key)
        if cached is not None and all(
            ref() is entry.reply for ref, entry in zip(cached[1], listed, strict=True)
        ):
            return DiscoveryResponse(cached[0], never)
        added = {"__param_module": module} if module is not None else {}
        if metrics_path is not None:
            added["__metrics_path__"] = metrics_path
        body = await _render(listed, added)
        if len(self._rendered) >= MAX_RENDERED or self._kept_bytes() + len(body) > MAX_BYTES:
            self._rendered.clear()
        self._rendered[key] = (body, tuple(weakref.ref(entry.reply) for entry in listed))
        return DiscoveryResponse(body, never)

    def _kept_bytes(self) -> int:
        return sum(len(body) for body, _ in self._rendered.values())

    async def _for_auth(self, config: Config, auth: AuthConfig, command: Command) -> _Listed | str:
        """The set's lines, its last good list, or why it has never answered."""
        fingerprint = auth.secret_fingerprint()
        sharing = _sharing_modules(config, auth, command.name)
        cache_seconds = max((m.cache_seconds for m in sharing), default=DEFAULT_CACHE_SECONDS)
        timeout = (
            max((m.timeout_seconds for m in sharing if m.timeout_seconds), default=None)
            or DEFAULT_TIMEOUT_SECONDS
        )
        retries = max((m.retries for m in sharing), default=2)
        key = SnapshotKey(auth.name, fingerprint, command.name, "account", "")
        log = ProbeLog(auth=auth.name, purpose="discovery")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        async def fetch() -> Reply:
            return await self.services.client.fetch(
                config.chaos.url,
                command,
                auth,
                service=None,
                retries=retries,
                deadline=deadline,
                log=log,
            )

        try:
            async with asyncio.timeout_at(deadline):
                snapshot, how, _ = await self.services.store.get(key, fetch, Policy(cache_seconds))
        except TimeoutError:
            reason = "no answer from CHAOS before the discovery deadline"
        else:
            self.services.metrics.lookup_done(how)
            if snapshot.reply is not None:
                listed = _Listed(auth.name, snapshot.reply, command)
                self.last_good[(auth.name, fingerprint, command.name)] = listed
                return listed
            reason = str(snapshot.error)
        stale = self.last_good.get((auth.name, fingerprint, command.name))
        if stale is None:
            LOGGER.warning(
                "discovery failed; credential set left out until CHAOS answers",
                extra=fields(auth=auth.name, reason=reason),
            )
            return reason
        LOGGER.warning(
            "discovery failed; serving the last good list",
            extra=fields(auth=auth.name, reason=reason, lines=len(stale.reply.lines)),
        )
        return stale

    def forget_missing(self, config: Config) -> None:
        """Drop lists of credential sets a reload removed or changed, keeping memory bounded."""
        live = {(name, auth.secret_fingerprint()) for name, auth in config.auths.items()}
        for key in list(self.last_good):
            if key[:2] not in live or key[2] not in config.commands:
                del self.last_good[key]
        self._rendered.clear()
