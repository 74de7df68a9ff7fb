"""Shared by the web tests: certificates, YAML snippets, and one-request HTTP clients."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import trustme

from aaisp_multi_exporter.web import (
    Authenticator,
    WebConfigError,
    WebConfigWatcher,
    load_web_config,
)
from tests.conftest import SENTINEL

#: The basic-auth password of the tests; like SENTINEL it must never appear in any output.
PASSWORD = "W3B-S3NTINEL-basic-auth-pw"
REPO = Path(__file__).resolve().parent.parent.parent


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


async def negotiated_version(url: str, context: ssl.SSLContext) -> str | None:
    host, port = url.removeprefix("https://").split(":")
    _, writer = await asyncio.open_connection(host, int(port), ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.version() if ssl_object else None
    finally:
        writer.close()


@dataclass
class Secured:
    """An exporter served with a web config, through the same app factory as ``serve``."""

    watcher: WebConfigWatcher
    auth: Authenticator
    url: str
    path: Path

    def write(self, text: str) -> None:
        self.path.write_text(text)


SecuredFactory = Callable[..., Awaitable[Secured]]


def assert_problems(directory: Path, text: str | bytes, expected: list[str]) -> None:
    """``directory/web.yml`` holding ``text`` is refused with exactly ``expected``.

    ``{dir}`` in ``expected`` is ``directory``, ``{file}`` the web.yml path, and ``{hash}`` in
    ``text`` a valid bcrypt hash of PASSWORD; no message may show the password or the hash.
    """
    path = directory / "web.yml"
    valid_hash = hash_password(PASSWORD)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text.replace("{hash}", valid_hash))
    with pytest.raises(WebConfigError) as info:
        load_web_config(path)
    want = [line.replace("{file}", str(path)).replace("{dir}", str(directory)) for line in expected]
    assert info.value.problems == want
    assert str(info.value) == "\n".join(want)
    for leak in (PASSWORD, SENTINEL, valid_hash):
        assert leak not in str(info.value)
