"""Which proxy a CHAOS request takes: the configuration's, else the environment's as curl
reads it (``chaos/proxy.py``). The requests themselves go through a real proxy in
``tests/test_proxy.py``."""

from __future__ import annotations

import base64

import pytest

from aaisp_multi_exporter.chaos.proxy import CONFIGURED, choose_proxy, no_proxy_matches
from aaisp_multi_exporter.config.proxy import parse_proxy_url

HTTPS_CHAOS = "https://chaos2.aa.net.uk"
HTTP_CHAOS = "http://127.0.0.1:8099"


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        (HTTPS_CHAOS, {}, None),
        (HTTPS_CHAOS, {"HTTPS_PROXY": "http://p:3128"}, "http://p:3128 (from HTTPS_PROXY)"),
        (HTTPS_CHAOS, {"https_proxy": "http://p:3128"}, "http://p:3128 (from https_proxy)"),
        (
            HTTPS_CHAOS,
            {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"},
            "http://lower:1 (from https_proxy)",
        ),
        (
            HTTPS_CHAOS,
            {"https_proxy": " ", "HTTPS_PROXY": "http://upper:2"},
            "http://upper:2 (from HTTPS_PROXY)",
        ),
        (HTTPS_CHAOS, {"HTTP_PROXY": "http://p:3128"}, None),
        (HTTP_CHAOS, {"HTTPS_PROXY": "http://p:3128"}, None),
        (HTTP_CHAOS, {"HTTP_PROXY": "http://p:3128"}, "http://p:3128 (from HTTP_PROXY)"),
        (HTTPS_CHAOS, {"HTTPS_PROXY": "p:3128"}, "http://p:3128 (from HTTPS_PROXY)"),
        (HTTPS_CHAOS, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "aa.net.uk"}, None),
        (HTTPS_CHAOS, {"HTTPS_PROXY": "http://p:3128", "no_proxy": "*"}, None),
        (
            HTTPS_CHAOS,
            {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "example.net"},
            "http://p:3128 (from HTTPS_PROXY)",
        ),
    ],
)
def test_environment_decides_without_proxy_url(
    url: str, env: dict[str, str], expected: str | None
) -> None:
    proxy = choose_proxy(url, None, env)
    assert (None if proxy is None else str(proxy)) == expected


def test_proxy_url_wins_over_the_environment_and_no_proxy() -> None:
    env = {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "*"}
    proxy = choose_proxy(HTTPS_CHAOS, parse_proxy_url("http://site:3128"), env)
    assert proxy is not None
    assert str(proxy) == f"http://site:3128 (from {CONFIGURED})"


def test_unusable_variable_fails_rather_than_going_direct() -> None:
    secret = "S3NTINEL-proxy"
    proxy = choose_proxy(HTTPS_CHAOS, None, {"HTTPS_PROXY": f"https://u:{secret}@p:3128"})
    assert proxy is not None
    assert proxy.problem is not None
    assert proxy.problem.startswith("HTTPS_PROXY must be an http:// URL")
    assert secret not in proxy.problem + str(proxy) + repr(proxy)


@pytest.mark.parametrize(
    ("url", "key"),
    [(HTTPS_CHAOS, "proxy_headers"), (HTTP_CHAOS, "headers")],
    ids=["tunnel", "absolute-form"],
)
def test_credentials_go_where_the_proxy_reads_them(url: str, key: str) -> None:
    """In the CONNECT for https://, on the request itself for http://; never in the URL."""
    secret = "S3NTINEL-proxy"
    proxy = choose_proxy(url, parse_proxy_url(f"http://u:{secret}@p:3128"))
    assert proxy is not None
    options = proxy.request_options(url)
    assert options["proxy"] == "http://p:3128"
    expected = "Basic " + base64.b64encode(f"u:{secret}".encode()).decode()
    assert options[key] == {"Proxy-Authorization": expected}
    assert secret not in str(proxy) + repr(proxy)


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypassed"),
    [
        ("chaos2.aa.net.uk", 443, "*", True),
        ("chaos2.aa.net.uk", 443, "aa.net.uk", True),
        ("chaos2.aa.net.uk", 443, ".aa.net.uk", True),
        ("aa.net.uk", 443, ".aa.net.uk", True),
        ("chaos2.aa.net.uk", 443, "chaos2.aa.net.uk", True),
        ("chaos2.aa.net.uk", 443, "CHAOS2.AA.NET.UK", True),
        ("chaos2.aa.net.uk", 443, "uk", True),
        ("chaos2.aa.net.uk", 443, "net", False),
        ("chaos2.aa.net.uk", 443, "a.net.uk", False),
        ("chaos2.aa.net.uk", 443, "example.org, aa.net.uk ", True),
        ("chaos2.aa.net.uk", 443, "aa.net.uk:443", True),
        ("chaos2.aa.net.uk", 443, "aa.net.uk:8443", False),
        ("127.0.0.1", 8099, "127.0.0.1", True),
        ("127.0.0.1", 8099, "127.0.0.0/8", True),
        ("127.0.0.1", 8099, "10.0.0.0/8", False),
        ("127.0.0.1", 8099, "127.0.0.1:8099", True),
        ("127.0.0.1", 8099, "127.0.0.1:9000", False),
        ("::1", 8099, "::1", True),
        ("::1", 8099, "[::1]:8099", True),
        ("::1", 8099, "::/0", True),
        ("chaos2.aa.net.uk", 443, "", False),
        ("chaos2.aa.net.uk", 443, ",,", False),
        ("chaos2.aa.net.uk", 443, "0.0.0.0/0", False),
    ],
)
def test_no_proxy(host: str, port: int, no_proxy: str, bypassed: bool) -> None:
    assert no_proxy_matches(host, port, no_proxy) is bypassed
