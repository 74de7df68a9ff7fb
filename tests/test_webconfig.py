"""``--web.config.file``: the exporter as a real TLS server on loopback, clients over sockets.

Certificates come from a throwaway ``trustme`` CA; bcrypt hashes use cost 4 unless a test is
about bcrypt's cost. Invalid files are table-driven with their exact messages, as in
``test_config.py``: the wording is part of the operator-facing contract.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import trustme
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from aaisp_multi_exporter.app import create_app
from aaisp_multi_exporter.config import Config, parse_config
from aaisp_multi_exporter.simulator import Simulator
from aaisp_multi_exporter.state import build_state
from aaisp_multi_exporter.webconfig import (
    WebConfigError,
    WebConfigWatcher,
    load_web_config,
    parse_basic_authorization,
    server_ssl_context,
    web_config_middleware,
)
from tests.conftest import SENTINEL, config_text

#: The basic-auth password of the tests; like SENTINEL it must never appear in any output.
PASSWORD = "W3B-S3NTINEL-basic-auth-pw"
REPO = Path(__file__).resolve().parent.parent
CLIENT_AUTH_TYPES = (
    "NoClientCert, RequestClientCert, RequireAnyClientCert, "
    "VerifyClientCertIfGiven, RequireAndVerifyClientCert"
)
ALLOWED_HEADERS = (
    "Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, "
    "X-Frame-Options, X-XSS-Protection"
)


def hash_password(password: str, rounds: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def write_leaf(cert: trustme.LeafCert, directory: Path, name: str) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key_path.write_bytes(cert.private_key_pem.bytes())
    return cert_path, key_path


def users_yaml(users: dict[str, str]) -> str:
    lines = "".join(f"  {name}: {hashed}\n" for name, hashed in users.items())
    return f"basic_auth_users:\n{lines}" if users else ""


def tls_yaml(cert: Path, key: Path, /, **settings: str) -> str:
    lines = "".join(f"  {name}: {value}\n" for name, value in settings.items())
    return f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n{lines}"


def client_context(
    ca: trustme.CA | None,
    *,
    cert: trustme.LeafCert | None = None,
    max_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca is not None:
        ca.configure_trust(context)
    if cert is not None:
        cert.configure_cert(context)
    if max_version is not None:
        context.maximum_version = max_version
    return context


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Reply:
    status: int
    text: str
    headers: dict[str, str]


async def fetch(
    url: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    auth: tuple[str, str] | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request on a fresh connection, so every request does its own TLS handshake."""
    connector = aiohttp.TCPConnector(force_close=True, ssl=ssl_context or False)
    headers = dict(headers or {})
    if auth is not None:
        headers["Authorization"] = basic(*auth)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(method, url, headers=headers) as response,
    ):
        return Reply(response.status, await response.text(), dict(response.headers))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def other_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    return write_leaf(ca.issue_cert("127.0.0.1", "localhost"), tmp_path, "server")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "client-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@dataclass
class Secured:
    """An exporter served with a web config, like ``cli.serve`` does it."""

    watcher: WebConfigWatcher
    url: str
    path: Path

    def write(self, text: str) -> None:
        self.path.write_text(text)


SecuredFactory = Callable[..., Awaitable[Secured]]


