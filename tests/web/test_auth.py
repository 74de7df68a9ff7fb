"""Basic auth (``web/auth.py``): every endpoint closed, bcrypt cached and off the loop.

The exporter runs as a real server on loopback (TLS where the test needs it); clients send
real ``Authorization`` headers over sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
import trustme

from aaisp_multi_exporter.simulator import Simulator
from aaisp_multi_exporter.web.auth import parse_basic_authorization
from tests.conftest import SENTINEL, config_text
from tests.web.support import (
    PASSWORD,
    REPO,
    Secured,
    SecuredFactory,
    basic,
    client_context,
    fetch,
    hash_password,
    tls_yaml,
    users_yaml,
    write_leaf,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic YWxpY2U6c2VjcmV0", ("alice", b"secret")),
        ("basic   YWxpY2U6c2VjOnJldA==", ("alice", b"sec:ret")),
        ("Basic OnNlY3JldA==", ("", b"secret")),
        ("Basic YWxpY2U=", None),  # no colon
        ("Basic not-base64!", None),
        ("Bearer YWxpY2U6c2VjcmV0", None),
        ("Basic", None),
        ("", None),
        (None, None),
        ("Basic /w==", None),  # no colon, not UTF-8
        (" Basic YWxpY2U6c2VjcmV0 ", ("alice", b"secret")),
        ("Basic YWxp Y2U6c2VjcmV0", None),  # a space inside the token
        ("Basic\tYWxpY2U6c2VjcmV0", None),  # only spaces separate the scheme
        ("Basic em/Dqzpww6Rzc3fDtnJk", ("zoë", "pässwörd".encode())),  # UTF-8 both
        ("Basic YWw6//4=", ("al", b"\xff\xfe")),  # password bytes kept as sent
        ("Basic /zp4", None),  # user name not UTF-8
        ("Basic YWxpY2U6w6k=", ("alice", "é".encode())),
        ("Basic 6Z2e", None),  # no colon
        ("Basic YWxpY2U6", ("alice", b"")),
    ],
)
def test_parse_basic_authorization(header: str | None, expected: tuple[str, bytes] | None) -> None:
    assert parse_basic_authorization(header) == expected


#: (method, path, status when authorised); every one must be closed without credentials.
ENDPOINTS = [
    ("GET", "/", 200),
    ("GET", "/metrics", 200),
    ("GET", "/probe?target=10001&module=line", 200),
    ("GET", "/probe?target=10001&module=line&debug=true", 200),
    ("GET", "/config", 200),
    ("GET", "/discover", 200),
    ("GET", "/logs?id=1", None),
    ("GET", "/-/healthy", 200),
    ("GET", "/-/ready", 200),
    ("GET", "/health", 200),
    ("POST", "/-/reload", 200),
    ("GET", "/-/reload", 405),
    ("GET", "/no-such-page", 404),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path, _ in ENDPOINTS]


@pytest.fixture
async def auth_server(secured: SecuredFactory, server_files: tuple[Path, Path]) -> Secured:
    users = {"prometheus": hash_password(PASSWORD), "grafana": hash_password("other")}
    return await secured(tls_yaml(*server_files) + users_yaml(users))


FAILURES: dict[str, dict[str, str]] = {
    "no-header": {},
    "wrong-password": {"Authorization": basic("prometheus", "guess")},
    "unknown-user": {"Authorization": basic("nobody", PASSWORD)},
    "other-users-password": {"Authorization": basic("grafana", PASSWORD)},
    "empty-password": {"Authorization": basic("prometheus", "")},
    "not-basic": {"Authorization": f"Bearer {PASSWORD}"},
    "malformed": {"Authorization": "Basic !!!"},
    "password-too-long": {"Authorization": basic("prometheus", "x" * 80)},
}


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize(("method", "path", "_status"), ENDPOINTS, ids=ENDPOINT_IDS)
async def test_every_endpoint_needs_basic_auth(
    auth_server: Secured,
    ca: trustme.CA,
    method: str,
    path: str,
    _status: int | None,
    failure: str,
) -> None:
    reply = await fetch(
        auth_server.url + path,
        ssl_context=client_context(ca),
        method=method,
        headers=FAILURES[failure],
    )
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="aaisp-multi-exporter"'
    assert reply.text == "Unauthorized\n"


@pytest.mark.parametrize(("method", "path", "status"), ENDPOINTS, ids=ENDPOINT_IDS)
async def test_every_endpoint_opens_with_the_right_password(
    auth_server: Secured, ca: trustme.CA, method: str, path: str, status: int | None
) -> None:
    reply = await fetch(
        auth_server.url + path,
        ssl_context=client_context(ca),
        method=method,
        auth=("prometheus", PASSWORD),
    )
    if status is None:
        assert reply.status != 401
    else:
        assert reply.status == status, reply.text
    assert "WWW-Authenticate" not in reply.headers
    if path.startswith("/probe") and "debug" not in path:
        assert "probe_success 1.0" in reply.text
    for leak in (PASSWORD, SENTINEL):
        assert leak not in reply.text


async def test_basic_auth_without_tls(secured: SecuredFactory) -> None:
    server = await secured(users_yaml({"prometheus": hash_password(PASSWORD)}))
    assert server.url.startswith("http://")
    assert (await fetch(server.url + "/metrics")).status == 401
    reply = await fetch(server.url + "/metrics", auth=("prometheus", PASSWORD))
    assert reply.status == 200
    assert "aaisp_exporter_build_info" in reply.text


async def test_unicode_user_and_password(secured: SecuredFactory) -> None:
    server = await secured(users_yaml({"'zoë'": hash_password("pässwörd")}))
    assert (await fetch(server.url + "/-/healthy", auth=("zoë", "pässwörd"))).status == 200
    assert (await fetch(server.url + "/-/healthy", auth=("zoe", "pässwörd"))).status == 401


async def test_bcrypt_results_are_cached(secured: SecuredFactory) -> None:
    server = await secured(users_yaml({"prometheus": hash_password(PASSWORD)}))
    auth = server.auth
    for _ in range(3):
        assert (await fetch(server.url + "/-/healthy", auth=("prometheus", PASSWORD))).status == 200
    assert auth.bcrypt_checks == 1
    for _ in range(3):
        assert (await fetch(server.url + "/-/healthy", auth=("prometheus", "nope"))).status == 401
    assert auth.bcrypt_checks == 2
    # An unknown user still costs a bcrypt comparison (against the dummy hash).
    assert (await fetch(server.url + "/-/healthy", auth=("nobody", "nope"))).status == 401
    assert auth.bcrypt_checks == 3
    # A missing or malformed header needs no bcrypt at all.
    assert (await fetch(server.url + "/-/healthy")).status == 401
    assert auth.bcrypt_checks == 3


async def test_failure_cache_is_bounded(secured: SecuredFactory) -> None:
    server = await secured(users_yaml({"prometheus": hash_password(PASSWORD)}), denied_cache_size=2)
    for password in ("a", "b", "c"):
        await fetch(server.url + "/-/healthy", auth=("prometheus", password))
    assert server.auth.bcrypt_checks == 3
    # "a" was evicted by "c"; "c" is still cached.
    await fetch(server.url + "/-/healthy", auth=("prometheus", "c"))
    assert server.auth.bcrypt_checks == 3
    await fetch(server.url + "/-/healthy", auth=("prometheus", "a"))
    assert server.auth.bcrypt_checks == 4


async def test_failures_never_evict_a_cached_login(secured: SecuredFactory) -> None:
    """However many wrong passwords are cached, the good one stays: only logins enter it."""
    server = await secured(
        users_yaml({"prometheus": hash_password(PASSWORD)}),
        granted_cache_size=1,
        denied_cache_size=2,
    )
    url = server.url + "/-/healthy"
    assert (await fetch(url, auth=("prometheus", PASSWORD))).status == 200
    for n in range(5):
        assert (await fetch(url, auth=("prometheus", f"guess-{n}"))).status == 401
    assert (await fetch(url, auth=("prometheus", PASSWORD))).status == 200
    assert server.auth.bcrypt_matches == 1
    assert server.auth.bcrypt_checks == 6


async def test_login_cache_is_bounded(secured: SecuredFactory) -> None:
    server = await secured(
        users_yaml({"prometheus": hash_password(PASSWORD), "grafana": hash_password("other")}),
        granted_cache_size=1,
    )
    url = server.url + "/-/healthy"
    for user, password in [("prometheus", PASSWORD), ("grafana", "other")] * 2:
        assert (await fetch(url, auth=(user, password))).status == 200
    # Each login pushed the other out of a one-entry cache.
    assert server.auth.bcrypt_matches == 4


@pytest.mark.slow
@pytest.mark.parametrize(
    "rounds",
    [
        pytest.param(4, id="cheap-hash-churns-the-cache"),
        pytest.param(10, id="dear-hash-fills-the-queue"),
    ],
)
async def test_wrong_password_flood_never_refuses_the_real_user(
    secured: SecuredFactory, rounds: int
) -> None:
    """400 wrong passwords a second for five seconds, from another process, while the real
    user scrapes every second: the real user is never refused and its cached login never
    reaches the bcrypt queue. Latencies are printed (``-s``), not asserted.

    With a cheap hash every guess is checked, and hundreds of failures a second would push a
    shared cache's good entry out; with a dear one the queue is full and guesses get 503."""
    server = await secured(users_yaml({"prometheus": hash_password(PASSWORD, rounds=rounds)}))
    auth = server.auth
    url = server.url + "/probe?target=10001&module=line"
    assert (await fetch(url, auth=("prometheus", PASSWORD))).status == 200
    assert auth.bcrypt_matches == 1
    flood = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.authflood",
        server.url + "/probe?target=10001&module=line",
        "--rate",
        "400",
        "--seconds",
        "5",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert flood.stdout is not None
    try:
        async with asyncio.timeout(60):
            assert (await flood.stdout.readline()).strip() == b"started"
            statuses: list[int] = []
            latencies: list[float] = []
            loop = asyncio.get_running_loop()
            for _ in range(5):
                began = loop.time()
                statuses.append((await fetch(url, auth=("prometheus", PASSWORD))).status)
                latencies.append(loop.time() - began)
                await asyncio.sleep(max(0.0, 1.0 - (loop.time() - began)))
            report = json.loads(await flood.stdout.readline())
            assert await flood.wait() == 0
    finally:
        if flood.returncode is None:
            flood.kill()
            await flood.wait()
    answered = report["statuses"]
    assert set(answered) <= {"401", "503"}, answered
    assert sum(answered.values()) == report["requests"] + 200  # every one answered, none let in
    assert statuses == [200] * 5
    assert auth.bcrypt_matches == 1  # the real user's login came from the cache every time
    ordered = sorted(latencies)
    print(
        f"\nauth flood, cost {rounds}: {report['requests']} wrong passwords "
        f"in {report['seconds']:.1f} s "
        f"({answered}); bcrypt checks {auth.bcrypt_checks}, busy {auth.busy_refusals}; "
        f"real user p50 {ordered[len(ordered) // 2] * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )


async def test_bcrypt_runs_off_the_event_loop(secured: SecuredFactory) -> None:
    """A slow comparison (cost 13, ~0.4 s) does not hold up a request with cached credentials."""
    server = await secured(users_yaml({"prometheus": hash_password(PASSWORD, rounds=13)}))
    url = server.url + "/-/healthy"
    assert (await fetch(url, auth=("prometheus", PASSWORD))).status == 200  # now cached
    slow = asyncio.create_task(fetch(url, auth=("prometheus", "uncached guess")))
    await asyncio.sleep(0.1)  # the guess reaches the server and its bcrypt starts
    assert server.auth.bcrypt_checks == 2
    fast = await fetch(url, auth=("prometheus", PASSWORD))
    assert fast.status == 200
    assert not slow.done(), "the cached request should finish while bcrypt still runs"
    assert (await slow).status == 401


async def test_pending_bcrypt_checks_are_bounded(secured: SecuredFactory) -> None:
    server = await secured(
        users_yaml({"prometheus": hash_password(PASSWORD, rounds=12)})
        + "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
        max_pending_checks=1,
    )
    url = server.url + "/-/healthy"
    replies = await asyncio.gather(
        *(fetch(url, auth=("prometheus", f"guess-{n}")) for n in range(3))
    )
    statuses = sorted(reply.status for reply in replies)
    assert statuses[0] == 401
    assert 503 in statuses
    busy = next(reply for reply in replies if reply.status == 503)
    assert busy.headers["Retry-After"] == "1"
    assert busy.headers["X-Content-Type-Options"] == "nosniff"  # configured: on every answer


async def test_cli_serves_tls_and_basic_auth(
    simulator: Simulator, ca: trustme.CA, tmp_path: Path
) -> None:
    """The real entry point: flags parsed, context and middleware wired into the listener."""
    (tmp_path / "modules.toml").write_text(config_text(simulator.url))
    cert, key = write_leaf(ca.issue_cert("127.0.0.1"), tmp_path, "server")
    (tmp_path / "web.yml").write_text(
        tls_yaml(cert, key) + users_yaml({"prometheus": hash_password(PASSWORD)})
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aaisp_multi_exporter",
        "--web.config.file",
        str(tmp_path / "web.yml"),
        "--config.file",
        str(tmp_path / "modules.toml"),
        "--web.listen-address",
        "127.0.0.1:0",
        "--log.format",
        "json",
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    logged: list[str] = []
    try:
        async with asyncio.timeout(30):
            while True:
                line = (await process.stderr.readline()).decode()
                assert line, "".join(logged)
                logged.append(line)
                record = json.loads(line)
                if record["msg"] == "listening":
                    break
        assert record["tls"] is True
        assert record["basic_auth"] is True
        url = f"https://{record['addresses']}"
        trust = client_context(ca)
        assert (await fetch(url + "/metrics", ssl_context=trust)).status == 401
        reply = await fetch(
            url + "/probe?target=10001&module=line",
            ssl_context=trust,
            auth=("prometheus", PASSWORD),
        )
        assert reply.status == 200
        assert "probe_success 1.0" in reply.text
        with pytest.raises(aiohttp.ClientError):
            await fetch(url.replace("https", "http") + "/metrics")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest = (await process.stderr.read()).decode()
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = "".join(logged) + rest
    assert "Traceback" not in output
    for leak in (PASSWORD, SENTINEL):
        assert leak not in output


async def test_long_passwords_are_refused_not_truncated(secured: SecuredFactory) -> None:
    password = "p" * 72
    server = await secured(users_yaml({"prometheus": hash_password(password)}))
    url = server.url + "/-/healthy"
    assert (await fetch(url, auth=("prometheus", password))).status == 200
    assert (await fetch(url, auth=("prometheus", password + "anything"))).status == 401
