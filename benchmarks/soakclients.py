"""The clients of ``make soak``: steady probes, hostile requests, slow connections.

Each is a loop bounded by a deadline, on the soak's one event loop, recording into the
``Tally`` of the current window (``Load.tally``, swapped when a window closes). Steady
requests are what Prometheus and an operator send: every answer must be the expected status,
complete, in time. Hostile requests go over raw sockets, so their bytes are exactly as written:
a malformed one may be answered with a 4xx or closed, a well-formed one must be answered; none
may get a 5xx.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from benchmarks.soakconfig import MODULE_AUTH, PHONES, account_lines

#: How long any one request may take before it counts as unanswered: the probes' own
#: deadline is 4.5 s (the scrape timeout they send, less the exporter's offset).
ANSWER_SECONDS = 30.0
SCRAPE_TIMEOUT = "5"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
#: How many examples of each kind of failure are kept for the report (counts are exact).
EXAMPLES = 3


@dataclass
class Tally:
    """What one window saw: answers by kind and status, probe latencies, failures."""

    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    reloads: Counter[str] = field(default_factory=Counter)
    slow: Counter[str] = field(default_factory=Counter)

    def fail(self, reason: str, example: str) -> None:
        self.failures[reason] += 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < EXAMPLES:
            kept.append(example[:300])


@dataclass
class Load:
    """Where the clients send and record; ``tally`` is the current window's."""

    host: str
    port: int
    #: When every loop stops (``time.monotonic()``); set to 0 to stop them early.
    until: float = 0.0
    tally: Tally = field(default_factory=Tally)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Request:
    """One steady request: the statuses it may get, and whether its body is a probe's."""

    kind: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    expected: frozenset[int] = frozenset({200})
    #: ``text``, ``openmetrics`` or ``""`` (not checked)
    body: str = ""


def _probe(rng: random.Random) -> Request:
    module = rng.choice(["line", "quota", "both", "phones", "line,quota"])
    auth = MODULE_AUTH[module.split(",")[0]]
    query = f"module={module}"
    if rng.random() < 0.1:  # another credential set than the module's, named in the query
        auth = rng.choice(sorted(set(MODULE_AUTH.values())))
        query += f"&auth={auth}"
    targets = PHONES if module == "phones" else account_lines(auth)
    target = "99999" if rng.random() < 0.05 else rng.choice(targets)
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": SCRAPE_TIMEOUT}
    roll = rng.random()
    if roll < 0.3:
        return Request(
            "probe openmetrics",
            f"/probe?{query}&target={target}",
            headers | {"Accept": OPENMETRICS},
            body="openmetrics",
        )
    if roll < 0.4:
        return Request("probe debug", f"/probe?{query}&target={target}&debug=true", headers)
    return Request("probe text", f"/probe?{query}&target={target}", headers, body="text")


#: Every other endpoint, with the statuses SPEC gives it (``/discover?auth=`` is 503 while that
#: credential set has never answered; ``/logs`` 404 for a target the history does not hold).
OTHERS = [
    Request("discover", "/discover"),
    Request("discover auth", "/discover?auth=b", expected=frozenset({200, 503})),
    Request("discover module", "/discover?module=phones"),
    Request("landing page", "/"),
    Request("logs", "/logs?target=10001", expected=frozenset({200, 404})),
    Request("metrics", "/metrics"),
    Request("health", "/health"),
    Request("config", "/config"),
]


def storm_probe(rng: random.Random) -> Request:
    """A probe sent with a reload: its answer must come from the old configuration or the
    new, never a closed connection."""
    probe = _probe(rng)
    return Request(
        f"probe with a reload ({probe.kind[6:]})",
        probe.path,
        probe.headers,
        probe.expected,
        probe.body,
    )


def steady_request(rng: random.Random) -> Request:
    """Four probes in five; the rest spread over the other endpoints."""
    return _probe(rng) if rng.random() < 0.8 else rng.choice(OTHERS)