@pytest.fixture
async def secured(simulator: Simulator, tmp_path: Path) -> AsyncIterator[SecuredFactory]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def start(
        web_config: str,
        *,
        check_interval: float = 0.0,
        granted_cache_size: int = 100,
        denied_cache_size: int = 1000,
        max_pending_checks: int = 64,
    ) -> Secured:
        path = tmp_path / "web.yml"
        path.write_text(web_config)
        watcher = WebConfigWatcher(
            path,
            check_interval=check_interval,
            granted_cache_size=granted_cache_size,
            denied_cache_size=denied_cache_size,
            max_pending_checks=max_pending_checks,
        )
        body = config_text(simulator.url)

        def loader() -> Config:
            return parse_config(body, source="test.toml")

        state = build_state(loader)
        state.reload()
        app = create_app(state, middlewares=[web_config_middleware(watcher)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        context = server_ssl_context(watcher)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = next(addr[1] for addr in runner.addresses if isinstance(addr, tuple))

        async def stop() -> None:
            await runner.cleanup()
            watcher.close()

        cleanups.append(stop)
        scheme = "https" if context is not None else "http"
        return Secured(watcher=watcher, url=f"{scheme}://127.0.0.1:{port}", path=path)

    yield start
    for stop in cleanups:
        await stop()


# --------------------------------------------------------------------------- invalid files

#: (id, web.yml text, exact problems). ``{dir}`` is the folder of web.yml and the PEM files
#: below, ``{file}`` the web.yml path, ``{hash}`` a valid bcrypt hash of PASSWORD.
INVALID: list[tuple[str, str | bytes, list[str]]] = [
    ("top-level-unknown", "tls_config: {}\n", ["{file}: tls_config: unknown key"]),
    (
        "top-level-list",
        "- basic_auth_users\n",
        ["{file}: expected a mapping at the top level, got list"],
    ),
    ("not-utf8", b"basic_auth_users:\n  \xff: x\n", ["{file}: not valid UTF-8 (at byte 20)"]),
    (
        "rate-limit",
        "rate_limit:\n  interval: 1s\n  burst: 5\n",
        ["{file}: rate_limit: not supported by aaisp-multi-exporter"],
    ),
    (
        "tls-unknown-and-unsupported-keys",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        "  cert_fil: x\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  key: inline\n"
        "  client_allowed_sans: [a]\n",
        [
            "{file}: tls_server_config.cert_fil: unknown key",
            "{file}: tls_server_config.cipher_suites: not supported by aaisp-multi-exporter; "
            "the OpenSSL defaults apply",
            "{file}: tls_server_config.key: not supported by aaisp-multi-exporter; use key_file",
            "{file}: tls_server_config.client_allowed_sans: not supported by aaisp-multi-exporter",
        ],
    ),
    (
        "tls-not-a-mapping",
        "tls_server_config: server.pem\n",
        ['{file}: tls_server_config: expected a mapping, got string "server.pem"'],
    ),
    (
        "tls-without-cert-and-key",
        "tls_server_config:\n  min_version: TLS13\n",
        [
            "{file}: tls_server_config.cert_file: required when tls_server_config is set",
            "{file}: tls_server_config.key_file: required when tls_server_config is set",
        ],
    ),
    (
        "tls-file-types",
        "tls_server_config:\n  cert_file: 5\n  key_file: ''\n",
        [
            "{file}: tls_server_config.cert_file: expected a string, got integer 5",
            "{file}: tls_server_config.key_file: must not be empty",
        ],
    ),
    (
        "tls-files-missing",
        "tls_server_config:\n  cert_file: nope.pem\n  key_file: /nonexistent/aaisp/key.pem\n",
        [
            '{file}: tls_server_config.cert_file: cannot read "{dir}/nope.pem": '
            "No such file or directory",
            '{file}: tls_server_config.key_file: cannot read "/nonexistent/aaisp/key.pem": '
            "No such file or directory",
        ],
    ),
    (
        "tls-not-regular-files",
        "tls_server_config:\n  cert_file: .\n  key_file: /dev/null\n",
        [
            '{file}: tls_server_config.cert_file: "{dir}" is not a regular file',
            '{file}: tls_server_config.key_file: "/dev/null" is not a regular file',
        ],
    ),
    (
        "tls-not-pem",
        "tls_server_config:\n  cert_file: garbage.pem\n  key_file: server.pem\n",
        [
            '{file}: tls_server_config.cert_file: no PEM certificate in "{dir}/garbage.pem"',
            '{file}: tls_server_config.key_file: no PEM private key in "{dir}/server.pem"',
        ],
    ),
    (
        "tls-key-mismatch",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: other-key.pem\n",
        [
            '{file}: tls_server_config.key_file: "{dir}/other-key.pem" does not match '
            'cert_file "{dir}/server.pem"',
        ],
    ),
    (
        "tls-encrypted-key",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: encrypted-key.pem\n",
        [
            '{file}: tls_server_config.key_file: "{dir}/encrypted-key.pem" is encrypted; '
            "give an unencrypted key",
        ],
    ),
    (
        "tls-client-auth-unknown",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        "  client_auth_type: RequireClientCerts\n",
        [
            "{file}: tls_server_config.client_auth_type: unknown value "
            f'"RequireClientCerts"; known: {CLIENT_AUTH_TYPES}',
        ],
    ),
    *(
        (
            f"tls-{auth_type}-without-ca",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
            f"  client_auth_type: {auth_type}\n",
            [
                f"{{file}}: tls_server_config.client_auth_type: {auth_type} needs "
                "client_ca_file (the CA that signs client certificates)",
            ],
        )
        for auth_type in (
            "RequireAndVerifyClientCert",
            "VerifyClientCertIfGiven",
            "RequireAnyClientCert",
        )
    ),
    (
        "tls-ca-without-client-auth",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        "  client_ca_file: client-ca.pem\n",
        [
            "{file}: tls_server_config.client_ca_file: set, but client_auth_type is "
            "NoClientCert; use RequireAndVerifyClientCert to check client certificates",
        ],
    ),
    (
        "tls-ca-not-pem",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server-key.pem\n",
        [
            "{file}: tls_server_config.client_ca_file: no PEM certificate in "
            '"{dir}/server-key.pem"',
        ],
    ),
    (
        "tls-versions",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        "  min_version: TLS11\n  max_version: TLS14\n  prefer_server_cipher_suites: 'no'\n",
        [
            "{file}: tls_server_config.min_version: TLS11 is not supported; use TLS12 or TLS13",
            '{file}: tls_server_config.max_version: unknown TLS version "TLS14"; '
            "use TLS12 or TLS13",
            "{file}: tls_server_config.prefer_server_cipher_suites: expected a boolean, "
            'got string "no"',
        ],
    ),
    (
        "tls-version-order",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        "  min_version: TLS13\n  max_version: TLS12\n",
        ["{file}: tls_server_config.max_version: TLS12 is below min_version TLS13"],
    ),
    (
        "tls-version-number",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        "  min_version: 1.2\n",
        ["{file}: tls_server_config.min_version: expected a string, got float 1.2"],
    ),
    (
        "headers",
        "http_server_config:\n  http2: maybe\n  h2: true\n  headers:\n"
        "    X-Powered-By: me\n    X-Frame-Options: allow\n"
        '    Content-Security-Policy: "a\\r\\nSet-Cookie: x"\n'
        "    X-XSS-Protection: 1\n",
        [
            "{file}: http_server_config.h2: unknown key",
            '{file}: http_server_config.http2: expected a boolean, got string "maybe"',
            '{file}: http_server_config.headers: header "X-Powered-By" cannot be configured; '
            f"allowed: {ALLOWED_HEADERS}",
            "{file}: http_server_config.headers.X-Frame-Options: must be one of deny, "
            'sameorigin, got "allow"',
            "{file}: http_server_config.headers.Content-Security-Policy: must not contain "
            "control characters",
            "{file}: http_server_config.headers.X-XSS-Protection: expected a string, got integer 1",
        ],
    ),
    (
        "users-not-a-mapping",
        "basic_auth_users:\n  - alice\n",
        ["{file}: basic_auth_users: expected a mapping, got list"],
    ),
    (
        # Values are never quoted: a hash, or a password pasted in by mistake.
        "users-bad-hashes",
        "basic_auth_users:\n"
        f"  alice: {PASSWORD}\n"
        f"  bob: $2y$10${PASSWORD}\n"
        "  carol: 12345\n"
        "  dave: [a, b]\n"
        "  'eve:admin': {hash}\n"
        "  '': {hash}\n"
        "  123: {hash}\n"
        "  fay: $2x$10$0123456789012345678901234567890123456789012345678901.\n"
        "  gus: $2b$03$0123456789012345678901234567890123456789012345678901.\n"
        "  good: {hash}\n",
        [
            "{file}: basic_auth_users.alice: not a bcrypt hash (want $2a$, $2b$ or $2y$, "
            "a two-digit cost and 53 more characters)",
            "{file}: basic_auth_users.bob: not a bcrypt hash (want $2a$, $2b$ or $2y$, "
            "a two-digit cost and 53 more characters)",
            "{file}: basic_auth_users.carol: expected a bcrypt hash, got integer",
            "{file}: basic_auth_users.dave: expected a bcrypt hash, got list",
            '{file}: basic_auth_users."eve:admin": user name must not contain ":" '
            "or control characters",
            '{file}: basic_auth_users."": user name must not be empty',
            "{file}: basic_auth_users: user names must be strings, got integer 123; quote it",
            "{file}: basic_auth_users.fay: not a bcrypt hash (want $2a$, $2b$ or $2y$, "
            "a two-digit cost and 53 more characters)",
            "{file}: basic_auth_users.gus: bcrypt cost must be between 4 and 31, got 3",
        ],
    ),
    (
        # PyYAML's own message quotes the line; ours gives only the position.
        "yaml-syntax-on-a-secret-line",
        f"basic_auth_users:\n  alice: {PASSWORD}: x\n",
        ["{file}: invalid YAML: mapping values are not allowed here (line 2, column 36)"],
    ),
    (
        "yaml-duplicate-user",
        "basic_auth_users:\n  alice: {hash}\n  alice: {hash}\n",
        ['{file}: invalid YAML: duplicate key "alice" (line 3, column 3)'],
    ),
    (
        "yaml-tab",
        "basic_auth_users:\n\talice: x\n",
        [
            "{file}: invalid YAML: found character '\\t' that cannot start any token "
            "(line 2, column 1)"
        ],
    ),
]


@pytest.fixture
def pem_dir(ca: trustme.CA, tmp_path: Path) -> Path:
    """server.pem + server-key.pem, a key that matches nothing, an encrypted key, junk."""
    write_leaf(ca.issue_cert("127.0.0.1"), tmp_path, "server")
    other = ca.issue_cert("other.example")
    (tmp_path / "other-key.pem").write_bytes(other.private_key_pem.bytes())
    key = serialization.load_pem_private_key(other.private_key_pem.bytes(), password=None)
    (tmp_path / "encrypted-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    ca.cert_pem.write_to_path(str(tmp_path / "client-ca.pem"))
    return tmp_path


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_web_config(pem_dir: Path, text: str | bytes, expected: list[str]) -> None:
    path = pem_dir / "web.yml"
    valid_hash = hash_password(PASSWORD)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text.replace("{hash}", valid_hash))
    with pytest.raises(WebConfigError) as info:
        load_web_config(path)
    want = [line.replace("{file}", str(path)).replace("{dir}", str(pem_dir)) for line in expected]
    assert info.value.problems == want
    assert str(info.value) == "\n".join(want)
    for leak in (PASSWORD, SENTINEL, valid_hash):
        assert leak not in str(info.value)


def test_unreadable_web_config(tmp_path: Path) -> None:
    path = tmp_path / "missing.yml"
    with pytest.raises(WebConfigError) as info:
        load_web_config(path)
    assert info.value.problems == [f"{path}: cannot read file: No such file or directory"]


def test_valid_web_config_loads(pem_dir: Path) -> None:
    hashed = hash_password(PASSWORD)
    path = pem_dir / "web.yml"
    path.write_text(
        "tls_server_config:\n"
        "  cert_file: server.pem\n"
        "  key_file: server-key.pem\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        "  client_ca_file: client-ca.pem\n"
        "  min_version: TLS13\n"
        "  max_version: TLS13\n"
        "  prefer_server_cipher_suites: false\n"
        "http_server_config:\n"
        "  http2: false\n"
        "  headers:\n"
        "    X-Frame-Options: deny\n"
        "    X-Content-Type-Options: nosniff\n"
        "    Strict-Transport-Security: ''\n"
        f"basic_auth_users:\n  alice: {hashed}\n  bob: '{hashed}'\n"
    )
    config = load_web_config(path)
    assert config.tls is not None
    assert config.tls.cert_file == pem_dir / "server.pem"
    assert config.tls.client_ca_file == pem_dir / "client-ca.pem"
    assert config.tls.min_version == config.tls.max_version == ssl.TLSVersion.TLSv1_3
    assert config.tls.verify_mode == ssl.CERT_REQUIRED
    assert config.tls.prefer_server_cipher_suites is False
    assert config.http2 is False
    # A blank header is unset, as exporter-toolkit documents.
    assert config.headers == (("X-Frame-Options", "deny"), ("X-Content-Type-Options", "nosniff"))
    assert sorted(config.users) == ["alice", "bob"]
    assert hashed not in repr(config)


def test_empty_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("# nothing configured\n")
    config = load_web_config(path)
    assert (config.tls, config.users, config.headers) == (None, {}, ())


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
    ],
)
def test_parse_basic_authorization(header: str | None, expected: tuple[str, bytes] | None) -> None:
    assert parse_basic_authorization(header) == expected


