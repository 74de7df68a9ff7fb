"""One probe: CHAOS answers for one line, turned into a fresh registry's exposition.

A CHAOS or line failure is a result, not an exception: the probe still returns every metric
it could fill, with ``probe_success 0`` (blackbox_exporter's model).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from aaisp_multi_exporter.client import ChaosClient
from aaisp_multi_exporter.commands import COMMANDS, Command
from aaisp_multi_exporter.linemetrics import line_families
from aaisp_multi_exporter.logsetup import fields as log_fields
from aaisp_multi_exporter.logthrottle import LogThrottle
from aaisp_multi_exporter.params import ModulePlan, ProbeRequest
from aaisp_multi_exporter.probelog import ProbeLog
from aaisp_multi_exporter.records import LineRecord, ParsedReply
from aaisp_multi_exporter.selfmetrics import ExporterMetrics
from aaisp_multi_exporter.snapshots import Lookup, Policy, SnapshotKey, SnapshotStore

_PROCESS_LOG = logging.getLogger("aaisp_multi_exporter.probe")

T = TypeVar("T")
#: A prometheus_client exposition encoder, as ``choose_encoder`` returns.
Encoder = Callable[[Collector], bytes]

OPENMETRICS = "application/openmetrics-text"
EOF = b"# EOF\n"
MAX_RENDERED_FORMATS = 4

#: Left for rendering the answer once CHAOS calls stop. Attempts stop this long before the
#: probe's deadline and commands half as long before it, so the limits never race.
RENDER_MARGIN_SECONDS = 0.05
#: Interval of the de-duplicated "probe failed" line (SPEC 8); debug logs every failure.
FAILURE_LOG_SECONDS = 60.0
#: A background refresh's deadline when the module sets no timeout_seconds.
REFRESH_TIMEOUT_SECONDS = 30.0


class OutcomeTexts:
    """Rendered outcome gauges by (format, success, timeout, module outcomes), bounded.

    A handful of combinations repeat across every probe of a process; odd Accept headers or
    timeouts cannot grow it past the bound (it starts afresh when full).
    """

    def __init__(self, limit: int = 256) -> None:
        self._texts: dict[tuple[object, ...], bytes] = {}
        self._limit = limit

    def get(self, key: tuple[object, ...]) -> bytes | None:
        return self._texts.get(key)

    def put(self, key: tuple[object, ...], text: bytes) -> None:
        if len(self._texts) >= self._limit:
            self._texts.clear()
        self._texts[key] = text


@dataclass(frozen=True, slots=True)
class ProbeServices:
    """What every probe of the process shares."""

    client: ChaosClient
    store: SnapshotStore
    metrics: ExporterMetrics
    failure_log: LogThrottle = field(default_factory=lambda: LogThrottle(FAILURE_LOG_SECONDS))
    outcome_texts: OutcomeTexts = field(default_factory=OutcomeTexts)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """One command's part of a module: the line's record, or why there is none."""

    command: Command
    record: LineRecord | None = None
    age: float | None = None  # of the answer used; None when the command failed
    failure: str | None = None
    kind: str | None = None  # what kind of failure, for de-duplicated logs


@dataclass(frozen=True, slots=True)
class ModuleResult:
    name: str
    auth: str
    success: bool
    results: tuple[CommandResult, ...] = ()
    reason: str | None = None
    kind: str | None = None

    @property
    def data_age(self) -> float | None:
        """Age of the oldest answer the module used."""
        return max((r.age for r in self.results if r.age is not None), default=None)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    target: str
    success: bool
    duration: float
    timeout: float
    modules: tuple[ModuleResult, ...]
    #: The line's records, one per command, whose rendered series are reused per snapshot.
    lines: tuple[tuple[Command, LineRecord], ...] = ()

    def render(
        self,
        encoder: Encoder = generate_latest,
        content_type: str = CONTENT_TYPE_PLAIN_0_0_4,
        outcomes: OutcomeTexts | None = None,
    ) -> bytes:
        """The answer in the format the scraper asked for (text by default).

        The probe's gauges come from registries made for this request. Those that only say
        how it went (success, timeout, per-module success) repeat from probe to probe, so
        their text is kept per set of values in ``outcomes``; the line's series are rendered
        once per snapshot and format (SPEC 11). Both were most of a cached probe's cost.
        """
        openmetrics = content_type.startswith(OPENMETRICS)
        key = (content_type, self.success, self.timeout, self.module_outcomes)
        head = outcomes.get(key) if outcomes is not None else None
        if head is None:
            head = _trim(render(outcome_families(self), encoder), openmetrics)
            if outcomes is not None:
                outcomes.put(key, head)
        parts = [head, _trim(render(timing_families(self), encoder), openmetrics)]
        for command, record in self.lines:
            parts.append(_line_text(command, record, encoder, content_type, openmetrics))
        if openmetrics:
            parts.append(EOF)
        return b"".join(parts)

    @property
    def module_outcomes(self) -> tuple[tuple[str, bool], ...]:
        return tuple((module.name, module.success) for module in self.modules)

    @property
    def exposition(self) -> str:
        return self.render().decode()

    @property
    def reasons(self) -> list[str]:
        return [f"{m.name}: {m.reason}" for m in self.modules if m.reason]


class _StaticCollector(Collector):
    """A registry made for one answer: it holds the families it was given, nothing else."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def find_line(reply: ParsedReply, target: str, scope: str) -> LineRecord | None:
    """A dictionary lookup by line ID, whatever the number of lines.

    In ``line`` scope the target may be a phone number or circuit ID, so a one-line answer is
    taken as the line asked for.
    """
    record = reply.lines.get(target)
    if record is None and scope == "line" and len(reply.lines) == 1:
        record = next(iter(reply.lines.values()))
    return record


