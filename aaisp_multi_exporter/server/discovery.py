"""Prometheus HTTP service discovery from CHAOS: every line of every credential set.

Built on the probes' own snapshots (``broadband/info`` in account scope; for a module of a
declared command, that command's), so discovery and probing share CHAOS calls; a credential
set whose call fails keeps its last good list, and a set that never answered is reported, so
a job that names it shows an error instead of silently finding no targets. Keys that are not
valid targets (``/probe`` refuses them) are left out, counted, and noted once per reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii

from aaisp_multi_exporter.chaos.commands import INFO, Command
from aaisp_multi_exporter.chaos.records import LineIndex
from aaisp_multi_exporter.chaos.replies import Reply
from aaisp_multi_exporter.chaos.snapshots import Policy
from aaisp_multi_exporter.config import DISCOVERY_LABELS, AuthConfig, Config, ModuleConfig
from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.probe.fetching import Fetcher
from aaisp_multi_exporter.probe.log import ProbeLog
from aaisp_multi_exporter.probe.request import echo, valid_target
from aaisp_multi_exporter.probe.run import ProbeServices

LOGGER = logging.getLogger("aaisp_multi_exporter.discovery")
#: Used when no module says how long the command's replies may be kept or waited for.
DEFAULT_CACHE_SECONDS = 60.0
DEFAULT_TIMEOUT_SECONDS = 30.0
#: Answers kept whole for repeated requests: one per filter combination in practice, at most
#: MAX_KEPT bytes each (a reseller's 100,000 lines are 13 MB) and MAX_BYTES in all. A larger
#: one (1.2 million entries are 140 MB) is written again for each request, never held.
MAX_RENDERED = 64
MAX_KEPT = 32 * 1024 * 1024
MAX_BYTES = 64 * 1024 * 1024
#: Lines written per piece of the answer, sent before the next is written: a few
#: milliseconds' work, and the event loop runs between two.
RENDER_BATCH = 2000
#: Keys quoted in the note about those left out.
LEFT_OUT_SHOWN = 3


@dataclass(frozen=True, slots=True)
class LeftOut:
    """Keys of a credential set's latest reply that ``/probe`` refuses as targets (SPEC 3:
    1 to 64 characters of A-Z a-z 0-9 + . _ @ -), so discovery leaves them out."""

    auth: str
    command: str
    count: int
    examples: tuple[str, ...]
    #: Unix time the reply was first written out.
    at: float


def _meta_reader(reply: Reply, command: Command) -> Callable[[str], str]:
    """A line's ``__meta_aaisp_<label>`` labels as JSON members (``, "name": "value"`` each,
    as ``json.dumps`` writes them): the command's info labels it carries, in field order, less
    those discovery writes itself (the loader refuses them; a command built another way may
    not)."""
    lines = reply.lines
    assert isinstance(lines, LineIndex)
    labels = command.info.labels if command.info is not None else ()
    names = [
        name for name in command.field_names if name in labels and name not in DISCOVERY_LABELS
    ]
    read = lines.reader(names)
    keys = [f", {encode_basestring_ascii(f'__meta_aaisp_{name}')}: " for name in names]
    quote = encode_basestring_ascii

    def meta(line_id: str) -> str:
        text = ""
        for key, value in zip(keys, read(line_id), strict=True):
            if type(value) is str:
                text += key + quote(value)
        return text

    return meta


async def _pieces(
    listed: Sequence[_Listed],
    added: Mapping[str, str],
    counted: Callable[[_Listed, int, list[str]], None],
) -> AsyncGenerator[bytes, None]:
    """The HTTP SD JSON of every line of ``listed`` that is a valid target, byte for byte
    what ``json.dumps`` writes for one group per line (its labels: the credential set, the
    command's info labels as ``__meta_aaisp_<label>``, then ``added``), RENDER_BATCH lines a
    piece, pausing between two. ``counted`` hears each set's left-out keys once all its lines
    are written."""
    quote = encode_basestring_ascii
    tail = "".join(f", {quote(name)}: {quote(value)}" for name, value in added.items())
    batch: list[str] = []
    opening = "["
    for entry in listed:
        head = f'"__param_auth": {quote(entry.auth)}, "__meta_aaisp_auth": {quote(entry.auth)}'
        meta = _meta_reader(entry.reply, entry.command)
        refused = 0
        examples: list[str] = []
        for line_id in targets(entry.reply, entry.command):
            if not valid_target(line_id):
                refused += 1
                if len(examples) < LEFT_OUT_SHOWN:
                    examples.append(line_id)
                continue
            batch.append(
                f'{{"targets": [{quote(line_id)}], "labels": {{{head}{meta(line_id)}{tail}}}}}'
            )
            if len(batch) == RENDER_BATCH:
                yield (opening + ", ".join(batch)).encode()
                opening = ", "
                batch.clear()
                await asyncio.sleep(0)
        counted(entry, refused, examples)
    if batch:
        yield (opening + ", ".join(batch) + "]").encode()
    else:
        yield b"[]" if opening == "[" else b"]"


async def _replayed(pieces: tuple[bytes, ...]) -> AsyncGenerator[bytes, None]:
    for piece in pieces:
        yield piece


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
    """Why each set that never answered is missing, and the HTTP SD JSON in pieces: kept
    ones (``length`` known), or written as they are sent. Every CHAOS call is over by now,
    so what is left cannot fail short of a bug."""

    never_answered: dict[str, str]
    pieces: AsyncGenerator[bytes, None]
    length: int | None = None


_Kept = tuple[tuple[bytes, ...], tuple[weakref.ref[Reply], ...]]


@dataclass
class Discovery:
    """Keeps each credential set's last good list; bounded by the number of credential sets.

    The JSON is written once per combination of replies and filters and kept while those
    replies live (weakly), so a flood of discovery requests costs little more than the HTTP
    exchange and never slows the probes down.
    """

    services: ProbeServices
    #: By (credential set, its fingerprint, command, the command's digest).
    last_good: dict[tuple[str, str, str, str], _Listed] = field(default_factory=dict)
    #: Keys left out by credential set and command, from the latest reply written out.
    left_out: dict[tuple[str, str], LeftOut] = field(default_factory=dict)
    _rendered: dict[tuple[object, ...], _Kept] = field(default_factory=dict)
    _counted: weakref.WeakSet[Reply] = field(default_factory=weakref.WeakSet)

    async def discover(
        self,
        fetcher: Fetcher,
        config: Config,
        auths: Sequence[AuthConfig],
        module: str | None,
        *,
        commands: Mapping[str, Command] | None = None,
        metrics_path: str | None = None,
    ) -> DiscoveryResponse:
        """``fetcher`` is ``config``'s way to its snapshots, as a probe's. ``metrics_path``
        (behind ``--web.route-prefix``) goes in every group as ``__metrics_path__``, so a job
        scrapes ``<prefix>/probe`` without being told."""
        command = discovered_command(config, commands or {INFO.name: INFO}, module)
        results = await asyncio.gather(
            *(self._for_auth(fetcher, config, auth, command) for auth in auths)
        )
        listed = tuple(result for result in results if isinstance(result, _Listed))
        never = {
            auth.name: result
            for auth, result in zip(auths, results, strict=True)
            if isinstance(result, str)
        }
        key = (
            module,
            metrics_path,
            *((entry.auth, id(entry.reply), entry.command.digest) for entry in listed),
        )
        cached = self._rendered.get(key)
        if cached is not None and all(
            ref() is entry.reply for ref, entry in zip(cached[1], listed, strict=True)
        ):
            length = sum(len(piece) for piece in cached[0])
            return DiscoveryResponse(never, _replayed(cached[0]), length)
        added = {"__param_module": module} if module is not None else {}
        if metrics_path is not None:
            added["__metrics_path__"] = metrics_path
        pieces = _pieces(listed, added, self._count_left_out)
        return DiscoveryResponse(never, self._keeping(key, listed, pieces))

    async def _keeping(
        self,
        key: tuple[object, ...],
        listed: Sequence[_Listed],
        pieces: AsyncGenerator[bytes, None],
    ) -> AsyncGenerator[bytes, None]:
        """``pieces``, kept for the next request once all are sent, unless too large."""
        kept: list[bytes] = []
        size = 0
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                size += len(piece)
                if size <= MAX_KEPT:
                    kept.append(piece)
                yield piece
        if size > MAX_KEPT:
            return
        if len(self._rendered) >= MAX_RENDERED or self._kept_bytes() + size > MAX_BYTES:
            self._rendered.clear()
        self._rendered[key] = (tuple(kept), tuple(weakref.ref(entry.reply) for entry in listed))

    def _count_left_out(self, entry: _Listed, refused: int, examples: list[str]) -> None:
        """Note a reply's keys that are not valid targets: once per reply, whatever the
        filters and however often it is written out."""
        if entry.reply in self._counted:
            return
        self._counted.add(entry.reply)
        where = (entry.auth, entry.command.name)
        if not refused:
            self.left_out.pop(where, None)
            return
        self.left_out[where] = LeftOut(*where, refused, tuple(examples), time.time())
        LOGGER.warning(
            "discovery leaves out keys that /probe refuses as targets",
            extra=fields(
                auth=entry.auth,
                command=entry.command.name,
                count=refused,
                examples=", ".join(echo(example) for example in examples),
            ),
        )

    def _kept_bytes(self) -> int:
        return sum(len(piece) for pieces, _ in self._rendered.values() for piece in pieces)

    async def _for_auth(
        self, fetcher: Fetcher, config: Config, auth: AuthConfig, command: Command
    ) -> _Listed | str:
        """The set's lines, its last good list, or why it has never answered.

        Looked up as the modules sharing the reply would, but never refreshed ahead: the
        probes' lookups do that."""
        sharing = _sharing_modules(config, auth, command.name)
        cache_seconds = max((m.cache_seconds for m in sharing), default=DEFAULT_CACHE_SECONDS)
        timeout = (
            max((m.timeout_seconds for m in sharing if m.timeout_seconds), default=None)
            or DEFAULT_TIMEOUT_SECONDS
        )
        retries = max((m.retries for m in sharing), default=2)
        policy = Policy(cache_seconds, refresh_ahead=False)
        wanted = fetcher.want(auth, command, policy, "account", "", retries, timeout)
        kept = (auth.name, wanted.key.fingerprint, command.name, command.digest)
        log = ProbeLog(auth=auth.name, purpose="discovery")
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                snapshot, how, _ = await fetcher.get(wanted, deadline, log)
        except TimeoutError:
            reason = "no answer from CHAOS before the discovery deadline"
        else:
            self.services.metrics.lookup_done(how)
            if snapshot.reply is not None:
                listed = _Listed(auth.name, snapshot.reply, command)
                self.last_good[kept] = listed
                return listed
            reason = str(snapshot.error)
        stale = self.last_good.get(kept)
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

    def forget_missing(self, config: Config, commands: Mapping[str, Command]) -> None:
        """Drop lists of credential sets a reload removed or changed, and lists read by a
        declaration it removed or changed, keeping memory bounded."""
        live = {(name, auth.secret_fingerprint()) for name, auth in config.auths.items()}
        declared = {(command.name, command.digest) for command in commands.values()}
        for key in list(self.last_good):
            if key[:2] not in live or key[2:] not in declared:
                del self.last_good[key]
        for auth, command in list(self.left_out):
            if auth not in config.auths or command not in config.commands:
                del self.left_out[(auth, command)]
        self._rendered.clear()
