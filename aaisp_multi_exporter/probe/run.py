"""Running one probe: the CHAOS replies a line's modules need, as results.

A CHAOS or line failure is a result, not an exception: the probe still returns every metric
it could fill, with ``probe_success 0`` (blackbox_exporter's model). Turning results into
exposition text is ``probe.render``'s job. docs/design.md ("The probe path") tells the
order of events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aaisp_multi_exporter.chaos.client import ChaosClient
from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.replies import Reply
from aaisp_multi_exporter.chaos.snapshots import Call, Lookup, Served, SnapshotStore
from aaisp_multi_exporter.obs.logs import fields as log_fields
from aaisp_multi_exporter.obs.metrics import ExporterMetrics
from aaisp_multi_exporter.obs.throttle import LogThrottle
from aaisp_multi_exporter.probe.fetching import Fetcher, Wanted
from aaisp_multi_exporter.probe.log import ProbeLog
from aaisp_multi_exporter.probe.request import ModulePlan, ProbeRequest
from aaisp_multi_exporter.probe.results import (
    CommandResult,
    FailureKind,
    ModuleResult,
    ProbeResult,
    SnapshotUse,
)
from aaisp_multi_exporter.probe.slots import ProbeSlots

_PROCESS_LOG = logging.getLogger("aaisp_multi_exporter.probe")

T = TypeVar("T")
#: Left for rendering the answer once CHAOS calls stop. Attempts stop this long before the
#: probe's deadline and commands half as long before it, so the limits never race.
RENDER_MARGIN_SECONDS = 0.05
#: Interval of the de-duplicated "probe failed" line; debug logs every failure.
FAILURE_LOG_SECONDS = 60.0
#: At most one warning a credential set this often: a refusal is kept at least this long
#: (failure sharing), so this is one line per refusal CHAOS actually gave.
REFUSAL_LOG_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ProbeServices:
    """What every probe of the process shares."""

    client: ChaosClient
    store: SnapshotStore
    metrics: ExporterMetrics
    failure_log: LogThrottle = field(default_factory=lambda: LogThrottle(FAILURE_LOG_SECONDS))
    refusal_log: LogThrottle = field(default_factory=lambda: LogThrottle(REFUSAL_LOG_SECONDS))
    #: ``--web.max-requests``: probes that start CHAOS calls hold a slot (``probe.slots``).
    slots: ProbeSlots = field(default_factory=ProbeSlots)


def find_line(reply: Reply, target: str, scope: str, entries: str = "first") -> str | None:
    """The line's key in the reply: a dictionary lookup, whatever the number of lines.

    In ``line`` scope the target may be a phone number or circuit ID, so a one-line reply is
    taken as the line asked for. An account-level table (``entries = "all"``) is every
    probe's, whatever its target (kept under the key ``""``).
    """
    lines = reply.lines
    if entries == "all":
        return "" if "" in lines else None
    if target in lines:
        return target
    if scope == "line" and len(lines) == 1:
        return next(iter(lines))
    return None


def _needs(request: ProbeRequest) -> list[Wanted]:
    """The snapshot each command of each module needs, in the request's order."""
    needs = []
    want = Fetcher.want
    for plan in request.modules:
        module, auth, policy = plan.module, plan.auth, plan.policy
        scope, retries, timeout = module.scope, module.retries, module.timeout_seconds
        service = request.target if scope == "line" else ""
        for command in plan.commands:
            needs.append(want(auth, command, policy, scope, service, retries, timeout))
    return needs


async def _wait(fetcher: Fetcher, call: Call, how: Lookup, deadline: float) -> Served | None:
    """The CHAOS call's snapshot; None when the probe's deadline comes first.

    The call runs in its own task (``SnapshotStore.call``): a probe that gives up does not
    cancel it for the others waiting on it, and a reload lets it finish for its waiters."""
    try:
        # Waiting for CHAOS is the only await of a probe; it ends before the deadline.
        async with asyncio.timeout_at(deadline - RENDER_MARGIN_SECONDS / 2):
            return await fetcher.store.wait(call, how)
    except TimeoutError:
        return None


