"""Running one probe: the CHAOS replies a line's modules need, as results.

A CHAOS or line failure is a result, not an exception: the probe still returns every metric
it could fill, with ``probe_success 0`` (blackbox_exporter's model). Turning results into
exposition text is ``probe.metrics``'s job. docs/design.md ("The probe path") tells the
order of events.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from aaisp_multi_exporter.chaos.client import ChaosClient
from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.replies import Reply
from aaisp_multi_exporter.chaos.snapshots import Lookup, Served, SnapshotKey, SnapshotStore
from aaisp_multi_exporter.obs.logs import fields as log_fields
from aaisp_multi_exporter.obs.metrics import ExporterMetrics
from aaisp_multi_exporter.obs.throttle import LogThrottle
from aaisp_multi_exporter.probe.log import ProbeLog
from aaisp_multi_exporter.probe.request import ModulePlan, ProbeRequest
from aaisp_multi_exporter.probe.results import (
    CommandResult,
    FailureKind,
    ModuleResult,
    ProbeResult,
    SnapshotUse,
)

_PROCESS_LOG = logging.getLogger("aaisp_multi_exporter.probe")

T = TypeVar("T")
#: Left for rendering the answer once CHAOS calls stop. Attempts stop this long before the
#: probe's deadline and commands half as long before it, so the limits never race.
RENDER_MARGIN_SECONDS = 0.05
#: Interval of the de-duplicated "probe failed" line; debug logs every failure.
FAILURE_LOG_SECONDS = 60.0
#: A background refresh's deadline when the module sets no timeout_seconds.
REFRESH_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ProbeServices:
    """What every probe of the process shares."""

    client: ChaosClient
    store: SnapshotStore
    metrics: ExporterMetrics
    failure_log: LogThrottle = field(default_factory=lambda: LogThrottle(FAILURE_LOG_SECONDS))


def find_line(reply: Reply, target: str, scope: str) -> str | None:
    """The line's key in the reply: a dictionary lookup, whatever the number of lines.

    In ``line`` scope the target may be a phone number or circuit ID, so a one-line reply is
    taken as the line asked for.
    """
    lines = reply.lines
    if target in lines:
        return target
    if scope == "line" and len(lines) == 1:
        return next(iter(lines))
    return None


class _Need(NamedTuple):
    """One command of one module of a probe: the snapshot it needs, and how to fetch it."""

    plan: ModulePlan
    command: Command
    target: str
    key: SnapshotKey


def _needs(request: ProbeRequest) -> list[_Need]:
    needs = []
    for plan in request.modules:
        module, auth = plan.module, plan.auth
        service = request.target if module.scope == "line" else ""
        for command in plan.commands:
            key = SnapshotKey(
                auth.name,
                auth.secret_fingerprint(),
                command.name,
                module.scope,
                service,
                command.digest,
            )
            needs.append(_Need(plan, command, request.target, key))
    return needs


async def _fetch(
    need: _Need, chaos_url: str, services: ProbeServices, until: float, log: ProbeLog
) -> Reply:
    """The CHAOS call behind a snapshot, with the module's retries, ending by ``until``."""
    module = need.plan.module
    return await services.client.fetch(
        chaos_url,
        need.command,
        need.plan.auth,
        service=need.key.service or None,
        retries=module.retries,
        deadline=until,
        log=log,
    )


async def _refresh(need: _Need, chaos_url: str, services: ProbeServices) -> Reply:
    """A refresh no probe waits for: its own deadline and log."""
    timeout = need.plan.module.timeout_seconds or REFRESH_TIMEOUT_SECONDS
    until = asyncio.get_running_loop().time() + timeout
    log = ProbeLog(auth=need.plan.auth.name, command=need.command.name, purpose="refresh ahead")
    return await _fetch(need, chaos_url, services, until, log)


async def _wait(
    need: _Need, chaos_url: str, services: ProbeServices, deadline: float, log: ProbeLog
) -> Served | None:
    """Join or start the CHAOS call; None when the probe's deadline comes first."""
    fetch = functools.partial(
        _fetch, need, chaos_url, services, deadline - RENDER_MARGIN_SECONDS, log
    )
    try:
        # Waiting for CHAOS is the only await of a probe; it ends before the deadline.
        async with asyncio.timeout_at(deadline - RENDER_MARGIN_SECONDS / 2):
            return await services.store.join(need.key, fetch, need.plan.policy)
    except TimeoutError:
        return None


def _command_result(need: _Need, served: Served | None, services: ProbeServices) -> CommandResult:
    """What the reply says about the line; the probe's log tells it from this result."""
    command = need.command
    if served is None:
        failure = f"{command.name}: deadline exceeded"
        return CommandResult(command, failure=failure, failure_kind=FailureKind.DEADLINE)
    snapshot, how, age = served
    services.metrics.lookup_done(how)
    if snapshot.error is not None:
        error = snapshot.error
        reason = f"{command.name}: {error} [{error.outcome}]"
        if snapshot.retry_at is not None:
            wait = max(0.0, snapshot.retry_at - services.store.now())
            shared = "shared failure; " if how is Lookup.FAILURE_SHARED else ""
            reason += f"; {shared}next CHAOS try in {wait:.0f} s"
        kind = FailureKind(error.outcome.value)
        used = SnapshotUse(how, age, 0)
        return CommandResult(command, failure=reason, failure_kind=kind, used=used)
    reply = snapshot.reply
    assert reply is not None
    line_id = find_line(reply, need.target, need.plan.module.scope)
    used = SnapshotUse(how, age, len(reply.lines))
    return CommandResult(command, line_id=line_id, age=age, used=used, reply=reply)


