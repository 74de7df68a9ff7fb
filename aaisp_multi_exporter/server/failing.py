"""What is failing now: per (target, module, auth), the latest probe if it failed.

The recent-probes list answers "what happened"; someone opening the page after hours of
Prometheus traffic first wants "what is broken", which that list buries. An entry appears
when a module of a probe fails and leaves when a later probe of the same key succeeds.

Targets that a successful CHAOS answer does not list ("not found") are grouped: one entry
per module and credential set, with a count and the latest targets. A job probing thousands
of lines that do not exist (or a client probing at random) would otherwise fill the list and
push a real outage off the landing page.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from aaisp_multi_exporter.probe.results import FailureKind, ModuleResult

#: Keys tracked at most; the one that failed least recently is dropped first. A 10,000-line
#: outage keeps the newest 1,000, which is plenty to see its shape.
DEFAULT_LIMIT = 1000
#: A reason is one line of text; a longer one (a hostile CHAOS error) is cut to keep memory
#: bounded per entry.
MAX_REASON_CHARS = 500
#: Targets remembered per not-found group; beyond it the oldest are forgotten and counted.
GROUP_TARGETS = 1000


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


@dataclass(slots=True)
class Forgotten:
    """Not-found targets dropped past a group's bound: how often, and their failures, so the
    group's failures still add up (a target dropped twice counts twice in ``drops``)."""

    drops: int = 0
    failures: int = 0
    since: float = float("inf")

    def add(self, entry: Failing) -> None:
        self.drops += 1
        self.failures += entry.failures
        self.since = min(self.since, entry.since)


@dataclass(frozen=True, slots=True)
class NotFound:
    """The targets of one module and credential set whose latest probe found no line in
    CHAOS's answer, newest first, and those dropped past the bound."""

    module: str
    auth: str
    entries: tuple[Failing, ...]
    forgotten: Forgotten = field(default_factory=Forgotten)

    @property
    def target_count(self) -> int:
        """Targets known to be failing; more when ``forgotten.drops``."""
        return len(self.entries)

    @property
    def last(self) -> float:
        return self.entries[0].last

    @property
    def since(self) -> float:
        return min(self.forgotten.since, *(entry.since for entry in self.entries))

    @property
    def failures(self) -> int:
        return self.forgotten.failures + sum(entry.failures for entry in self.entries)


def clip_reason(reason: str | None) -> str:
    text = reason or "failed (no reason given)"
    if len(text) <= MAX_REASON_CHARS:
        return text
    return text[:MAX_REASON_CHARS] + f"... [{len(text) - MAX_REASON_CHARS} more characters]"


class FailingNow:
    """Latest failures by key, least recently failed first; not-found ones kept apart, per
    module and credential set. Used from the event loop only."""

    def __init__(self, limit: int = DEFAULT_LIMIT, group_targets: int = GROUP_TARGETS) -> None:
        if limit < 0:
            raise ValueError(f"failing-now limit must be 0 or more, not {limit}")
        self.limit = limit
        self._group_targets = group_targets
        self._entries: OrderedDict[FailingKey, Failing] = OrderedDict()
        self._not_found: dict[tuple[str, str], OrderedDict[FailingKey, Failing]] = {}
        self._forgotten: dict[tuple[str, str], Forgotten] = {}

    def update(
        self, target: str, modules: Iterable[ModuleResult], *, at: float, probe_id: int
    ) -> None:
        """Take one finished probe: each failed module enters or stays, each success leaves."""
        for module in modules:
            if module.success and not self._entries and not self._not_found:
                continue  # the usual case: nothing is failing, and this did not
            key = FailingKey(target, module.name, module.auth)
            group_key = (module.name, module.auth)
            group = self._not_found.get(group_key)
            before = self._entries.pop(key, None)
            if group is not None:
                before = group.pop(key, None) or before
                if not group:
                    del self._not_found[group_key]
                    self._forgotten.pop(group_key, None)
            if module.success or not self.limit:
                continue
            entry = Failing(
                key=key,
                reason=clip_reason(module.reason),
                since=at if before is None else before.since,
                last=at,
                failures=1 if before is None else before.failures + 1,
                probe_id=probe_id,
            )
            if module.failure_kind == FailureKind.NOT_FOUND:
                group = self._not_found.setdefault(group_key, OrderedDict())
                group[key] = entry
                if len(group) > self._group_targets:
                    _, dropped = group.popitem(last=False)
                    self._forgotten.setdefault(group_key, Forgotten()).add(dropped)
                continue
            self._entries[key] = entry
            if len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    def current(self) -> list[Failing]:
        """Most recently failed first."""
        return list(reversed(self._entries.values()))

    def not_found(self) -> list[NotFound]:
        """The not-found groups, most recently failed first."""
        groups = [
            NotFound(
                module,
                auth,
                tuple(reversed(group.values())),
                self._forgotten.get((module, auth), Forgotten()),
            )
            for (module, auth), group in self._not_found.items()
        ]
        return sorted(groups, key=lambda group: group.last, reverse=True)

    def __len__(self) -> int:
        return len(self._entries) + sum(len(group) for group in self._not_found.values())
