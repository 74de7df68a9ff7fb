"""Tests for modules.toml loading, validation, rendering and the Secret type.

Invalid configurations live in ``testdata/invalid-*.toml``, one case per file, each with its
exact list of messages (blackbox_exporter's ``config_test.go`` habit): a change in wording is a
change in the operator-facing contract and should show up here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import pickle
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aaisp_multi_exporter.config import (
    KNOWN_COMMANDS,
    AuthConfig,
    ChaosSettings,
    Config,
    ConfigError,
    CredentialSource,
    ModuleConfig,
    load_config,
    parse_config,
    render_config_toml,
    subset_config,
)
from aaisp_multi_exporter.secret import Secret

TESTDATA = Path(__file__).parent / "testdata"
REPO_ROOT = Path(__file__).parent.parent
SENTINEL = "S3NTINEL-pa55"
ALLOWED = "allowed: broadband/info, broadband/quota"
NEEDS_PAIR = "needs control_login and control_password, or account_number and account_password"
BAD_NAME = "invalid name; use 1 to 64 characters of A-Z, a-z, 0-9, _ and -"

# What the invalid-*.toml files may read from the "environment".
TEST_ENV = {
    "AAISP_TEST_LOGIN": "ab12@a",
    "AAISP_TEST_PASSWORD": "pw",
    "AAISP_TEST_ACCOUNT": "A1234A",
    "AAISP_TEST_EMPTY": "",
}

MODULE_M = '[modules.m]\ncommands = ["broadband/info"]\n'

MINIMAL = """
[auths.home]
control_login = "ab12@a"
control_password = "pw"

