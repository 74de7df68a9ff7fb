"""A probe request: query rules for ``auth`` (the rest are end to end in test_run) and the
blackbox_exporter deadline rule, with its own test vectors."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from multidict import MultiDict

from aaisp_multi_exporter.config import parse_config
from aaisp_multi_exporter.probe.request import (
    BadTimeoutHeader,
    ProbeRejected,
    QueryParser,
    effective_timeout,
    parse_auth,
    parse_timeout_header,
)
from tests.conftest import config_text


@pytest.mark.parametrize(
    ("header", "offset", "module", "expected"),
    [
        pytest.param(15.0, 0.5, None, 14.5, id="header-less-offset"),
        pytest.param(15.0, 0.0, 5.0, 5.0, id="module-smaller"),
        pytest.param(None, 0.5, 10.0, 10.0, id="no-header-module"),
        pytest.param(None, 0.0, None, 120.0, id="no-header-no-module"),
        pytest.param(None, 0.5, None, 120.0, id="no-header-default-ignores-offset"),
        pytest.param(10.0, 0.5, 20.0, 9.5, id="module-larger-than-header"),
        pytest.param(0.4, 0.5, 3.0, 3.0, id="header-leaves-nothing-module"),
        pytest.param(0.5, 0.5, 3.0, 3.0, id="header-leaves-zero-module"),
        pytest.param(0.4, 0.5, None, 0.4, id="header-leaves-nothing-no-module"),
    ],
)
def test_effective_timeout(
    header: float | None, offset: float, module: float | None, expected: float
) -> None:
    assert effective_timeout(header, offset, module) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", None),
        ("15", 15.0),
        ("9.5", 9.5),
        (" 10 ", 10.0),
        ("600", 600.0),
        ("601", 600.0),  # capped: no request holds a probe for ever
        ("1e308", 600.0),
    ],
)
def test_parse_header(value: str | None, expected: float | None) -> None:
    assert parse_timeout_header(value) == expected


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "1e999", "9" * 5000, "1" * 100_000])
def test_bad_header(value: str) -> None:
    with pytest.raises(BadTimeoutHeader):
        parse_timeout_header(value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([], None, id="omitted"),
        pytest.param([""], None, id="empty"),
        pytest.param(["other"], "other", id="named"),
    ],
)
def test_parse_auth(values: list[str], expected: str | None) -> None:
    config = parse_config(config_text("http://127.0.0.1:1"), source="test.toml")
    auth = parse_auth(values, config.auths)
    assert (auth.name if auth else None) == expected


@pytest.mark.parametrize("values", [["", "home"], ["home", "home"], ["nope"]])
def test_parse_auth_refuses(values: list[str]) -> None:
    config = parse_config(config_text("http://127.0.0.1:1"), source="test.toml")
    with pytest.raises(ProbeRejected):
        parse_auth(values, config.auths)


def query(raw: str) -> MultiDict[str]:
    return MultiDict(parse_qsl(raw, keep_blank_values=True))


def test_query_parser_keeps_a_valid_request_by_its_query_string() -> None:
    parser = QueryParser(parse_config(config_text("http://127.0.0.1:1"), source="test.toml"))
    raw = "target=10001&module=line"
    assert parser.known(raw) is None
    first = parser.parse(query(raw), raw)
    assert parser.known(raw) is first
    assert (first.target, first.module_names, first.debug) == ("10001", ("line",), False)
    # Another target of the same job shares what its module and auth resolve to.
    other = parser.parse(query("target=10002&module=line"))
    assert other.plan is first.plan
    assert parser.known("target=10002&module=line") is None  # not asked to keep it


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("target=10001&module=nope", "unknown_module"),
        ("target=10001", "missing_module"),
        ("module=line", "missing_target"),
        ("target=a%20b&module=line", "invalid_target"),
        ("target=10001&module=line&debug=maybe", "invalid_parameter"),
        ("target=10001&module=line&auth=nobody", "unknown_auth"),
    ],
)
def test_query_parser_never_keeps_a_refused_request(raw: str, reason: str) -> None:
    parser = QueryParser(parse_config(config_text("http://127.0.0.1:1"), source="test.toml"))
    for _ in range(2):  # refused again, not served from memory
        with pytest.raises(ProbeRejected) as refused:
            parser.parse(query(raw), raw)
        assert refused.value.reason == reason
        assert parser.known(raw) is None


def test_query_parser_memory_is_bounded() -> None:
    parser = QueryParser(
        parse_config(config_text("http://127.0.0.1:1"), source="test.toml"), known_limit=2
    )
    raws = [f"target={10000 + index}&module=line" for index in range(5)]
    for raw in raws:
        assert parser.parse(query(raw), raw).target == raw.split("&")[0].removeprefix("target=")
    assert sum(parser.known(raw) is not None for raw in raws) <= 2
    assert parser.known(raws[-1]) is not None


def test_query_parser_memory_is_bounded_in_bytes() -> None:
    """Issue 16: keyed by the raw query, which may carry 8 KB of unknown parameters; a long
    query is parsed but never kept, and the kept ones stay under a byte budget."""
    parser = QueryParser(
        parse_config(config_text("http://127.0.0.1:1"), source="test.toml"), known_chars_limit=1000
    )
    padding = "&x=" + "y" * 8000
    long_raw = "target=10001&module=line" + padding
    assert parser.parse(query(long_raw), long_raw).target == "10001"
    assert parser.known(long_raw) is None
    assert parser.known_chars == 0
    for index in range(200):
        raw = f"target={10000 + index}&module=line&pad={'z' * 100}"
        parser.parse(query(raw), raw)
        assert parser.known_chars <= 1000
    assert parser.known(raw) is not None


def test_a_long_module_list_is_valid_but_not_kept() -> None:
    parser = QueryParser(parse_config(config_text("http://127.0.0.1:1"), source="test.toml"))
    raw = "target=10001&module=" + ",".join(["line"] * 2000)
    first = parser.parse(query(raw), raw)
    assert first.module_names == ("line",)
    assert parser.parse(query(raw), raw).plan is not first.plan  # resolved afresh
