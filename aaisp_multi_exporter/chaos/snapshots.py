"""Shared CHAOS replies, and shared failures: one call serves every probe that needs it.

For a reseller with thousands of lines under one login this turns N probes into one CHAOS
call per cache period (account scope), which is the whole point of the exporter. Failures are
shared the same way: during an outage, or with a refused password, probes of every line get
the one failure at once until the next try is due, so CHAOS sees one call per credential set
per backoff step instead of one per line.

Refresh ahead: a probe that finds a reply in the last quarter of its module's
``cache_seconds`` starts one background refresh and is served the stored one, so under steady
scraping no probe waits for CHAOS, and no reply is served past ``cache_seconds``. When the
key's last fetches took longer than that quarter, the refresh starts earlier (the lead adapts).
A reload never strands a probe: calls of what it changed leave the table at once (new lookups
start their own) and finish for the probes already waiting, storing nothing.
docs/design.md (Snapshots, Failure sharing, Refresh ahead) has the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple, TypeVar

from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome
from aaisp_multi_exporter.chaos.replies import Reply

#: First wait after a failed fetch; doubled on each consecutive failure up to the cap.
FIRST_BACKOFF_SECONDS = 5.0
#: Refusals and the backoff cap are at least this long, whatever ``cache_seconds`` says.
MIN_REFUSAL_SECONDS = 60.0
#: A probe finding a reply older than this share of ``cache_seconds`` refreshes it ahead
#: (the latest a refresh starts: see ``Policy.lead``).
REFRESH_AHEAD_AT = 0.75
#: A key whose recent fetches took longer than what 75 % leaves refreshes this many times their
#: time before expiry, so the refresh lands before the reply expires, with room for a slower one.
LEAD_FACTOR = 2.0
#: How many of a key's last successful fetches its lead follows (the slowest of them).
FETCH_TIMES_KEPT = 3
SWEEP_EVERY_SECONDS = 30.0

Fetch = Callable[[], Awaitable[Reply]]
_E = TypeVar("_E")


class SnapshotKey(NamedTuple):
    """What makes two CHAOS calls the same call.

    ``fingerprint`` changes when the credential set's secrets change, and ``declaration``
    (``Command.digest``) when the command's declaration does, so after a reload no lookup,
    even one a probe planned before it, gets a reply (or a refusal) obtained with the old
    credentials or read by the old declaration.
    """

    auth: str
    fingerprint: str
    command: str
    scope: str
    service: str
    declaration: str = ""


class Lookup(StrEnum):
    FETCHED = "fetched"
    CACHED = "cached"
    COALESCED = "coalesced"
    REFRESHED_AHEAD = "refreshed_ahead"
    FAILURE_SHARED = "failure_shared"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A CHAOS reply, or the error that stood in its place, and when it was obtained."""

    reply: Reply | None
    error: ChaosError | None
    fetched_at: float  # the store's clock (time.monotonic())
    #: For a failure: when the next fetch may be made, for the module that looked it up.
    retry_at: float | None = None
    #: For a reply: how long the key's last successful fetches took (this one last), in
    #: seconds, and the slowest of them, which the refresh lead follows (``Policy.lead``).
    fetch_times: tuple[float, ...] = ()
    slowest: float = 0.0

    @property
    def took(self) -> float:
        """Seconds the fetch that obtained this reply took (0 for a failure)."""
        return self.fetch_times[-1] if self.fetch_times else 0.0

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)


class Served(NamedTuple):
    """What a lookup gave a module: the snapshot, how it was found, and its age then (0 when
    fetched for the caller). A cached reply's age is below the module's ``cache_seconds``."""

    snapshot: Snapshot
    how: Lookup
    age: float = 0.0


