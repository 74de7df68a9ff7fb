"""The web config in force (``web/watcher.py``): reloads without a restart, the last good
file kept, certificates rotated live, and the configured headers on every answer."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import aiohttp
import pytest
import trustme

from aaisp_multi_exporter.web import WebConfigWatcher
from tests.conftest import SENTINEL
from tests.web.support import (
    PASSWORD,
    SecuredFactory,
    client_context,
    fetch,
    hash_password,
    negotiated_version,
    tls_yaml,
    users_yaml,
)


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
    assert sorted((await watcher.current()).users) == ["alice"]
    path.write_text(users_yaml({"bob": hash_password(PASSWORD)}))
    now[0] += 0.5
    assert sorted((await watcher.current()).users) == ["alice"]
    now[0] += 0.5
    assert sorted((await watcher.current()).users) == ["bob"]


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
