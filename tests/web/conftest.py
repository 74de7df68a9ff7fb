"""Fixtures of the web tests: a throwaway CA, PEM files, and an exporter behind a web config.

Certificates come from ``trustme``; bcrypt hashes use cost 4 unless a test is about bcrypt's
cost. ``secured`` serves the real app over a real (TLS) socket on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from aaisp_multi_exporter.config import Config, parse_config
from aaisp_multi_exporter.server.app import create_app
from aaisp_multi_exporter.server.state import build_state
from aaisp_multi_exporter.simulator import Simulator
from aaisp_multi_exporter.web import Authenticator, WebConfigWatcher
from tests.conftest import config_text
from tests.web.support import PASSWORD, Secured, SecuredFactory, write_leaf


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
        watcher = WebConfigWatcher(path, check_interval=check_interval)
        auth = Authenticator(
            granted_cache_size=granted_cache_size,
            denied_cache_size=denied_cache_size,
            max_pending_checks=max_pending_checks,
        )
        body = config_text(simulator.url)

        def loader() -> Config:
            return parse_config(body, source="test.toml")

        state = build_state(loader)
        state.reload()
        app = create_app(state, web_config=watcher, authenticator=auth)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=watcher.ssl_context)
        await site.start()
        port = next(addr[1] for addr in runner.addresses if isinstance(addr, tuple))

        async def stop() -> None:
            await runner.cleanup()
            auth.close()

        cleanups.append(stop)
        scheme = "https" if watcher.ssl_context is not None else "http"
        return Secured(watcher=watcher, auth=auth, url=f"{scheme}://127.0.0.1:{port}", path=path)

    yield start
    for stop in cleanups:
        await stop()