@dataclass(frozen=True, slots=True)
class Policy:
    """How long a module keeps replies, and whether it refreshes them ahead."""

    cache_seconds: float
    refresh_ahead: bool = True
    #: Age from which a lookup refreshes the reply ahead (never, when refresh_ahead is off).
    refresh_after: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        after = REFRESH_AHEAD_AT * self.cache_seconds if self.refresh_ahead else math.inf
        object.__setattr__(self, "refresh_after", after)

    def lead(self, slowest: float) -> float:
        """How long before expiry a refresh starts, given the slowest of the key's recent
        fetches: the quarter that 75 % leaves, or ``LEAD_FACTOR`` times that fetch when it
        took longer than the quarter, so the refresh lands before the reply expires; at most
        ``cache_seconds`` (no refresh starts before the reply is stored). 0 without refresh
        ahead."""
        if not self.refresh_ahead:
            return 0.0
        quarter = self.cache_seconds - self.refresh_after
        if slowest <= quarter:
            return quarter
        return min(self.cache_seconds, LEAD_FACTOR * slowest)

    def refresh_from(self, slowest: float) -> float:
        """The age from which a lookup refreshes a reply ahead (``lead`` before expiry)."""
        if slowest <= self.cache_seconds - self.refresh_after:
            return self.refresh_after  # the usual case, and inf without refresh ahead
        return self.cache_seconds - self.lead(slowest)

    @property
    def max_backoff(self) -> float:
        return max(self.cache_seconds, MIN_REFUSAL_SECONDS)

    def backoff(self, error: ChaosError, streak: int) -> float:
        """Refusals wait the longest; other failures 5 s, doubling per consecutive one."""
        if error.definitive:
            return self.max_backoff
        return min(FIRST_BACKOFF_SECONDS * 2.0 ** min(streak - 1, 30), self.max_backoff)


@dataclass(slots=True)
class Call:
    """A CHAOS call in flight, and how many lookups wait for it."""

    task: asyncio.Task[Snapshot]
    waiters: int = 0


@dataclass(slots=True)
class _StoredReply:
    snapshot: Snapshot
    #: The longest ``cache_seconds`` of the modules that stored or used it: it is kept that
    #: long, and each module serves it only within its own.
    keep_for: float

    @property
    def expires_at(self) -> float:
        return self.snapshot.fetched_at + self.keep_for


@dataclass(slots=True)
class _Failure:
    snapshot: Snapshot
    streak: int  # consecutive failures
    #: Until then a new failure continues the streak (so the backoff keeps growing); pushed
    #: back when a module with a longer backoff looks it up.
    forget_at: float


