"""The landing page and ``/logs`` against a real exporter and simulator, plus page rendering."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from aaisp_multi_exporter.config import parse_config
from aaisp_multi_exporter.obs.logs import LogfmtFormatter, record_fields
from aaisp_multi_exporter.probe.request import TARGET_PATTERN
from aaisp_multi_exporter.probe.results import ModuleResult
from aaisp_multi_exporter.server.discovery import LeftOut
from aaisp_multi_exporter.server.history import ProbeHistory
from aaisp_multi_exporter.server.pages import (
    FAILING_SHOWN,
    HTML_TARGET_PATTERN,
    PROBES_SHOWN,
    age,
    render_landing,
)
from aaisp_multi_exporter.server.rejections import RecentRejections
from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import HOME_LOGIN, SENTINEL, Exporter, ExporterFactory

LINE = "10001"
MISSING = "nosuch"


class PageParser(HTMLParser):
    """What a reader of the page sees: headings, each heading's table, links and form fields.

    Text is collected unescaped, so a hostile value that shows up as text here was escaped.
    """

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.links: dict[str, str] = {}  # outside tables
        self.tables: dict[str, list[list[str]]] = {}  # heading -> body rows
        self.table_links: dict[str, list[list[str]]] = {}
        self.options: dict[str, list[str]] = {}
        self.checkboxes: dict[str, list[tuple[str, bool]]] = {}
        self._heading: list[str] | None = None
        self._in_table = False
        self._in_body = False
        self._href: str | None = None
        self._select: str | None = None
        self._cell: list[str] | None = None
        self._text: list[str] = []

    @property
    def section(self) -> str:
        return self.headings[-1] if self.headings else ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "h2":
            self._heading = []
        elif tag == "a":
            self._href = attributes.get("href") or ""
            self._text = []
            if self._cell is not None:
                self.table_links[self.section][-1].append(self._href)
        elif tag == "select":
            self._select = attributes.get("name") or ""
            self.options[self._select] = []
        elif tag == "option" and self._select is not None:
            self.options[self._select].append(attributes.get("value") or "")
        elif tag == "input" and attributes.get("type") == "checkbox":
            name = attributes.get("name") or ""
            self.checkboxes.setdefault(name, []).append(
                (attributes.get("value") or "", "checked" in attributes)
            )
        elif tag == "table":  # a section's tables read as one (rows folded in <details>)
            self._in_table = True
            self.tables.setdefault(self.section, [])
            self.table_links.setdefault(self.section, [])
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[self.section].append([])
            self.table_links[self.section].append([])
        elif tag == "td" and self._in_body:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
        elif tag == "a" and self._href is not None:
            if not self._in_table:
                self.links["".join(self._text).strip()] = self._href
            self._href = None
        elif tag == "select":
            self._select = None
        elif tag == "table":
            self._in_table = self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.tables[self.section][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        for collecting in (self._heading, self._cell):
            if collecting is not None:
                collecting.append(data)
        if self._href is not None:
            self._text.append(data)


def parse_page(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    return parser


async def landing(exporter: Exporter) -> tuple[PageParser, str]:
    status, text, response = await exporter.get("/")
    assert (status, response.content_type) == (200, "text/html")
    return parse_page(text), text


def sections(page: PageParser) -> list[str]:
    """Headings without their counts."""
    return [re.sub(r" \(\d+\)$", "", heading) for heading in page.headings]


def table(page: PageParser, heading: str) -> list[list[str]]:
    """The rows of the table under the heading that starts with ``heading``."""
    (found,) = [name for name in page.tables if name.split(" (")[0] == heading]
    return page.tables[found]


def links(page: PageParser, heading: str) -> list[list[str]]:
    (found,) = [name for name in page.table_links if name.split(" (")[0] == heading]
    return page.table_links[found]


SECTIONS = [
    "Failing now",
    "Rejected requests",
    "Probe a line",
    "Recent failed probes",
    "Recent successful probes",
    "Modules",
]
AGO = r"(\d+ (s|min|h|d) )+ago"
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
DURATION = r"\d+\.\d{3} s"
#: Short enough to survive whole the cut the exporter makes of a CHAOS error text.
HOSTILE = "<script>alert(1)</script><i>&amp;</i>'"


async def test_landing_page_lists_configuration_and_links(exporter: Exporter) -> None:
    page, text = await landing(exporter)
    assert sections(page) == SECTIONS
    assert page.links == {
        "Metrics": "metrics",
        "Configuration": "config",
        "Service discovery": "discover",
        "Health": "health",
    }
    # Several modules can be ticked; the first is ticked so the form works as it stands.
    assert page.checkboxes == {
        "module": [("quota", True), ("line", False)],
        "debug": [("true", False)],
    }
    assert page.options == {"auth": ["", "home", "other"]}
    assert table(page, "Modules") == [
        ["quota", "broadband/quota", "account", "home"],
        ["line", "broadband/info", "account", "home"],
    ]
    assert "<code>home</code>, <code>other</code>" in text
    assert 'action="probe"' in text
    assert "Nothing probed yet." in text
    assert "None since the exporter started." in text
    assert page.tables.keys() == {"Modules"}
    # Relative links only, nothing loaded from elsewhere, no script.
    assert not re.search(r'(href|src|action)="(/|https?:)', text)
    assert "<script" not in text


async def test_recent_probes_failures_first_then_the_rest(exporter: Exporter) -> None:
    await exporter.probe(f"target={LINE}&module=line")
    await exporter.probe(f"target={MISSING}&module=quota&auth=other")
    await exporter.probe(f"target={LINE}&module=line,quota&debug=true")
    page, _ = await landing(exporter)
    failed = table(page, "Recent failed probes")
    assert [row[1:5] for row in failed] == [
        ["quota", MISSING, "other", f'broadband/quota: line "{MISSING}" not found for auth "other"']
    ]
    assert links(page, "Recent failed probes") == [["logs?id=1"]]
    succeeded = table(page, "Recent successful probes")
    # No failure among them, so no reason column.
    assert [row[1:4] for row in succeeded] == [["line,quota", LINE, "home"], ["line", LINE, "home"]]
    assert links(page, "Recent successful probes") == [["logs?id=2"], ["logs?id=0"]]
    for row in failed + succeeded:
        assert re.fullmatch(WHEN, row[0])
        assert re.fullmatch(DURATION, row[-2])
    assert sections(page) == SECTIONS
    assert "Recent failed probes (1)" in page.headings
    assert "Recent successful probes (2)" in page.headings


async def test_landing_page_follows_the_history_limit(
    exporter: Exporter, simulator: Simulator
) -> None:
    """Failures outlive successes. (Not-found failures used to show this; since issue 16
    they are kept apart, so a CHAOS refusal does.)"""
    exporter.state.history = ProbeHistory(2)
    simulator.add_fault(Fault("error", command="broadband/quota", error_text="Bad service"))
    for _ in range(3):
        await exporter.probe(f"target={LINE}&module=quota")
    for _ in range(3):
        await exporter.probe(f"target={LINE}&module=line")
    page, text = await landing(exporter)
    assert [row[1:3] for row in table(page, "Recent successful probes")] == [["line", LINE]] * 2
    assert links(page, "Recent successful probes") == [["logs?id=5"], ["logs?id=4"]]
    assert [row[1:3] for row in table(page, "Recent failed probes")] == [["quota", LINE]] * 2
    assert links(page, "Recent failed probes") == [["logs?id=2"], ["logs?id=1"]]
    assert "The last 2 probes are kept, and up to 2 older failures." in text
    # The failure that aged out of both lists is still failing now.
    assert [row[:3] for row in table(page, "Failing now")] == [[LINE, "quota", "home"]]
    assert table(page, "Failing now")[0][5] == "3"


async def test_failing_now_until_a_later_probe_succeeds(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    exporter = await make_exporter(cache_seconds="0")
    lines = simulator.accounts[0].lines
    index = next(i for i, line in enumerate(lines) if line["ID"] == LINE)
    removed = lines.pop(index)
    await exporter.probe(f"target={LINE}&module=line")  # 0
    await exporter.probe(f"target={LINE}&module=line")  # 1
    await exporter.probe(f"target={LINE}&module=quota")  # 2
    await exporter.probe(f"target={LINE}&module=line&auth=other")  # 3: not in that account
    await exporter.probe("target=10002&module=line")  # 4: another line, fine
    page, text = await landing(exporter)
    rows = table(page, "Failing now")
    assert [row[:4] for row in rows] == [
        [LINE, "line", "other", f'broadband/info: line "{LINE}" not found for auth "other"'],
        [LINE, "quota", "home", f'broadband/quota: line "{LINE}" not found for auth "home"'],
        [LINE, "line", "home", f'broadband/info: line "{LINE}" not found for auth "home"'],
    ]
    assert [row[5] for row in rows] == ["1", "1", "2"]
    for row in rows:
        assert re.fullmatch(AGO, row[4])
        assert re.fullmatch(AGO, row[6])
    assert links(page, "Failing now") == [["logs?id=3"], ["logs?id=2"], ["logs?id=1"]]
    assert "Failing now (3)" in page.headings
    assert "Nothing:" not in text

    lines.insert(index, removed)
    status, _ = await exporter.probe(f"target={LINE}&module=line&module=quota")
    assert status == 200
    page, _ = await landing(exporter)
    assert [row[:3] for row in table(page, "Failing now")] == [[LINE, "line", "other"]]

    await exporter.probe(f"target={LINE}&module=line&auth=home")
    page, text = await landing(exporter)
    assert [row[:3] for row in table(page, "Failing now")] == [[LINE, "line", "other"]]
    simulator.accounts[1].lines.append(dict(removed))
    await exporter.probe(f"target={LINE}&module=line&auth=other")
    page, text = await landing(exporter)
    assert "Failing now" not in [name.split(" (")[0] for name in page.tables]
    assert "Nothing: the latest probe of every line, module and credential set succeeded." in text


async def test_hostile_reason_is_shown_as_text(exporter: Exporter, simulator: Simulator) -> None:
    simulator.add_fault(Fault("error", login=HOME_LOGIN, error_text=HOSTILE))
    status, _ = await exporter.probe(f"target={LINE}&module=line")
    assert status == 200
    page, text = await landing(exporter)
    assert "<script" not in text
    assert "<i>" not in text
    (failing,) = table(page, "Failing now")
    assert HOSTILE in failing[3]
    (failed,) = table(page, "Recent failed probes")
    assert HOSTILE in failed[4]


async def test_rejected_requests_are_logged_and_listed(
    exporter: Exporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aaisp_multi_exporter")
    clock = [0.0]
    exporter.state.rejections = RecentRejections(throttle_clock=lambda: clock[0])
    for _ in range(3):
        status, answer = await exporter.probe(f"target={LINE}&module=line&auth=default")
        assert (status, answer) == (400, 'unknown auth "default"; known: home, other\n')
    hostile_target = quote("<b>x</b>")
    status, _ = await exporter.probe(f"target={hostile_target}&module=line")
    assert status == 400
    status, _, _ = await exporter.get("/discover?auth=nope")
    assert status == 400
    status, _, _ = await exporter.get("/logs?id=abc")
    assert status == 400
    status, _, _ = await exporter.get("/logs?id=12345")  # 404: not a rejected request
    assert status == 404
    clock[0] = 10.0
    status, _ = await exporter.probe(f"target={LINE}&module=line&auth=default")
    assert status == 400

    logged = [
        record_fields(record)
        for record in caplog.records
        if record.getMessage() == "request rejected"
    ]
    assert all(
        record.levelno == logging.WARNING
        for record in caplog.records
        if record.getMessage() == "request rejected"
    )
    assert [
        (line["path"], line["reason"], line.get("value"), line["suppressed"]) for line in logged
    ] == [
        ("/probe", "unknown_auth", '"default"', 0),
        ("/probe", "invalid_target", '"<b>x</b>"', 0),
        ("/discover", "unknown_auth", '"nope"', 0),
        ("/logs", "invalid_id", '"abc"', 0),
        ("/probe", "unknown_auth", '"default"', 2),
    ]
    assert logged[0]["error"] == 'unknown auth "default"; known: home, other'

    page, text = await landing(exporter)
    rows = table(page, "Rejected requests")
    assert [row[1:] for row in rows] == [
        ["4", "/probe", "unknown_auth", 'unknown auth "default"; known: home, other'],
        ["1", "/logs", "invalid_id", 'invalid id "abc": want a probe number'],
        ["1", "/discover", "unknown_auth", 'unknown auth "nope"; known: home, other'],
        [
            "1",
            "/probe",
            "invalid_target",
            'invalid target "<b>x</b>": use 1 to 64 characters of A-Z a-z 0-9 + . _ @ -',
        ],
    ]
    assert all(re.fullmatch(AGO, row[0]) for row in rows)
    assert "Rejected requests (7)" in page.headings
    assert "<b>x" not in text
    # The counter counts /probe refusals only, as its name says.
    metrics = await exporter.self_metrics()
    assert metrics['aaisp_exporter_probe_requests_rejected_total{reason="unknown_auth"}'] == 4
    assert metrics['aaisp_exporter_probe_requests_rejected_total{reason="invalid_target"}'] == 1


async def test_rejected_value_is_never_longer_than_the_echo(
    exporter: Exporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aaisp_multi_exporter")
    status, answer = await exporter.probe(f"target={LINE}&module=line&auth={'x' * 500}")
    assert status == 400
    (record,) = [r for r in caplog.records if r.getMessage() == "request rejected"]
    assert record_fields(record)["value"] == '"' + "x" * 64 + '..."'
    _, text, _ = await exporter.get("/")
    for seen in (answer, text, LogfmtFormatter().format(record)):
        assert "x" * 64 in seen
        assert "x" * 65 not in seen


async def test_too_many_probes_is_listed(exporter: Exporter) -> None:
    slots = exporter.state.services.slots
    slots.limit, slots.working = 1, 1  # as if one probe were fetching
    status, _ = await exporter.probe(f"target={LINE}&module=line")
    assert status == 503
    page, _ = await landing(exporter)
    (row,) = table(page, "Rejected requests")
    assert row[1:4] == ["1", "/probe", "too_many_requests"]
    assert row[4] == "too many probes in flight (limit 1); retry later"


async def test_the_form_submits_several_modules(exporter: Exporter) -> None:
    """What the browser sends with two modules ticked: one probe of both."""
    status, text = await exporter.probe(f"target={LINE}&module=quota&module=line&auth=")
    assert status == 200, text
    assert 'aaisp_probe_module_success{module="quota"} 1.0' in text
    assert 'aaisp_probe_module_success{module="line"} 1.0' in text
    page, _ = await landing(exporter)
    assert [row[1] for row in table(page, "Recent successful probes")] == ["quota,line"]


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
        pytest.param("id=" + "9" * 5000, 400, 'invalid id "999', id="5000-digit-id"),
        pytest.param("id=" + "9" * 20, 400, "want a probe number", id="beyond-64-bits"),
        pytest.param("id=" + "0" * 18 + "9", 404, "no probe with id 9;", id="19-digit-id"),
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


def hostile_state() -> tuple[ProbeHistory, RecentRejections]:
    """Targets and names are restricted upstream; the page escapes them anyway."""
    history = ProbeHistory(5)
    history.add(
        target="<script>alert(1)</script>",
        modules=["a<b", "c&d"],
        auths=['"home"'],
        success=False,
        duration=0.5,
        debug_text="",
        module_results=[
            ModuleResult("a<b", '"home"', False, reason="<img src=x onerror=alert(2)>"),
            ModuleResult("c&d", '"home"', False, reason="fine & dandy"),
        ],
    )
    rejections = RecentRejections()
    rejections.add("/probe", "<r>", 'invalid target "<svg onload=alert(3)>"', value=None)
    return history, rejections


def test_rendering_escapes_everything() -> None:
    history, rejections = hostile_state()
    text = render_landing(
        None,
        history.recent(),
        history_limit=5,
        failing=history.failing.current(),
        rejections=rejections.recent(),
        left_out=[LeftOut("<a>", "x&y", 3, ("<b c>", "caf\u00e9"), 0.0)],
        version="<1&2>",
        now=90.0,
    )
    for raw in ("<script>", "<img", "<svg", "<r>", "a<b", "c&d", '"home"', "<a>", "<b c>"):
        assert raw not in text, raw
    page = parse_page(text)
    assert [row[:4] for row in table(page, "Failing now")] == [
        ["<script>alert(1)</script>", "c&d", '"home"', "fine & dandy"],
        ["<script>alert(1)</script>", "a<b", '"home"', "<img src=x onerror=alert(2)>"],
    ]
    (failed,) = table(page, "Recent failed probes")
    # Several modules: each reason names its module, one per line.
    assert failed[1:5] == [
        "a<b,c&d",
        "<script>alert(1)</script>",
        '"home"',
        "a<b: <img src=x onerror=alert(2)>\nc&d: fine & dandy",
    ]
    (rejected,) = table(page, "Rejected requests")
    assert rejected[1:] == ["1", "/probe", "<r>", 'invalid target "<svg onload=alert(3)>"']
    assert table(page, "Left out of discovery") == [
        ["<a>", "x&y", "3", '"<b c>", "caf\\xe9"', "1 min 30 s ago"]
    ]
    assert "Version &lt;1&amp;2&gt;" in text
    assert "No valid configuration is loaded." in text
    assert "<form" not in text


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(-3, "0 s", id="clock-skew"),
        pytest.param(0, "0 s", id="zero"),
        pytest.param(59.9, "59 s", id="under-a-minute"),
        pytest.param(60, "1 min", id="minute"),
        pytest.param(61, "1 min 1 s", id="minute-and-second"),
        pytest.param(3599, "59 min 59 s", id="under-an-hour"),
        pytest.param(3600, "1 h", id="hour"),
        pytest.param(3600 + 125, "1 h 2 min", id="seconds-dropped"),
        pytest.param(86_399, "23 h 59 min", id="under-a-day"),
        pytest.param(86_400, "1 d", id="day"),
        pytest.param(3 * 86_400 + 4 * 3600 + 59, "3 d 4 h", id="days-and-hours"),
    ],
)
def test_age(seconds: float, expected: str) -> None:
    assert age(seconds) == expected


def test_failing_now_shows_the_most_recent_hundred() -> None:
    history = ProbeHistory(10, clock=lambda: 1_000.0)
    for number in range(FAILING_SHOWN + 50):
        history.add(
            target=f"line{number}",
            modules=["line"],
            auths=["home"],
            success=False,
            duration=0,
            debug_text="",
            module_results=[ModuleResult("line", "home", False, reason="down")],
        )
    text = render_landing(
        None, history.recent(), history_limit=10, failing=history.failing.current(), now=1_065
    )
    page = parse_page(text)
    rows = table(page, "Failing now")
    assert len(rows) == FAILING_SHOWN
    assert rows[0][0] == "line149"
    assert rows[0][4] == rows[0][6] == "1 min 5 s ago"
    assert "Failing now (150)" in page.headings
    assert f"Showing the {FAILING_SHOWN} that failed most recently of 150." in text


def test_older_probes_are_folded_away() -> None:
    history = ProbeHistory(100)
    for number in range(PROBES_SHOWN + 5):
        history.add(
            target=f"line{number}",
            modules=["line"],
            auths=["home"],
            success=True,
            duration=0,
            debug_text="",
        )
    text = render_landing(None, history.recent(), history_limit=100)
    visible, folded = text.split("<details>")
    assert visible.count('<a href="logs?id=') == PROBES_SHOWN
    assert folded.startswith("<summary>5 older</summary>")
    assert folded.count('<a href="logs?id=') == 5
    rows = table(parse_page(text), "Recent successful probes")
    assert [row[2] for row in rows] == [f"line{n}" for n in range(PROBES_SHOWN + 4, -1, -1)]


def test_history_off_says_so() -> None:
    text = render_landing(None, [], history_limit=0)
    assert text.count("(<code>--history.limit=0</code>)") == 2
    assert "Nothing probed yet" not in text


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
    assert table(page, "Modules") == [["line", "broadband/info", "account", expected]]
