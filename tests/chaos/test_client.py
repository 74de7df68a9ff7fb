"""The CHAOS client: Retry-After parsing, and the client's retries, refusals, deadlines and
per-credential-set limits against the simulator over real sockets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from aaisp_multi_exporter.chaos.client import (
    ChaosClient,
    RawReply,
    make_session,
    parse_retry_after,
    post_once,
)
from aaisp_multi_exporter.chaos.commands import BUILTIN
from aaisp_multi_exporter.chaos.errors import ChaosError, Outcome
from aaisp_multi_exporter.chaos.proxy import Proxy
from aaisp_multi_exporter.chaos.replies import Reply
from aaisp_multi_exporter.config import AuthConfig, parse_config
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import HOME_LOGIN, SENTINEL

INFO = "broadband/info"
QUOTA = "broadband/quota"

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("3", 3.0, id="seconds"),
        pytest.param(" 0 ", 0.0, id="zero"),
        pytest.param("Tue, 14 Nov 2023 22:13:25 GMT", 5.0, id="http-date"),
        pytest.param("Tue, 14 Nov 2023 22:13:00 GMT", 0.0, id="date-in-past"),
        pytest.param("-1", None, id="negative"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("1.5", None, id="fraction-not-allowed"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


# --------------------------------------------------------------------------- the client itself
# The real client against the simulator over loopback; what it tells (its CallLog) and counts
# (its CallMetrics) is recorded by plain collaborators, the thing under test is not mocked.


@dataclass
class Told:
    """A CallLog and CallMetrics that keep what the client told them."""

    lines: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    #: How each call ended, after its retries: (auth, command, success).
    calls: list[tuple[str, str, bool]] = field(default_factory=list)

    def debug(self, message: str, **fields: object) -> None:
        self.lines.append((message, fields))

    def chaos_request_done(self, auth: str, command: str, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        assert auth == "home"
        self.requests.append((command, outcome))

    def chaos_retried(self, command: str) -> None:
        self.retries.append(command)

    def chaos_call_done(self, auth: str, command: str, success: bool) -> None:
        self.calls.append((auth, command, success))


@pytest.fixture
async def client_told(simulator: Simulator) -> AsyncIterator[tuple[ChaosClient, Told]]:
    told = Told()
    client = ChaosClient(told)
    await client.open()
    yield client, told
    await client.close()


def home(simulator: Simulator, max_concurrency: int = 4) -> AuthConfig:
    config = parse_config(
        f"""
[chaos]
url = "{simulator.url}"

[auths.home]
control_login = "{HOME_LOGIN}"
control_password = "{SENTINEL}"
max_concurrency = {max_concurrency}