def check_body(request: Request, status: int, body: bytes) -> str:
    """Why a complete answer is wrong, or ``""``."""
    if status not in request.expected:
        return f"status {status}"
    if status == 503 and b"has never answered discovery" not in body:
        return "503 without the never-answered reason"
    if status == 200 and request.body == "text" and b"probe_success " not in body:
        return "a 200 probe answer without probe_success"
    if status == 200 and request.body == "openmetrics" and not body.endswith(b"# EOF\n"):
        return "an OpenMetrics answer without its # EOF"
    return ""


async def send(session: aiohttp.ClientSession, load: Load, request: Request) -> None:
    """One steady request, its outcome recorded; every failure named with its request."""
    started = time.monotonic()
    try:
        async with session.get(load.base_url + request.path, headers=request.headers) as answer:
            status, body = answer.status, await answer.read()
    except TimeoutError:
        outcome, problem = "timeout", f"no answer in {ANSWER_SECONDS:.0f} s"
    except aiohttp.ClientError as error:
        outcome, problem = "closed", f"connection closed, no answer ({type(error).__name__})"
    else:
        outcome, problem = str(status), check_body(request, status, body)
        if status >= 500 and problem:
            problem = f"5xx: {problem}"
    elapsed = time.monotonic() - started
    tally = load.tally
    tally.answers[(request.kind, outcome)] += 1
    if request.kind.startswith("probe"):
        tally.latencies.append(elapsed)
    if problem:
        reason = (
            problem
            if outcome in ("timeout", "closed") or problem.startswith("5xx")
            else (f"unexpected answer: {problem}")
        )
        tally.fail(reason.split(" (")[0], f"{request.kind} {request.path[:120]}: {problem}")


async def steady(load: Load, rate: float, workers: int, seed: int) -> None:
    """``rate`` requests per second from ``workers`` loops, each paced, until ``load.until``."""
    rng = random.Random(seed)  # a repeatable mix
    timeout = aiohttp.ClientTimeout(total=ANSWER_SECONDS)
    # A fresh connection per request: a keep-alive connection the server closes while idle
    # would fail the next request for a reason that is not the exporter's.
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def worker(offset: float) -> None:
            interval = workers / rate
            await asyncio.sleep(offset * interval)
            while time.monotonic() < load.until:
                started = time.monotonic()
                await send(session, load, steady_request(rng))
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

        await asyncio.gather(*(worker(i / workers) for i in range(workers)))


def _get(path: str, *headers: str, method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: soak", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


PAD = "&pad=" + "a" * 6000
#: Well-formed requests, oddly shaped: each must be answered, with a status below 500.
ANSWERED: dict[str, list[bytes]] = {
    "long query": [_get(f"/probe?module=line&target=10000{PAD}"), _get(f"/logs?target=1{PAD}")],
    "many parameters": [_get("/probe?module=line&target=10000" + "&x=1" * 1500)],
    "repeated parameters": [_get("/probe?module=line&module=quota&target=10000&target=10001")],
    "odd targets": [
        _get(path)
        for path in (
            "/probe?module=line&target=%00",
            "/probe?module=line&target=..%2F..%2Fetc%2Fpasswd",
            "/probe?module=phones&target=caf%C3%A9",
            "/probe?module=line&target=" + "9" * 65,
            "/probe?module=line%00&target=10000",
            "/probe?module=&target=10000&debug=maybe",
            "/logs?id=" + "9" * 5000,
            "/discover?auth=" + "%ff" * 100,
            "/discover?module=nothing&module=phones",
        )
    ],
    "odd Accept": [
        _get("/probe?module=line&target=10000", f"Accept: {accept}")
        for accept in (
            "application/openmetrics-text; version=9.9.9",
            "application/openmetrics-text;q=0.5, text/plain;q=abc",
            "*/*;q=0",
            ", , ;; ,",
            "text/plain; version=0.0.4; escaping=values",
            "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8",
            "text/" + "x" * 4000,
            "image/png",
        )
    ],
    "odd Accept-Encoding": [
        _get("/metrics", f"Accept-Encoding: {encoding}")
        for encoding in (
            "gzip;q=2",
            "br, zstd, deflate",
            "*;q=0",
            "identity;q=0",
            "gzip, gzip, gzip",
            "x" * 4000,
        )
    ],
    "other methods": [
        _get("/probe?module=line&target=10000", method="DELETE"),
        _get("/probe?module=line&target=10000", method="HEAD"),
        _get("/-/reload"),
    ],
}
#: Malformed requests: a 4xx, or the connection closed, are both right answers.
MALFORMED: dict[str, list[bytes]] = {
    "100 KB URL": [_get("/probe?module=line&target=10000&pad=" + "a" * 100_000)],
    "oversized header": [_get("/", "X-Pad: " + "a" * 20_000)],
    "too many headers": [_get("/", *(f"X-H{i}: v" for i in range(300)))],
    "garbage request line": [
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)),
        b"HELLO WORLD\r\n\r\n",
        b"GET / HTTP/7.3\r\nHost: soak\r\n\r\n",
        b"GET /probe?target=\x00\xff HTTP/1.1\r\nHost: soak\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: soak\r\nNo colon here\r\n\r\n",
        b"GET /\r\n\r\n",
    ],
    "bad body framing": [
        b"POST /probe HTTP/1.1\r\nHost: soak\r\nContent-Length: -1\r\n\r\n",
        b"POST /probe HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /probe HTTP/1.1\r\nHost: soak\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    ],
}