def _module_result(
    plan: ModulePlan, target: str, results: tuple[CommandResult, ...]
) -> ModuleResult:
    """Partial answers count: the module succeeds when some command's reply lists the line
    and none failed; what the commands that worked gave is kept either way."""
    name, auth = plan.module.name, plan.auth.name
    failures = []
    listed = False
    for result in results:
        if result.failure is not None:
            failures.append(result)
        elif result.line_id is not None:
            listed = True
    if failures:
        reason = "; ".join(result.failure or "" for result in failures)
        return ModuleResult(name, auth, False, results, reason, failures[0].failure_kind)
    if not listed:
        asked = ", ".join(command.name for command in plan.commands)
        reason = f'{asked}: line "{target}" not found for auth "{auth}"'
        return ModuleResult(name, auth, False, results, reason, FailureKind.NOT_FOUND)
    return ModuleResult(name, auth, True, results)


async def _gather(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """``gather`` without its task per item when there is only one (the usual probe)."""
    if len(coroutines) == 1:
        return [await coroutines[0]]
    return list(await asyncio.gather(*coroutines))


def line_records(
    modules: Sequence[ModuleResult], order: Mapping[str, Command]
) -> list[CommandResult]:
    """The results with a record, one per command whichever module brought it, in the
    table's order: two modules sharing a command must not export its series twice."""
    if len(modules) == 1:  # the usual probe: its commands are already in the table's order
        return [result for result in modules[0].results if result.line_id is not None]
    records: dict[str, CommandResult] = {}
    for module in modules:
        for result in module.results:
            if result.line_id is not None:
                records.setdefault(result.command.name, result)
    return [records[name] for name in order if name in records]


async def run_probe(
    request: ProbeRequest,
    chaos_url: str,
    services: ProbeServices,
    timeout_seconds: float,
    log: ProbeLog,
) -> ProbeResult:
    """Every command of every module at once, each bounded by the deadline.

    Stored replies are looked up first, synchronously: a cached probe never suspends, and
    needs no timeout. Only the commands without one wait, together, for CHAOS.
    """
    # The deadline is on the loop's clock, which asyncio's timeouts use; the duration on a
    # high-resolution one (uvloop's loop clock counts whole milliseconds).
    started = time.perf_counter()
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    log.start(request.target, request.plan.module_list, timeout_seconds)
    store = services.store
    needs = _needs(request)
    served: list[Served | None] = [
        store.lookup(
            need.key, need.plan.policy, functools.partial(_refresh, need, chaos_url, services)
        )
        for need in needs
    ]
    missing = [index for index, entry in enumerate(served) if entry is None]
    if missing:
        waited = await _gather(
            [_wait(needs[index], chaos_url, services, deadline, log) for index in missing]
        )
        for index, entry in zip(missing, waited, strict=True):
            served[index] = entry
    results = [
        _command_result(need, entry, services) for need, entry in zip(needs, served, strict=True)
    ]
    modules = []
    first = 0
    for plan in request.modules:
        last = first + len(plan.commands)
        modules.append(_module_result(plan, request.target, tuple(results[first:last])))
        first = last
    duration = time.perf_counter() - started
    success = all(module.success for module in modules)
    for module in modules:
        services.metrics.probe_done(module.name, module.success)
        if not module.success:
            _log_failure(services.failure_log, request.target, module)
    result = ProbeResult(
        target=request.target,
        success=success,
        duration=duration,
        timeout=timeout_seconds,
        modules=tuple(modules),
        records=tuple(line_records(modules, request.plan.commands)),
    )
    log.finish(result)
    return result


def _log_failure(throttle: LogThrottle, target: str, module: ModuleResult) -> None:
    """Every failure is in the probe's own log (``ProbeLog.finish``) and, at debug, the
    process log; at info the process log gets one line per (module, auth, failure kind) per
    minute, so 500 lines failing for one reason write a line, not 500."""
    fields = {"target": target, "module": module.name, "auth": module.auth}
    if _PROCESS_LOG.isEnabledFor(logging.DEBUG):
        _PROCESS_LOG.debug("probe failed", extra=log_fields(**fields, reason=module.reason))
        return
    held_back = throttle.admit((module.name, module.auth, module.failure_kind))
    if held_back is None:
        return
    _PROCESS_LOG.info(
        "probe failed",
        extra=log_fields(
            **fields,
            kind=module.failure_kind,
            reason=module.reason,
            similar_failures_since_last_line=held_back,
        ),
    )
