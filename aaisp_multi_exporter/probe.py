"""One probe: CHAOS answers for one line, turned into a fresh registry's exposition.

A CHAOS or line failure is a result, not an exception: the probe still returns every metric
it could fill, with ``probe_success 0`` (blackbox_exporter's model).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aaisp_multi_exporter.client import ChaosClient
from aaisp_multi_exporter.linemetrics import line_families, merge_records
from aaisp_multi_exporter.params import ModulePlan, ProbeRequest
from aaisp_multi_exporter.probelog import ProbeLog
from aaisp_multi_exporter.records import LineRecord, ParsedReply
from aaisp_multi_exporter.selfmetrics import ExporterMetrics
from aaisp_multi_exporter.snapshots import FetchOutcome, Lookup, SnapshotKey, SnapshotStore

T = TypeVar("T")

#: Left for rendering the answer once CHAOS calls stop. Attempts stop this long before the
#: probe's deadline and modules half as long before it, so the three limits never race.
RENDER_MARGIN_SECONDS = 0.05
#: broadband/info first, so the dedicated quota answer wins for quota fields when merged.
COMMAND_ORDER = {"broadband/info": 0, "broadband/quota": 1}
_QUOTA_FIELDS = ("quota_monthly", "quota_remaining", "quota_timestamp")
#: What each command is documented to carry (chaos-api.md section 5), to say in the debug log
#: which ones CHAOS left out and so which metrics are missing.
COMMAND_FIELDS = {
    "broadband/info": (
        "login",
        "postcode",
        "tx_rate",
        "rx_rate",
        "tx_rate_adjusted",
        *_QUOTA_FIELDS,
    ),
    "broadband/quota": _QUOTA_FIELDS,
}


@dataclass(frozen=True, slots=True)
class ProbeServices:
    """What every probe of the process shares."""

    client: ChaosClient
    store: SnapshotStore
    metrics: ExporterMetrics


@dataclass(frozen=True, slots=True)
class CommandResult:
    command: str
    record: LineRecord
    age: float


@dataclass(frozen=True, slots=True)
class ModuleResult:
    name: str
    auth: str
    success: bool
    results: tuple[CommandResult, ...] = ()
    reason: str | None = None

    @property
    def data_age(self) -> float | None:
        """Age of the oldest answer the module used."""
        return max((result.age for result in self.results), default=None)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    target: str
    success: bool
    duration: float
    timeout: float
    modules: tuple[ModuleResult, ...]
    exposition: bytes

    @property
    def reasons(self) -> list[str]:
        return [f"{m.name}: {m.reason}" for m in self.modules if m.reason]


class _ModuleFailure(Exception):
    """Ends one module of a probe with a reason fit for the log."""


class _StaticCollector(Collector):
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
    command: str,
    target: str,
    chaos_url: str,
    services: ProbeServices,
    deadline: float,
    log: ProbeLog,
) -> CommandResult:
    module, auth = plan.module, plan.auth
    service = target if module.scope == "line" else None
    key = SnapshotKey(auth.name, auth.secret_fingerprint(), command, module.scope, service or "")

    async def fetch() -> FetchOutcome:
        return await services.client.fetch(
            chaos_url,
            command,
            auth,
            service=service,
            retries=module.retries,
            deadline=deadline - RENDER_MARGIN_SECONDS,
            log=log,
        )

    snapshot, how = await services.store.get(key, fetch, module.cache_seconds)
    services.metrics.snapshot_lookups.labels(how.value).inc()
    age = snapshot.age(services.store.now()) if how is Lookup.CACHED else 0.0
    log.debug("CHAOS answer", command=command, lookup=how.value, age_seconds=round(age, 3))
    if snapshot.error is not None:
        raise _ModuleFailure(f"{command}: {snapshot.error} [{snapshot.error.outcome}]")
    assert snapshot.reply is not None
    record = find_line(snapshot.reply, target, module.scope)
    if record is None:
        raise _ModuleFailure(f'{command}: line "{target}" not found for auth "{auth.name}"')
    for note in record.notes:
        log.warning("line data oddity", command=command, note=note)
    absent = [name for name in COMMAND_FIELDS[command] if getattr(record, name) is None]
    if absent:
        log.debug(
            "CHAOS left fields out; their metrics are not exported",
            command=command,
            fields=",".join(absent),
        )
    if record.quota_monthly == 0:
        log.debug("quota_monthly is 0 (no monthly quota); no quota gauges", command=command)
    return CommandResult(command=command, record=record, age=age)


async def _run_module(
    plan: ModulePlan,
    target: str,
    chaos_url: str,
    services: ProbeServices,
    deadline: float,
    log: ProbeLog,
) -> ModuleResult:
    name, auth = plan.module.name, plan.auth.name
    commands = sorted(plan.module.commands, key=COMMAND_ORDER.__getitem__)
    try:
        async with asyncio.timeout_at(deadline - RENDER_MARGIN_SECONDS / 2):
            results = await _all(
                [
                    _lookup(plan, command, target, chaos_url, services, deadline, log)
                    for command in commands
                ]
            )
    except _ModuleFailure as failure:
        return ModuleResult(name, auth, success=False, reason=str(failure))
    except TimeoutError:
        return ModuleResult(name, auth, success=False, reason="deadline exceeded")
    return ModuleResult(name, auth, success=True, results=tuple(results))


async def _all(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """``gather`` without its task per item when there is only one (the usual probe)."""
    if len(coroutines) == 1:
        return [await coroutines[0]]
    return list(await asyncio.gather(*coroutines))


def probe_families(
    modules: Sequence[ModuleResult], success: bool, duration: float, timeout: float
) -> list[Metric]:
    """Everything one probe exports, in a stable order."""
    families: list[Metric] = [
        GaugeMetricFamily(
            "probe_success",
            "1 if every requested module got CHAOS data for the line.",
            value=int(success),
        ),
        GaugeMetricFamily("probe_duration_seconds", "How long the probe took.", value=duration),
        GaugeMetricFamily(
            "probe_timeout_seconds", "The probe's deadline in seconds.", value=timeout
        ),
    ]
    module_success = GaugeMetricFamily(
        "aaisp_probe_module_success",
        "1 if the module got CHAOS data for the line.",
        labels=["module"],
    )
    data_age = GaugeMetricFamily(
        "aaisp_probe_data_age_seconds",
        "Age of the CHAOS answer used (0 when fetched for this probe; answers are shared "
        "for the module's cache_seconds).",
        labels=["module"],
    )
    for module in modules:
        module_success.add_metric([module.name], int(module.success))
        if module.data_age is not None:
            data_age.add_metric([module.name], module.data_age)
    families += [module_success, data_age]
    results = sorted(
        (result for module in modules for result in module.results),
        key=lambda result: COMMAND_ORDER[result.command],
    )
    merged = merge_records(result.record for result in results)
    if merged is not None:
        families += line_families(merged)
    return families


def render(families: Sequence[Metric]) -> bytes:
    """Text exposition from a registry made for this probe alone."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StaticCollector(families))
    return generate_latest(registry)


