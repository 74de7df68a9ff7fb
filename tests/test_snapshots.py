"""The snapshot store: sharing in-flight calls, expiry, bounds, and what failures are kept."""

from __future__ import annotations

import asyncio

import pytest

from aaisp_multi_exporter.records import ChaosReplyError, Outcome, ParsedReply
from aaisp_multi_exporter.snapshots import FetchOutcome, Lookup, SnapshotKey, SnapshotStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(service: str = "") -> SnapshotKey:
    return SnapshotKey("home", "fp", "broadband/info", "account", service)


class Fetcher:
    """Counts calls; optionally waits on an event or fails, to drive the store."""

    def __init__(self, error: ChaosReplyError | None = None) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.error = error

    async def __call__(self) -> FetchOutcome:
        self.calls += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return FetchOutcome(ParsedReply(lines={}), attempts=1)


async def test_concurrent_lookups_share_one_call() -> None:
    store, fetch = SnapshotStore(), Fetcher()
    fetch.gate.clear()
    waiters = [asyncio.create_task(store.get(key(), fetch, 60)) for _ in range(50)]
    await asyncio.sleep(0)
    fetch.gate.set()
    results = await asyncio.gather(*waiters)
    assert fetch.calls == 1
    kinds = [how for _, how in results]
    assert kinds.count(Lookup.FETCHED) == 1
    assert kinds.count(Lookup.COALESCED) == 49
    assert store.in_flight == 0


async def test_cached_until_expiry() -> None:
    clock = Clock()
    store, fetch = SnapshotStore(clock=clock), Fetcher()
    _, first = await store.get(key(), fetch, 60)
    clock.now += 59.9
    snapshot, second = await store.get(key(), fetch, 60)
    assert (first, second, fetch.calls) == (Lookup.FETCHED, Lookup.CACHED, 1)
    assert snapshot.age(clock()) == pytest.approx(59.9)
    clock.now += 0.2
    _, third = await store.get(key(), fetch, 60)
    assert (third, fetch.calls) == (Lookup.FETCHED, 2)


async def test_zero_cache_shares_in_flight_only() -> None:
    store, fetch = SnapshotStore(), Fetcher()
    await store.get(key(), fetch, 0)
    await store.get(key(), fetch, 0)
    assert fetch.calls == 2
    assert len(store) == 0


@pytest.mark.parametrize(
    ("outcome", "kept"),
    [
        pytest.param(Outcome.AUTH_ERROR, True, id="auth-error-kept-to-protect-account"),
        pytest.param(Outcome.HTTP_ERROR, False, id="http-error-retried-next-probe"),
        pytest.param(Outcome.TIMEOUT, False, id="timeout-retried-next-probe"),
        pytest.param(Outcome.API_ERROR, False, id="api-error-retried-next-probe"),
    ],
)
async def test_which_failures_are_cached(outcome: Outcome, kept: bool) -> None:
    store, fetch = SnapshotStore(), Fetcher(ChaosReplyError(outcome, "failed"))
    first, _ = await store.get(key(), fetch, 60)
    second, how = await store.get(key(), fetch, 60)
    assert first.error is not None
    assert first.error.outcome is outcome
    assert second.error is not None
    assert (how is Lookup.CACHED) is kept
    assert fetch.calls == (1 if kept else 2)


async def test_a_waiter_giving_up_does_not_cancel_the_shared_call() -> None:
    store, fetch = SnapshotStore(), Fetcher()
    fetch.gate.clear()
    impatient = asyncio.create_task(store.get(key(), fetch, 60))
    patient = asyncio.create_task(store.get(key(), fetch, 60))
    await asyncio.sleep(0)
    impatient.cancel()
    fetch.gate.set()
    snapshot, how = await patient
    assert snapshot.reply is not None
    assert how is Lookup.COALESCED
    assert fetch.calls == 1


async def test_size_bound_and_sweep() -> None:
    clock = Clock()
    store, fetch = SnapshotStore(max_entries=10, clock=clock), Fetcher()
    for index in range(25):
        await store.get(key(str(index)), fetch, 60)
    assert len(store) == 10
    assert store.peek(key("24")) is not None
    assert store.peek(key("0")) is None
    clock.now += 61
    assert store.sweep() == 10
    assert len(store) == 0