async def exchange(load: Load, payload: bytes) -> str:
    """Send ``payload`` and read to the end: the answer's status, ``closed`` (no byte back),
    ``reset`` or ``timeout``. At most 4 MB is read; the rest is the server's to drop."""
    writer = None
    try:
        reader, writer = await asyncio.open_connection(load.host, load.port)
        writer.write(payload)
        await writer.drain()
        head = await asyncio.wait_for(reader.read(4096), ANSWER_SECONDS)
        received = len(head)
        while received < 4_000_000 and (chunk := await asyncio.wait_for(reader.read(65536), 10)):
            received += len(chunk)
    except TimeoutError:
        return "timeout"
    except OSError:
        return "reset"
    finally:
        if writer is not None:
            writer.close()
    if not head:
        return "closed"
    parts = head.split(b" ", 2)
    return parts[1].decode("latin-1") if head.startswith(b"HTTP/") and len(parts) > 1 else "garbage"


async def hostile(load: Load, interval: float, seed: int) -> None:
    """One hostile request every ``interval`` seconds, well-formed or not, in turn."""
    rng = random.Random(seed)  # a repeatable mix
    while time.monotonic() < load.until:
        well_formed = rng.random() < 0.5
        table = ANSWERED if well_formed else MALFORMED
        kind = rng.choice(sorted(table))
        payload = rng.choice(table[kind])
        outcome = await exchange(load, payload)
        load.tally.answers[(f"hostile: {kind}", outcome)] += 1
        if outcome.isdigit() and int(outcome) >= 500:
            load.tally.fail(f"5xx: hostile {kind}", f"{payload[:100]!r}: {outcome}")
        elif well_formed and not outcome.isdigit():
            load.tally.fail(f"hostile {kind}: no answer", f"{payload[:100]!r}: {outcome}")
        await asyncio.sleep(interval)


async def slow_client(load: Load, held_limit: float, trickle: bool) -> None:
    """Slowloris: open a connection and send a request head a line a second (``trickle``) or
    nothing; the server must close it by its header deadline. A connection still open after
    ``held_limit`` seconds is a failure; then the next one starts."""
    while time.monotonic() < load.until:
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(load.host, load.port)
        except OSError:
            load.tally.slow["refused"] += 1
            await asyncio.sleep(1.0)
            continue
        outcome = "held"
        try:
            if trickle:
                writer.write(b"GET /probe?module=line&target=10000 HTTP/1.1\r\nHost: soak\r\n")
            while time.monotonic() - started < held_limit and time.monotonic() < load.until:
                if trickle:
                    writer.write(b"X-Slow: 1\r\n")
                    await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(4096), 1.0)
                except TimeoutError:
                    continue
                outcome = "answered" if data else "closed by the exporter"
                break
            else:
                if time.monotonic() >= load.until:
                    outcome = "ended by the soak"
        except OSError:
            outcome = "closed by the exporter"
        finally:
            writer.close()
        load.tally.slow[outcome] += 1
        if outcome == "held":
            load.tally.fail(
                "slow connection held past its header deadline",
                f"{'trickling' if trickle else 'silent'} connection open {held_limit:.0f} s",
            )
