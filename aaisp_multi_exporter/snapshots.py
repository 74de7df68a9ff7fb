"""Shared CHAOS answers: one call serves every concurrent probe that needs it, and a cached
answer serves later probes for ``cache_seconds``.

For a reseller with thousands of lines under one login this turns N probes into one CHAOS
call per cache period (account scope), which is the whole point of the exporter.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from aaisp_multi_exporter.records import ChaosReplyError, Outcome, ParsedReply


class SnapshotKey(NamedTuple):
    """What makes two CHAOS calls the same call.

    ``fingerprint`` changes when the credential set's secrets change, so a reload with new
    credentials never serves an answer fetched with the old ones.
    """

    auth: str
    fingerprint: str
    command: str
    scope: str
    service: str


class Lookup(StrEnum):
    FETCHED = "fetched"
    CACHED = "cached"
    COALESCED = "coalesced"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A CHAOS answer, or the error that stood in its place, and when it was obtained."""

    reply: ParsedReply | None
    error: ChaosReplyError | None
    fetched_at: float  # time.monotonic()
    attempts: int = 0

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)


class FetchOutcome(NamedTuple):
    reply: ParsedReply
    attempts: int


@dataclass(frozen=True, slots=True)
class _Entry:
    snapshot: Snapshot
    expires_at: float


def _cache_seconds_for(snapshot: Snapshot, cache_seconds: float) -> float:
    """Answers are kept ``cache_seconds``; so are credential refusals, because repeating a bad
    password for every line could lock the account. Other failures are not kept: the next
    probe tries again."""
    if snapshot.error is None or snapshot.error.outcome is Outcome.AUTH_ERROR:
        return cache_seconds
    return 0.0


class SnapshotStore:
    """Keyed CHAOS answers with in-flight sharing, expiry and a size bound."""

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[SnapshotKey, _Entry] = OrderedDict()
        self._in_flight: dict[SnapshotKey, asyncio.Task[Snapshot]] = {}
        self._max_entries = max_entries
        self._clock = clock
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def now(self) -> float:
        return self._clock()

    def peek(self, key: SnapshotKey) -> Snapshot | None:
        """The cached snapshot, if still fresh; never starts a call."""
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= self._clock():
            return None
        return entry.snapshot

    async def get(
        self,
        key: SnapshotKey,
        fetch: Callable[[], Awaitable[FetchOutcome]],
        cache_seconds: float,
    ) -> tuple[Snapshot, Lookup]:
        """Return a fresh-enough snapshot, joining or starting the CHAOS call as needed.

        The call runs in its own task, so a probe that gives up (its deadline passed) does not
        cancel it for the other probes waiting on the same answer.
        """
        cached = self.peek(key)
        if cached is not None:
            return cached, Lookup.CACHED
        task = self._in_flight.get(key)
        how = Lookup.COALESCED
        if task is None:
            how = Lookup.FETCHED
            task = asyncio.create_task(self._run(key, fetch, cache_seconds))
            self._in_flight[key] = task
        return await asyncio.shield(task), how

    async def _run(
        self,
        key: SnapshotKey,
        fetch: Callable[[], Awaitable[FetchOutcome]],
        cache_seconds: float,
    ) -> Snapshot:
        try:
            try:
                outcome = await fetch()
                snapshot = Snapshot(
                    reply=outcome.reply,
                    error=None,
                    fetched_at=self._clock(),
                    attempts=outcome.attempts,
                )
            except ChaosReplyError as error:
                snapshot = Snapshot(reply=None, error=error, fetched_at=self._clock())
            keep = _cache_seconds_for(snapshot, cache_seconds)
            if keep > 0:
                self._store(key, snapshot, keep)
            return snapshot
        finally:
            self._in_flight.pop(key, None)

    def _store(self, key: SnapshotKey, snapshot: Snapshot, keep: float) -> None:
        now = self._clock()
        self._entries[key] = _Entry(snapshot=snapshot, expires_at=now + keep)
        self._entries.move_to_end(key)
        if now >= self._next_sweep:
            self.sweep()
            self._next_sweep = now + 30.0
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def sweep(self) -> int:
        """Drop expired snapshots so memory follows the live set, not the history."""
        now = self._clock()
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)

    def clear(self) -> None:
        self._entries.clear()
