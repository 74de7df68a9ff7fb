"""Fixtures of the simulator tests: a started simulator and a client that never reuses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import Simulator
from tests.simulator.support import make_accounts


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(make_accounts(), seed=1)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # A fresh connection per request: aiohttp silently retries an idempotent request once
    # when a *reused* keep-alive connection is dropped, which would hide the drop fault.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        yield s
