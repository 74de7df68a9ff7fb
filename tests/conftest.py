"""Shared harness: the simulator and the exporter as real servers on loopback sockets."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from aaisp_multi_exporter.chaos.snapshots import SnapshotStore
from aaisp_multi_exporter.config import Config, load_config, parse_config
from aaisp_multi_exporter.demo import tiers_text
from aaisp_multi_exporter.server.app import create_app
from aaisp_multi_exporter.server.state import ExporterState, build_state
from aaisp_multi_exporter.simulator import SimAccount, Simulator, generate_lines
from aaisp_multi_exporter.web.paths import ROOT, WebPaths

#: The event loop every async test runs on: ``asyncio`` (pytest-asyncio's default) or
#: ``uvloop`` (what the exporter runs on where it is installed). Tests marked ``both_loops``
#: run on both, whatever this says.
EVENT_LOOP_ENV = "AAISP_TEST_EVENT_LOOP"


def _loop_factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    try:
        import uvloop
    except ImportError:  # pragma: no cover - where uvloop cannot install
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A loop of the kind AAISP_TEST_EVENT_LOOP chooses, for servers run in a thread."""
    return _loop_factories()[os.environ.get(EVENT_LOOP_ENV, "asyncio")]()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio's hook: which loops an async test runs on."""
    factories = _loop_factories()
    if item.get_closest_marker("both_loops") is not None:
        return factories
    chosen = os.environ.get(EVENT_LOOP_ENV, "asyncio")
    if chosen not in factories:
        raise pytest.UsageError(f"{EVENT_LOOP_ENV}={chosen!r}: choose one of {sorted(factories)}")
    return {chosen: factories[chosen]}


#: Appears nowhere but in credentials; tests assert it never leaks.
SENTINEL = "S3NTINEL-pa55-do-not-leak"
HOME_LOGIN = "home@a"
OTHER_LOGIN = "other@a"
HOME_ACCOUNT = "A1000A"


def config_text(url: str, *, password: str = SENTINEL, extra: str = "", **module: str) -> str:
    """A config with credential sets ``home`` and ``other`` and modules ``quota`` and ``line``.

    ``module`` entries are appended to both module tables (e.g. ``cache_seconds="0"``).
    """
    tiers = tiers_text("home", **{"timeout_seconds": "5", "retries": "2", **module})
    return f"""
[chaos]
url = "{url}"

[auths.home]
control_login = "{HOME_LOGIN}"
control_password = "{password}"

[auths.other]
control_login = "{OTHER_LOGIN}"
control_password = "other-password"

{tiers}
{extra}
"""


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    home = SimAccount(
        HOME_LOGIN,
        SENTINEL,
        generate_lines(40, start_id=10000),
        account_number=HOME_ACCOUNT,
        account_password=SENTINEL + "-account",
    )
    other = SimAccount(OTHER_LOGIN, "other-password", generate_lines(5, start_id=20000))
    sim = Simulator([home, other], seed=1)
    await sim.start()
    yield sim
    await sim.stop()


class OffsetClock:
    """The store's monotonic clock, which a test can move forward past a cache period or a
    failure backoff instead of sleeping through it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Exporter:
    """A running exporter and a session to talk to it."""

    state: ExporterState
    server: TestServer
    http: aiohttp.ClientSession
    clock: OffsetClock

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def get(
        self, path: str, *, headers: dict[str, str] | None = None
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(self.url + path, headers=headers) as response:
            return response.status, await response.text(), response

    async def probe(self, query: str, **kwargs: dict[str, str]) -> tuple[int, str]:
        status, text, _ = await self.get(f"/probe?{query}", **kwargs)
        return status, text

    async def samples(self, query: str) -> dict[str, float]:
        status, text = await self.probe(query)
        assert status == 200, text
        return samples(text)

    async def self_metrics(self) -> dict[str, float]:
        status, text, _ = await self.get("/metrics")
        assert status == 200
        return samples(text)


def samples(text: str) -> dict[str, float]:
    """Exposition text to ``name{a="b",...}`` -> value, labels sorted."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


ExporterFactory = Callable[..., Awaitable[Exporter]]


@pytest.fixture
async def make_exporter(simulator: Simulator) -> AsyncIterator[ExporterFactory]:
    """Start an exporter on a real port against the simulator; config from ``config_text``."""
    started: list[tuple[TestServer, aiohttp.ClientSession]] = []

    async def start(
        text: str | None = None,
        *,
        timeout_offset: float = 0.5,
        max_requests: int = 40,
        path: Path | list[Path] | None = None,
        paths: WebPaths = ROOT,
        **module: str,
    ) -> Exporter:
        body = text if text is not None else config_text(simulator.url, **module)

        def loader() -> Config:
            if path is not None:
                return load_config(path)
            return parse_config(body, source="test.toml")

        clock = OffsetClock()
        state = build_state(
            loader,
            timeout_offset=timeout_offset,
            max_requests=max_requests,
            store=SnapshotStore(clock=clock),
        )
        state.reload()
        server = TestServer(create_app(state, paths=paths))
        await server.start_server()
        http = aiohttp.ClientSession()
        started.append((server, http))
        return Exporter(state=state, server=server, http=http, clock=clock)

    yield start
    for server, http in started:
        await http.close()
        await server.close()  # the app's cleanup closes the store and the CHAOS session


@pytest.fixture
async def exporter(make_exporter: ExporterFactory) -> Exporter:
    return await make_exporter()
