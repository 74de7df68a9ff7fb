"""The landing page and ``/logs`` against a real exporter and simulator, plus page rendering."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from aaisp_multi_exporter.config import parse_config
from aaisp_multi_exporter.history import ProbeHistory
from aaisp_multi_exporter.pages import HTML_TARGET_PATTERN, render_landing
from aaisp_multi_exporter.params import TARGET_PATTERN, ProbeRejected, parse_auth
from tests.conftest import SENTINEL, Exporter, config_text

LINE = "10001"
MISSING = "nosuch"


class PageParser(HTMLParser):
    """Collects what a reader of the page sees: links, select options and table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        self.rows: list[list[str]] = []
        self.row_links: list[list[str]] = []
        self._href: str | None = None
        self._select: str | None = None
        self._cell: list[str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a":
            self._href = attributes.get("href")
            self._text = []
            if self.rows and self._cell is not None:
                self.row_links[-1].append(self._href or "")
        elif tag == "select":
            self._select = attributes.get("name") or ""
            self.options[self._select] = []
        elif tag == "option" and self._select is not None:
            self.options[self._select].append(attributes.get("value") or "")
        elif tag == "tr":
            self.rows.append([])
            self.row_links.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links["".join(self._text).strip()] = self._href
            self._href = None
        elif tag == "select":
            self._select = None
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse_page(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    return parser


def probe_rows(page: PageParser) -> list[tuple[list[str], list[str]]]:
    """Rows of the recent-probes table (seven cells), with their links."""
    return [
        (row, links)
        for row, links in zip(page.rows, page.row_links, strict=True)
        if len(row) == 7 and row[0] != "Time (UTC)"
    ]


async def test_landing_page_lists_configuration_and_links(exporter: Exporter) -> None:
    status, text, response = await exporter.get("/")
    assert status == 200
    assert response.content_type == "text/html"
    page = parse_page(text)
    assert page.links == {
        "Metrics": "metrics",
        "Configuration": "config",
        "Service discovery": "discover",
        "Health": "health",
    }
    assert page.options == {"module": ["quota", "line"], "auth": ["", "home", "other"]}
    assert ["quota", "broadband/quota", "account", "home"] in page.rows
    assert ["line", "broadband/info", "account", "home"] in page.rows
    assert "<code>home</code>, <code>other</code>" in text
    assert 'action="probe"' in text
    assert 'name="debug" value="true"' in text
    assert "No probes yet" in text
    # Relative links only, nothing loaded from elsewhere, no script.
    assert not re.search(r'(href|src|action)="(/|https?:)', text)
    assert "<script" not in text


async def test_landing_page_shows_recent_probes_newest_first(exporter: Exporter) -> None:
    await exporter.probe(f"target={LINE}&module=line")
    await exporter.probe(f"target={MISSING}&module=quota&auth=other")
    await exporter.probe(f"target={LINE}&module=line,quota&debug=true")
    _, text, _ = await exporter.get("/")
    rows = probe_rows(parse_page(text))
    assert [row[1:5] for row, _ in rows] == [
        ["line,quota", LINE, "home", "Success"],
        ["quota", MISSING, "other", "Failure"],
        ["line", LINE, "home", "Success"],
    ]
    assert [links for _, links in rows] == [["logs?id=2"], ["logs?id=1"], ["logs?id=0"]]
    for row, _ in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[0])
        assert re.fullmatch(r"\d+\.\d{3} s", row[5])


async def test_landing_page_follows_the_history_limit(exporter: Exporter) -> None:
    exporter.state.history = ProbeHistory(2)
    for _ in range(3):
        await exporter.probe(f"target={MISSING}&module=quota")
    for _ in range(3):
        await exporter.probe(f"target={LINE}&module=line")
    _, text, _ = await exporter.get("/")
    rows = probe_rows(parse_page(text))
    assert [(row[2], row[4]) for row, _ in rows] == [
        (LINE, "Success"),
        (LINE, "Success"),
        (MISSING, "Failure"),
        (MISSING, "Failure"),
    ]
    assert [links for _, links in rows] == [
        ["logs?id=5"],
        ["logs?id=4"],
        ["logs?id=2"],
        ["logs?id=1"],
    ]
    assert "The last 2 probes are kept, and up to 2 older failures." in text


async def test_logs_returns_what_debug_returned(exporter: Exporter) -> None:
    status, debug_text = await exporter.probe(f"target={LINE}&module=line&debug=true")
    assert status == 200
    record = exporter.state.history.recent()[0]
    status, text, response = await exporter.get(f"/logs?id={record.id}")
    assert status == 200
    assert response.content_type == "text/plain"
    assert text == debug_text
    assert f"Probe of target {LINE} succeeded" in text
    assert "probe_success 1.0" in text


async def test_probes_without_debug_are_kept_too(exporter: Exporter) -> None:
    status, exposition = await exporter.probe(f"target={LINE}&module=line")
    assert status == 200
    assert "Logs for the probe:" not in exposition
    status, text, _ = await exporter.get(f"/logs?target={LINE}")
    assert status == 200
    assert "Logs for the probe:" in text
    assert "Metrics that would have been returned:" in text
    assert "Module configuration:" in text


@pytest.mark.parametrize(
    ("query", "status", "expected"),
    [
        pytest.param("", 400, 'parameter "id" or "target" is required', id="neither"),
        pytest.param("id=&target=", 400, 'parameter "id" or "target" is required', id="empty"),
        pytest.param(f"id=0&target={LINE}", 400, 'give "id" or "target", not both', id="both"),
        pytest.param("module=line", 400, 'parameter "module" needs "target"', id="module-alone"),
        pytest.param("id=0&module=line", 400, 'parameter "module" needs "target"', id="id-module"),
        pytest.param("id=abc", 400, 'invalid id "abc": want a probe number', id="bad-id"),
        pytest.param("id=-1", 400, 'invalid id "-1"', id="negative-id"),
        pytest.param("id=1.5", 400, 'invalid id "1.5"', id="fraction-id"),
        pytest.param("id=%C2%B2", 400, "invalid id", id="unicode-digit-id"),
        pytest.param("id=0&id=1", 400, 'parameter "id" may be given at most once', id="two-ids"),
        pytest.param(
            "target=a&target=b", 400, 'parameter "target" may be given at most once', id="two-t"
        ),
        pytest.param(
            "id=99",
            404,
            "no probe with id 99; the history keeps the last 100 probes and up to 100 older"
            " failures",
            id="unknown-id",
        ),
        pytest.param("target=nobody", 404, 'no probe of target "nobody";', id="unknown-target"),
        pytest.param(
            f"target={LINE}&module=quota",
            404,
            f'no probe of target "{LINE}" with module "quota"',
            id="target-other-module",
        ),
        pytest.param("id=0", 200, f"Probe of target {LINE} succeeded", id="by-id"),
        pytest.param("id=1", 200, f"Probe of target {MISSING} failed", id="failure-by-id"),
        pytest.param(f"target={LINE}", 200, "[modules.line]", id="by-target"),
        pytest.param(f"target={LINE}&module=line", 200, "[modules.line]", id="by-module"),
        pytest.param(f"target={LINE}&module=", 200, "[modules.line]", id="empty-module"),
        pytest.param(
            f"target={MISSING}&module=quota", 200, f'line "{MISSING}" not found', id="failure"
        ),
    ],
)
async def test_logs_status_codes(
    exporter: Exporter, query: str, status: int, expected: str
) -> None:
    await exporter.probe(f"target={LINE}&module=line")
    await exporter.probe(f"target={MISSING}&module=quota")
    got_status, text, response = await exporter.get(f"/logs?{query}")
    assert (got_status, response.content_type) == (status, "text/plain")
    assert expected in text


async def test_logs_by_target_is_the_most_recent(exporter: Exporter) -> None:
    await exporter.probe(f"target={LINE}&module=line")
    await exporter.probe(f"target={LINE}&module=quota")
    _, newest, _ = await exporter.get(f"/logs?target={LINE}")
    assert "[modules.quota]" in newest
    assert "[modules.line]" not in newest
    _, by_module, _ = await exporter.get(f"/logs?target={LINE}&module=line")
    assert "[modules.line]" in by_module


async def test_no_secret_on_pages(exporter: Exporter) -> None:
    await exporter.probe(f"target={LINE}&module=line,quota")
    await exporter.probe(f"target={MISSING}&module=quota&debug=true")
    for path in ("/", "/logs?id=0", "/logs?id=1", f"/logs?target={LINE}"):
        status, text, _ = await exporter.get(path)
        assert status == 200, path
        assert SENTINEL not in text, path
    _, text, _ = await exporter.get("/logs?id=0")
    assert "<secret>" in text


async def test_empty_auth_means_module_default(exporter: Exporter) -> None:
    """The form sends ``auth=`` for "(module default)"."""
    status, text = await exporter.probe(f"target={LINE}&module=line&auth=&debug=true")
    assert status == 200, text
    assert f"Probe of target {LINE} succeeded" in text
    assert exporter.state.history.recent()[0].auths == ("home",)


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


def test_rendering_escapes_everything() -> None:
    """Targets and names are restricted upstream; the page escapes them anyway."""
    history = ProbeHistory(5)
    history.add(
        target="<script>alert(1)</script>",
        modules=["a<b", "c&d"],
        auths=['"home"'],
        success=False,
        duration=0.5,
        debug_text="",
    )
    text = render_landing(None, history.recent(), history_limit=5, version="<1&2>")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "a&lt;b,c&amp;d" in text
    assert "&quot;home&quot;" in text
    assert "Version &lt;1&amp;2&gt;" in text
    assert "No valid configuration is loaded." in text
    assert "<form" not in text


@pytest.mark.parametrize(
    "target",
    ["10001", "01234567890", "a+b.c_d@e-f", "x" * 64, "", "x" * 65, "a b", "a<b", "a/b", "é", "a]"],
)
def test_browser_pattern_agrees_with_server(target: str) -> None:
    browser = re.fullmatch(HTML_TARGET_PATTERN, target) is not None
    assert browser == (TARGET_PATTERN.fullmatch(target) is not None)


@pytest.mark.parametrize(
    ("auths", "expected"),
    [
        pytest.param(["home"], "home", id="only-set"),
        pytest.param(["home", "other"], "(none: choose one)", id="several-sets"),
    ],
)
def test_default_auth_column_without_module_auth(auths: list[str], expected: str) -> None:
    sets = "".join(
        f'[auths.{name}]\ncontrol_login = "{name}@a"\ncontrol_password = "pw"\n' for name in auths
    )
    config = parse_config(
        f'{sets}[modules.line]\ncommands = ["broadband/info"]\n', source="test.toml"
    )
    page = parse_page(render_landing(config, [], history_limit=100))
    assert ["line", "broadband/info", "account", expected] in page.rows
