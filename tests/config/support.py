"""Shared by the config tests: small configurations and a problem collector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aaisp_multi_exporter.config import ConfigError, parse_config

TESTDATA = Path(__file__).parent.parent / "testdata"
REPO_ROOT = Path(__file__).parent.parent.parent

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

EXAMPLE_CONFIG = """
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

EXAMPLE_ENV = {"RESELLER_ACCOUNT": "A1234A", "RESELLER_PASSWORD": "reseller-pw"}


def problems_of(text: str, **kwargs: Any) -> list[str]:
    """The problems ``parse_config`` finds in ``text``; the test fails if it finds none."""
    with pytest.raises(ConfigError) as info:
        parse_config(text, **kwargs)
    return info.value.problems


def auth_with(line: str) -> str:
    """A configuration whose one credential set has a login and ``line``."""
    return f'[auths.home]\ncontrol_login = "ab12@a"\n{line}\n{MODULE_M}'
