"""What is failing now: per (target, module, auth), the latest probe if it failed.

The recent-probes list answers "what happened"; someone opening the page after hours of
Prometheus traffic first wants "what is broken", which that list buries. An entry appears
when a module of a probe fails and leaves when a later probe of the same key succeeds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

#: Keys tracked at most; the one that failed least recently is dropped first. A 10,000-line
#: outage keeps the newest 1,000, which is plenty to see its shape.
DEFAULT_LIMIT = 1000
#: A reason is one line of text; a longer one (a hostile CHAOS error) is cut to keep memory
#: bounded per entry.
MAX_REASON_CHARS = 500


class ModuleOutcome(Protocol):
    """What a probe tells about one module (``probe.ModuleResult`` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def auth(self) -> str: ...
    @property
    def success(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class FailingKey:
    target: str
    module: str
    auth: str


@dataclass(frozen=True, slots=True)
class Failing:
    """The latest failure of a key, and when its run of failures began."""

    key: FailingKey
    reason: str
    since: float  # Unix seconds of the first failure in the run
    last: float  # Unix seconds of the latest failure
    failures: int  # probes failed in a row
    probe_id: int  # the latest failed probe, for its /logs link


def clip_reason(reason: str | None) -> str:
    text = reason or "failed (no reason given)"
    if len(text) <= MAX_REASON_CHARS:
        return text
    return text[:MAX_REASON_CHARS] + f"... [{len(text) - MAX_REASON_CHARS} more characters]"


class FailingNow:
    """Latest failures by key, least recently failed first. Used from the event loop only."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 0:
            raise ValueError(f"failing-now limit must be 0 or more, not {limit}")
        self.limit = limit
        self._entries: OrderedDict[FailingKey, Failing] = OrderedDict()

    def update(
        self, target: str, outcomes: Iterable[ModuleOutcome], *, at: float, probe_id: int
    ) -> None:
        """Take one finished probe: each failed module enters or stays, each success leaves."""
        for outcome in outcomes:
            if outcome.success and not self._entries:
                continue  # the usual case: nothing is failing, and this did not
            key = FailingKey(target, outcome.name, outcome.auth)
            before = self._entries.pop(key, None)
            if outcome.success or not self.limit:
                continue
            self._entries[key] = Failing(
                key=key,
                reason=clip_reason(outcome.reason),
                since=at if before is None else before.since,
                last=at,
                failures=1 if before is None else before.failures + 1,
                probe_id=probe_id,
            )
            if len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    def current(self) -> list[Failing]:
        """Most recently failed first."""
        return list(reversed(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)
