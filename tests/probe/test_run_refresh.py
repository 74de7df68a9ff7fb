"""Refresh ahead through the whole probe path, timing-free: a gated simulator answer
holds the background refresh in flight for as long as the test needs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest

from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import Exporter, ExporterFactory

LOOKUPS = 'aaisp_exporter_snapshot_lookups_total{result="%s"}'


async def until(condition: Callable[[], bool]) -> None:
    """Wait for something another task does over a socket; fails only if it never happens."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def age_of(exporter: Exporter, line: int) -> float:
    got = await exporter.samples(f"target={line}&module=line")
    assert got["probe_success"] == 1
    return got['aaisp_probe_data_age_seconds{module="line"}']


async def test_probes_are_answered_from_cache_while_one_refresh_runs(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(cache_seconds="60")
    assert await age_of(exporter, 10000) == 0
    assert simulator.total_calls == 1
    gate = asyncio.Event()
    simulator.add_fault(Fault("gate", gate=gate))
    exporter.clock.advance(46)  # past 75 % of 60 s
    # This probe starts the refresh and is answered from the cached answer, not held.
    assert await age_of(exporter, 10001) >= 46
    await until(lambda: simulator.total_calls == 2)  # the refresh reached CHAOS; held there
    ages = [await age_of(exporter, 10000 + line) for line in range(20)]
    assert min(ages) >= 46
    assert simulator.total_calls == 2  # one refresh, however many probes
    assert exporter.state.services.store.in_flight == 1
    metrics = await exporter.self_metrics()
    assert metrics[LOOKUPS % "refreshed_ahead"] == 1
    assert metrics[LOOKUPS % "cached"] == 20
    # The cached answer expires while the refresh is still held: no probe gets it now.
    exporter.clock.advance(15)
    waiting = asyncio.create_task(age_of(exporter, 10002))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not waiting.done()
    gate.set()
    assert await waiting == 0  # the refreshed answer, joined in flight
    assert simulator.total_calls == 2
    metrics = await exporter.self_metrics()
    assert metrics[LOOKUPS % "coalesced"] == 1
    assert await age_of(exporter, 10003) < 1  # the new answer is cached


async def test_refresh_ahead_off(make_exporter: ExporterFactory, simulator: Simulator) -> None:
    exporter = await make_exporter(cache_seconds="60", refresh_ahead="false")
    await age_of(exporter, 10000)
    exporter.clock.advance(59)
    assert await age_of(exporter, 10001) >= 59
    assert exporter.state.services.store.in_flight == 0  # a refresh would be in flight now
    assert simulator.total_calls == 1
    exporter.clock.advance(2)
    assert await age_of(exporter, 10001) == 0
    assert simulator.total_calls == 2


async def test_failed_refresh_keeps_serving_until_expiry(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(cache_seconds="60", retries="0")
    await age_of(exporter, 10000)
    simulator.add_fault(Fault("http_status", status=503))
    exporter.clock.advance(46)
    await age_of(exporter, 10000)  # starts the refresh, which fails
    await until(lambda: exporter.state.services.store.in_flight == 0)
    assert simulator.total_calls == 2
    for line in range(10):  # the old answer still serves; no refresh per probe
        assert await age_of(exporter, 10000 + line) >= 46
    assert simulator.total_calls == 2
    exporter.clock.advance(15)  # expired: the next probe tries CHAOS (backoff over) and fails
    got = await exporter.samples("target=10000&module=line")
    assert got["probe_success"] == 0
    assert simulator.total_calls == 3


async def test_a_slow_fetch_starts_the_refresh_earlier(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """The first fetch takes 20 s of the store's clock (held at CHAOS while the clock moves):
    the refresh then starts 40 s before expiry instead of 15, and the debug text says so."""
    exporter = await make_exporter(cache_seconds="60", timeout_seconds="30")
    gate = asyncio.Event()
    simulator.add_fault(Fault("gate", gate=gate, count=1))
    first = asyncio.create_task(age_of(exporter, 10000))
    await until(lambda: simulator.in_flight == 1)
    exporter.clock.advance(20)
    gate.set()
    assert await first == 0
    status, text = await exporter.probe("target=10000&module=line&debug=true")
    assert status == 200
    (answer,) = [line for line in text.splitlines() if 'msg="CHAOS answer"' in line]
    took = float(re.findall(r" fetch_seconds=([0-9.]+)", answer)[0])
    lead = float(re.findall(r" refresh_lead_seconds=([0-9.]+)", answer)[0])
    assert 20 <= took < 30
    assert lead == pytest.approx(2 * took, abs=0.002)
    exporter.clock.advance(59 - lead)  # a second before the lead: no refresh yet
    assert await age_of(exporter, 10001) >= 59 - lead
    assert (simulator.total_calls, exporter.state.services.store.in_flight) == (1, 0)
    exporter.clock.advance(1.1)  # within the lead, far from 75 % (45 s)
    assert await age_of(exporter, 10001) < 45
    await until(lambda: simulator.total_calls == 2)
    metrics = await exporter.self_metrics()
    assert metrics[LOOKUPS % "refreshed_ahead"] == 1