async def run_probe(
    request: ProbeRequest,
    chaos_url: str,
    services: ProbeServices,
    budget: float,
    log: ProbeLog,
) -> ProbeResult:
    """Run every module of the request concurrently, each bounded by the one deadline."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + budget
    log.debug(
        "probe started",
        target=request.target,
        modules=",".join(plan.module.name for plan in request.plans),
        timeout_seconds=round(budget, 3),
    )
    try:
        # A safety net only: every module already ends before its own, earlier deadline.
        async with asyncio.timeout_at(deadline):
            modules = await _all(
                [
                    _run_module(plan, request.target, chaos_url, services, deadline, log)
                    for plan in request.plans
                ]
            )
    except TimeoutError:
        modules = [
            ModuleResult(
                plan.module.name, plan.auth.name, success=False, reason="deadline exceeded"
            )
            for plan in request.plans
        ]
    duration = loop.time() - started
    success = all(module.success for module in modules)
    for module in modules:
        services.metrics.probes.labels(
            module.name, "success" if module.success else "failure"
        ).inc()
        if module.success:
            log.debug("module succeeded", module=module.name, auth=module.auth)
        else:
            log.info(
                "probe failed",
                target=request.target,
                module=module.name,
                auth=module.auth,
                reason=module.reason,
            )
    log.debug("probe finished", success=success, duration_seconds=round(duration, 3))
    return ProbeResult(
        target=request.target,
        success=success,
        duration=duration,
        timeout=budget,
        modules=tuple(modules),
        exposition=render(probe_families(modules, success, duration, budget)),
    )
