"""Reading the web config file (``web/load.py``): bytes, YAML, and the order of problems.

YAML errors give a position, never the offending line (which may hold a hash); problems come
in file order, as for ``modules.toml``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aaisp_multi_exporter.web import WebConfigError, load_web_config
from tests.web.support import PASSWORD, assert_problems, hash_password

NOT_BCRYPT = "not a bcrypt hash (want $2a$, $2b$ or $2y$, a two-digit cost and 53 more characters)"

#: (id, web.yml text, exact problems); ``{file}`` is the web.yml path, ``{hash}`` a valid
#: bcrypt hash of PASSWORD.
INVALID: list[tuple[str, str | bytes, list[str]]] = [
    (
        "top-level-list",
        "- basic_auth_users\n",
        ["{file}: expected a mapping at the top level, got list"],
    ),
    (
        "top-level-string",
        f"{PASSWORD}\n",
        ["{file}: expected a mapping at the top level, got string"],
    ),
    (
        # YAML keys need not be strings; no key of the file is anything else.
        "keys-that-are-not-strings",
        "123: x\nyes: 1\ntls_server_config:\n  ~: x\n  1.5: y\nnope: 1\n",
        [
            "{file}: unknown key integer 123",
            "{file}: unknown key boolean true",
            "{file}: tls_server_config: unknown key null",
            "{file}: tls_server_config: unknown key float 1.5",
            "{file}: tls_server_config.cert_file: required when tls_server_config is set",
            "{file}: tls_server_config.key_file: required when tls_server_config is set",
            "{file}: nope: unknown key",
        ],
    ),
    ("not-utf8", b"basic_auth_users:\n  \xff: x\n", ["{file}: not valid UTF-8 (at byte 20)"]),
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
    (
        # As in modules.toml: top to bottom, whatever kind of problem each one is.
        "file-order",
        f"http_server_config:\n  http2: maybe\n  h2: true\nbasic_auth_users:\n  bob: {PASSWORD}\n"
        "tls_server_config:\n  min_version: TLS11\n  cert_fil: x\n"
        "rate_limit: {}\n",
        [
            '{file}: http_server_config.http2: expected a boolean, got string "maybe"',
            "{file}: http_server_config.h2: unknown key",
            f"{{file}}: basic_auth_users.bob: {NOT_BCRYPT}",
            "{file}: tls_server_config.min_version: TLS11 is not supported; use TLS12 or TLS13",
            '{file}: tls_server_config.cert_fil: unknown key; did you mean "cert_file"?',
            # Keys the file does not have come after those it has.
            "{file}: tls_server_config.cert_file: required when tls_server_config is set",
            "{file}: tls_server_config.key_file: required when tls_server_config is set",
            "{file}: rate_limit: not supported by aaisp-multi-exporter",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_web_config_file(tmp_path: Path, text: str | bytes, expected: list[str]) -> None:
    assert_problems(tmp_path, text, expected)


def test_unreadable_web_config(tmp_path: Path) -> None:
    path = tmp_path / "missing.yml"
    with pytest.raises(WebConfigError) as info:
        load_web_config(path)
    assert info.value.problems == [f"{path}: cannot read file: No such file or directory"]


@pytest.mark.parametrize("path", ["/dev/null", "."], ids=["device", "directory"])
def test_web_config_must_be_a_regular_file(path: str) -> None:
    """A FIFO or device would block or never end; it is refused before it is read."""
    with pytest.raises(WebConfigError) as info:
        load_web_config(path)
    assert info.value.problems == [f"{path}: not a regular file"]


def test_dummy_hash_has_the_users_cost(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(
        "basic_auth_users:\n"
        f"  a: {hash_password('x', rounds=5)}\n"
        f"  b: {hash_password('y', rounds=5)}\n"
        f"  c: {hash_password('z')}\n"
    )
    config = load_web_config(path)
    assert config.dummy_hash.startswith(b"$2b$05$")
    assert config.dummy_hash not in config.users.values()


def test_digest_follows_the_content_of_every_file(pem_dir: Path) -> None:
    """What the watcher compares: the file itself and each certificate file it names."""
    path = pem_dir / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n")
    first = load_web_config(path)
    assert sorted(first.file_digests) == ["", "cert_file", "key_file"]
    assert load_web_config(path).file_digests == first.file_digests
    (pem_dir / "server.pem").write_bytes((pem_dir / "server.pem").read_bytes() + b"\n")
    changed = load_web_config(path).file_digests
    assert changed["cert_file"] != first.file_digests["cert_file"]
    assert {**changed, "cert_file": b""} == {**first.file_digests, "cert_file": b""}


def test_problems_survive_pickling(tmp_path: Path) -> None:
    """A WebConfigError is a ProblemError: one list of problems, however it travels."""
    path = tmp_path / "web.yml"
    path.write_text("nope: 1\nrate_limit: {}\n")
    with pytest.raises(WebConfigError) as info:
        load_web_config(path)
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, WebConfigError)
    assert copy.problems == info.value.problems
    assert len(copy.problems) == 2