[modules.quota]
commands = ["broadband/quota"]
"""


def problems_of(text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, **kwargs)
    return info.value.problems


# --------------------------------------------------------------------------- invalid files

INVALID: dict[str, list[str]] = {
    "unknown-key": [
        "modules.toml: auths.home.control_pasword: unknown key",
        f"modules.toml: auths.home: {NEEDS_PAIR}",
    ],
    "unknown-keys-everywhere": [
        "modules.toml: prober: unknown key",
        "modules.toml: chaos.timeout: unknown key",
        "modules.toml: auths.home.password_file: unknown key",
        "modules.toml: modules.quota.timeout: unknown key",
    ],
    "retries-range": [
        "modules.toml: modules.quota.retries: must be between 0 and 10, got 11",
    ],
    "retries-bool": [
        "modules.toml: modules.quota.retries: expected an integer, got boolean true",
    ],
    "timeout-string": [
        'modules.toml: modules.quota.timeout_seconds: expected a number, got string "10"',
    ],
    "number-ranges": [
        "modules.toml: auths.home.max_concurrency: must be between 1 and 64, got 65",
        "modules.toml: modules.quota.timeout_seconds: "
        "must be greater than 0 and at most 600, got 0",
        "modules.toml: modules.quota.cache_seconds: must be between 0 and 86400, got -1",
        "modules.toml: modules.quota.retries: must be between 0 and 10, got -1",
        "modules.toml: modules.line.timeout_seconds: "
        "must be greater than 0 and at most 600, got 600.5",
        "modules.toml: modules.line.cache_seconds: must be between 0 and 86400, got 86401",
    ],
    "not-finite": [
        "modules.toml: modules.quota.timeout_seconds: must be a finite number, got float nan",
        "modules.toml: modules.quota.cache_seconds: must be a finite number, got float inf",
    ],
    "int-fields-float": [
        "modules.toml: auths.home.max_concurrency: expected an integer, got float 4.0",
        "modules.toml: modules.quota.retries: expected an integer, got float 2.5",
    ],
    "scope": [
        'modules.toml: modules.quota.scope: must be "account" or "line", got string "service"',
    ],
    "unknown-command": [
        f'modules.toml: modules.quota.commands: unknown command "broadband/kill"; {ALLOWED}',
        f'modules.toml: modules.quota.commands: unknown command "broadband/usage"; {ALLOWED}',
    ],
    "duplicate-command": [
        'modules.toml: modules.quota.commands: duplicate command "broadband/quota"',
    ],
    "empty-commands": [
        f"modules.toml: modules.quota.commands: at least one command is required; {ALLOWED}",
        f"modules.toml: modules.line.commands: at least one command is required; {ALLOWED}",
    ],
    "commands-type": [
        'modules.toml: modules.quota.commands: expected an array, got string "broadband/quota"',
        "modules.toml: modules.line.commands[1]: expected a string, got integer 5",
        f'modules.toml: modules.line.commands: unknown command "broadband/kill"; {ALLOWED}',
    ],
    "unknown-auth": [
        'modules.toml: modules.quota.auth: unknown auth "nope"; known: home, reseller',
    ],
    "two-password-forms": [
        "modules.toml: auths.home.control_password: give only one of "
        "control_password, control_password_file, control_password_env",
        "modules.toml: auths.reseller.account_number: give only one of "
        "account_number, account_number_file, account_number_env",
    ],
    "env-missing": [
        "modules.toml: auths.home.control_password_env: "
        'environment variable "AAISP_TEST_UNSET" is not set',
    ],
    "env-empty": [
        "modules.toml: auths.home.control_password_env: "
        'environment variable "AAISP_TEST_EMPTY" is empty',
    ],
    "file-missing": [
        "modules.toml: auths.home.control_password_file: cannot read "
        '"/nonexistent/aaisp-multi-exporter/password": No such file or directory',
    ],
    "empty-strings": [
        "modules.toml: auths.home.control_login: must not be empty",
        "modules.toml: auths.home.control_password_file: must not be empty",
        "modules.toml: auths.reseller.account_number_env: must not be empty",
    ],
    "login-only": [
        f"modules.toml: auths.home: {NEEDS_PAIR}",
        f"modules.toml: auths.empty: {NEEDS_PAIR}",
    ],
    "pairs": [
        "modules.toml: auths.nologin: control_password needs control_login",
        "modules.toml: auths.nopassword: account_number needs account_password",
        "modules.toml: auths.nonumber: account_password needs account_number",
        "modules.toml: auths.both: give control_login and control_password, or account_number "
        "and account_password (optionally with control_login), not both",
    ],
    "password-wrong-type": [
        "modules.toml: auths.home.control_password: expected a string, got integer",
        "modules.toml: auths.reseller.account_number: expected a string, got integer 1234",
        "modules.toml: auths.reseller.account_password: expected a string, got array",
    ],
    "no-modules": [
        "modules.toml: modules: at least one module is required",
    ],
    "empty-file": [
        "modules.toml: auths: at least one credential set is required",
        "modules.toml: modules: at least one module is required",
    ],
    "empty-tables": [
        "modules.toml: auths: at least one credential set is required",
        "modules.toml: modules: at least one module is required",
    ],
    "table-types": [
        'modules.toml: chaos: expected a table, got string "https://chaos2.aa.net.uk"',
        "modules.toml: auths: expected a table, got string",
        "modules.toml: modules: expected a table, got array",
    ],
    "entry-types": [
        "modules.toml: auths.home: expected a table, got string",
        'modules.toml: modules.quota: expected a table, got string "broadband/quota"',
    ],
    "names": [
        f'modules.toml: auths."home auth": {BAD_NAME}',
        f'modules.toml: auths."": {BAD_NAME}',
        f'modules.toml: modules."quota.tier": {BAD_NAME}',
        "modules.toml: modules."
        f"a-name-that-is-much-too-long-to-be-a-label-value-in-a-url-or-label: {BAD_NAME}",
    ],
    "url-scheme": [
        'modules.toml: chaos.url: must be an http:// or https:// URL, got "ftp://chaos2.aa.net.uk"',
    ],
    "url-userinfo": [
        "modules.toml: chaos.url: must not contain a user name or password",
    ],
    "url-query": [
        "modules.toml: chaos.url: must not contain a query string, "
        'got "https://chaos2.aa.net.uk/?control_login=ab12@a"',
    ],
    "url-no-host": [
        'modules.toml: chaos.url: must name a host, got "https:///broadband"',
    ],
    "many-problems": [
        'modules.toml: chaos.url: must be an http:// or https:// URL, got "chaos2.aa.net.uk"',
        "modules.toml: auths.home.control_password_file: cannot read "
        '"/nonexistent/aaisp-multi-exporter/password": No such file or directory',
        "modules.toml: auths.home.max_concurrency: must be between 1 and 64, got 0",
        "modules.toml: auths.reseller.account_number_env: "
        'environment variable "AAISP_TEST_UNSET" is not set',
        "modules.toml: auths.reseller: account_number needs account_password",
        f'modules.toml: modules.quota.commands: unknown command "broadband/kill"; {ALLOWED}',
        'modules.toml: modules.quota.auth: unknown auth "homer"; known: home, reseller',
        'modules.toml: modules.quota.timeout_seconds: expected a number, got string "20"',
        "modules.toml: modules.quota.retries: must be between 0 and 10, got 11",
        'modules.toml: modules.quota.scope: must be "account" or "line", got string "Account"',
        f"modules.toml: modules.line.commands: at least one command is required; {ALLOWED}",
        "modules.toml: modules.line.cache_seconds: expected a number, got boolean true",
    ],
}


def test_every_invalid_file_has_expectations() -> None:
    files = {
        path.name.removeprefix("invalid-").removesuffix(".toml")
        for path in TESTDATA.glob("invalid-*.toml")
    }
    assert files == set(INVALID)


@pytest.mark.parametrize(("name", "expected"), list(INVALID.items()), ids=list(INVALID))
def test_invalid_file(name: str, expected: list[str]) -> None:
    text = (TESTDATA / f"invalid-{name}.toml").read_text()
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=TEST_ENV, base_dir=TESTDATA)
    assert info.value.problems == expected
    assert str(info.value) == "\n".join(expected)


def test_load_config_names_the_file_as_given() -> None:
    path = TESTDATA / "invalid-retries-range.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, env=TEST_ENV)
    assert info.value.problems == [
        f"{path}: modules.quota.retries: must be between 0 and 10, got 11",
    ]


# --------------------------------------------------------------------------- inline invalid cases

INLINE_INVALID: list[tuple[str, str, list[str]]] = [
    (
        "bad-port",
        '[chaos]\nurl = "http://localhost:99999"\n' + MINIMAL,
        ['modules.toml: chaos.url: invalid port, got "http://localhost:99999"'],
    ),
    (
        "fragment",
        '[chaos]\nurl = "https://chaos2.aa.net.uk/#x"\n' + MINIMAL,
        ['modules.toml: chaos.url: must not contain a fragment, got "https://chaos2.aa.net.uk/#x"'],
    ),
    (
        "url-space",
        '[chaos]\nurl = "https://chaos2.aa.net.uk/a b"\n' + MINIMAL,
        [
            "modules.toml: chaos.url: must not contain spaces or control characters, "
            'got "https://chaos2.aa.net.uk/a b"'
        ],
    ),
    (
        "url-control-character-escaped",
        '[chaos]\nurl = "https://chaos2.aa.net.uk/\\u001b[31m"\n' + MINIMAL,
        [
            "modules.toml: chaos.url: must not contain spaces or control characters, "
            'got "https://chaos2.aa.net.uk/\\u001B[31m"'
        ],
    ),
    (
        "url-type",
        "[chaos]\nurl = 443\n" + MINIMAL,
        ["modules.toml: chaos.url: expected a string, got integer 443"],
    ),
    (
        "name-65-chars",
        MINIMAL + f"[modules.{'m' * 65}]\ncommands = ['broadband/info']\n",
        [f"modules.toml: modules.{'m' * 65}: {BAD_NAME}"],
    ),
    (
        "date-value",
        MINIMAL + "timeout_seconds = 1979-05-27T07:32:00Z\n",
        ["modules.toml: modules.quota.timeout_seconds: expected a number, got date-time"],
    ),
    (
        "table-value",
        MINIMAL + "retries = {count = 2}\n",
        ["modules.toml: modules.quota.retries: expected an integer, got table"],
    ),
    (
        "long-string-shortened",
        MINIMAL + f'scope = "{"x" * 100}"\n',
        [
            'modules.toml: modules.quota.scope: must be "account" or "line", '
            f'got string "{"x" * 80}..."'
        ],
    ),
    (
        "source-used-as-prefix",
        "",
        [
            "modules.toml: auths: at least one credential set is required",
            "modules.toml: modules: at least one module is required",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected in INLINE_INVALID],
    ids=[case_id for case_id, _, _ in INLINE_INVALID],
)
def test_invalid_inline(text: str, expected: list[str]) -> None:
    assert problems_of(text, env={}) == expected


def test_source_names_the_file_in_every_message() -> None:
    problems = problems_of("", source="/etc/aaisp/modules.toml")
    assert problems == [
        "/etc/aaisp/modules.toml: auths: at least one credential set is required",
        "/etc/aaisp/modules.toml: modules: at least one module is required",
    ]


def test_invalid_toml_syntax() -> None:
    assert problems_of('[auths.home\ncontrol_login = "x"\n') == [
        "modules.toml: invalid TOML: Expected ']' at the end of a table declaration "
        "(at line 1, column 12)"
    ]


def test_duplicate_table_is_a_toml_error() -> None:
    problems = problems_of(MINIMAL + '[auths.home]\ncontrol_login = "x"\n')
    assert len(problems) == 1
    assert problems[0].startswith("modules.toml: invalid TOML: ")


# --------------------------------------------------------------------------- valid configurations


def test_minimal_config_gets_every_default() -> None:
    config = parse_config(MINIMAL, env={})
    assert config.source == "modules.toml"
    assert config.chaos == ChaosSettings(url="https://chaos2.aa.net.uk")
    assert list(config.auths) == ["home"]
    auth = config.auths["home"]
    assert auth.name == "home"
    assert auth.control_login == "ab12@a"
    assert auth.control_password == Secret("pw")
    assert auth.account_number is None
    assert auth.account_password is None
    assert auth.max_concurrency == 4
    assert auth.sources == {
        "control_login": CredentialSource("inline", None),
        "control_password": CredentialSource("inline", None),
    }
    assert config.modules == {
        "quota": ModuleConfig(
            name="quota",
            commands=("broadband/quota",),
            auth=None,
            timeout_seconds=None,
            retries=2,
            cache_seconds=60.0,
            scope="account",
        )
    }


SPEC_EXAMPLE = """
[chaos]
url = "https://chaos2.aa.net.uk"

