"""Hypothesis against the running servers: no query string or header yields a 500, no CHAOS
reply shape (lone surrogates included) crashes a probe or a page.

The exporter and the simulator run on their own event loop in a thread, so hypothesis drives
them with plain blocking HTTP over real sockets, one example after another.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aaisp_multi_exporter.chaos.snapshots import SnapshotStore
from aaisp_multi_exporter.config import Config, parse_config
from aaisp_multi_exporter.probe.exposition import FORMATS
from aaisp_multi_exporter.server.app import create_app
from aaisp_multi_exporter.server.state import build_state
from aaisp_multi_exporter.simulator import Fault, SimAccount, Simulator, generate_lines
from tests.conftest import (
    HOME_LOGIN,
    SENTINEL,
    OffsetClock,
    config_text,
    new_event_loop,
    samples,
)

T = TypeVar("T")
PATHS = [
    "/",
    "/probe",
    "/metrics",
    "/discover",
    "/config",
    "/logs",
    "/health",
    "/-/healthy",
    "/-/ready",
    "/-/reload",
    "/nope",
]
KEYS = ["target", "module", "auth", "debug", "id", "x"]


@dataclass
class Live:
    loop: asyncio.AbstractEventLoop
    simulator: Simulator
    port: int
    clock: OffsetClock

    def run(self, coroutine: Coroutine[object, object, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def get(self, path_and_query: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", path_and_query, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def head(self, path_and_query: str, headers: dict[str, str]) -> tuple[int, str]:
        """A GET's status and Content-Type, the body read and dropped."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", path_and_query, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status, response.getheader("Content-Type", "")
        finally:
            connection.close()


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    loop = new_event_loop()
    clock = OffsetClock()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[Simulator, web.AppRunner, int]:
        simulator = Simulator([SimAccount(HOME_LOGIN, SENTINEL, generate_lines(20))])
        await simulator.start()
        text = config_text(simulator.url, cache_seconds="0", retries="0", timeout_seconds="2")

        def loader() -> Config:
            return parse_config(text, source="fuzz.toml")

        state = build_state(loader, store=SnapshotStore(clock=clock))
        state.reload()
        runner = web.AppRunner(create_app(state))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(addr[1] for addr in runner.addresses if isinstance(addr, tuple))
        return simulator, runner, port

    simulator, runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    try:
        yield Live(loop, simulator, port, clock)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        asyncio.run_coroutine_threadsafe(simulator.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


values = st.one_of(
    st.sampled_from(
        [
            "10001",
            "10002",
            "line",
            "quota",
            "quota,line",
            "home",
            "other",
            "true",
            "false",
            "1",
            "",
            ",",
            "99999",
        ]
    ),
    st.text(max_size=80),
    # Long digit strings and other edge numbers: past int conversion limits, 64 bits, floats.
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.sampled_from(["-1", "1e308", "1e999", "nan", "inf", "-0", "0x10", "1_000", " 7 "]),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(PATHS),
    params=st.lists(
        st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), values), max_size=6
    ),
)
def test_no_query_string_yields_a_500(live: Live, path: str, params: list[tuple[str, str]]) -> None:
    status, body = live.get(f"{path}?{urlencode(params)}")
    # 503s the contract names: a probe beyond the limit, a set that never answered discovery.
    named = ("too many probes", "has never answered discovery")
    assert status < 500 or (status == 503 and any(text in body for text in named)), (status, body)
    assert SENTINEL not in body


