"""The snapshot store: shared calls, expiry, failure sharing with backoff, refresh ahead."""

from __future__ import annotations

import asyncio

import pytest

from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome
from aaisp_multi_exporter.chaos.replies import Reply
from aaisp_multi_exporter.chaos.snapshots import (
    Fetch,
    Lookup,
    Policy,
    Served,
    SnapshotKey,
    SnapshotStore,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(service: str = "", fingerprint: str = "fp") -> SnapshotKey:
    return SnapshotKey("home", fingerprint, "broadband/info", "account", service)


class Fetcher:
    """Counts calls; optionally waits on a gate or fails, to drive the store."""

    def __init__(self, error: ChaosError | None = None) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.error = error

    async def __call__(self) -> Reply:
        self.calls += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return Reply(lines={})


async def get(
    store: SnapshotStore,
    key: SnapshotKey,
    fetch: Fetch,
    policy: Policy,
    refresh: Fetch | None = None,
) -> Served:
    """As every caller uses the store (``probe/fetching.py``): the synchronous lookup, then
    the call, joined or started, and the wait for it."""
    found = store.lookup(key, policy, refresh)
    if found is not None:
        return found
    call, how = store.call(key, fetch, policy)
    return await store.wait(call, how)


CACHE60 = Policy(60)
HTTP_500 = ChaosError(Outcome.HTTP_ERROR, "CHAOS answered HTTP 500", retryable=True)


async def test_concurrent_lookups_share_one_call() -> None:
    store, fetch = SnapshotStore(), Fetcher()
    fetch.gate.clear()
    waiters = [asyncio.create_task(get(store, key(), fetch, CACHE60)) for _ in range(50)]
    await asyncio.sleep(0)
    fetch.gate.set()
    results = await asyncio.gather(*waiters)
    assert fetch.calls == 1
    kinds = [found.how for found in results]
    assert kinds.count(Lookup.FETCHED) == 1
    assert kinds.count(Lookup.COALESCED) == 49
    assert store.in_flight == 0


async def test_cached_until_expiry() -> None:
    clock = Clock()
    store, fetch = SnapshotStore(clock=clock), Fetcher()
    _, first, _ = await get(store, key(), fetch, CACHE60)
    clock.now += 59.9
    snapshot, second, _ = await get(store, key(), fetch, CACHE60)
    assert (first, second, fetch.calls) == (Lookup.FETCHED, Lookup.CACHED, 1)
    assert snapshot.age(clock()) == pytest.approx(59.9)
    clock.now += 0.2
    _, third, _ = await get(store, key(), fetch, CACHE60)
    assert (third, fetch.calls) == (Lookup.FETCHED, 2)


async def test_zero_cache_shares_in_flight_only() -> None:
    store, fetch = SnapshotStore(), Fetcher()
    await get(store, key(), fetch, Policy(0))
    await get(store, key(), fetch, Policy(0))
    assert fetch.calls == 2
    assert len(store) == 0


@pytest.mark.parametrize(
    ("outcome", "cache_seconds", "kept_for"),
    [
        pytest.param(Outcome.AUTH_ERROR, 60, 60, id="auth-refusal-kept-60s"),
        pytest.param(Outcome.API_ERROR, 60, 60, id="any-error-string-kept-60s"),
        pytest.param(Outcome.AUTH_ERROR, 0, 60, id="refusal-kept-60s-even-without-cache"),
        pytest.param(Outcome.AUTH_ERROR, 300, 300, id="refusal-kept-cache-seconds-when-longer"),
        pytest.param(Outcome.HTTP_ERROR, 60, 5, id="outage-first-backoff-5s"),
        pytest.param(Outcome.TIMEOUT, 0, 5, id="timeout-first-backoff-5s"),
        pytest.param(Outcome.TRANSPORT_ERROR, 60, 5, id="transport-first-backoff-5s"),
        pytest.param(Outcome.INVALID_RESPONSE, 60, 5, id="invalid-first-backoff-5s"),
    ],
)
async def test_failures_are_shared_for_their_backoff(
    outcome: Outcome, cache_seconds: float, kept_for: float
) -> None:
    clock = Clock()
    store = SnapshotStore(clock=clock)
    fetch = Fetcher(ChaosError(outcome, "failed"))
    first, how, _ = await get(store, key(), fetch, Policy(cache_seconds))
    assert how is Lookup.FETCHED
    assert first.retry_at == pytest.approx(clock.now + kept_for)
    clock.now += kept_for - 0.1
    second, how, _ = await get(store, key(), fetch, Policy(cache_seconds))
    assert (how, second, fetch.calls) == (Lookup.FAILURE_SHARED, first, 1)
    clock.now += 0.1
    _, how, _ = await get(store, key(), fetch, Policy(cache_seconds))
    assert (how, fetch.calls) == (Lookup.FETCHED, 2)


@pytest.mark.parametrize(
    ("cache_seconds", "schedule"),
    [
        pytest.param(60, [5, 10, 20, 40, 60, 60], id="doubles-to-60"),
        pytest.param(0, [5, 10, 20, 40, 60, 60], id="no-cache-still-backs-off"),
        pytest.param(100, [5, 10, 20, 40, 80, 100, 100], id="cap-is-cache-seconds-when-longer"),
    ],
)
async def test_backoff_doubles_per_consecutive_failure(
    cache_seconds: float, schedule: list[float]
) -> None:
    clock = Clock()
    store, fetch = SnapshotStore(clock=clock), Fetcher(HTTP_500)
    waits = []
    for _ in schedule:
        snapshot, how, _ = await get(store, key(), fetch, Policy(cache_seconds))
        assert how is Lookup.FETCHED
        assert snapshot.retry_at is not None
        waits.append(snapshot.retry_at - clock.now)
        clock.now = snapshot.retry_at
    assert waits == schedule
    assert fetch.calls == len(schedule)


async def test_success_resets_the_backoff() -> None:
    clock = Clock()
    store, fetch = SnapshotStore(clock=clock), Fetcher(HTTP_500)
    for _ in range(3):
        snapshot, _, _ = await get(store, key(), fetch, CACHE60)
        assert snapshot.retry_at is not None
        clock.now = snapshot.retry_at
    fetch.error = None
    snapshot, _, _ = await get(store, key(), fetch, Policy(0))
    assert snapshot.reply is not None
    fetch.error = HTTP_500
    snapshot, _, _ = await get(store, key(), fetch, CACHE60)
    assert snapshot.retry_at == pytest.approx(clock.now + 5)


async def test_outage_costs_calls_per_backoff_step_not_per_probe() -> None:
    """1,000 lookups over 6 s of outage: one call, then one more when the backoff ends."""
    clock = Clock()
    store, fetch = SnapshotStore(clock=clock), Fetcher(HTTP_500)
    kinds = []
    for _ in range(1000):
        _, how, _ = await get(store, key(), fetch, CACHE60)
        kinds.append(how)
        clock.now += 0.006
    assert fetch.calls == 2
    assert kinds.count(Lookup.FAILURE_SHARED) == 998


async def test_changed_credentials_never_reuse_a_refusal() -> None:
    store = SnapshotStore()
    refused = Fetcher(ChaosError(Outcome.AUTH_ERROR, "refused"))
    await get(store, key(fingerprint="old"), refused, CACHE60)
    fixed = Fetcher()
    snapshot, how, _ = await get(store, key(fingerprint="new"), fixed, CACHE60)
    assert (how, fixed.calls, snapshot.error) == (Lookup.FETCHED, 1, None)


async def test_a_waiter_giving_up_does_not_cancel_the_shared_call() -> None:
    store, fetch = SnapshotStore(), Fetcher()
    fetch.gate.clear()
    impatient = asyncio.create_task(get(store, key(), fetch, CACHE60))
    patient = asyncio.create_task(get(store, key(), fetch, CACHE60))
    await asyncio.sleep(0)
    impatient.cancel()
    fetch.gate.set()
    snapshot, how, _ = await patient
    assert snapshot.reply is not None
    assert how is Lookup.COALESCED
    assert fetch.calls == 1


async def test_refresh_ahead_serves_cached_while_one_refresh_runs() -> None:
    clock = Clock()
    store, fetch, refresh = SnapshotStore(clock=clock), Fetcher(), Fetcher()
    first, _, _ = await get(store, key(), fetch, CACHE60, refresh)
    clock.now += 44.9  # before 75 % of 60 s: plain cache hit
    _, how, _ = await get(store, key(), fetch, CACHE60, refresh)
    assert (how, refresh.calls) == (Lookup.CACHED, 0)
    refresh.gate.clear()
    clock.now += 0.2  # past 75 %
    served, how, _ = await get(store, key(), fetch, CACHE60, refresh)
    assert (served, how) == (first, Lookup.REFRESHED_AHEAD)
    await asyncio.sleep(0)
    for _ in range(20):  # the refresh is in flight: everyone gets the cached answer
        served, how, _ = await get(store, key(), fetch, CACHE60, refresh)
        assert (served, how) == (first, Lookup.CACHED)
    assert (refresh.calls, fetch.calls, store.in_flight) == (1, 1, 1)
    refresh.gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    renewed, how, _ = await get(store, key(), fetch, CACHE60, refresh)
    assert how is Lookup.CACHED
    assert renewed is not first
    assert renewed.fetched_at == clock.now


async def test_refresh_ahead_never_serves_an_expired_answer() -> None:
    """A refresh slower than the rest of the window: probes wait for it, never older data."""
    clock = Clock()
    store, fetch, refresh = SnapshotStore(clock=clock), Fetcher(), Fetcher()
    first, _, _ = await get(store, key(), fetch, CACHE60, refresh)
    refresh.gate.clear()
    clock.now += 50
    await get(store, key(), fetch, CACHE60, refresh)
    clock.now += 10  # expired while the refresh is still in flight
    waiter = asyncio.create_task(get(store, key(), fetch, CACHE60, refresh))
    await asyncio.sleep(0)
    assert not waiter.done()
    refresh.gate.set()
    snapshot, how, _ = await waiter
    assert how is Lookup.COALESCED
    assert snapshot is not first
    assert snapshot.age(clock()) == 0
    assert fetch.calls == 1


async def test_failed_refresh_keeps_serving_until_expiry_then_shares_the_failure() -> None:
    clock = Clock()
    store, fetch = SnapshotStore(clock=clock), Fetcher()
    refresh = Fetcher(ChaosError(Outcome.AUTH_ERROR, "Login locked"))
    first, _, _ = await get(store, key(), fetch, CACHE60, refresh)
    clock.now += 46
    await get(store, key(), fetch, CACHE60, refresh)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert refresh.calls == 1
    clock.now += 1  # the failure is known: no new refresh for every probe
    for _ in range(10):
        served, how, _ = await get(store, key(), fetch, CACHE60, refresh)
        assert (served, how) == (first, Lookup.CACHED)
    clock.now += 13.5  # the answer expired; the refusal is kept 60 s from the refresh
    snapshot, how, _ = await get(store, key(), fetch, CACHE60, refresh)
    assert how is Lookup.FAILURE_SHARED
    assert snapshot.error is not None
    assert (refresh.calls, fetch.calls) == (1, 1)


async def test_refresh_ahead_off() -> None:
    clock = Clock()
    store, fetch, refresh = SnapshotStore(clock=clock), Fetcher(), Fetcher()
    policy = Policy(60, refresh_ahead=False)
    await get(store, key(), fetch, policy, refresh)
    clock.now += 59
    _, how, _ = await get(store, key(), fetch, policy, refresh)
    await asyncio.sleep(0)
    assert (how, refresh.calls) == (Lookup.CACHED, 0)


async def test_retain_forgets_old_credentials() -> None:
    store, fetch = SnapshotStore(), Fetcher()
    await get(store, key("a", fingerprint="old"), fetch, CACHE60)
    await get(store, key("c", fingerprint="new"), fetch, CACHE60)
    store.retain([("home", "new")])
    assert store.lookup(key("a", fingerprint="old"), CACHE60) is None
    assert store.lookup(key("c", fingerprint="new"), CACHE60) is not None


#: What a reload changes: the credential set's secrets, or the command's declaration.
RELOADS = [
    pytest.param([("home", "new")], [], id="credentials"),
    pytest.param([("home", "fp")], ["broadband/info"], id="declaration"),
]


@pytest.mark.parametrize(("live", "changed"), RELOADS)
@pytest.mark.parametrize("error", [None, HTTP_500], ids=["answer", "failure"])
async def test_a_call_probes_wait_on_finishes_for_them_and_stores_nothing(
    live: list[tuple[str, str]], changed: list[str], error: ChaosError | None
) -> None:
    """The probes planned before the reload finish with the old configuration; the next
    lookup starts its own call at once."""
    store, slow = SnapshotStore(), Fetcher(error)
    slow.gate.clear()
    waiter = asyncio.create_task(get(store, key(), slow, CACHE60))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert slow.calls == 1
    store.retain(live, changed_commands=changed)
    assert (store.in_flight, store.detached) == (0, 1)
    fresh = Fetcher()
    snapshot, how, _ = await get(store, key(), fresh, CACHE60)
    assert (how, snapshot.error, fresh.calls) == (Lookup.FETCHED, None, 1)
    store.retain(live, changed_commands=changed)  # forget what the fresh call stored
    slow.gate.set()
    snapshot, how, _ = await waiter
    assert (how, snapshot.error) == (Lookup.FETCHED, error)
    assert store.lookup(key(), CACHE60) is None  # nothing stored, failure or answer
    assert (store.in_flight, store.detached) == (0, 0)


@pytest.mark.parametrize(("live", "changed"), RELOADS)
async def test_a_reload_before_a_calls_first_step_leaves_no_task_behind(
    live: list[tuple[str, str]], changed: list[str]
) -> None:
    """Issue 23, N1: the call's task was cancelled before it ran, so it never left the
    table, and every later lookup of its key joined it and got a CancelledError."""
    store, fetch = SnapshotStore(), Fetcher()
    waiter = asyncio.create_task(get(store, key(), fetch, CACHE60))
    await asyncio.sleep(0)  # the waiter runs and creates the call's task, which has not run
    assert (store.in_flight, fetch.calls) == (1, 0)
    store.retain(live, changed_commands=changed)  # before yielding to the loop
    assert store.in_flight == 0
    snapshot, how, _ = await waiter
    assert (how, snapshot.error, fetch.calls) == (Lookup.FETCHED, None, 1)
    fresh = Fetcher()
    snapshot, how, _ = await get(store, key(), fresh, CACHE60)
    assert (how, snapshot.error, fresh.calls) == (Lookup.FETCHED, None, 1)
    assert (store.in_flight, store.detached) == (0, 0)


@pytest.mark.parametrize(("live", "changed"), RELOADS)
async def test_a_reload_before_a_refreshs_first_step_leaves_no_task_behind(
    live: list[tuple[str, str]], changed: list[str]
) -> None:
    """A call nobody waits on (a refresh ahead) is cancelled, and leaves the table too."""
    clock = Clock()
    store, fetch, refresh = SnapshotStore(clock=clock), Fetcher(), Fetcher()
    await get(store, key(), fetch, CACHE60, refresh)
    clock.now += 50
    found = store.lookup(key(), CACHE60, refresh)  # starts the refresh; it has not run
    assert found is not None
    assert (found.how, store.in_flight) == (Lookup.REFRESHED_AHEAD, 1)
    store.retain(live, changed_commands=changed)
    await asyncio.sleep(0)
    assert (store.in_flight, refresh.calls) == (0, 0)
    fresh = Fetcher()
    snapshot, how, _ = await get(store, key(), fresh, CACHE60)
    assert (how, snapshot.error, fresh.calls) == (Lookup.FETCHED, None, 1)
    assert store.detached == 0


async def test_close_before_a_calls_first_step_gives_its_waiters_a_reason() -> None:
    store, fetch = SnapshotStore(), Fetcher()
    waiter = asyncio.create_task(get(store, key(), fetch, CACHE60))
    await asyncio.sleep(0)
    await store.close()
    snapshot, _, _ = await waiter
    assert "the exporter is stopping" in str(snapshot.error)
    assert (store.in_flight, fetch.calls) == (0, 0)


async def test_close_stops_a_detached_call() -> None:
    store, slow = SnapshotStore(), Fetcher()
    slow.gate.clear()
    waiter = asyncio.create_task(get(store, key(), slow, CACHE60))
    await asyncio.sleep(0)
    store.retain([("home", "new")])
    assert store.detached == 1
    await store.close()
    snapshot, _, _ = await waiter
    assert "the exporter is stopping" in str(snapshot.error)
    assert store.detached == 0


async def test_close_stops_background_refreshes() -> None:
    clock = Clock()
    store, fetch, refresh = SnapshotStore(clock=clock), Fetcher(), Fetcher()
    await get(store, key(), fetch, CACHE60, refresh)
    refresh.gate.clear()
    clock.now += 50
    await get(store, key(), fetch, CACHE60, refresh)
    await asyncio.sleep(0)
    assert store.in_flight == 1
    await store.close()
    assert store.in_flight == 0


async def test_size_bound_and_sweep() -> None:
    clock = Clock()
    store, fetch = SnapshotStore(max_entries=10, clock=clock), Fetcher()
    for index in range(25):
        await get(store, key(str(index)), fetch, CACHE60)
    assert len(store) == 10
    assert store.lookup(key("24"), CACHE60) is not None
    assert store.lookup(key("0"), CACHE60) is None
    clock.now += 61
    assert store.sweep() == 10
    assert len(store) == 0


# --------------------------------------------------------------- each module's own freshness

LONG, SHORT, NONE = Policy(600), Policy(3), Policy(0)


def seen(store: SnapshotStore, policy: Policy, refresh: Fetcher | None = None) -> object:
    """How a lookup went, as (how, age), or None when the module must fetch."""
    found = store.lookup(key(), policy, refresh)
    return None if found is None else (found.how, found.age)


async def test_each_module_is_served_within_its_own_cache_seconds() -> None:
    """A reply stored for a 600 s module is never served to a 3 s or 0 s module
    once older than their own cache_seconds."""
    clock = Clock()
    store, fetch = SnapshotStore(clock=clock), Fetcher()
    await get(store, key(), fetch, LONG)
    clock.now += 2
    assert seen(store, SHORT) == (Lookup.CACHED, 2.0)
    assert seen(store, NONE) is None
    clock.now += 10
    assert seen(store, SHORT) is None
    assert seen(store, LONG) == (Lookup.CACHED, 12.0)
    # The short module's fetch replaces the reply for everyone, and it is kept for the
    # longest module that used it.
    snapshot, how, age = await get(store, key(), fetch, SHORT)
    assert (how, age, fetch.calls) == (Lookup.FETCHED, 0.0, 2)
    clock.now += 100
    assert seen(store, LONG) == (Lookup.CACHED, 100.0)
    assert store.lookup(key(), LONG).snapshot is snapshot  # type: ignore[union-attr]


async def test_a_zero_cache_module_alone_stores_nothing_but_refreshes_a_shared_reply() -> None:
    clock = Clock()
    store, fetch = SnapshotStore(clock=clock), Fetcher()
    await get(store, key(), fetch, NONE)
    assert len(store) == 0
    await get(store, key(), fetch, LONG)
    clock.now += 30
    fresh, how, _ = await get(store, key(), fetch, NONE)
    assert (how, fetch.calls) == (Lookup.FETCHED, 3)
    assert seen(store, LONG) == (Lookup.CACHED, 0.0)  # the newest reply serves it too
    assert store.lookup(key(), LONG).snapshot is fresh  # type: ignore[union-attr]


async def test_refresh_ahead_follows_the_module_looking_up() -> None:
    clock = Clock()
    store, fetch, refresh = SnapshotStore(clock=clock), Fetcher(), Fetcher()
    await get(store, key(), fetch, LONG)
    clock.now += 2.0  # below 75 % of 3 s
    assert seen(store, SHORT, refresh) == (Lookup.CACHED, 2.0)
    clock.now += 0.5  # past 75 % of 3 s, far from 75 % of 600 s
    assert seen(store, LONG, refresh) == (Lookup.CACHED, 2.5)
    assert seen(store, SHORT, refresh) == (Lookup.REFRESHED_AHEAD, 2.5)
    await asyncio.sleep(0)
    assert refresh.calls == 1
    assert seen(store, SHORT, refresh) == (Lookup.CACHED, 0.0)


async def test_failure_backoff_follows_the_module_looking_up() -> None:
    """A refusal is kept max(cache_seconds, 60) s for each module that meets it."""
    clock = Clock()
    store = SnapshotStore(clock=clock)
    refused = Fetcher(ChaosError(Outcome.AUTH_ERROR, "CHAOS refused the credentials"))
    snapshot, how, _ = await get(store, key(), refused, SHORT)
    assert (how, snapshot.retry_at) == (Lookup.FETCHED, clock.now + 60)
    clock.now += 100
    assert seen(store, SHORT) is None  # its 60 s are over
    assert seen(store, LONG) == (Lookup.FAILURE_SHARED, 100.0)
    assert store.lookup(key(), LONG).snapshot.retry_at == clock.now + 500  # type: ignore[union-attr]
    assert store.sweep() == 0  # kept for the long module's backoff, past the short one's
    clock.now += 500
    assert seen(store, LONG) is None
    assert refused.calls == 1


# --------------------------------------------------------------- the lead adapts


@pytest.mark.parametrize(
    ("cache_seconds", "slowest", "lead"),
    [
        pytest.param(60, 0.0, 15, id="never-fetched-a-quarter"),
        pytest.param(60, 15, 15, id="a-quarter-still-a-quarter"),
        pytest.param(60, 16, 32, id="beyond-a-quarter-twice-the-fetch"),
        pytest.param(6, 2, 4, id="a-third-of-the-cache-two-thirds-lead"),
        pytest.param(60, 30, 60, id="half-refreshes-once-stored"),
        pytest.param(60, 90, 60, id="never-before-stored"),
        pytest.param(0, 1, 0, id="no-cache"),
    ],
)
def test_the_lead_follows_the_slowest_recent_fetch(
    cache_seconds: float, slowest: float, lead: float
) -> None:
    policy = Policy(cache_seconds)
    assert policy.lead(slowest) == lead
    assert policy.refresh_from(slowest) == cache_seconds - lead
    assert Policy(cache_seconds, refresh_ahead=False).lead(slowest) == 0


class SlowFetcher(Fetcher):
    """A fetch that takes ``took`` seconds of the store's fake clock."""

    def __init__(self, clock: Clock, took: float) -> None:
        super().__init__()
        self.clock, self.took = clock, took

    async def __call__(self) -> Reply:
        self.clock.now += self.took
        return await super().__call__()


async def test_a_slow_fetch_starts_the_refresh_earlier() -> None:
    """Fetches taking 20 s of a 60 s cache: the refresh starts 40 s before expiry, not 15."""
    clock = Clock()
    store, refresh = SnapshotStore(clock=clock), SlowFetcher(clock, 20)
    first, _, _ = await get(store, key(), SlowFetcher(clock, 20), CACHE60, refresh)
    assert (first.took, first.slowest) == (20, 20)
    clock.now += 19
    assert seen(store, CACHE60, refresh) == (Lookup.CACHED, 19.0)
    clock.now += 1  # 40 s before expiry
    assert seen(store, CACHE60, refresh) == (Lookup.REFRESHED_AHEAD, 20.0)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    # The refresh took 20 s too: it landed 20 s before the old answer would have expired.
    renewed = store.lookup(key(), CACHE60)
    assert renewed is not None
    assert renewed.snapshot is not first
    assert renewed.snapshot.fetched_at == first.fetched_at + 40
    assert renewed.snapshot.fetch_times == (20, 20)


async def test_the_lead_follows_the_last_fetches_only() -> None:
    """One slow fetch moves the lead until three faster ones have replaced it."""
    clock = Clock()
    store = SnapshotStore(clock=clock)
    await get(store, key(), SlowFetcher(clock, 30), CACHE60)
    for expected in [(30, 1), (30, 1, 1), (1, 1, 1)]:
        clock.now += 60
        snapshot, _, _ = await get(store, key(), SlowFetcher(clock, 1), CACHE60)
        assert snapshot.fetch_times == expected
        assert CACHE60.refresh_from(snapshot.slowest) == (45 if expected[0] == 1 else 0)