async def _lookup(
    plan: ModulePlan,
    command: Command,
    target: str,
    chaos_url: str,
    services: ProbeServices,
    deadline: float,
    log: ProbeLog,
) -> CommandResult:
    module, auth = plan.module, plan.auth
    service = target if module.scope == "line" else None
    key = SnapshotKey(
        auth.name, auth.secret_fingerprint(), command.name, module.scope, service or ""
    )

    async def fetch() -> ParsedReply:
        return await services.client.fetch(
            chaos_url,
            command.name,
            auth,
            service=service,
            retries=module.retries,
            deadline=deadline - RENDER_MARGIN_SECONDS,
            log=log,
        )

    async def refresh() -> ParsedReply:
        """A refresh no probe waits for: its own deadline and log."""
        timeout = module.timeout_seconds or REFRESH_TIMEOUT_SECONDS
        return await services.client.fetch(
            chaos_url,
            command.name,
            auth,
            service=service,
            retries=module.retries,
            deadline=asyncio.get_running_loop().time() + timeout,
            log=ProbeLog(auth=auth.name, command=command.name, purpose="refresh ahead"),
        )

    store = services.store
    policy = Policy(module.cache_seconds, module.refresh_ahead)
    found = store.lookup(key, policy, refresh)
    if found is None:
        # Waiting for CHAOS is the only await of a probe; it ends before the deadline.
        try:
            async with asyncio.timeout_at(deadline - RENDER_MARGIN_SECONDS / 2):
                found = await store.join(key, fetch, policy)
        except TimeoutError:
            reason = f"{command.name}: deadline exceeded"
            return CommandResult(command, failure=reason, kind="deadline")
    snapshot, how = found
    services.metrics.lookups[how.value].inc()
    now = store.now()
    age = 0.0 if how in (Lookup.FETCHED, Lookup.COALESCED) else snapshot.age(now)
    log.debug("CHAOS answer", command=command.name, lookup=how.value, age_seconds=age)
    if snapshot.error is not None:
        error = snapshot.error
        reason = f"{command.name}: {error} [{error.outcome}]"
        if snapshot.retry_at is not None:
            wait = max(0.0, snapshot.retry_at - now)
            shared = "shared failure; " if how is Lookup.FAILURE_SHARED else ""
            reason += f"; {shared}next CHAOS try in {wait:.0f} s"
        return CommandResult(command, failure=reason, kind=error.outcome.value)
    assert snapshot.reply is not None
    record = find_line(snapshot.reply, target, module.scope)
    if record is None:
        log.debug(
            "the answer does not list the line; this command adds nothing",
            command=command.name,
            lines=len(snapshot.reply.lines),
        )
        return CommandResult(command, age=age)
    for note in record.notes:
        log.debug("line data oddity", command=command.name, note=note)
    if record.absent:
        log.debug(
            "CHAOS left fields out; their metrics are not exported",
            command=command.name,
            fields=",".join(record.absent),
        )
    if "quota_monthly" in command.field_names and not record.get("quota_monthly"):
        log.debug("no monthly quota (quota_monthly absent or 0); no quota gauges")
    return CommandResult(command, record=record, age=age)


async def _run_module(
    plan: ModulePlan,
    target: str,
    chaos_url: str,
    services: ProbeServices,
    deadline: float,
    log: ProbeLog,
) -> ModuleResult:
    """Partial answers count (SPEC 4): the module succeeds when some command's answer lists
    the line and none failed; what the commands that worked gave is kept either way."""
    name, auth = plan.module.name, plan.auth.name
    commands = [command for command in COMMANDS.values() if command.name in plan.module.commands]
    results = tuple(
        await _all(
            [
                _lookup(plan, command, target, chaos_url, services, deadline, log)
                for command in commands
            ]
        )
    )
    failures = [result for result in results if result.failure is not None]
    if failures:
        reason = "; ".join(result.failure or "" for result in failures)
        return ModuleResult(name, auth, False, results, reason, failures[0].kind)
    if not any(result.record is not None for result in results):
        asked = ", ".join(command.name for command in commands)
        reason = f'{asked}: line "{target}" not found for auth "{auth}"'
        return ModuleResult(name, auth, False, results, reason, "not_found")
    return ModuleResult(name, auth, True, results)