[auths.home]
control_login = "ab12@a"
control_password_file = "secrets/aaisp_home"
max_concurrency = 4

[auths.reseller]
account_number_env = "RESELLER_ACCOUNT"
account_password_env = "RESELLER_PASSWORD"

[modules.quota]
commands = ["broadband/quota"]
auth = "home"
timeout_seconds = 10
retries = 2
cache_seconds = 60
scope = "account"

[modules.line]
commands = ["broadband/info"]
"""

SPEC_ENV = {"RESELLER_ACCOUNT": "A1234A", "RESELLER_PASSWORD": "reseller-pw"}


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "aaisp_home").write_text("home-pw\n")
    return tmp_path


def test_spec_example(secrets_dir: Path) -> None:
    config = parse_config(SPEC_EXAMPLE, env=SPEC_ENV, base_dir=secrets_dir)
    assert list(config.auths) == ["home", "reseller"]
    assert list(config.modules) == ["quota", "line"]

    home = config.auths["home"]
    assert home.control_password is not None
    assert home.control_password.reveal() == "home-pw"
    assert home.sources["control_password"] == CredentialSource(
        "file", str(secrets_dir / "secrets" / "aaisp_home")
    )

    reseller = config.auths["reseller"]
    assert reseller.control_login is None
    assert reseller.account_number == "A1234A"
    assert reseller.account_password == Secret("reseller-pw")
    assert reseller.sources == {
        "account_number": CredentialSource("env", "RESELLER_ACCOUNT"),
        "account_password": CredentialSource("env", "RESELLER_PASSWORD"),
    }

    quota = config.modules["quota"]
    assert quota.timeout_seconds == 10.0
    assert isinstance(quota.timeout_seconds, float)  # an integer is accepted as a number
    assert isinstance(quota.cache_seconds, float)
    line = config.modules["line"]
    assert line.auth is None  # valid: the probe picks the only credential set, if one
    assert line.commands == ("broadband/info",)


def test_account_login_may_carry_a_control_login() -> None:
    config = parse_config(
        """
        [auths.acct]
        control_login = "ab12@a"
        account_number = "A1234A"
        account_password = "acct-pw"
        max_concurrency = 64
        [modules.both]
        commands = ["broadband/info", "broadband/quota"]
        auth = "acct"
        timeout_seconds = 600
        retries = 0
        cache_seconds = 0
        scope = "line"
        """,
        env={},
    )
    auth = config.auths["acct"]
    assert auth.form_fields() == {
        "control_login": "ab12@a",
        "account_number": "A1234A",
        "account_password": "acct-pw",
    }
    assert auth.max_concurrency == 64
    module = config.modules["both"]
    assert module.commands == ("broadband/info", "broadband/quota")
    assert (module.timeout_seconds, module.retries, module.cache_seconds) == (600.0, 0, 0.0)
    assert module.scope == "line"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://chaos2.aa.net.uk/", "https://chaos2.aa.net.uk"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080/chaos//", "http://[::1]:8080/chaos"),
        ("HTTPS://Chaos2.aa.net.uk", "HTTPS://Chaos2.aa.net.uk"),
    ],
    ids=["trailing-slash", "http-port", "ipv6-path", "upper-case-scheme"],
)
def test_chaos_url(given: str, expected: str) -> None:
    config = parse_config(f'[chaos]\nurl = "{given}"\n' + MINIMAL, env={})
    assert config.chaos.url == expected


def test_name_of_64_characters_is_valid() -> None:
    name = "a-Z_9" + "x" * 59
    config = parse_config(MINIMAL + f"[modules.{name}]\ncommands = ['broadband/info']\n")
    assert name in config.modules


def test_known_commands() -> None:
    assert frozenset({"broadband/info", "broadband/quota"}) == KNOWN_COMMANDS


def test_config_is_immutable() -> None:
    config = parse_config(MINIMAL, env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.source = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.modules["quota"].retries = 5  # type: ignore[misc]


def test_shipped_modules_toml() -> None:
    env = {
        "AAISP_EXPORTER_AUTH__CONTROL_LOGIN": "ab12@a",
        "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD": "pw",
    }
    config = load_config(REPO_ROOT / "modules.toml", env=env)
    assert config.chaos.url == "https://chaos2.aa.net.uk"
    assert list(config.auths) == ["default"]
    auth = config.auths["default"]
    assert auth.form_fields() == {"control_login": "ab12@a", "control_password": "pw"}
    assert auth.sources == {
        "control_login": CredentialSource("env", "AAISP_EXPORTER_AUTH__CONTROL_LOGIN"),
        "control_password": CredentialSource("env", "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD"),
    }
    assert config.modules == {
        "quota": ModuleConfig("quota", ("broadband/quota",), "default", 20.0, 2, 240.0, "account"),
        "line": ModuleConfig("line", ("broadband/info",), "default", 20.0, 2, 840.0, "account"),
    }


def test_shipped_modules_toml_without_environment() -> None:
    path = REPO_ROOT / "modules.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == [
        f"{path}: auths.default.control_login_env: "
        'environment variable "AAISP_EXPORTER_AUTH__CONTROL_LOGIN" is not set',
        f"{path}: auths.default.control_password_env: "
        'environment variable "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD" is not set',
    ]


# --------------------------------------------------------------------------- file and env forms


def auth_with(line: str) -> str:
    return f'[auths.home]\ncontrol_login = "ab12@a"\n{line}\n{MODULE_M}'


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
        (b"", "is empty"),
        (b"\n", "is empty"),
        (b"\r\n", "is empty"),
    ],
    ids=["empty", "only-lf", "only-crlf"],
)
def test_empty_file_is_an_error(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "pw").write_bytes(content)
    assert problems_of(auth_with('control_password_file = "pw"'), base_dir=tmp_path) == [
        f'modules.toml: auths.home.control_password_file: file "{tmp_path / "pw"}" {reason}'
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xfepw", "not valid UTF-8"),
        (b"x" * 65537, "larger than 65536 bytes"),
    ],
    ids=["not-utf8", "too-large"],
)
def test_unreadable_file_content(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "pw").write_bytes(content)
    assert problems_of(auth_with('control_password_file = "pw"'), base_dir=tmp_path) == [
        f'modules.toml: auths.home.control_password_file: cannot read "{tmp_path / "pw"}": {reason}'
    ]


def test_file_that_is_a_directory(tmp_path: Path) -> None:
    assert problems_of(auth_with(f'control_password_file = "{tmp_path}"')) == [
        f'modules.toml: auths.home.control_password_file: cannot read "{tmp_path}": Is a directory'
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


def test_load_config_resolves_files_next_to_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "login").write_text("ab12@a\n")
    (conf / "pw").write_text("file-pw\n")
    (conf / "modules.toml").write_text(
        '[auths.home]\ncontrol_login_file = "login"\ncontrol_password_file = "pw"\n'
        '[modules.m]\ncommands = ["broadband/info"]\n'
    )
    monkeypatch.chdir(tmp_path)
    config = load_config("conf/modules.toml", env={})
    assert config.source == "conf/modules.toml"
    auth = config.auths["home"]
    assert auth.form_fields() == {"control_login": "ab12@a", "control_password": "file-pw"}
    assert auth.sources["control_password"] == CredentialSource("file", "conf/pw")


def test_files_are_read_again_at_every_load(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("old\n")
    (tmp_path / "modules.toml").write_text(auth_with('control_password_file = "pw"'))
    first = load_config(tmp_path / "modules.toml")
    (tmp_path / "pw").write_text("new\n")
    second = load_config(tmp_path / "modules.toml")
    assert first.auths["home"].control_password == Secret("old")
    assert second.auths["home"].control_password == Secret("new")
    assert first.auths["home"] != second.auths["home"]


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


# --------------------------------------------------------------------------- load_config errors


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: cannot read file: No such file or directory"]


def test_load_config_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "modules.toml"
    path.write_text('[auths.home]\ncontrol_login = ab12@a"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert info.value.problems == [f"{path}: invalid TOML: Invalid value (at line 2, column 17)"]


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "modules.toml"
    path.write_bytes(b'[auths.home]\ncontrol_login = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: invalid TOML: not valid UTF-8 (at byte 30)"]


def test_config_error_survives_pickling() -> None:
    error = ConfigError(["a: b: c", "d: e: f"])
    restored = pickle.loads(pickle.dumps(error))
    assert restored.problems == ["a: b: c", "d: e: f"]
    assert str(restored) == "a: b: c\nd: e: f"


# --------------------------------------------------------------------------- AuthConfig


def test_form_fields_for_a_control_login() -> None:
    config = parse_config(MINIMAL)
    assert config.auths["home"].form_fields() == {
        "control_login": "ab12@a",
        "control_password": "pw",
    }


def test_secret_fingerprint() -> None:
    base = AuthConfig("a", control_login="ab12@a", control_password=Secret("pw"))
    fingerprint = base.secret_fingerprint()
    assert len(fingerprint) == 64
    assert int(fingerprint, 16) >= 0
    # Stable for the same values, whatever the name, source or concurrency.
    assert (
        fingerprint == dataclasses.replace(base, name="b", max_concurrency=9).secret_fingerprint()
    )
    assert (
        fingerprint
        == dataclasses.replace(
            base, sources={"control_password": CredentialSource("env", "X")}
        ).secret_fingerprint()
    )
    # Any credential change changes it, including moving a value to another field.
    others = [
        dataclasses.replace(base, control_password=Secret("pw2")),
        dataclasses.replace(base, control_login="ab13@a"),
        AuthConfig("a", control_login="ab12@a", account_number="pw"),
        AuthConfig("a", control_login="ab12@apw"),
    ]
    fingerprints = {fingerprint} | {other.secret_fingerprint() for other in others}
    assert len(fingerprints) == 1 + len(others)


# --------------------------------------------------------------------------- rendering


def test_render_round_trip(secrets_dir: Path) -> None:
    config = parse_config(
        SPEC_EXAMPLE.replace('control_login = "ab12@a"', 'control_login_env = "HOME_LOGIN"'),
        env={**SPEC_ENV, "HOME_LOGIN": "ab12@a"},
        base_dir=secrets_dir,
    )
    rendered = render_config_toml(config)
    assert tomllib.loads(rendered) == {
        "chaos": {"url": "https://chaos2.aa.net.uk"},
        "auths": {
            "home": {
                "control_login_env": "HOME_LOGIN",
                "control_password_file": str(secrets_dir / "secrets" / "aaisp_home"),
                "max_concurrency": 4,
            },
            "reseller": {
                "account_number_env": "RESELLER_ACCOUNT",
                "account_password_env": "RESELLER_PASSWORD",
                "max_concurrency": 4,
            },
        },
        "modules": {
            "quota": {
                "commands": ["broadband/quota"],
                "auth": "home",
                "timeout_seconds": 10.0,
                "retries": 2,
                "cache_seconds": 60.0,
                "scope": "account",
                "refresh_ahead": True,
            },
            "line": {
                "commands": ["broadband/info"],
                "retries": 2,
                "cache_seconds": 60.0,
                "scope": "account",
                "refresh_ahead": True,
            },
        },
    }
    # With no inline secrets, the rendering loads back into the same configuration.
    again = parse_config(rendered, env={**SPEC_ENV, "HOME_LOGIN": "ab12@a"})
    assert again == config


def test_render_inline_values() -> None:
    config = parse_config(
        """
        [auths.acct]
        control_login = "ab12@a"
        account_number = "A1234A"
        account_password = "acct-pw"
        [modules.m]
        commands = ["broadband/info"]
        """
    )
    assert tomllib.loads(render_config_toml(config))["auths"] == {
        "acct": {
            "control_login": "ab12@a",
            "account_number": "A1234A",
            "account_password": "<secret>",
            "max_concurrency": 4,
        }
    }


def test_render_escapes_strings() -> None:
    awkward = 'a "quoted" \\ back\tslash\n\x01 é'
    config = Config(
        source='odd\nname "x"',
        chaos=ChaosSettings(),
        auths={
            "weird name": AuthConfig(
                "weird name", control_login=awkward, control_password=Secret("x")
            )
        },
        modules={"m": ModuleConfig("m", ("broadband/info",), auth="weird name")},
    )
    loaded = tomllib.loads(render_config_toml(config))
    assert loaded["auths"]["weird name"]["control_login"] == awkward
    assert loaded["auths"]["weird name"]["control_password"] == "<secret>"
    assert loaded["modules"]["m"]["auth"] == "weird name"


def test_render_without_sources_treats_values_as_inline() -> None:
    config = Config(
        source="x",
        chaos=ChaosSettings(),
        auths={"a": AuthConfig("a", control_login="l", control_password=Secret(SENTINEL))},
        modules={},
    )
    rendered = render_config_toml(config)
    assert SENTINEL not in rendered
    assert tomllib.loads(rendered) == {
        "chaos": {"url": "https://chaos2.aa.net.uk"},
        "auths": {
            "a": {"control_login": "l", "control_password": "<secret>", "max_concurrency": 4}
        },
        "modules": {},
    }


# --------------------------------------------------------------------------- secrets never leak


@pytest.fixture(params=["inline", "file", "env"])
def sentinel_config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """A valid configuration holding the sentinel as both passwords, in one form."""
    form: str = request.param
    (tmp_path / "secret").write_text(SENTINEL + "\n")
    lines = {
        "inline": f'control_password = "{SENTINEL}"\naccount_password = "{SENTINEL}"',
        "file": 'control_password_file = "secret"\naccount_password_file = "secret"',
        "env": 'control_password_env = "PW"\naccount_password_env = "PW"',
    }
    text = f"""
    [auths.control]
    control_login = "ab12@a"
    {lines[form].splitlines()[0]}
    [auths.account]
    account_number = "A1234A"
    {lines[form].splitlines()[1]}
    [modules.m]
    commands = ["broadband/info"]
    """
    return parse_config(text, env={"PW": SENTINEL}, base_dir=tmp_path)


def test_sentinel_is_loaded(sentinel_config: Config) -> None:
    # The check below is only meaningful if the value really is in there.
    assert sentinel_config.auths["control"].form_fields()["control_password"] == SENTINEL
    assert sentinel_config.auths["account"].form_fields()["account_password"] == SENTINEL


def test_sentinel_not_in_any_text(
    sentinel_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    auth = sentinel_config.auths["control"]
    assert auth.control_password is not None
    texts = [
        str(sentinel_config),
        repr(sentinel_config),
        str(auth),
        repr(auth),
        repr(sentinel_config.auths["account"]),
        str(auth.control_password),
        repr(auth.control_password),
        f"{auth.control_password}",
        f"{auth.control_password!r}",
        f"{auth.control_password:>40}",
        "%s %r" % (auth.control_password, auth.control_password),  # noqa: UP031
        render_config_toml(sentinel_config),
        json.dumps(dataclasses.asdict(auth), default=str),
        repr(dataclasses.asdict(sentinel_config)),
        repr(copy.deepcopy(sentinel_config)),
        auth.secret_fingerprint(),
    ]
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("auth %s %r", auth, auth.control_password)
    texts.append(caplog.text)
    for text in texts:
        assert SENTINEL not in text


def test_sentinel_not_in_pickles(sentinel_config: Config) -> None:
    data = pickle.dumps(sentinel_config)
    assert SENTINEL.encode() not in data
    restored = pickle.loads(data)
    assert restored.auths["control"].control_password.reveal() == "<secret>"


SENTINEL_BROKEN: list[tuple[str, str]] = [
    ("inline-with-other-error", f'control_password = "{SENTINEL}"\nmax_concurrency = 0'),
    ("in-unknown-key", f'control_pasword = "{SENTINEL}"'),
    ("wrong-type-array", f'control_password = ["{SENTINEL}"]'),
    ("wrong-type-table", f'control_password = {{ value = "{SENTINEL}" }}'),
    ("two-forms-inline-and-env", f'control_password = "{SENTINEL}"\ncontrol_password_env = "PW"'),
    ("two-forms-file-and-env", 'control_password_file = "secret"\ncontrol_password_env = "PW"'),
    ("env-with-other-error", 'control_password_env = "PW"\nmax_concurrency = "x"'),
    ("file-with-other-error", 'control_password_file = "secret"\nmax_concurrency = 99'),
    ("account-password-without-number", f'account_password = "{SENTINEL}"'),
    ("account-password-wrong-type", f'account_number = "A1"\naccount_password = ["{SENTINEL}"]'),
    (
        "account-password-in-both-pairs",
        f'control_password = "x"\naccount_number = "A1"\naccount_password = "{SENTINEL}"',
    ),
]


@pytest.mark.parametrize(
    "line", [line for _, line in SENTINEL_BROKEN], ids=[case_id for case_id, _ in SENTINEL_BROKEN]
)
def test_sentinel_not_in_errors(line: str, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SENTINEL)
    text = auth_with(line)
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={"PW": SENTINEL}, base_dir=tmp_path)
    assert_not_leaked(info.value, SENTINEL)


@pytest.mark.parametrize(
    "text",
    [
        f'[chaos]\nurl = "https://ab12:{SENTINEL}@chaos2.aa.net.uk"\n' + MINIMAL,
        f'[chaos]\nurl = "ftp://ab12:{SENTINEL}@chaos2.aa.net.uk/?x#y"\n' + MINIMAL,
        f'[chaos]\nurl = "http://ab12:{SENTINEL}@[::1"\n' + MINIMAL,
        f'[auths]\nhome = "{SENTINEL}"\n[modules.m]\ncommands = ["broadband/info"]\n',
        f'auths = "{SENTINEL}"\n[modules.m]\ncommands = ["broadband/info"]\n',
        f'[auths.home]\ncontrol_login = "ab12@a"\ncontrol_password = {SENTINEL}\n',
        f'[auths.home]\ncontrol_login = "ab12@a"\ncontrol_password = "{SENTINEL}\n',
    ],
    ids=[
        "url-userinfo",
        "url-userinfo-and-other-faults",
        "url-userinfo-unparsable",
        "auth-not-a-table",
        "auths-not-a-table",
        "toml-unquoted",
        "toml-unterminated",
    ],
)
def test_sentinel_not_in_structural_errors(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert_not_leaked(info.value, SENTINEL)


def test_wrong_typed_password_is_not_echoed() -> None:
    text = '[auths.home]\ncontrol_login = "ab12@a"\ncontrol_password = 12345678\n' + (
        '[modules.m]\ncommands = ["broadband/info"]\n'
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert info.value.problems == [
        "modules.toml: auths.home.control_password: expected a string, got integer"
    ]
    assert_not_leaked(info.value, "12345678")


def assert_not_leaked(error: BaseException, value: str) -> None:
    assert isinstance(error, ConfigError)
    assert error.problems
    texts = [str(error), repr(error), *error.problems]
    # Nothing chained to the error may carry it either (tracebacks print the chain).
    cause: BaseException | None = error
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    for text in texts:
        assert value not in text


# --------------------------------------------------------------------------- Secret itself


def test_secret_reveal_and_text() -> None:
    secret = Secret(SENTINEL)
    assert secret.reveal() == SENTINEL
    assert str(secret) == repr(secret) == format(secret, "") == format(secret, "d") == "<secret>"
    assert json.dumps({"p": secret}, default=str) == '{"p": "<secret>"}'


def test_secret_equality_and_hash() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2


def test_secret_is_immutable() -> None:
    secret = Secret("a")
    with pytest.raises(AttributeError):
        secret._value = "b"
    with pytest.raises(AttributeError):
        del secret._value
    with pytest.raises(AttributeError):
        secret.other = 1


def test_secret_rejects_non_strings_without_echoing() -> None:
    with pytest.raises(TypeError) as info:
        Secret(12345678)  # type: ignore[arg-type]
    assert "12345678" not in str(info.value)


def test_secret_copy_keeps_the_value_pickle_does_not() -> None:
    secret = Secret(SENTINEL)
    assert copy.copy(secret).reveal() == SENTINEL
    assert copy.deepcopy(secret).reveal() == SENTINEL
    data = pickle.dumps(secret)
    assert SENTINEL.encode() not in data
    assert pickle.loads(data).reveal() == "<secret>"


class _WithSecret(BaseModel):
    password: Secret


def test_secret_in_pydantic_models() -> None:
    model = _WithSecret(password=SENTINEL)
    assert model.password.reveal() == SENTINEL
    assert _WithSecret(password=Secret("x")).password == Secret("x")
    assert model.model_dump() == {"password": "<secret>"}
    assert model.model_dump_json() == '{"password":"<secret>"}'
    assert SENTINEL not in repr(model)
    assert _WithSecret.model_json_schema()["properties"]["password"]["writeOnly"] is True


# --------------------------------------------------------------------------- subset_config


def test_subset_config(secrets_dir: Path) -> None:
    config = parse_config(SPEC_EXAMPLE, env=SPEC_ENV, base_dir=secrets_dir)
    subset = subset_config(config, modules=["line", "quota", "line"], auths=["reseller"])
    assert subset.source == config.source
    assert subset.chaos == config.chaos
    assert list(subset.modules) == ["line", "quota"]
    assert list(subset.auths) == ["reseller"]
    assert subset.auths["reseller"] is config.auths["reseller"]
    assert set(tomllib.loads(render_config_toml(subset))["auths"]) == {"reseller"}
    with pytest.raises(KeyError):
        subset_config(config, modules=["nope"], auths=[])
