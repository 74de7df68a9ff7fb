"""Requests aiohttp cannot parse (``web/malformed.py``): each is a 400 and a count, and a flood
of them is a warning line per interval, never a traceback per request."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, LineTooLong

from aaisp_multi_exporter.obs.logs import record_fields
from aaisp_multi_exporter.web.malformed import MALFORMED, RequestErrorLog
from tests.conftest import SENTINEL, samples
from tests.processes import free_port
from tests.test_serve_web_flags import EXPORTER, started, tcp_get, wait_healthy

#: The rest of a request line, and headers that make aiohttp close after any answer.
HEAD = b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
#: One of each kind aiohttp refuses before any middleware sees the request.
MALFORMED_REQUESTS = {
    # The header's first bytes would be in aiohttp's message: a credential must not be.
    "oversized-header": b"GET /metrics"
    + HEAD
    + b"Authorization: Basic "
    + SENTINEL.encode() * 2000
    + b"\r\n\r\n",
    # aiohttp's limit is 128; 3.10's C parser does not enforce its own (a 200 there).
    "too-many-headers": b"GET /metrics"
    + HEAD
    + b"".join(b"X-%d: 1\r\n" % n for n in range(200))
    + b"\r\n",
    "100-kb-url": b"GET /probe?target=" + b"a" * 100_000 + HEAD + b"\r\n",
    "garbage-request-line": b"\x16\x03\x01\x02\x00 not http\r\n\r\n",
    "bad-version": b"GET / HTTP/9.9x\r\nHost: x\r\n\r\n",
    "bad-header-name": b"GET /" + HEAD + b"Bad Header: 1\r\n\r\n",
}
ROUNDS = 50


def send(port: int, request: bytes) -> bytes:
    """The request as raw bytes, and the whole answer (aiohttp closes after a 400, and
    after any answer to a request that says ``Connection: close``)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_a_flood_of_malformed_requests_is_counted_not_logged(tmp_path: Path) -> None:
    """Before: an error line with aiohttp's traceback per request (5,000 requests, 3 MB of
    log). Now: each is a 400 counted under reason="malformed_request", the log holds a
    warning per 10 s without the client's bytes, and the exporter serves on."""
    port = free_port()
    argv = [*EXPORTER, "--demo", f"--web.listen-address=127.0.0.1:{port}"]
    with started(argv, tmp_path) as exporter:
        get = tcp_get(f"http://127.0.0.1:{port}")
        wait_healthy(get, exporter)
        reason = f'aaisp_exporter_probe_requests_rejected_total{{reason="{MALFORMED}"}}'
        assert samples(get("/metrics")[1])[reason] == 0  # there before the first
        begun = time.monotonic()
        refused = 0
        for _ in range(ROUNDS):
            for name, request in MALFORMED_REQUESTS.items():
                answer = send(port, request)
                if name == "too-many-headers" and answer.startswith(b"HTTP/1.1 200 "):
                    continue  # aiohttp 3.10 (make test-lowest)
                assert re.match(rb"HTTP/1\.[01] 4\d\d ", answer), (name, answer[:100])
                refused += 1
        elapsed = time.monotonic() - begun
        assert refused >= ROUNDS * (len(MALFORMED_REQUESTS) - 1)
        status, text = get("/metrics")
        assert status == 200
        assert samples(text)[reason] == refused
        assert get("/probe?target=10000&module=line")[0] == 200
        assert exporter.stop() == 0
    log = exporter.text()
    assert "Traceback" not in log
    assert "aiohttp.server" not in log
    assert SENTINEL not in log
    assert "aaaaaaaa" not in log
    warnings = [line for line in log.splitlines() if f"reason={MALFORMED}" in line]
    # One line per 10 s (the first at once), whatever the number of requests.
    assert 1 <= len(warnings) <= 1 + int(elapsed // 10) + 1, warnings
    assert 'msg="request rejected" status=400' in warnings[0]


class Clock:
    """Time that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> Iterator[list[logging.LogRecord]]:
    handler = Collect()
    loggers = [logging.getLogger("aiohttp.server"), logging.getLogger("aaisp_multi_exporter")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler.records
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def raised(error: Exception) -> Exception:
    """``error`` with a traceback, as aiohttp hands it over."""
    try:
        raise error
    except Exception as caught:
        return caught


@pytest.mark.parametrize(
    "error",
    [
        LineTooLong("x" * 100, "8190"),
        BadHttpMessage("Too many headers received"),
        BadStatusLine("\\x16\\x03"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_malformed_requests_are_counted_and_logged_once_per_interval(
    collected: list[logging.LogRecord], error: Exception
) -> None:
    """As aiohttp calls it (``exception`` at error, ``debug`` for a first bad method): one
    warning without a traceback, then silence with a count until the interval ends."""
    clock = Clock()
    counted: list[int] = []
    log = RequestErrorLog(lambda: counted.append(1), interval=10.0, clock=clock)
    log.exception("Error handling request from %s", "127.0.0.1", exc_info=raised(error))
    log.debug("Error handling request from %s", "127.0.0.1", exc_info=raised(error))
    log.exception("Error handling request", exc_info=raised(error))
    clock.now += 10.0
    log.exception("Error handling request", exc_info=raised(error))
    assert len(counted) == 4
    assert [(r.name, r.levelname, r.exc_info) for r in collected] == [
        ("aaisp_multi_exporter.rejections", "WARNING", None),
        ("aaisp_multi_exporter.rejections", "WARNING", None),
    ]
    assert [record_fields(r)["suppressed"] for r in collected] == [0, 2]
    assert (
        record_fields(collected[0])["error"]
        == f"aiohttp could not parse it ({type(error).__name__})"
    )
    assert "x" * 20 not in str(record_fields(collected[0]))


def test_other_errors_keep_their_traceback_rate_limited(
    collected: list[logging.LogRecord],
) -> None:
    """An error that is not the client's (an exporter bug) is still logged with its
    traceback, once per interval with a count, and lower levels pass untouched."""
    clock = Clock()
    counted: list[int] = []
    log = RequestErrorLog(lambda: counted.append(1), interval=10.0, clock=clock)
    for _ in range(3):
        log.exception("Error handling request", exc_info=raised(RuntimeError("bug")))
    clock.now += 10.0
    log.exception("Error handling request", exc_info=raised(RuntimeError("bug")))
    log.debug("Ignored premature client disconnection")
    assert counted == []
    shown = [(r.name, r.levelname, r.getMessage()) for r in collected]
    assert shown == [
        ("aiohttp.server", "ERROR", "Error handling request"),
        ("aiohttp.server", "ERROR", "Error handling request"),
        ("aiohttp.server", "DEBUG", "Ignored premature client disconnection"),
    ]
    assert collected[0].exc_info is not None
    assert isinstance(collected[0].exc_info[1], RuntimeError)
    assert "suppressed" not in record_fields(collected[0])
    assert record_fields(collected[1])["suppressed"] == 2
