"""The three forms of a credential (inline, ``_file``, ``_env``) and how each is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from aaisp_multi_exporter.config import CredentialSource, parse_config
from aaisp_multi_exporter.config.credentials import CredentialForms
from tests.config.support import auth_with, problems_of

SENTINEL = "S3NTINEL-pa55"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"pw", "pw"),
        (b"pw\n", "pw"),
        (b"pw\r\n", "pw"),
        (b"pw\n\n", "pw\n"),
        (b"pw \t\n", "pw \t"),
        (b" pw", " pw"),
        ("pässwörd\n".encode(), "pässwörd"),
    ],
    ids=["no-newline", "lf", "crlf", "only-one-newline", "keeps-spaces", "leading-space", "utf8"],
)
def test_file_strips_one_trailing_newline(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "pw").write_bytes(content)
    config = parse_config(auth_with('control_password_file = "pw"'), base_dir=tmp_path)
    password = config.auths["home"].control_password
    assert password is not None
    assert password.reveal() == expected


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "names a file that is empty"),
        (b"\n", "names a file that is empty"),
        (b"\r\n", "names a file that is empty"),
        (b"\xff\xfepw", "names a file that cannot be read: not valid UTF-8"),
        (b"x" * 65537, "names a file that cannot be read: larger than 65536 bytes"),
    ],
    ids=["empty", "only-lf", "only-crlf", "not-utf8", "too-large"],
)
def test_unusable_file(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "pw").write_bytes(content)
    assert problems_of(auth_with('control_password_file = "pw"'), base_dir=tmp_path) == [
        f"modules.toml: auths.home.control_password_file: {reason}"
    ]


def test_file_that_is_a_directory(tmp_path: Path) -> None:
    assert problems_of(auth_with(f'control_password_file = "{tmp_path}"')) == [
        "modules.toml: auths.home.control_password_file: "
        "names a file that cannot be read: Is a directory"
    ]


def test_absolute_file_path_ignores_base_dir(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("abs-pw")
    config = parse_config(
        auth_with(f'control_password_file = "{tmp_path / "pw"}"'), base_dir=Path("/nonexistent")
    )
    assert config.auths["home"].form_fields()["control_password"] == "abs-pw"


def test_relative_file_without_base_dir_uses_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pw").write_text("cwd-pw")
    monkeypatch.chdir(tmp_path)
    config = parse_config(auth_with('control_password_file = "pw"'))
    assert config.auths["home"].form_fields()["control_password"] == "cwd-pw"
    assert config.auths["home"].sources["control_password"] == CredentialSource("file", "pw")


def test_env_forms_use_the_given_mapping() -> None:
    text = """
    [auths.home]
    control_login_env = "LOGIN"
    control_password_env = "PASSWORD"
    [modules.m]
    commands = ["broadband/info"]
    """
    config = parse_config(text, env={"LOGIN": "ab12@a", "PASSWORD": "env-pw\n"})
    # Only files lose a trailing newline; an environment value is taken as it is.
    assert config.auths["home"].form_fields() == {
        "control_login": "ab12@a",
        "control_password": "env-pw\n",
    }


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AAISP_TEST_CONFIG_PASSWORD", "from-environ")
    config = parse_config(auth_with('control_password_env = "AAISP_TEST_CONFIG_PASSWORD"'))
    assert config.auths["home"].form_fields()["control_password"] == "from-environ"


@pytest.mark.parametrize(
    "key", ["control_password", "control_password_file", "control_password_env"]
)
def test_forms_keep_their_values_out_of_repr(key: str) -> None:
    forms = CredentialForms.from_table("control_password", {key: SENTINEL})
    assert forms is not None
    assert SENTINEL not in repr(forms)
    assert SENTINEL not in str(forms)
