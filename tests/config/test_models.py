"""What a valid configuration becomes: the models, their defaults and what they hide."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from aaisp_multi_exporter.config import (
    CREDENTIAL_FIELDS,
    KNOWN_COMMANDS,
    AuthConfig,
    ChaosSettings,
    Config,
    ConfigError,
    CredentialSource,
    ModuleConfig,
    Secret,
    load_config,
    parse_config,
)
from aaisp_multi_exporter.config.credentials import CREDENTIAL_KEYS
from tests.config.support import (
    EXAMPLE_CONFIG,
    EXAMPLE_ENV,
    MINIMAL,
    REPO_ROOT,
)

SENTINEL = "S3NTINEL-pa55"


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
            refresh_ahead=True,
        )
    }
    assert config.origins == {"auths.home": "modules.toml", "modules.quota": "modules.toml"}


def test_spec_example(secrets_dir: Path) -> None:
    config = parse_config(EXAMPLE_CONFIG, env=EXAMPLE_ENV, base_dir=secrets_dir)
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
        refresh_ahead = false
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
    assert module.refresh_ahead is False


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
    assert config.modules[name].name == name


def test_known_commands() -> None:
    assert frozenset({"broadband/info", "broadband/quota"}) == KNOWN_COMMANDS


def test_config_is_immutable() -> None:
    config = parse_config(MINIMAL, env={})
    with pytest.raises(ValidationError, match="frozen"):
        config.source = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.modules["quota"].retries = 5  # type: ignore[misc]


def test_models_built_in_code_are_validated_too() -> None:
    module = ModuleConfig(name="m", commands=("broadband/info",))
    assert (module.retries, module.refresh_ahead) == (2, True)
    with pytest.raises(ValidationError):
        ModuleConfig(name="m", commands=("broadband/kill",))
    with pytest.raises(ValidationError):
        ModuleConfig(name="m", commands=("broadband/info",), retries=11)
    auth = AuthConfig(name="a", control_login="l", control_password=Secret("pw"))
    assert auth.form_fields() == {"control_login": "l", "control_password": "pw"}


def test_file_keys() -> None:
    assert ModuleConfig.file_keys() == [
        "commands",
        "auth",
        "timeout_seconds",
        "retries",
        "cache_seconds",
        "scope",
        "refresh_ahead",
    ]
    assert AuthConfig.file_keys() == [*CREDENTIAL_KEYS, "max_concurrency"]
    assert len(CREDENTIAL_KEYS) == 3 * len(CREDENTIAL_FIELDS)
    assert ChaosSettings.file_keys() == ["url", "proxy_url", "proxy_url_file", "proxy_url_env"]


def test_readme_documents_every_key() -> None:
    """A key added to a model must reach the README's table too."""
    readme = (REPO_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(?:[a-z]+\.<name>\.|chaos\.)?([a-z_]+)` \|", readme, re.M))
    keys = {*ModuleConfig.file_keys(), *ChaosSettings.file_keys(), "max_concurrency"}
    # proxy_url's _file and _env forms are told in its row, as the credentials' are.
    assert keys - {"proxy_url_file", "proxy_url_env"} <= documented


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
    assert {name: module.model_dump() for name, module in config.modules.items()} == {
        name: {
            "commands": (command,),
            "auth": "default",
            "timeout_seconds": 20.0,
            "retries": 2,
            "cache_seconds": cache,
            "scope": "account",
            "refresh_ahead": True,
        }
        for name, command, cache in [
            ("quota", "broadband/quota", 240.0),
            ("line", "broadband/info", 840.0),
        ]
    }


def test_shipped_modules_toml_without_environment() -> None:
    path = REPO_ROOT / "modules.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == [
        f"{path}: auths.default.control_login_env: names an environment variable that is not set",
        f"{path}: auths.default.control_password_env: "
        "names an environment variable that is not set",
    ]


# --------------------------------------------------------------------------- AuthConfig


def test_form_fields_for_a_control_login() -> None:
    config = parse_config(MINIMAL)
    assert config.auths["home"].form_fields() == {
        "control_login": "ab12@a",
        "control_password": "pw",
    }


def test_secret_fingerprint() -> None:
    base = AuthConfig(name="a", control_login="ab12@a", control_password=Secret("pw"))
    fingerprint = base.secret_fingerprint()
    assert len(fingerprint) == 64
    assert int(fingerprint, 16) >= 0
    # Stable for the same values, whatever the name, source or concurrency.
    assert fingerprint == base.model_copy(update={"name": "b"}).secret_fingerprint()
    assert fingerprint == base.model_copy(update={"max_concurrency": 9}).secret_fingerprint()
    sources = {"control_password": CredentialSource("env", "X")}
    assert fingerprint == base.model_copy(update={"sources": sources}).secret_fingerprint()
    # Any credential change changes it, including moving a value to another field.
    others = [
        base.model_copy(update={"control_password": Secret("pw2")}),
        base.model_copy(update={"control_login": "ab13@a"}),
        AuthConfig(name="a", control_login="ab12@a", account_number="pw"),
        AuthConfig(name="a", control_login="ab12@apw"),
    ]
    fingerprints = {fingerprint} | {other.secret_fingerprint() for other in others}
    assert len(fingerprints) == 1 + len(others)


# --------------------------------------------------------------------------- secrets never leak


@pytest.fixture(params=["inline", "file", "env"])
def sentinel_config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """A valid configuration holding the sentinel as both passwords, in one form."""
    form: str = request.param
    (tmp_path / "secret").write_text(SENTINEL + "\n")
    lines = {
        "inline": (f'control_password = "{SENTINEL}"', f'account_password = "{SENTINEL}"'),
        "file": ('control_password_file = "secret"', 'account_password_file = "secret"'),
        "env": ('control_password_env = "PW"', 'account_password_env = "PW"'),
    }[form]
    text = f"""
    [auths.control]
    control_login = "ab12@a"
    {lines[0]}
    [auths.account]
    account_number = "A1234A"
    {lines[1]}
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
        f"{auth.control_password}",
        f"{auth.control_password!r}",
        json.dumps(sentinel_config.model_dump(), default=str),
        sentinel_config.model_dump_json(),
        repr(copy.deepcopy(sentinel_config)),
        auth.secret_fingerprint(),
    ]
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("config %s auth %r", sentinel_config, auth)
    texts.append(caplog.text)
    for text in texts:
        assert SENTINEL not in text


def test_sentinel_not_in_pickles(sentinel_config: Config) -> None:
    data = pickle.dumps(sentinel_config)
    assert SENTINEL.encode() not in data
    restored = pickle.loads(data)
    assert restored.auths["control"].control_password.reveal() == "<secret>"