async def _all(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """``gather`` without its task per item when there is only one (the usual probe)."""
    if len(coroutines) == 1:
        return [await coroutines[0]]
    return list(await asyncio.gather(*coroutines))


def outcome_families(result: ProbeResult) -> list[Metric]:
    """The probe's gauges that say how it went; the same values give the same text."""
    module_success = GaugeMetricFamily(
        "aaisp_probe_module_success",
        "1 if the module got CHAOS data for the line.",
        labels=["module"],
    )
    for name, success in result.module_outcomes:
        module_success.add_metric([name], int(success))
    return [
        GaugeMetricFamily(
            "probe_success",
            "1 if every requested module got CHAOS data for the line.",
            value=int(result.success),
        ),
        GaugeMetricFamily(
            "probe_timeout_seconds", "The probe's deadline in seconds.", value=result.timeout
        ),
        module_success,
    ]


def timing_families(result: ProbeResult) -> list[Metric]:
    """The probe's gauges that change every time: its duration and the data's age."""
    data_age = GaugeMetricFamily(
        "aaisp_probe_data_age_seconds",
        "Age of the CHAOS answer used (0 when fetched for this probe; answers are shared "
        "for the module's cache_seconds).",
        labels=["module"],
    )
    for module in result.modules:
        age = module.data_age
        if age is not None:
            data_age.add_metric([module.name], age)
    return [
        GaugeMetricFamily(
            "probe_duration_seconds", "How long the probe took.", value=result.duration
        ),
        data_age,
    ]


def probe_families(result: ProbeResult) -> list[Metric]:
    """Every gauge of the probe itself, in the order they are exported."""
    return [*outcome_families(result), *timing_families(result)]


def line_records(modules: Sequence[ModuleResult]) -> list[tuple[Command, LineRecord]]:
    """One record per command, whichever module brought it, in the table's order: two modules
    sharing a command must not export its series twice."""
    records: dict[str, tuple[Command, LineRecord]] = {}
    for module in modules:
        for result in module.results:
            if result.record is not None:
                records.setdefault(result.command.name, (result.command, result.record))
    return [records[name] for name in COMMANDS if name in records]


def _trim(text: bytes, openmetrics: bool) -> bytes:
    """OpenMetrics ends with one ``# EOF``: parts rendered apart lose theirs."""
    return text.removesuffix(EOF) if openmetrics else text


def _line_text(
    command: Command, record: LineRecord, encoder: Encoder, content_type: str, openmetrics: bool
) -> bytes:
    cached = record.rendered.get(content_type)
    if cached is not None:
        return cached
    text = _trim(render(line_families(command, record), encoder), openmetrics)
    # A handful of formats exist; the bound stops odd Accept headers from growing the cache.
    if len(record.rendered) < MAX_RENDERED_FORMATS:
        record.rendered[content_type] = text
    return text


def render(families: Sequence[Metric], encoder: Encoder = generate_latest) -> bytes:
    """Exposition from a registry made for these families alone.

    The registry is the collector itself: prometheus_client's encoders only call
    ``collect()``, and a CollectorRegistry around it added a tenth to a cached probe.
    """
    return encoder(_StaticCollector(families))


async def run_probe(
    request: ProbeRequest,
    chaos_url: str,
    services: ProbeServices,
    budget: float,
    log: ProbeLog,
) -> ProbeResult:
    """Run every module of the request concurrently, each command bounded by the deadline."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + budget
    log.debug(
        "probe started",
        target=request.target,
        modules=",".join(request.module_names),
        timeout_seconds=budget,
    )
    # No timeout here: a probe's only await is a command waiting for CHAOS, and each of those
    # ends before the deadline on its own (a cached probe never suspends at all).
    modules = await _all(
        [
            _run_module(plan, request.target, chaos_url, services, deadline, log)
            for plan in request.plans
        ]
    )
    duration = loop.time() - started
    success = all(module.success for module in modules)
    for module in modules:
        services.metrics.probe_done(module.name, module.success)
        if module.success:
            log.debug("module succeeded", module=module.name, auth=module.auth)
        else:
            _log_failure(services.failure_log, log, request.target, module)
    log.debug("probe finished", success=success, duration_seconds=duration)
    return ProbeResult(
        target=request.target,
        success=success,
        duration=duration,
        timeout=budget,
        modules=tuple(modules),
        lines=tuple(line_records(modules)),
    )


def _log_failure(throttle: LogThrottle, log: ProbeLog, target: str, module: ModuleResult) -> None:
    """Every failure is in the probe's own log and, at debug, the process log; at info the
    process log gets one line per (module, auth, kind) per minute, so 500 lines failing for
    one reason write a line, not 500 (SPEC 8)."""
    fields = {"target": target, "module": module.name, "auth": module.auth}
    log.info("probe failed", tee=False, **fields, reason=module.reason)
    if _PROCESS_LOG.isEnabledFor(logging.DEBUG):
        _PROCESS_LOG.debug("probe failed", extra=log_fields(**fields, reason=module.reason))
        return
    held_back = throttle.admit((module.name, module.auth, module.kind))
    if held_back is None:
        return
    _PROCESS_LOG.info(
        "probe failed",
        extra=log_fields(
            **fields,
            kind=module.kind,
            reason=module.reason,
            similar_failures_since_last_line=held_back,
        ),
    )