class SnapshotStore:
    """Keyed CHAOS replies and failures with in-flight sharing, expiry and a size bound.

    Several modules may share a key (same credential set, command, scope and service) with
    different ``cache_seconds``: a stored reply is kept for the longest of them, and each
    module is served it only while it is younger than its own, so a data age never passes
    the module's ``cache_seconds`` (docs/design.md, Snapshots). Refresh ahead and failure
    backoff follow the policy of the module looking up, too.

    Used from the event loop only, so no lock: every method runs to completion.
    """

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._replies: OrderedDict[SnapshotKey, _StoredReply] = OrderedDict()
        self._failures: OrderedDict[SnapshotKey, _Failure] = OrderedDict()
        #: Calls a lookup may join: one per key.
        self._in_flight: dict[SnapshotKey, Call] = {}
        #: Calls a reload took out of the table, finishing for the probes waiting on them.
        self._detached: set[asyncio.Task[Snapshot]] = set()
        self._max_entries = max_entries
        self._clock = clock
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._replies) + len(self._failures)

    @property
    def in_flight(self) -> int:
        """Calls a lookup can join."""
        return len(self._in_flight)

    @property
    def detached(self) -> int:
        """Calls a reload took out of the table that have not finished yet."""
        return len(self._detached)

    def now(self) -> float:
        return self._clock()

    def lookup(
        self, key: SnapshotKey, policy: Policy, refresh: Fetch | None = None
    ) -> Served | None:
        """What can be answered at once: a reply younger than ``policy.cache_seconds`` or a
        failure still in ``policy``'s backoff; None when the caller must ``call`` CHAOS.

        ``refresh`` fetches with a deadline of its own, for refreshes ahead that no probe
        waits for. Synchronous, so a cached probe needs no timeout and no suspension.
        """
        now = self._clock()
        stored = self._replies.get(key)
        if stored is not None:
            snapshot = stored.snapshot
            age = now - snapshot.fetched_at
            if age < policy.cache_seconds:
                stored.keep_for = max(stored.keep_for, policy.cache_seconds)
                if (
                    age >= policy.refresh_from(snapshot.slowest)
                    and refresh is not None
                    and key not in self._in_flight
                    and key not in self._failures
                ):
                    self._start(key, refresh, policy)
                    return Served(snapshot, Lookup.REFRESHED_AHEAD, max(age, 0.0))
                return Served(snapshot, Lookup.CACHED, max(age, 0.0))
        return self._shared_failure(key, now, policy)

    def _shared_failure(self, key: SnapshotKey, now: float, policy: Policy) -> Served | None:
        failure = self._failures.get(key)
        if failure is None:
            return None
        snapshot = failure.snapshot
        assert snapshot.error is not None
        retry_at = snapshot.fetched_at + policy.backoff(snapshot.error, failure.streak)
        if now >= retry_at:
            return None
        failure.forget_at = max(failure.forget_at, retry_at + policy.max_backoff)
        if retry_at != snapshot.retry_at:
            snapshot = replace(snapshot, retry_at=retry_at)
        return Served(snapshot, Lookup.FAILURE_SHARED, snapshot.age(now))

    def calling(self, key: SnapshotKey) -> bool:
        """Whether a call for ``key`` is in flight: a probe needing it would only wait."""
        return key in self._in_flight

    def call(self, key: SnapshotKey, fetch: Fetch, policy: Policy) -> tuple[Call, Lookup]:
        """Join the call in flight for ``key`` (COALESCED), or start it (FETCHED), counted
        as waited for until ``wait`` ends; synchronous, so a caller that checked ``calling``
        first knows which it gets, and a reload between the two lets it finish.

        The call runs in its own task, so a caller that gives up (its deadline passed) does
        not cancel it for the others waiting on the same reply."""
        call = self._in_flight.get(key)
        how = Lookup.COALESCED
        if call is None:
            how = Lookup.FETCHED
            call = self._start(key, fetch, policy)
        call.waiters += 1
        return call, how

    async def wait(self, call: Call, how: Lookup) -> Served:
        """The snapshot of a call ``call`` gave. A call that ends cancelled (``close()``) is a
        failure with its reason, never a CancelledError for a waiter that was not cancelled
        itself."""
        try:
            return Served(await asyncio.shield(call.task), how)
        except asyncio.CancelledError:
            if not call.task.cancelled() or _being_cancelled():
                raise
            return Served(self._stopped(), how)
        finally:
            call.waiters -= 1

    def _start(self, key: SnapshotKey, fetch: Fetch, policy: Policy) -> Call:
        task = asyncio.create_task(self._run(key, fetch, policy), name=f"chaos {key.command}")
        call = self._in_flight[key] = Call(task)
        # However the task ends, even cancelled before its first step (when _run never runs,
        # nor its finally), it leaves the table: a stopped call is never joined again.
        task.add_done_callback(functools.partial(self._finished, key))
        return call

    def _finished(self, key: SnapshotKey, task: asyncio.Task[Snapshot] | None) -> None:
        call = self._in_flight.get(key)
        if call is not None and call.task is task:
            del self._in_flight[key]
        if task is not None:
            self._detached.discard(task)

    def _current(self, key: SnapshotKey) -> bool:
        """Whether the running call is still ``key``'s: a call a reload detached stores
        nothing, since its reply was obtained with what the reload changed."""
        call = self._in_flight.get(key)
        return call is not None and call.task is asyncio.current_task()

    def _stopped(self) -> Snapshot:
        stopped = ChaosError(
            Outcome.TIMEOUT,
            "CHAOS call stopped: the configuration changed or the exporter is stopping",
        )
        return Snapshot(reply=None, error=stopped, fetched_at=self._clock())

    async def _run(self, key: SnapshotKey, fetch: Fetch, policy: Policy) -> Snapshot:
        started = self._clock()
        try:
            try:
                reply = await fetch()
            except ChaosError as error:
                if not self._current(key):
                    return Snapshot(reply=None, error=error, fetched_at=self._clock())
                return self._store_failure(key, error, policy)
            except asyncio.CancelledError:
                # Stopped by retain() (no probe was waiting) or close(): nothing is stored.
                return self._stopped()
            if not self._current(key):
                return Snapshot(reply=reply, error=None, fetched_at=self._clock())
            return self._store_reply(key, reply, policy, self._clock() - started)
        finally:
            self._finished(key, asyncio.current_task())

    def _store_reply(self, key: SnapshotKey, reply: Reply, policy: Policy, took: float) -> Snapshot:
        """Kept for the longest ``cache_seconds`` of the modules that used the key; a
        ``cache_seconds = 0`` module alone stores nothing. The fetch's time joins the key's
        last ones, which its refresh lead follows."""
        now = self._clock()
        previous = self._replies.get(key)
        times = (previous.snapshot.fetch_times if previous is not None else ()) + (took,)
        times = times[-FETCH_TIMES_KEPT:]
        snapshot = Snapshot(reply, None, now, fetch_times=times, slowest=max(times))
        self._failures.pop(key, None)  # a success ends the backoff
        keep_for = max(policy.cache_seconds, 0.0 if previous is None else previous.keep_for)
        if keep_for > 0:
            self._replies[key] = _StoredReply(snapshot, keep_for)
            self._replies.move_to_end(key)
            self._bound(self._replies, now)
        return snapshot

    def _store_failure(self, key: SnapshotKey, error: ChaosError, policy: Policy) -> Snapshot:
        now = self._clock()
        previous = self._failures.get(key)
        streak = previous.streak + 1 if previous is not None and now < previous.forget_at else 1
        wait = policy.backoff(error, streak)
        snapshot = Snapshot(reply=None, error=error, fetched_at=now, retry_at=now + wait)
        self._failures[key] = _Failure(snapshot, streak, forget_at=now + wait + policy.max_backoff)
        self._failures.move_to_end(key)
        self._bound(self._failures, now)
        return snapshot

    def _bound(self, entries: OrderedDict[SnapshotKey, _E], now: float) -> None:
        if now >= self._next_sweep:
            self.sweep()
            self._next_sweep = now + SWEEP_EVERY_SECONDS
        while len(entries) > self._max_entries:
            entries.popitem(last=False)

    def sweep(self) -> int:
        """Drop what can no longer be served, so memory follows the live set, not history."""
        now = self._clock()
        expired = [key for key, entry in self._replies.items() if entry.expires_at <= now]
        for key in expired:
            del self._replies[key]
        failures = [key for key, entry in self._failures.items() if entry.forget_at <= now]
        for key in failures:
            del self._failures[key]
        return len(expired) + len(failures)

    def retain(
        self, live: Iterable[tuple[str, str]], *, changed_commands: Iterable[str] = ()
    ) -> None:
        """After a reload: forget credential sets that are gone or changed, and commands whose
        declaration changed, so nothing obtained with old credentials, or read by an old
        declaration, is kept or stored.

        Their calls leave the table at once, so the next lookup starts its own. A call that
        probes wait for finishes for them (they were planned with the old configuration) and
        stores nothing; one that nobody waits for (a refresh ahead) is cancelled.
        """
        keep = set(live)
        drop = set(changed_commands)

        def stale(key: SnapshotKey) -> bool:
            return (key.auth, key.fingerprint) not in keep or key.command in drop

        for entries in (self._replies, self._failures):
            for key in [key for key in entries if stale(key)]:
                del entries[key]
        for key, call in list(self._in_flight.items()):
            if stale(key):
                del self._in_flight[key]
                if call.waiters:
                    self._detached.add(call.task)
                else:
                    call.task.cancel()

    async def close(self) -> None:
        """Stop every call still running (background refreshes included), for shutdown."""
        tasks = [call.task for call in self._in_flight.values()] + list(self._detached)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
