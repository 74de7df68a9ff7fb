"""``--web.external-url`` and ``--web.route-prefix`` as Prometheus reads them (``web/paths.py``)."""

from __future__ import annotations

import pytest

from aaisp_multi_exporter.web.paths import InvalidWebPath, WebPaths, web_paths


@pytest.mark.parametrize(
    ("external_url", "route_prefix", "expected"),
    [
        pytest.param("", "", WebPaths("", ""), id="neither"),
        pytest.param("", "/", WebPaths("", ""), id="root-prefix"),
        pytest.param("", "aaisp", WebPaths("/aaisp", "/aaisp"), id="prefix-without-slash"),
        pytest.param("", "/a/b/", WebPaths("/a/b", "/a/b"), id="prefix-trailing-slash"),
        pytest.param("", "//a//", WebPaths("/a", "/a"), id="prefix-slashes-trimmed"),
        pytest.param("", "//", WebPaths("", ""), id="only-slashes"),
        # Dots inside a segment are a name like any other.
        pytest.param("", "/a.b/.c/...", WebPaths("/a.b/.c/...", "/a.b/.c/..."), id="dots-in-names"),
        pytest.param("http://h:9099", "", WebPaths("", ""), id="url-without-path"),
        pytest.param("http://h/", "", WebPaths("", ""), id="url-root-path"),
        # Prometheus: the route prefix defaults to the external URL's path.
        pytest.param("https://h/aaisp/", "", WebPaths("/aaisp", "/aaisp"), id="url-path"),
        pytest.param("https://h/a/b", "", WebPaths("/a/b", "/a/b"), id="url-deep-path"),
        # A proxy that strips the path: routes at the root, clients see /aaisp.
        pytest.param("https://h/aaisp", "/", WebPaths("", "/aaisp"), id="proxy-strips"),
        # A proxy that rewrites /aaisp to /inside.
        pytest.param("https://h/aaisp", "/inside", WebPaths("/inside", "/aaisp"), id="rewrite"),
        # An external URL at its root tells nothing about paths: the prefix is what is seen.
        pytest.param("https://h/", "/inside", WebPaths("/inside", "/inside"), id="url-root"),
    ],
)
def test_web_paths(external_url: str, route_prefix: str, expected: WebPaths) -> None:
    assert web_paths(external_url, route_prefix) == expected


@pytest.mark.parametrize(
    ("paths", "route", "home", "metrics_path"),
    [
        pytest.param(WebPaths("", ""), "/probe", "/", None, id="root"),
        pytest.param(WebPaths("/a", "/a"), "/a/probe", "/a/", "/a/probe", id="prefix"),
        pytest.param(WebPaths("", "/out"), "/probe", "/out/", "/out/probe", id="proxy-strips"),
        pytest.param(WebPaths("/in", "/out"), "/in/probe", "/out/", "/out/probe", id="rewrite"),
    ],
)
def test_what_each_path_is_used_for(
    paths: WebPaths, route: str, home: str, metrics_path: str | None
) -> None:
    assert paths.route("/probe") == route
    assert paths.home == home
    assert paths.metrics_path == metrics_path


@pytest.mark.parametrize(
    ("external_url", "route_prefix", "message"),
    [
        pytest.param("localhost:9099", "", "--web.external-url 'localhost:9099': want", id="n"),
        pytest.param("/aaisp", "", "want an absolute http or https URL", id="no-host"),
        pytest.param("ftp://h/x", "", "want an absolute http or https URL", id="scheme"),
        pytest.param("http://h/x?a=1", "", "no query or fragment", id="query"),
        pytest.param("http://h/x#top", "", "no query or fragment", id="fragment"),
        pytest.param("http://[::1/x", "", "not a URL", id="bad-ipv6"),
        pytest.param(
            "http://h/{x}",
            "",
            "--web.external-url 'http://h/{x}': its path '/{x}': a path",
            id="br",
        ),
        pytest.param("", "/{name}", "--web.route-prefix '/{name}': a path may hold only", id="v"),
        pytest.param("", "/a b", "a path may hold only", id="space"),
        pytest.param("", "/a%20b", "a path may hold only", id="percent"),
        pytest.param("", "/a?b", "a path may hold only", id="query-in-prefix"),
        pytest.param("", "{" + "x" * 200, "'{" + "x" * 76 + "...': a path", id="long-value-cut"),
        # A client resolves dot segments before asking: /. redirected to itself for ever, and
        # under /a/../b every endpoint was a 404.
        pytest.param("", "/.", "--web.route-prefix '/.': no . or .. segment allowed", id="dot"),
        pytest.param("", "/a/../b", "'/a/../b': no . or .. segment allowed", id="dot-dot"),
        pytest.param("", "..", "'..': no . or .. segment allowed", id="bare-dot-dot"),
        pytest.param("", "/a/./", "'/a/./': no . or .. segment allowed", id="trailing-dot"),
        pytest.param("", "/a//b", "'/a//b': no empty segment (//) allowed", id="empty-segment"),
        pytest.param(
            "http://h/a/../b",
            "",
            "--web.external-url 'http://h/a/../b': its path '/a/../b': no . or .. segment",
            id="url-dot-dot",
        ),
        pytest.param("http://h/.", "", "its path '/.': no . or .. segment", id="url-dot"),
        pytest.param("http://h/a//b", "", "its path '/a//b': no empty segment", id="url-empty"),
        pytest.param("http://h/x?", "", "'http://h/x?': no query or fragment", id="empty-query"),
        pytest.param("http://h/x#", "", "no query or fragment", id="empty-fragment"),
    ],
)
def test_bad_web_paths(external_url: str, route_prefix: str, message: str) -> None:
    with pytest.raises(InvalidWebPath) as caught:
        web_paths(external_url, route_prefix)
    assert message in str(caught.value)
