"""TLS (``web/tls.py``): the exporter as a real TLS server on loopback, clients over sockets."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
import trustme

from aaisp_multi_exporter.web import WebConfigError, load_web_config
from tests.web.support import (
    SecuredFactory,
    assert_problems,
    client_context,
    fetch,
    negotiated_version,
    tls_yaml,
)


def test_key_that_does_not_match_the_certificate(pem_dir: Path) -> None:
    """Only OpenSSL can tell: the context is built at load, so the file is refused then."""
    assert_problems(
        pem_dir,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: other-key.pem\n",
        [
            '{file}: tls_server_config.key_file: "{dir}/other-key.pem" does not match '
            'cert_file "{dir}/server.pem"',
        ],
    )


def test_certificate_openssl_cannot_read(pem_dir: Path) -> None:
    """OpenSSL's reason, without its source-file suffix, naming both files."""
    (pem_dir / "bad.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    )
    path = pem_dir / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: bad.pem\n  key_file: server-key.pem\n")
    with pytest.raises(WebConfigError) as info:
        load_web_config(path)
    [problem] = info.value.problems
    prefix = (
        f'{path}: tls_server_config: cannot load cert_file "{pem_dir}/bad.pem" '
        f'with key_file "{pem_dir}/server-key.pem": '
    )
    assert problem.startswith(prefix)
    assert len(problem) > len(prefix)
    assert "_ssl.c" not in problem


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