async def _wait_all(
    needs: list[Wanted],
    fetcher: Fetcher,
    services: ProbeServices,
    deadline: float,
    log: ProbeLog,
) -> list[Served | None]:
    """Join or start the calls of ``needs``, holding a slot when one is started.

    Whether the probe starts a call is decided, and the calls joined or started, without a
    suspension in between, so a probe counted as only waiting never starts one."""
    starts_work = not all(fetcher.calling(need) for need in needs)
    with services.slots.hold(starts_work):
        until = deadline - RENDER_MARGIN_SECONDS
        calls = [fetcher.call(need, until, log) for need in needs]
        return await _gather([_wait(fetcher, call, how, deadline) for call, how in calls])


def _command_result(
    need: Wanted, target: str, served: Served | None, services: ProbeServices
) -> CommandResult:
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
    line_id = find_line(reply, target, need.key.scope, command.entries)
    policy = need.policy
    lead = policy.lead(snapshot.slowest) if policy.refresh_ahead else None
    used = SnapshotUse(how, age, len(reply.lines), snapshot.took, lead)
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


def line_results(
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
    fetcher: Fetcher,
    services: ProbeServices,
    timeout_seconds: float,
    log: ProbeLog,
) -> ProbeResult:
    """Every command of every module at once, each bounded by the deadline.

    ``fetcher`` is the configuration's way to its snapshots (``probe.fetching``). Stored
    replies are looked up first, synchronously: a cached probe never suspends, and
    needs no timeout. Only the commands without one wait, together, for CHAOS; a probe that
    would start a call when every ``--web.max-requests`` slot is taken raises
    ``TooManyProbes`` (``probe.slots``).
    """
    # The deadline is on the loop's clock, which asyncio's timeouts use; the duration on a
    # high-resolution one (uvloop's loop clock counts whole milliseconds).
    started = time.perf_counter()
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    log.start(request.target, request.plan.module_list, timeout_seconds)
    needs = _needs(request)
    served: list[Served | None] = [fetcher.lookup(need) for need in needs]
    missing = [index for index, entry in enumerate(served) if entry is None]
    if missing:
        waited = await _wait_all(
            [needs[index] for index in missing], fetcher, services, deadline, log
        )
        for index, entry in zip(missing, waited, strict=True):
            served[index] = entry
    results = [
        _command_result(need, request.target, entry, services)
        for need, entry in zip(needs, served, strict=True)
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
            _log_failure(services, request.target, module)
    result = ProbeResult(
        target=request.target,
        success=success,
        duration=duration,
        timeout=timeout_seconds,
        modules=tuple(modules),
        command_results=tuple(line_results(modules, request.plan.commands)),
    )
    log.finish(result)
    return result


def _log_failure(services: ProbeServices, target: str, module: ModuleResult) -> None:
    """Every failure is in the probe's own log (``ProbeLog.finish``) and, at debug, the
    process log; at info the process log gets one line per (module, auth, failure kind) per
    minute, so 500 lines failing for one reason write a line, not 500.

    A refusal of the credentials is a warning (SPEC 8, R4): once a set each time CHAOS gives
    one (a shared refusal is not a new one), so ``--log.level=warn`` still shows it."""
    fields = {"target": target, "module": module.name, "auth": module.auth}
    if _refused_now(module):
        held_back = services.refusal_log.admit(module.auth)
        if held_back is not None:
            _PROCESS_LOG.warning(
                "CHAOS refused the credential set",
                extra=log_fields(**fields, reason=module.reason, refusals_held_back=held_back),
            )
            return
    if _PROCESS_LOG.isEnabledFor(logging.DEBUG):
        _PROCESS_LOG.debug("probe failed", extra=log_fields(**fields, reason=module.reason))
        return
    held_back = services.failure_log.admit((module.name, module.auth, module.failure_kind))
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


def _refused_now(module: ModuleResult) -> bool:
    """A refusal of the credentials that this probe's own call (or one it joined) got."""
    return any(
        result.failure_kind is FailureKind.AUTH_ERROR
        and result.used is not None
        and result.used.lookup != Lookup.FAILURE_SHARED
        for result in module.results
    )
