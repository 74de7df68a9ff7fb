"""The web config file's keys (``web/config.py``): what each may hold, in exact messages.

Invalid files are table-driven with their exact messages, as for ``modules.toml``
(``tests/config/test_problems.py``): the wording is part of the operator-facing contract.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from aaisp_multi_exporter.web import load_web_config
from tests.conftest import config_text
from tests.processes import run_exporter
from tests.web.support import PASSWORD, REPO, assert_problems, hash_password

CLIENT_AUTH_TYPES = (
    "NoClientCert, RequestClientCert, RequireAnyClientCert, "
    "VerifyClientCertIfGiven, RequireAndVerifyClientCert"
)
ALLOWED_HEADERS = (
    "Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, "
    "X-Frame-Options, X-XSS-Protection"
)
NOT_BCRYPT = "not a bcrypt hash (want $2a$, $2b$ or $2y$, a two-digit cost and 53 more characters)"

#: (id, web.yml text, exact problems). ``{dir}`` is the folder of web.yml and the PEM files
#: of ``pem_dir``, ``{file}`` the web.yml path, ``{hash}`` a valid bcrypt hash of PASSWORD.
INVALID: list[tuple[str, str, list[str]]] = [
    (
        "top-level-unknown",
        "tls_config: {}\n",
        ['{file}: tls_config: unknown key; did you mean "tls_server_config"?'],
    ),
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
            '{file}: tls_server_config.cert_fil: unknown key; did you mean "cert_file"?',
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
            '{file}: http_server_config.http2: expected a boolean, got string "maybe"',
            "{file}: http_server_config.h2: unknown key",
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
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_web_config(pem_dir: Path, text: str, expected: list[str]) -> None:
    assert_problems(pem_dir, text, expected)


#: A misspelt key, at any depth, gets the closest key of its own table.
DID_YOU_MEAN: list[tuple[str, str, str]] = [
    ("basic_auth_user:\n  alice: {hash}\n", "basic_auth_user", "basic_auth_users"),
    ("http_server_config:\n  header: {}\n", "http_server_config.header", "headers"),
    (
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        "  min_versoin: TLS13\n",
        "tls_server_config.min_versoin",
        "min_version",
    ),
    (
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        "  client_auth: RequireAndVerifyClientCert\n",
        "tls_server_config.client_auth",
        "client_auth_type",
    ),
]


@pytest.mark.parametrize(("text", "where", "suggestion"), DID_YOU_MEAN)
def test_misspelt_keys_get_a_suggestion(
    pem_dir: Path, text: str, where: str, suggestion: str
) -> None:
    assert_problems(
        pem_dir, text, [f'{{file}}: {where}: unknown key; did you mean "{suggestion}"?']
    )


def test_misspelt_header_gets_a_suggestion(pem_dir: Path) -> None:
    assert_problems(
        pem_dir,
        "http_server_config:\n  headers:\n    X-Frame-Option: deny\n",
        [
            '{file}: http_server_config.headers: header "X-Frame-Option" cannot be configured; '
            f'allowed: {ALLOWED_HEADERS}; did you mean "X-Frame-Options"?'
        ],
    )


def test_keys_the_loader_fills_in_are_not_keys_of_the_file(pem_dir: Path) -> None:
    """The dummy hash and the digests are fields of the model, never settable from the file."""
    assert_problems(
        pem_dir,
        "file_digests: {}\ndummy_hash: x\n",
        ["{file}: file_digests: unknown key", "{file}: dummy_hash: unknown key"],
    )


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


@pytest.mark.parametrize(
    "text",
    [
        "# nothing configured\n",
        "tls_server_config:\nhttp_server_config:\nbasic_auth_users:\n",
        "tls_server_config: {}\nbasic_auth_users: {}\n",
        "tls_server_config:\n  cert_file:\n  min_version:\n",
    ],
    ids=["comment-only", "empty-keys", "empty-mappings", "blank-tls-settings"],
)
def test_nothing_set_means_plain_http_without_auth(tmp_path: Path, text: str) -> None:
    """A key left blank means its default, as in Go's YAML decoding."""
    path = tmp_path / "web.yml"
    path.write_text(text)
    config = load_web_config(path)
    assert (config.tls, config.users, config.headers, config.http2) == (None, {}, (), True)


@pytest.mark.parametrize(
    ("auth_type", "with_ca", "verify_mode"),
    [
        ("NoClientCert", False, ssl.CERT_NONE),
        ("", False, ssl.CERT_NONE),
        ("RequestClientCert", False, ssl.CERT_NONE),
        ("RequestClientCert", True, ssl.CERT_OPTIONAL),
        ("VerifyClientCertIfGiven", True, ssl.CERT_OPTIONAL),
        ("RequireClientCert", True, ssl.CERT_REQUIRED),  # exporter-toolkit's legacy alias
        ("RequireAnyClientCert", True, ssl.CERT_REQUIRED),
        ("RequireAndVerifyClientCert", True, ssl.CERT_REQUIRED),
    ],
)
def test_client_auth_type_sets_the_verify_mode(
    pem_dir: Path, auth_type: str, with_ca: bool, verify_mode: ssl.VerifyMode
) -> None:
    path = pem_dir / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
        f"  client_auth_type: '{auth_type}'\n"
        + ("  client_ca_file: client-ca.pem\n" if with_ca else "")
    )
    config = load_web_config(path)
    assert config.tls is not None
    assert config.tls.verify_mode == verify_mode


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


# --------------------------------------------------------------------------- the command line


def test_cli_refuses_a_bad_web_config(tmp_path: Path) -> None:
    (tmp_path / "modules.toml").write_text(config_text("http://127.0.0.1:9"))
    web_yml = tmp_path / "web.yml"
    web_yml.write_text(f"basic_auth_users:\n  alice: {PASSWORD}\nrate_limit: {{}}\n")
    done = run_exporter(
        "--web.config.file",
        str(web_yml),
        "--config.file",
        str(tmp_path / "modules.toml"),
        "--web.listen-address",
        "127.0.0.1:0",
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[:2] == [
        f"{web_yml}: basic_auth_users.alice: {NOT_BCRYPT}",
        f"{web_yml}: rate_limit: not supported by aaisp-multi-exporter",
    ]
    assert "invalid --web.config.file; not starting" in lines[2]
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
    assert done.stdout == ""


def test_check_covers_the_web_config_file(tmp_path: Path) -> None:
    (tmp_path / "modules.toml").write_text(config_text("http://127.0.0.1:9"))
    check = ("--config.check", "--config.file", str(tmp_path / "modules.toml"))
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  alice: {PASSWORD}\nnope: 1\n")
    result = run_exporter(*check, "--web.config.file", str(web))
    assert result.returncode == 1
    assert result.stdout.strip().endswith("OK (2 credential set(s), 2 module(s))")
    assert result.stderr.splitlines() == [
        f"{web}: basic_auth_users.alice: {NOT_BCRYPT}",
        f"{web}: nope: unknown key",
        f"{web}: 2 problem(s) found",
    ]
    assert PASSWORD not in result.stderr + result.stdout
    web.write_text("")
    result = run_exporter(*check, "--web.config.file", str(web))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"{web}: OK"
