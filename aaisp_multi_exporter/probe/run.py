"""Running one probe: the CHAOS answers a line's modules need, as results.

A CHAOS or line failure is a result, not an exception: the probe still returns every metric
it could fill, with ``probe_success 0`` (blackbox_exporter's model). Turning results into
exposition text is ``probe.metrics``'s job.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from aaisp_multi_exporter.chaos.client import ChaosClient
from aaisp_multi_exporter.chaos.commands import COMMANDS, Command
from aaisp_multi_exporter.chaos.replies import LineRecord, Reply
from aaisp_multi_exporter.chaos.snapshots import Found, Lookup, SnapshotKey, SnapshotStore
from aaisp_multi_exporter.obs.logs import fields as log_fields
from aaisp_multi_exporter.obs.metrics import ExporterMetrics
from aaisp_multi_exporter.obs.throttle import LogThrottle
from aaisp_multi_exporter.probe.log import ProbeLog
from aaisp_multi_exporter.probe.request import ModulePlan, ProbeRequest

_PROCESS_LOG = logging.getLogger("aaisp_multi_exporter.probe")

T = TypeVar("T")
#: Left for rendering the answer once CHAOS calls stop. Attempts stop this long before the
#: probe's deadline and commands half as long before it, so the limits never race.
RENDER_MARGIN_SECONDS = 0.05
#: Interval of the de-duplicated "probe failed" line (SPEC 8); debug logs every failure.
FAILURE_LOG_SECONDS = 60.0
#: The kind of failure of a module whose answers do not list the target.
NOT_FOUND = "not_found"
#: A background refresh's deadline when the module sets no timeout_seconds.
REFRESH_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ProbeServices:
    """What every probe of the process shares."""

    client: ChaosClient
    store: SnapshotStore
    metrics: ExporterMetrics
    failure_log: LogThrottle = field(default_factory=lambda: LogThrottle(FAILURE_LOG_SECONDS))


# Results are NamedTuples: immutable like frozen dataclasses, and built at a fraction of
# their cost, which counts for the several a cached probe makes.


class CommandResult(NamedTuple):
    """One command's part of a module: the line's record, or why there is none."""

    command: Command
    record: LineRecord | None = None
    age: float | None = None  # of the answer used; None when the command failed
    failure: str | None = None
    kind: str | None = None  # what kind of failure, for de-duplicated logs
    #: The CHAOS answer or failure it was made from, for the probe's log: how the store
    #: found it, its age, and how many lines the answer lists; None past the deadline.
    seen: tuple[str, float, int] | None = None
    #: The reply used, for the probe's log to tell its notes (odd entries, an empty error).
    reply: Reply | None = None


class ModuleResult(NamedTuple):
    name: str
    auth: str
    success: bool
    results: tuple[CommandResult, ...] = ()
    reason: str | None = None
    kind: str | None = None

    @property
    def data_age(self) -> float | None:
        """Age of the oldest answer the module used."""
        oldest = None
        for result in self.results:
            if result.age is not None and (oldest is None or result.age > oldest):
                oldest = result.age
        return oldest


class ProbeResult(NamedTuple):
    target: str
    success: bool
    duration: float
    timeout: float
    modules: tuple[ModuleResult, ...]
    #: The line's records, one per command, whose rendered series are reused per snapshot.
    lines: tuple[tuple[Command, LineRecord], ...] = ()

    @property
    def module_outcomes(self) -> tuple[tuple[str, bool], ...]:
        return tuple((module.name, module.success) for module in self.modules)

    @property
    def reasons(self) -> list[str]:
        return [f"{m.name}: {m.reason}" for m in self.modules if m.reason]


def find_line(reply: Reply, target: str, scope: str) -> LineRecord | None:
    """A dictionary lookup by line ID, whatever the number of lines.

    In ``line`` scope the target may be a phone number or circuit ID, so a one-line answer is
    taken as the line asked for.
    """
    record = reply.lines.get(target)
    if record is None and scope == "line" and len(reply.lines) == 1:
        record = next(iter(reply.lines.values()))
    return record


class _Ask(NamedTuple):
    """One command of one module of a probe: what it looks up, and how it fetches."""

    plan: ModulePlan
    command: Command
    target: str
    key: SnapshotKey


def _asks(request: ProbeRequest) -> list[_Ask]:
    asks = []
    for plan in request.plans:
        module, auth = plan.module, plan.auth
        service = request.target if module.scope == "line" else ""
        for command in plan.commands:
            key = SnapshotKey(
                auth.name, auth.secret_fingerprint(), command.name, module.scope, service
            )
            asks.append(_Ask(plan, command, request.target, key))
    return asks


async def _fetch(
    ask: _Ask, chaos_url: str, services: ProbeServices, until: float, log: ProbeLog
) -> Reply:
    """The CHAOS call behind a snapshot, with the module's retries, ending by ``until``."""
    module = ask.plan.module
    return await services.client.fetch(
        chaos_url,
        ask.command.name,
        ask.plan.auth,
        service=ask.key.service or None,
        retries=module.retries,
        deadline=until,
        log=log,
    )


async def _refresh(ask: _Ask, chaos_url: str, services: ProbeServices) -> Reply:
    """A refresh no probe waits for: its own deadline and log."""
    timeout = ask.plan.module.timeout_seconds or REFRESH_TIMEOUT_SECONDS
    until = asyncio.get_running_loop().time() + timeout
    log = ProbeLog(auth=ask.plan.auth.name, command=ask.command.name, purpose="refresh ahead")
    return await _fetch(ask, chaos_url, services, until, log)