[modules.line]
commands = ["{INFO}"]
""",
        source="test.toml",
    )
    return config.auths["home"]


async def fetch(
    client: ChaosClient,
    simulator: Simulator,
    told: Told,
    *,
    retries: int = 2,
    within: float = 5.0,
    auth: AuthConfig | None = None,
    service: str | None = None,
) -> Reply:
    deadline = asyncio.get_running_loop().time() + within
    return await client.fetch(
        simulator.url,
        BUILTIN[INFO],
        auth or home(simulator),
        service=service,
        retries=retries,
        deadline=deadline,
        log=told,
    )


async def test_an_answer(simulator: Simulator, client_told: tuple[ChaosClient, Told]) -> None:
    client, told = client_told
    reply = await fetch(client, simulator, told)
    assert len(reply.lines) == 40
    assert told.requests == [(INFO, "ok")]
    assert told.retries == []
    assert told.calls == [("home", INFO, True)]
    assert [message for message, _ in told.lines] == ["CHAOS answered"]


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        pytest.param(Fault("http_status", status=503, count=2), "http_error", id="5xx"),
        pytest.param(Fault("drop", count=2), "transport_error", id="dropped"),
        pytest.param(Fault("html", count=2), "invalid_response", id="not-json"),
        pytest.param(Fault("truncated", count=2), "invalid_response", id="cut-json"),
    ],
)
async def test_transient_failures_are_retried(
    simulator: Simulator, client_told: tuple[ChaosClient, Told], fault: Fault, outcome: str
) -> None:
    client, told = client_told
    simulator.add_fault(fault)
    reply = await fetch(client, simulator, told, retries=2)
    assert len(reply.lines) == 40
    assert told.requests == [(INFO, outcome), (INFO, outcome), (INFO, "ok")]
    assert told.retries == [INFO, INFO]
    # One call, however many attempts: it succeeded in the end.
    assert told.calls == [("home", INFO, True)]
    assert simulator.total_calls == 3


async def test_retries_end_with_the_last_failure(
    simulator: Simulator, client_told: tuple[ChaosClient, Told]
) -> None:
    client, told = client_told
    simulator.add_fault(Fault("http_status", status=500))
    with pytest.raises(ChaosError) as caught:
        await fetch(client, simulator, told, retries=1)
    assert caught.value.outcome is Outcome.HTTP_ERROR
    assert str(caught.value) == f"CHAOS answered HTTP 500 ({INFO})"
    assert simulator.total_calls == 2
    assert told.calls == [("home", INFO, False)]


@pytest.mark.parametrize("status", [200, 403, 500])
async def test_a_refusal_is_never_retried_whatever_its_status(
    simulator: Simulator, client_told: tuple[ChaosClient, Told], status: int
) -> None:
    client, told = client_told
    simulator.add_fault(Fault("error", error_text="Login locked", reply_status=status))
    with pytest.raises(ChaosError) as caught:
        await fetch(client, simulator, told, retries=5)
    assert caught.value.outcome is Outcome.AUTH_ERROR
    assert not caught.value.retryable
    assert simulator.total_calls == 1
    assert told.retries == []
    assert told.calls == [("home", INFO, False)]
    assert SENTINEL not in str(caught.value)


async def test_retry_after_is_honoured(
    simulator: Simulator, client_told: tuple[ChaosClient, Told]
) -> None:
    client, told = client_told
    simulator.add_fault(Fault("http_status", status=429, retry_after="1", count=1))
    started = time.perf_counter()
    await fetch(client, simulator, told, retries=1)
    assert time.perf_counter() - started >= 1.0  # never sooner than CHAOS asked
    assert told.requests == [(INFO, "http_error"), (INFO, "ok")]


async def test_no_attempt_runs_past_the_deadline(
    simulator: Simulator, client_told: tuple[ChaosClient, Told]
) -> None:
    client, told = client_told
    simulator.add_fault(Fault("latency", latency_seconds=5))
    started = time.perf_counter()
    with pytest.raises(ChaosError) as caught:
        await fetch(client, simulator, told, retries=3, within=0.3)
    assert time.perf_counter() - started < 3  # well before the simulator's 5 s
    assert caught.value.outcome is Outcome.TIMEOUT
    assert simulator.total_calls == 1  # no retry could start before the deadline
    assert told.requests == [(INFO, "timeout")]
    assert told.calls == [("home", INFO, False)]


async def test_a_call_stopped_is_neither_success_nor_failure(
    simulator: Simulator, client_told: tuple[ChaosClient, Told]
) -> None:
    """A reload or shutdown stops a call (it is cancelled): it got no answer, so ``chaos_up``
    is not told either way; its attempt still counts."""
    client, told = client_told
    gate = asyncio.Event()
    simulator.add_fault(Fault("gate", gate=gate))
    call = asyncio.create_task(fetch(client, simulator, told))
    for _ in range(500):
        if simulator.in_flight == 1:
            break
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    gate.set()
    assert told.calls == []
    assert told.requests == [(INFO, "timeout")]


async def test_concurrency_is_limited_per_credential_set(
    simulator: Simulator, client_told: tuple[ChaosClient, Told]
) -> None:
    client, told = client_told
    gate = asyncio.Event()
    simulator.add_fault(Fault("gate", gate=gate))
    auth = home(simulator, max_concurrency=2)
    calls = [
        asyncio.create_task(fetch(client, simulator, told, auth=auth, service=str(10000 + n)))
        for n in range(5)
    ]
    for _ in range(500):
        if simulator.in_flight == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert simulator.in_flight == 2
    gate.set()
    await asyncio.gather(*calls)
    assert simulator.peak_in_flight == 2
    assert any(message == "waited for a CHAOS slot" for message, _ in told.lines)


# -- post_once: the diagnostics' one call --------------------------------------------------------


async def test_post_once_returns_the_raw_reply_whatever_its_status(simulator: Simulator) -> None:
    simulator.add_fault(Fault("http_status", status=503, command=QUOTA))
    async with make_session() as session:
        info = await post_once(
            session, simulator.url, INFO, home(simulator), proxy=None, timeout_seconds=5
        )
        quota = await post_once(
            session, simulator.url, QUOTA, home(simulator), proxy=None, timeout_seconds=5
        )
    assert (info.status, info.ok, info.status_line) == (200, True, "HTTP 200 OK")
    assert len(json.loads(info.body.decode(info.charset or "utf-8"))["info"]) == 40
    assert (quota.status, quota.ok) == (503, False)
    assert quota.status_line == "HTTP 503 Service Unavailable"
    # Once: no retry, whatever the status.
    assert simulator.calls[(HOME_LOGIN, INFO, "")] == 1
    assert simulator.calls[(HOME_LOGIN, QUOTA, "")] == 1


@pytest.mark.parametrize(
    ("status", "line"),
    [(200, "HTTP 200 OK"), (407, "HTTP 407 Proxy Authentication Required"), (599, "HTTP 599")],
)
def test_a_raw_reply_names_its_status(status: int, line: str) -> None:
    assert RawReply(status, None, b"").status_line == line


async def test_post_once_caps_the_reply(simulator: Simulator) -> None:
    async with make_session() as session:
        with pytest.raises(ChaosError) as raised:
            await post_once(
                session,
                simulator.url,
                INFO,
                home(simulator),
                proxy=None,
                timeout_seconds=5,
                limit=100,
            )
    assert raised.value.outcome is Outcome.INVALID_RESPONSE
    assert str(raised.value) == "reply larger than 100 bytes"


@pytest.mark.parametrize(
    ("proxy", "reason"),
    [
        pytest.param(
            Proxy("http://127.0.0.1:9", "HTTPS_PROXY", problem="HTTPS_PROXY is not a URL"),
            "cannot reach CHAOS: HTTPS_PROXY is not a URL",
            id="unusable",
        ),
        pytest.param(
            Proxy("http://127.0.0.1:9", "HTTPS_PROXY"),
            "cannot reach CHAOS through proxy http://127.0.0.1:9 (from HTTPS_PROXY): ",
            id="unreachable",
        ),
    ],
)
async def test_post_once_names_the_proxy_it_could_not_use(
    simulator: Simulator, proxy: Proxy, reason: str
) -> None:
    async with make_session() as session:
        with pytest.raises(ChaosError) as raised:
            await post_once(
                session, simulator.url, INFO, home(simulator), proxy=proxy, timeout_seconds=5
            )
    assert raised.value.outcome is Outcome.TRANSPORT_ERROR
    assert str(raised.value).startswith(reason)
    assert SENTINEL not in str(raised.value)
    assert simulator.calls[(HOME_LOGIN, INFO, "")] == 0
