"""Recent probes for the landing page and ``/logs``, in bounded memory.

Modelled on blackbox_exporter's ``prober/history.go``: the last ``limit`` probes, plus up to
``limit`` older failures that aged out of that list, because the failure is what someone
comes to look at after the fact. It also keeps what is failing now (``failing.py``), which
that list cannot show once successes of other lines have pushed a failure down.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aaisp_multi_exporter import failing
from aaisp_multi_exporter.failing import FailingNow, ModuleOutcome, clip_reason

DEFAULT_LIMIT = 100
#: Per entry, so the whole history stays bounded even if one probe logs a great deal.
MAX_TEXT_CHARS = 64 * 1024


#: The debug text, or a function that renders it. Probes store the function: rendering every
#: probe's report (configuration TOML included) would cost each scrape for text that is
#: rarely read.
DebugText = str | Callable[[], str]


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """One finished probe as it was answered; ``debug_text`` is what ``debug=true`` returned."""

    id: int
    time: float  # Unix seconds
    target: str
    modules: tuple[str, ...]
    auths: tuple[str, ...]
    success: bool
    duration: float
    #: (module, reason) for each module that gave one, in the probe's module order.
    reasons: tuple[tuple[str, str], ...] = ()
    report: DebugText = field(default="", compare=False, repr=False)

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
        self._results: deque[ProbeRecord] = deque()
        self._failures: deque[ProbeRecord] = deque(maxlen=limit)

    def add(
        self,
        *,
        target: str,
        modules: Iterable[str],
        auths: Iterable[str],
        success: bool,
        duration: float,
        debug_text: DebugText,
        outcomes: Iterable[ModuleOutcome] = (),
    ) -> ProbeRecord:
        """``outcomes`` (one per module) give the reasons and feed what is failing now."""
        outcomes = tuple(outcomes)
        record = ProbeRecord(
            id=self._next_id,
            time=self._clock(),
            target=target,
            modules=tuple(modules),
            auths=tuple(auths),
            success=success,
            duration=duration,
            reasons=tuple(
                (outcome.name, clip_reason(outcome.reason))
                for outcome in outcomes
                if outcome.reason
            ),
            report=debug_text,
        )
        self._next_id += 1
        self.failing.update(target, outcomes, at=record.time, probe_id=record.id)
        self._results.append(record)
        if len(self._results) > self.limit:
            oldest = self._results.popleft()
            if not oldest.success:
                self._failures.append(oldest)  # maxlen drops the oldest failure
        return record

    def __len__(self) -> int:
        return len(self._results) + len(self._failures)

    def recent(self) -> list[ProbeRecord]:
        """Newest first; every kept failure is older than every entry of the main list."""
        return [*reversed(self._results), *reversed(self._failures)]

    def by_id(self, probe_id: int) -> ProbeRecord | None:
        for record in self.recent():
            if record.id == probe_id:
                return record
        return None

    def latest(self, target: str, module: str | None = None) -> ProbeRecord | None:
        """The most recent probe of ``target`` (with ``module``, if given)."""
        for record in self.recent():
            if record.matches(target, module):
                return record
        return None