header_values = st.one_of(
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.sampled_from(["-1", "0", "1e308", "1e999", "nan", "inf", "0.0001", "abc", "", "10"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=header_values)
def test_no_timeout_header_yields_a_500(live: Live, value: str) -> None:
    status, body = live.get(
        "/probe?target=10001&module=line", {"X-Prometheus-Scrape-Timeout-Seconds": value}
    )
    assert status in (200, 400), (status, body)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.text(max_size=120))
def test_raw_query_bytes_never_yield_a_500(live: Live, raw: str) -> None:
    status, _ = live.get("/probe?" + quote(raw, safe="=&%+"))
    assert status < 500


#: Any code point, lone surrogates included (hypothesis leaves them out by default): JSON
#: escapes them, and a reply may carry them (docs/design.md, "Text from CHAOS").
any_text = st.text(st.characters(exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
line_like = st.dictionaries(
    st.sampled_from(
        [
            "ID",
            "id",
            "login",
            "postcode",
            "tx_rate",
            "rx_rate",
            "tx_rate_adjusted",
            "quota_monthly",
            "quota_remaining",
            "quota_timestamp",
            "Tx-Rate",
        ]
    ),
    st.one_of(
        st.sampled_from(["10001", "0", "-1", "18881390851534", "2024-07-31 10:00:00"]), json_values
    ),
    max_size=9,
)
replies = st.one_of(
    json_values,
    st.fixed_dictionaries({"info": st.lists(st.one_of(line_like, json_values), max_size=5)}),
    st.fixed_dictionaries({"info": json_values}),
    st.fixed_dictionaries({"error": json_values}),
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reply=replies)
def test_no_reply_shape_crashes_a_probe(live: Live, reply: object) -> None:
    async def inject() -> None:
        live.simulator.clear_faults()
        live.simulator.add_fault(Fault("body", body=reply))
        live.clock.advance(3600)  # past the last example's shared failure

    live.run(inject())
    status, body = live.get("/probe?target=10001&module=line")
    assert status == 200, body
    got = samples(body)
    assert got["probe_success"] in (0.0, 1.0)
    status, body = live.get("/probe?target=10001&module=line&debug=true")
    assert status == 200, body
    for path in ("/", "/logs?target=10001", "/discover"):
        status, body = live.get(path)
        assert status in (200, 503), (path, status, body)


#: Header values http.client can send: Latin-1 without control characters.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
)
media_ranges = st.lists(
    st.tuples(
        st.sampled_from(
            ["text/plain", "application/openmetrics-text", "*/*", "text/*", "image/png", ""]
        ),
        st.lists(
            st.tuples(
                st.sampled_from(["version", "escaping", "q", "charset", "x"]),
                st.one_of(
                    st.sampled_from(
                        ["0.0.4", "1.0.0", "0.0.1", "2.0.0", "abc", "1.x", "0", "0.5", "1", "-1"]
                    ),
                    st.sampled_from(["underscores", "allow-utf-8", "dots", "values", "nope"]),
                    header_text,
                ),
            ),
            max_size=3,
        ),
    ),
    max_size=4,
).map(lambda ranges: ",".join(t + "".join(f";{k}={v}" for k, v in ps) for t, ps in ranges))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/probe?target=10001&module=line", "/metrics"]),
    accept=st.one_of(media_ranges, header_text),
    accept_encoding=st.one_of(
        st.sampled_from(["gzip", "gzip;q=0", "*", "*;q=0", "identity", "br, gzip;q=0.5"]),
        header_text,
    ),
)
def test_no_accept_header_yields_a_500(
    live: Live, path: str, accept: str, accept_encoding: str
) -> None:
    """Negotiation never fails, and the Content-Type is one of the exporter's
    fixed strings, never text from the request."""
    status, content_type = live.head(path, {"Accept": accept, "Accept-Encoding": accept_encoding})
    assert status == 200
    assert content_type in {fmt.content_type for fmt in FORMATS}


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(PATHS),
    headers=st.dictionaries(
        st.one_of(
            st.sampled_from(
                ["Accept", "Accept-Encoding", "Authorization", "X-Forwarded-For", "Cookie"]
            ),
            st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
        ),
        header_text,
        max_size=4,
    ),
)
def test_no_header_yields_a_500(live: Live, path: str, headers: dict[str, str]) -> None:
    status, body = live.get(path, headers)
    assert status != 500, body


def test_injected_reply_reaches_the_probe(live: Live) -> None:
    """Guards the fuzz test above: the simulator really serves the generated document."""

    async def inject() -> None:
        live.simulator.clear_faults()
        live.simulator.add_fault(Fault("body", body={"info": [{"ID": "10001", "rx_rate": "7"}]}))
        live.clock.advance(3600)

    live.run(inject())
    got = samples(live.get("/probe?target=10001&module=line")[1])
    assert got["probe_success"] == 1
    assert got["aaisp_broadband_line_sync_upload_bytes_per_second"] == 7 / 8
    live.run(inject())
    assert samples(live.get("/probe?target=10002&module=line")[1])["probe_success"] == 0
