"""``[chaos] proxy_url`` in its three forms: parsed, checked and shown without its password."""

from __future__ import annotations

from pathlib import Path

import pytest

from aaisp_multi_exporter.config import parse_config, render_config_toml
from aaisp_multi_exporter.config.proxy import parse_proxy_url
from tests.config.support import MINIMAL, problems_of

SENTINEL = "S3NTINEL-proxy-pa55"


@pytest.mark.parametrize(
    ("text", "url", "login", "password"),
    [
        ("http://proxy:3128", "http://proxy:3128", None, None),
        ("http://proxy:3128/", "http://proxy:3128", None, None),
        ("HTTP://Proxy.Example", "http://proxy.example", None, None),
        ("http://u:p@proxy:3128", "http://proxy:3128", "u", "p"),
        ("http://u%40a:p%3Aw@proxy:8080", "http://proxy:8080", "u@a", "p:w"),
        ("http://u@proxy:3128", "http://proxy:3128", "u", None),
        ("http://[::1]:3128", "http://[::1]:3128", None, None),
    ],
)
def test_parse_proxy_url(text: str, url: str, login: str | None, password: str | None) -> None:
    parsed = parse_proxy_url(text)
    assert (parsed.url, parsed.login) == (url, login)
    assert (None if parsed.password is None else parsed.password.reveal()) == password
    # The login and password never show in its repr.
    shown = "None" if password is None else "<secret>"
    assert repr(parsed) == f"ProxyAddress(url={url!r}, password={shown})"


@pytest.mark.parametrize(
    ("text", "default_scheme", "problem"),
    [
        ("proxy:3128", False, "must be an http:// URL"),
        ("https://proxy:3128", False, "must be an http:// URL"),
        ("socks5://proxy:1080", False, "must be an http:// URL"),
        ("http://:3128", False, "must name a host"),
        ("http://proxy:99999", False, "not a valid URL"),
        ("http://proxy:3128/path", False, "must not have a path"),
        ("http://proxy:3128?x=1", False, "must not have a path, query or fragment"),
        ("http://pro xy:3128", False, "must not contain spaces"),
        (f"http://u:{SENTINEL}@proxy:3128/x", False, "must not have a path"),
    ],
)
def test_unusable_proxy_url(text: str, default_scheme: bool, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        parse_proxy_url(text, default_scheme=default_scheme)
    assert SENTINEL not in str(caught.value)
    assert "proxy:" not in str(caught.value)  # never the URL itself


def test_host_and_port_alone_is_http_for_the_environment() -> None:
    """curl reads ``HTTPS_PROXY=proxy:3128`` as ``http://proxy:3128``."""
    assert parse_proxy_url("proxy:3128", default_scheme=True).url == "http://proxy:3128"


def chaos_with(line: str) -> str:
    return f"[chaos]\n{line}\n{MINIMAL}"


@pytest.mark.parametrize(
    ("line", "env", "shown"),
    [
        (
            f'proxy_url = "http://scraper:{SENTINEL}@proxy.example:3128"',
            {},
            'proxy_url = "http://<secret>@proxy.example:3128"',
        ),
        ('proxy_url = "http://proxy.example:3128"', {}, 'proxy_url = "http://proxy.example:3128"'),
        (
            'proxy_url_env = "SITE_PROXY"',
            {"SITE_PROXY": f"http://u:{SENTINEL}@proxy.example:3128"},
            'proxy_url_env = "SITE_PROXY"',
        ),
    ],
    ids=["inline-with-password", "inline", "env"],
)
def test_proxy_url_forms_are_shown_without_the_password(
    line: str, env: dict[str, str], shown: str
) -> None:
    config = parse_config(chaos_with(line), env=env)
    proxy = config.chaos.proxy
    assert proxy is not None
    assert proxy.url == "http://proxy.example:3128"
    rendered = render_config_toml(config)
    assert shown in rendered.splitlines()
    assert SENTINEL not in rendered
    assert SENTINEL not in repr(config) + str(config.model_dump())


def test_proxy_url_file(tmp_path: Path) -> None:
    (tmp_path / "proxy").write_text(f"http://u:{SENTINEL}@proxy.example:3128\n")
    config = parse_config(chaos_with('proxy_url_file = "proxy"'), base_dir=tmp_path)
    proxy = config.chaos.proxy
    assert proxy is not None
    assert proxy.password is not None
    assert proxy.password.reveal() == SENTINEL
    assert f'proxy_url_file = "{tmp_path / "proxy"}"' in render_config_toml(config)


@pytest.mark.parametrize(
    ("line", "env", "problem"),
    [
        (
            f'proxy_url = "http://u:{SENTINEL}@proxy.example:3128"\nproxy_url_env = "X"',
            {"X": "http://p:1"},
            "chaos.proxy_url: give only one of proxy_url, proxy_url_file, proxy_url_env",
        ),
        (
            f'proxy_url = "https://u:{SENTINEL}@proxy.example:3128"',
            {},
            "chaos.proxy_url: must be an http:// URL",
        ),
        (
            'proxy_url_env = "SITE_PROXY"',
            {"SITE_PROXY": f"ftp://u:{SENTINEL}@proxy"},
            "chaos.proxy_url_env: must be an http:// URL",
        ),
        (
            'proxy_url_env = "SITE_PROXY"',
            {},
            "chaos.proxy_url_env: names an environment variable that is not set",
        ),
        ('proxy_url = ""', {}, "chaos.proxy_url: must not be empty"),
        (f"proxy_url = 3128 # {SENTINEL}", {}, "chaos.proxy_url: "),
        (
            f'proxy_ur = "http://u:{SENTINEL}@p:1"',
            {},
            'chaos.proxy_ur: unknown key; did you mean "proxy_url"?',
        ),
    ],
    ids=["two-forms", "https", "env-scheme", "env-unset", "empty", "not-text", "misspelt"],
)
def test_proxy_url_problems_never_show_it(line: str, env: dict[str, str], problem: str) -> None:
    problems = problems_of(chaos_with(line), env=env)
    assert any(problem in found for found in problems), problems
    assert SENTINEL not in "\n".join(problems)