# --------------------------------------------------------------------------- TLS


async def test_tls_is_served_and_plain_http_refused(
    secured: SecuredFactory, ca: trustme.CA, other_ca: trustme.CA, server_files: tuple[Path, Path]
) -> None:
    server = await secured(tls_yaml(*server_files))
    assert server.url.startswith("https://")
    reply = await fetch(server.url + "/-/healthy", ssl_context=client_context(ca))
    assert (reply.status, reply.text) == (200, "Healthy\n")
    with pytest.raises(aiohttp.ClientError):
        await fetch(server.url.replace("https://", "http://") + "/-/healthy")
    # A client that does not trust the CA does not get through either.
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await fetch(server.url + "/-/healthy", ssl_context=client_context(other_ca))


async def negotiated_version(url: str, context: ssl.SSLContext) -> str | None:
    host, port = url.removeprefix("https://").split(":")
    _, writer = await asyncio.open_connection(host, int(port), ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.version() if ssl_object else None
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("settings", "client_max", "expected"),
    [
        ({}, None, "TLSv1.3"),
        ({}, ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
        ({"max_version": "TLS12"}, None, "TLSv1.2"),
        ({"min_version": "TLS13"}, None, "TLSv1.3"),
        ({"min_version": "TLS13"}, ssl.TLSVersion.TLSv1_2, None),
    ],
    ids=["default", "client-tls12", "server-max-tls12", "min-tls13", "min-tls13-client-tls12"],
)
async def test_tls_versions(
    secured: SecuredFactory,
    ca: trustme.CA,
    server_files: tuple[Path, Path],
    settings: dict[str, str],
    client_max: ssl.TLSVersion | None,
    expected: str | None,
) -> None:
    server = await secured(tls_yaml(*server_files, **settings))
    context = client_context(ca, max_version=client_max)
    if expected is None:
        # The server's protocol_version alert, or a reset: either way no connection.
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            await negotiated_version(server.url, context)
    else:
        assert await negotiated_version(server.url, context) == expected


@pytest.mark.parametrize(
    ("auth_type", "expected"),
    [
        ("RequireAndVerifyClientCert", {"none": False, "trusted": True, "untrusted": False}),
        ("RequireAnyClientCert", {"none": False, "trusted": True, "untrusted": False}),
        ("VerifyClientCertIfGiven", {"none": True, "trusted": True, "untrusted": False}),
        ("RequestClientCert", {"none": True, "trusted": True, "untrusted": False}),
        ("NoClientCert", {"none": True, "trusted": True, "untrusted": True}),
    ],
)
async def test_client_certificates(
    secured: SecuredFactory,
    ca: trustme.CA,
    other_ca: trustme.CA,
    server_files: tuple[Path, Path],
    ca_file: Path,
    auth_type: str,
    expected: dict[str, bool],
) -> None:
    settings = {"client_auth_type": auth_type}
    if auth_type != "NoClientCert":
        settings["client_ca_file"] = str(ca_file)
    server = await secured(tls_yaml(*server_files, **settings))
    clients = {
        "none": client_context(ca),
        "trusted": client_context(ca, cert=ca.issue_cert("prometheus@example.net")),
        "untrusted": client_context(ca, cert=other_ca.issue_cert("mallory@example.net")),
    }
    for name, context in clients.items():
        if expected[name]:
            reply = await fetch(server.url + "/-/healthy", ssl_context=context)
            assert reply.status == 200, name
        else:
            with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
                await fetch(server.url + "/-/healthy", ssl_context=context)


# --------------------------------------------------------------------------- basic auth

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


async def test_configured_headers_on_every_answer(secured: SecuredFactory) -> None:
    server = await secured(
        users_yaml({"prometheus": hash_password(PASSWORD)}) + "http_server_config:\n  headers:\n"
        "    X-Frame-Options: deny\n    Content-Security-Policy: default-src 'none'\n"
    )
    want = {"X-Frame-Options": "deny", "Content-Security-Policy": "default-src 'none'"}
    answers = [
        await fetch(server.url + "/-/healthy", auth=("prometheus", PASSWORD)),
        await fetch(server.url + "/-/healthy"),  # 401
        await fetch(server.url + "/nowhere", auth=("prometheus", PASSWORD)),  # 404
        await fetch(server.url + "/probe?target=bad!", auth=("prometheus", PASSWORD)),  # 400
    ]
    assert [reply.status for reply in answers] == [200, 401, 404, 400]
    for reply in answers:
        assert {name: reply.headers.get(name) for name in want} == want


async def test_bcrypt_results_are_cached(secured: SecuredFactory) -> None:
    server = await secured(users_yaml({"prometheus": hash_password(PASSWORD)}))
    watcher = server.watcher
    for _ in range(3):
        assert (await fetch(server.url + "/-/healthy", auth=("prometheus", PASSWORD))).status == 200
    assert watcher.bcrypt_checks == 1
    for _ in range(3):
        assert (await fetch(server.url + "/-/healthy", auth=("prometheus", "nope"))).status == 401
    assert watcher.bcrypt_checks == 2
    # An unknown user still costs a bcrypt comparison (against the dummy hash).
    assert (await fetch(server.url + "/-/healthy", auth=("nobody", "nope"))).status == 401
    assert watcher.bcrypt_checks == 3
    # A missing or malformed header needs no bcrypt at all.
    assert (await fetch(server.url + "/-/healthy")).status == 401
    assert watcher.bcrypt_checks == 3


async def test_failure_cache_is_bounded(secured: SecuredFactory) -> None:
    server = await secured(users_yaml({"prometheus": hash_password(PASSWORD)}), denied_cache_size=2)
    for password in ("a", "b", "c"):
        await fetch(server.url + "/-/healthy", auth=("prometheus", password))
    assert server.watcher.bcrypt_checks == 3
    # "a" was evicted by "c"; "c" is still cached.
    await fetch(server.url + "/-/healthy", auth=("prometheus", "c"))
    assert server.watcher.bcrypt_checks == 3
    await fetch(server.url + "/-/healthy", auth=("prometheus", "a"))
    assert server.watcher.bcrypt_checks == 4


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
    assert server.watcher.bcrypt_matches == 1
    assert server.watcher.bcrypt_checks == 6


async def test_login_cache_is_bounded(secured: SecuredFactory) -> None:
    server = await secured(
        users_yaml({"prometheus": hash_password(PASSWORD), "grafana": hash_password("other")}),
        granted_cache_size=1,
    )
    url = server.url + "/-/healthy"
    for user, password in [("prometheus", PASSWORD), ("grafana", "other")] * 2:
        assert (await fetch(url, auth=(user, password))).status == 200
    # Each login pushed the other out of a one-entry cache.
    assert server.watcher.bcrypt_matches == 4


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
    watcher = server.watcher
    url = server.url + "/probe?target=10001&module=line"
    assert (await fetch(url, auth=("prometheus", PASSWORD))).status == 200
    assert watcher.bcrypt_matches == 1
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
    assert watcher.bcrypt_matches == 1  # the real user's login came from the cache every time
    ordered = sorted(latencies)
    print(
        f"\nauth flood, cost {rounds}: {report['requests']} wrong passwords "
        f"in {report['seconds']:.1f} s "
        f"({answered}); bcrypt checks {watcher.bcrypt_checks}, busy {watcher.busy_refusals}; "
        f"real user p50 {ordered[len(ordered) // 2] * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )


def test_dummy_hash_has_the_users_cost(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(
        users_yaml(
            {
                "a": hash_password("x", rounds=5),
                "b": hash_password("y", rounds=5),
                "c": hash_password("z"),
            }
        )
    )
    config = load_web_config(path)
    assert config.dummy_hash.startswith(b"$2b$05$")
    assert config.dummy_hash not in config.users.values()


async def test_bcrypt_runs_off_the_event_loop(secured: SecuredFactory) -> None:
    """A slow comparison (cost 13, ~0.4 s) does not hold up a request with cached credentials."""
    server = await secured(users_yaml({"prometheus": hash_password(PASSWORD, rounds=13)}))
    url = server.url + "/-/healthy"
    assert (await fetch(url, auth=("prometheus", PASSWORD))).status == 200  # now cached
    slow = asyncio.create_task(fetch(url, auth=("prometheus", "uncached guess")))
    await asyncio.sleep(0.1)  # the guess reaches the server and its bcrypt starts
    assert server.watcher.bcrypt_checks == 2
    fast = await fetch(url, auth=("prometheus", PASSWORD))
    assert fast.status == 200
    assert not slow.done(), "the cached request should finish while bcrypt still runs"
    assert (await slow).status == 401


async def test_pending_bcrypt_checks_are_bounded(secured: SecuredFactory) -> None:
    server = await secured(
        users_yaml({"prometheus": hash_password(PASSWORD, rounds=12)}), max_pending_checks=1
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


# --------------------------------------------------------------------------- reloading


async def test_users_change_without_restart(
    secured: SecuredFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    alice_hash, bob_hash = hash_password(PASSWORD), hash_password("bobs-password")
    server = await secured(users_yaml({"alice": alice_hash}))
    url = server.url + "/metrics"
    assert (await fetch(url, auth=("alice", PASSWORD))).status == 200
    assert (await fetch(url, auth=("bob", "bobs-password"))).status == 401

    server.write(users_yaml({"bob": bob_hash}))
    assert (await fetch(url, auth=("bob", "bobs-password"))).status == 200
    assert (await fetch(url, auth=("alice", PASSWORD))).status == 401
    assert "web config reloaded" in caplog.messages

    # A broken file is logged once and the last good one stays in force.
    caplog.clear()
    server.write(f"basic_auth_users:\n  bob: {PASSWORD}\n")
    for _ in range(3):
        assert (await fetch(url, auth=("bob", "bobs-password"))).status == 200
    failures = [r for r in caplog.records if r.getMessage().startswith("web config reload failed")]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert failures[0].__dict__["fields"]["error"] == (
        f"{server.path}: basic_auth_users.bob: not a bcrypt hash "
        "(want $2a$, $2b$ or $2y$, a two-digit cost and 53 more characters)"
    )

    # Removing basic_auth_users opens the exporter again, as exporter-toolkit does.
    server.write("")
    assert (await fetch(url)).status == 200
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for leak in (PASSWORD, SENTINEL, "bobs-password", alice_hash, bob_hash):
        assert leak not in logged


async def test_file_is_checked_at_most_once_per_interval(tmp_path: Path) -> None:
    now = [100.0]
    path = tmp_path / "web.yml"
    path.write_text(users_yaml({"alice": hash_password(PASSWORD)}))
    watcher = WebConfigWatcher(path, check_interval=1.0, clock=lambda: now[0])
    try:
        assert sorted((await watcher.current()).users) == ["alice"]
        path.write_text(users_yaml({"bob": hash_password(PASSWORD)}))
        now[0] += 0.5
        assert sorted((await watcher.current()).users) == ["alice"]
        now[0] += 0.5
        assert sorted((await watcher.current()).users) == ["bob"]
    finally:
        watcher.close()


async def test_certificate_rotation_without_restart(
    secured: SecuredFactory,
    ca: trustme.CA,
    other_ca: trustme.CA,
    server_files: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    cert_path, key_path = server_files
    server = await secured(tls_yaml(cert_path, key_path))
    old_trust, new_trust = client_context(ca), client_context(other_ca)
    assert (await fetch(server.url + "/-/healthy", ssl_context=old_trust)).status == 200

    # Same file names, new certificate from another CA (what a renewal job does).
    rotated = other_ca.issue_cert("127.0.0.1")
    cert_path.write_bytes(b"".join(blob.bytes() for blob in rotated.cert_chain_pems))
    key_path.write_bytes(rotated.private_key_pem.bytes())
    # The next request notices the change; new connections then get the new certificate.
    await fetch(server.url + "/-/healthy", ssl_context=old_trust)
    assert "TLS certificate reloaded" in caplog.messages
    assert (await fetch(server.url + "/-/healthy", ssl_context=new_trust)).status == 200
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await fetch(server.url + "/-/healthy", ssl_context=old_trust)


async def test_broken_certificate_keeps_the_running_one(
    secured: SecuredFactory,
    ca: trustme.CA,
    other_ca: trustme.CA,
    server_files: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cert_path, key_path = server_files
    server = await secured(tls_yaml(cert_path, key_path))
    trust = client_context(ca)
    # Half a renewal: the new certificate is there, its key is not yet.
    cert_path.write_bytes(
        b"".join(blob.bytes() for blob in other_ca.issue_cert("127.0.0.1").cert_chain_pems)
    )
    for _ in range(2):
        assert (await fetch(server.url + "/-/healthy", ssl_context=trust)).status == 200
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "web config reload failed; keeping the last good one"
    ]
    assert errors[0].__dict__["fields"]["error"] == (
        f'{server.path}: tls_server_config.key_file: "{key_path}" does not match '
        f'cert_file "{cert_path}"'
    )


async def test_tls_setting_changes_wait_for_a_restart(
    secured: SecuredFactory,
    ca: trustme.CA,
    server_files: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await secured(tls_yaml(*server_files))
    server.write(
        tls_yaml(*server_files, min_version="TLS13")
        + users_yaml({"alice": hash_password(PASSWORD)})
    )
    # Basic auth from the new file applies at once...
    reply = await fetch(server.url + "/-/healthy", ssl_context=client_context(ca))
    assert reply.status == 401
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "TLS settings changed that need a restart; the running ones stay"
    ]
    assert warnings[0].__dict__["fields"]["changed"] == "min_version"
    # ...while the listener keeps its TLS 1.2 floor.
    context = client_context(ca, max_version=ssl.TLSVersion.TLSv1_2)
    assert await negotiated_version(server.url, context) == "TLSv1.2"


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def exporter_files(tmp_path: Path) -> Path:
    (tmp_path / "modules.toml").write_text(config_text("http://127.0.0.1:9"))
    return tmp_path


def test_cli_refuses_a_bad_web_config(exporter_files: Path) -> None:
    web_yml = exporter_files / "web.yml"
    web_yml.write_text(f"basic_auth_users:\n  alice: {PASSWORD}\nrate_limit: {{}}\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aaisp_multi_exporter",
            "--web.config.file",
            str(web_yml),
            "--config.file",
            str(exporter_files / "modules.toml"),
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[:2] == [
        f"{web_yml}: rate_limit: not supported by aaisp-multi-exporter",
        f"{web_yml}: basic_auth_users.alice: not a bcrypt hash "
        "(want $2a$, $2b$ or $2y$, a two-digit cost and 53 more characters)",
    ]
    assert "invalid --web.config.file; not starting" in lines[2]
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
    assert done.stdout == ""


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


def test_documented_example_loads(pem_dir: Path) -> None:
    doc = (REPO / "docs" / "web-config.md").read_text()
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    for name, local in (
        ("/etc/aaisp-exporter/tls/server.crt", "server.pem"),
        ("/etc/aaisp-exporter/tls/server.key", "server-key.pem"),
        ("/etc/aaisp-exporter/tls/clients-ca.crt", "client-ca.pem"),
    ):
        assert name in example
        example = example.replace(name, local)
    path = pem_dir / "web.yml"
    path.write_text(example)
    config = load_web_config(path)
    assert config.tls is not None
    assert config.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert list(config.users) == ["prometheus"]
    assert dict(config.headers)["X-Frame-Options"] == "deny"
