"""Recent probes for the landing page and ``/logs`` (and that endpoint's rules), in bounded
memory.

Modelled on blackbox_exporter's ``prober/history.go``: the last ``limit`` probes, plus up to
``limit`` older failures that aged out of that list, because the failure is what someone
comes to look at after the fact. It also keeps what is failing now (``failing.py``), which
that list cannot show once successes of other lines have pushed a failure down.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from aaisp_multi_exporter.probe.request import QueryLike, echo
from aaisp_multi_exporter.probe.results import FailureKind, ModuleResult
from aaisp_multi_exporter.server import failing
from aaisp_multi_exporter.server.failing import FailingNow, clip_reason

DEFAULT_LIMIT = 100
#: Per entry, so the whole history stays bounded even if one probe logs a great deal.
MAX_TEXT_CHARS = 64 * 1024


#: The debug text, or a function that renders it. Probes store the function: rendering every
#: probe's report (configuration TOML included) would cost each scrape for text that is
#: rarely read.
DebugText = str | Callable[[], str]


class HistoryEntry(NamedTuple):
    """One finished probe as it was answered; ``debug_text`` is what ``debug=true`` returned.

    A NamedTuple, not a frozen dataclass: one is made per probe, and it is cheaper to build.
    """

    id: int
    time: float  # Unix seconds
    target: str
    modules: tuple[str, ...]
    auths: tuple[str, ...]
    success: bool
    duration: float
    #: (module, reason) for each module that gave one, in the probe's module order.
    reasons: tuple[tuple[str, str], ...] = ()
    report: DebugText = ""
    #: Failed only because CHAOS does not list the target: kept apart, so a flood of such
    #: probes cannot push other failures out of the history.
    not_found: bool = False

    @property
    def debug_text(self) -> str:
        return clip(self.report() if callable(self.report) else self.report)

    @property
    def module(self) -> str:
        return ",".join(self.modules)

    @property
    def auth(self) -> str:
        return ",".join(self.auths)

    def matches(self, target: str, module: str | None) -> bool:
        """``module`` may name one module of a multi-module probe or the whole comma list."""
        if self.target != target:
            return False
        if not module:
            return True
        wanted = {name.strip() for name in module.split(",")}
        return wanted <= set(self.modules)


def _only_not_found(results: Iterable[ModuleResult]) -> bool:
    kinds = {result.failure_kind for result in results if not result.success}
    return kinds == {FailureKind.NOT_FOUND}


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters dropped by the history]\n"


class ProbeHistory:
    """Probes by id, newest last; failures outlive successes.

    Used from the event loop only, so no lock: every method runs to completion.
    """

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        *,
        clock: Callable[[], float] = time.time,
        failing_limit: int = failing.DEFAULT_LIMIT,
    ) -> None:
        if limit < 0:
            raise ValueError(f"history limit must be 0 or more, not {limit}")
        self.limit = limit
        #: ``--history.limit=0`` turns probe history off, and this with it.
        self.failing = FailingNow(failing_limit if limit else 0)
        self._clock = clock
        self._next_id = 0
        self._results: deque[HistoryEntry] = deque()
        self._failures: deque[HistoryEntry] = deque(maxlen=limit)
        #: Older not-found failures: a few show the pattern, more would only crowd.
        self._not_found: deque[HistoryEntry] = deque(maxlen=max(1, limit // 10) if limit else 0)

    def add(
        self,
        *,
        target: str,
        modules: Iterable[str],
        auths: Iterable[str],
        success: bool,
        duration: float,
        debug_text: DebugText,
        module_results: Iterable[ModuleResult] = (),
    ) -> HistoryEntry:
        """``module_results`` (one per module) give the reasons and feed what is failing
        now."""
        results = tuple(module_results)
        entry = HistoryEntry(
            id=self._next_id,
            time=self._clock(),
            target=target,
            modules=tuple(modules),
            auths=tuple(auths),
            success=success,
            duration=duration,
            reasons=()
            if success
            else tuple(
                (result.name, clip_reason(result.reason)) for result in results if result.reason
            ),
            report=debug_text,
            not_found=not success and _only_not_found(results),
        )
        self._next_id += 1
        self.failing.update(target, results, at=entry.time, probe_id=entry.id)
        self._results.append(entry)
        if len(self._results) > self.limit:
            oldest = self._results.popleft()
            if not oldest.success:
                # maxlen drops the oldest failure of its kind
                (self._not_found if oldest.not_found else self._failures).append(oldest)
        return entry

    def __len__(self) -> int:
        return len(self._results) + len(self._failures) + len(self._not_found)

    def recent(self) -> list[HistoryEntry]:
        """Newest first; every kept failure is older than every entry of the main list."""
        older = sorted([*self._failures, *self._not_found], key=lambda r: r.id, reverse=True)
        return [*reversed(self._results), *older]

    def by_id(self, probe_id: int) -> HistoryEntry | None:
        for entry in self.recent():
            if entry.id == probe_id:
                return entry
        return None

    def latest(self, target: str, module: str | None = None) -> HistoryEntry | None:
        """The most recent probe of ``target`` (with ``module``, if given)."""
        for entry in self.recent():
            if entry.matches(target, module):
                return entry
        return None


# --------------------------------------------------------------------------- /logs


@dataclass(frozen=True, slots=True)
class TextResponse:
    """``reason`` names why a 400 was given, for the rejected-requests log and list."""

    status: int
    text: str
    reason: str | None = None
    value: str | None = None


def _single(query: QueryLike, name: str) -> str | None:
    """An empty value counts as absent, as in blackbox_exporter and HTML forms."""
    values = query.getall(name, [])
    if len(values) > 1:
        raise _Refused(f'parameter "{name}" may be given at most once')
    return values[0] if values and values[0] else None


class _Refused(Exception):
    pass


def logs_response(query: QueryLike, history: ProbeHistory) -> TextResponse:
    """``/logs?id=N`` or ``/logs?target=T[&module=M]``, with blackbox_exporter's 400/404 rules."""
    try:
        probe_id = _single(query, "id")
        target = _single(query, "target")
        module = _single(query, "module")
    except _Refused as refused:
        return TextResponse(400, str(refused), reason="invalid_parameter")
    if probe_id is not None and target is not None:
        return TextResponse(400, 'give "id" or "target", not both', reason="invalid_parameter")
    if module is not None and target is None:
        return TextResponse(
            400, 'parameter "module" needs "target"', reason="invalid_parameter", value=module
        )
    if probe_id is None and target is None:
        return TextResponse(
            400, 'parameter "id" or "target" is required', reason="missing_parameter"
        )
    kept = (
        f"the history keeps the last {history.limit} probes and up to {history.limit} "
        "older failures"
    )
    if probe_id is not None:
        # Ids count up from 0 and fit 64 bits; a longer string is not one (and converting
        # thousands of digits is refused by Python).
        if not probe_id.isascii() or not probe_id.isdigit() or len(probe_id) > 19:
            return TextResponse(
                400,
                f"invalid id {echo(probe_id)}: want a probe number",
                reason="invalid_id",
                value=probe_id,
            )
        entry = history.by_id(int(probe_id))
        if entry is None:
            return TextResponse(404, f"no probe with id {int(probe_id)}; {kept}")
        return TextResponse(200, entry.debug_text)
    found = history.latest(target or "", module)
    if found is None:
        which = f" with module {echo(module)}" if module else ""
        return TextResponse(404, f"no probe of target {echo(target or '')}{which}; {kept}")
    return TextResponse(200, found.debug_text)