async def _wait(
    ask: _Ask, chaos_url: str, services: ProbeServices, deadline: float, log: ProbeLog
) -> Found | None:
    """Join or start the CHAOS call; None when the probe's deadline comes first."""
    fetch = functools.partial(
        _fetch, ask, chaos_url, services, deadline - RENDER_MARGIN_SECONDS, log
    )
    try:
        # Waiting for CHAOS is the only await of a probe; it ends before the deadline.
        async with asyncio.timeout_at(deadline - RENDER_MARGIN_SECONDS / 2):
            return await services.store.join(ask.key, fetch, ask.plan.policy)
    except TimeoutError:
        return None


def _command_result(ask: _Ask, found: Found | None, services: ProbeServices) -> CommandResult:
    """What the answer says about the line; the probe's log tells it from this result."""
    command = ask.command
    if found is None:
        return CommandResult(command, failure=f"{command.name}: deadline exceeded", kind="deadline")
    snapshot, how, age = found
    services.metrics.lookup_done(how)
    if snapshot.error is not None:
        error = snapshot.error
        reason = f"{command.name}: {error} [{error.outcome}]"
        if snapshot.retry_at is not None:
            wait = max(0.0, snapshot.retry_at - services.store.now())
            shared = "shared failure; " if how is Lookup.FAILURE_SHARED else ""
            reason += f"; {shared}next CHAOS try in {wait:.0f} s"
        return CommandResult(command, failure=reason, kind=error.outcome.value, seen=(how, age, 0))
    assert snapshot.reply is not None
    lines = snapshot.reply.lines
    record = find_line(snapshot.reply, ask.target, ask.plan.module.scope)
    return CommandResult(
        command, record=record, age=age, seen=(how, age, len(lines)), reply=snapshot.reply
    )


def _module_result(
    plan: ModulePlan, target: str, results: tuple[CommandResult, ...]
) -> ModuleResult:
    """Partial answers count (SPEC 4): the module succeeds when some command's answer lists
    the line and none failed; what the commands that worked gave is kept either way."""
    name, auth = plan.module.name, plan.auth.name
    failures = []
    listed = False
    for result in results:
        if result.failure is not None:
            failures.append(result)
        elif result.record is not None:
            listed = True
    if failures:
        reason = "; ".join(result.failure or "" for result in failures)
        return ModuleResult(name, auth, False, results, reason, failures[0].kind)
    if not listed:
        asked = ", ".join(command.name for command in plan.commands)
        reason = f'{asked}: line "{target}" not found for auth "{auth}"'
        return ModuleResult(name, auth, False, results, reason, NOT_FOUND)
    return ModuleResult(name, auth, True, results)


async def _all(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """``gather`` without its task per item when there is only one (the usual probe)."""
    if len(coroutines) == 1:
        return [await coroutines[0]]
    return list(await asyncio.gather(*coroutines))


def line_records(modules: Sequence[ModuleResult]) -> list[tuple[Command, LineRecord]]:
    """One record per command, whichever module brought it, in the table's order: two modules
    sharing a command must not export its series twice."""
    if len(modules) == 1:  # the usual probe: its commands are already in the table's order
        return [(r.command, r.record) for r in modules[0].results if r.record is not None]
    records: dict[str, tuple[Command, LineRecord]] = {}
    for module in modules:
        for result in module.results:
            if result.record is not None:
                records.setdefault(result.command.name, (result.command, result.record))
    return [records[name] for name in COMMANDS if name in records]


async def run_probe(
    request: ProbeRequest,
    chaos_url: str,
    services: ProbeServices,
    budget: float,
    log: ProbeLog,
) -> ProbeResult:
    """Every command of every module at once, each bounded by the deadline.

    Stored answers are looked up first, synchronously: a cached probe never suspends, and
    needs no timeout. Only the commands without one wait, together, for CHAOS.
    """
    # The deadline is on the loop's clock, which asyncio's timeouts use; the duration on a
    # high-resolution one (uvloop's loop clock counts whole milliseconds).
    started = time.perf_counter()
    deadline = asyncio.get_running_loop().time() + budget
    log.start(request.target, request.plan.module_list, budget)
    store = services.store
    asks = _asks(request)
    found: list[Found | None] = [
        store.lookup(
            ask.key, ask.plan.policy, functools.partial(_refresh, ask, chaos_url, services)
        )
        for ask in asks
    ]
    missing = [index for index, entry in enumerate(found) if entry is None]
    if missing:
        waited = await _all(
            [_wait(asks[index], chaos_url, services, deadline, log) for index in missing]
        )
        for index, entry in zip(missing, waited, strict=True):
            found[index] = entry
    results = [
        _command_result(ask, entry, services) for ask, entry in zip(asks, found, strict=True)
    ]
    modules = []
    first = 0
    for plan in request.plans:
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
        timeout=budget,
        modules=tuple(modules),
        lines=tuple(line_records(modules)),
    )
    log.finish(result)
    return result


def _log_failure(throttle: LogThrottle, target: str, module: ModuleResult) -> None:
    """Every failure is in the probe's own log (``ProbeLog.finish``) and, at debug, the
    process log; at info the process log gets one line per (module, auth, kind) per minute,
    so 500 lines failing for one reason write a line, not 500 (SPEC 8)."""
    fields = {"target": target, "module": module.name, "auth": module.auth}
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
