"""``/config``: the effective configuration as TOML, driven by the models, with no secret."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from aaisp_multi_exporter.config import (
    AuthConfig,
    ChaosSettings,
    Config,
    ModuleConfig,
    Secret,
    parse_config,
    render_config_toml,
    subset_config,
)
from tests.config.support import EXAMPLE_CONFIG, EXAMPLE_ENV

SENTINEL = "S3NTINEL-pa55"


def test_render_round_trip(secrets_dir: Path) -> None:
    env = {**EXAMPLE_ENV, "HOME_LOGIN": "ab12@a"}
    config = parse_config(
        EXAMPLE_CONFIG.replace('control_login = "ab12@a"', 'control_login_env = "HOME_LOGIN"'),
        env=env,
        base_dir=secrets_dir,
    )
    rendered = render_config_toml(config)
    defaults = {"retries": 2, "cache_seconds": 60.0, "scope": "account", "refresh_ahead": True}
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
                **defaults,
            },
            "line": {"commands": ["broadband/info"], **defaults},
        },
    }
    # With no inline secrets, the rendering loads back into the same configuration.
    assert parse_config(rendered, env=env) == config


def test_render_names_each_table_and_what_is_unset() -> None:
    config = parse_config(
        '[auths.home]\ncontrol_login = "a"\ncontrol_password = "pw"\n'
        '[modules.m]\ncommands = ["broadband/info"]\nrefresh_ahead = false\n',
        source="conf.d/home.toml",
    )
    assert render_config_toml(config) == (
        '# Effective configuration loaded from "conf.d/home.toml".\n'
        '# Secrets are shown as "<secret>"; *_file and *_env keys show their source.\n'
        "\n"
        "# in no file: the defaults apply\n"
        "[chaos]\n"
        'url = "https://chaos2.aa.net.uk"\n'
        "# proxy_url: not set; the environment's HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply\n"
        "\n"
        '# from "conf.d/home.toml"\n'
        "[auths.home]\n"
        'control_login = "a"\n'
        'control_password = "<secret>"\n'
        "max_concurrency = 4\n"
        "\n"
        '# from "conf.d/home.toml"\n'
        "[modules.m]\n"
        'commands = ["broadband/info"]\n'
        "# auth: not set; the ?auth= parameter or the only credential set is used\n"
        "# timeout_seconds: not set; the scrape timeout (or 120 s) applies\n"
        "retries = 2\n"
        "cache_seconds = 60.0\n"
        'scope = "account"\n'
        "refresh_ahead = false\n"
    )


def test_every_module_key_is_rendered() -> None:
    """Driven by the model: a new field shows up in /config with no edit to the renderer."""
    config = parse_config(
        '[auths.a]\ncontrol_login = "a"\ncontrol_password = "pw"\n'
        '[modules.m]\ncommands = ["broadband/info"]\n'
    )
    rendered = render_config_toml(config)
    for key in ModuleConfig.file_keys():
        assert f"\n{key} = " in rendered or f"\n# {key}: not set" in rendered


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
                name="weird name", control_login=awkward, control_password=Secret("x")
            )
        },
        modules={
            "m": ModuleConfig(name="m", commands=("broadband/info",), auth="weird name"),
        },
        origins={"modules.m": "conf.d/new\nline.toml"},
    )
    rendered = render_config_toml(config)
    loaded = tomllib.loads(rendered)
    assert loaded["auths"]["weird name"]["control_login"] == awkward
    assert loaded["auths"]["weird name"]["control_password"] == "<secret>"
    assert loaded["modules"]["m"]["auth"] == "weird name"
    # A file name cannot break out of its comment line.
    assert '# from "conf.d/new\\nline.toml"\n[modules.m]' in rendered


def test_render_without_sources_treats_values_as_inline() -> None:
    config = Config(
        source="x",
        chaos=ChaosSettings(),
        auths={
            "a": AuthConfig(name="a", control_login="l", control_password=Secret(SENTINEL)),
        },
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


def test_subset_config(secrets_dir: Path) -> None:
    config = parse_config(EXAMPLE_CONFIG, env=EXAMPLE_ENV, base_dir=secrets_dir)
    subset = subset_config(config, modules=["line", "quota", "line"], auths=["reseller"])
    assert subset.source == config.source
    assert subset.chaos == config.chaos
    assert list(subset.modules) == ["line", "quota"]
    assert list(subset.auths) == ["reseller"]
    assert subset.auths["reseller"] is config.auths["reseller"]
    assert set(tomllib.loads(render_config_toml(subset))["auths"]) == {"reseller"}
    with pytest.raises(KeyError):
        subset_config(config, modules=["nope"], auths=[])
