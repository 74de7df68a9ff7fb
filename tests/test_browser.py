"""A person with a browser: headless Chromium reads the landing page, probes through its form,
follows a probe's logs, and reads the page again at phone width.

Selenium is synchronous, so the browser runs in a worker thread while the event loop keeps
serving the exporter and the simulator on their real ports.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from aaisp_multi_exporter.simulator import Simulator
from tests.conftest import SENTINEL, Exporter
from tests.realprograms import REQUIRE_ENV, require_program

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = "apt-get install chromium chromium-driver"
OUTPUT_DIR = Path(__file__).parent / "output"

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--no-pings",
    # Loopback only: every name but 127.0.0.1 fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1280,1000",
)


#: An iPhone-sized viewport (CSS pixels), as a phone reports it with the viewport meta tag.
PHONE = {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True}


@dataclass
class Visit:
    """What the browser saw, collected in the worker thread for assertions in the test."""

    landing_title: str = ""
    headings: list[str] = field(default_factory=list)
    failing_rows: list[str] = field(default_factory=list)
    rejected_rows: list[str] = field(default_factory=list)
    probe_url: str = ""
    probe_text: str = ""
    newest_row: str = ""
    logs_href: str = ""
    logs_url: str = ""
    logs_text: str = ""
    landing_html: str = ""
    phone_page_width: int = 0
    phone_viewport_width: int = 0
    phone_widest_box: tuple[int, int] = (0, 0)  # a table box's (scrollWidth, clientWidth)


def arrive(driver: webdriver.Chrome, path: str) -> None:
    """A click returns before the navigation it starts has finished."""
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: path in d.current_url)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def table_rows(driver: webdriver.Chrome, heading: str) -> list[str]:
    """Text of the data rows of the table under the ``<h2>`` that starts with ``heading``."""
    rows = driver.find_elements(
        By.XPATH, f"//h2[starts-with(., '{heading}')]/following::table[1]/tbody/tr"
    )
    return [row.text for row in rows]


def screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """The whole page, not only the part in the window."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def browse(base_url: str, line_id: str, profile: Path, shots: Path) -> Visit:
    """Read the page, probe two modules through the form, follow the logs, then be a phone."""
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # An explicit driver path keeps Selenium Manager (which downloads drivers) out of it.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    visit = Visit()
    try:
        driver.set_page_load_timeout(30)
        driver.get(base_url + "/")
        visit.landing_title = driver.title
        visit.headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h2")]
        visit.failing_rows = table_rows(driver, "Failing now")
        visit.rejected_rows = table_rows(driver, "Rejected requests")

        driver.find_element(By.NAME, "target").send_keys(line_id)
        for box in driver.find_elements(By.NAME, "module"):
            if not box.is_selected():  # the first module is ticked already
                box.click()
        debug = driver.find_element(By.NAME, "debug")
        if not debug.is_selected():
            debug.click()
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        arrive(driver, "/probe?")
        visit.probe_url = driver.current_url
        visit.probe_text = driver.find_element(By.TAG_NAME, "body").text

        driver.get(base_url + "/")
        row = driver.find_element(
            By.XPATH,
            "//h2[starts-with(., 'Recent successful probes')]/following::table[1]/tbody/tr[1]",
        )
        visit.newest_row = row.text
        visit.landing_html = driver.page_source
        screenshot(driver, shots / "landing-desktop.png")
        link = row.find_element(By.LINK_TEXT, "Logs")
        visit.logs_href = link.get_attribute("href") or ""
        link.click()
        arrive(driver, "/logs?")
        visit.logs_url = driver.current_url
        visit.logs_text = driver.find_element(By.TAG_NAME, "body").text
        screenshot(driver, shots / "logs.png")

        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
        driver.get(base_url + "/")
        visit.phone_page_width = driver.execute_script(
            "return document.documentElement.scrollWidth"
        )
        visit.phone_viewport_width = driver.execute_script("return window.innerWidth")
        visit.phone_widest_box = tuple(
            driver.execute_script(
                "const boxes = [...document.querySelectorAll('.scroll')];"
                "const widest = boxes.reduce((a, b) => (b.scrollWidth > a.scrollWidth ? b : a));"
                "return [widest.scrollWidth, widest.clientWidth];"
            )
        )
        screenshot(driver, shots / "landing-phone.png")
    finally:
        driver.quit()
    return visit


async def test_landing_page_in_a_browser(
    exporter: Exporter, simulator: Simulator, tmp_path: Path
) -> None:
    require_program(CHROMIUM, INSTALL_HINT)
    require_program(CHROMEDRIVER, INSTALL_HINT)
    line_id = simulator.accounts[0].lines[3]["ID"]
    # A failing line, and a Prometheus job with the wrong auth, as the page should show them.
    status, _ = await exporter.probe("target=nosuch&module=quota")
    assert status == 200
    for _ in range(2):
        status, _ = await exporter.probe(f"target={line_id}&module=line&auth=default")
        assert status == 400
    shots = tmp_path / "screenshots"
    shots.mkdir()

    visit = await asyncio.to_thread(
        browse, exporter.url, line_id, tmp_path / "chromium-profile", shots
    )

    assert visit.landing_title == "AAISP Multi Exporter"
    # What is wrong comes first.
    assert [heading.split(" (")[0] for heading in visit.headings] == [
        "Failing now",
        "Rejected requests",
        "Probe a line",
        "Recent failed probes",
        "Recent successful probes",
        "Modules",
    ]
    assert len(visit.failing_rows) == 1
    assert visit.failing_rows[0].startswith("nosuch quota home")
    assert 'broadband/quota: line "nosuch" not found for auth "home"' in visit.failing_rows[0]
    assert len(visit.rejected_rows) == 1
    _, rest = visit.rejected_rows[0].split(" ago ", 1)
    assert rest.split()[:4] == ["2", "/probe", "unknown_auth", "unknown"]
    assert 'unknown auth "default"; known: home, other' in visit.rejected_rows[0]

    # Two modules ticked in the form become two module parameters.
    assert visit.probe_url == (
        f"{exporter.url}/probe?target={line_id}&module=quota&module=line&auth=&debug=true"
    )
    assert f"Probe of target {line_id} succeeded" in visit.probe_text
    for module in ("quota", "line"):
        assert f'aaisp_probe_module_success{{module="{module}"}} 1.0' in visit.probe_text
    newest = exporter.state.history.recent()[0]
    assert (newest.target, newest.modules, newest.auth, newest.success) == (
        line_id,
        ("quota", "line"),
        "home",
        True,
    )
    assert visit.newest_row.split()[2:5] == ["quota,line", line_id, "home"]
    assert visit.logs_href == f"{exporter.url}/logs?id={newest.id}"
    assert visit.logs_url == visit.logs_href
    for section in (
        f"Probe of target {line_id} succeeded",
        "Logs for the probe:",
        "Metrics that would have been returned:",
        f'aaisp_broadband_line_info{{line_id="{line_id}"',
        "Module configuration:",
        "[modules.line]",
        "[modules.quota]",
        '"<secret>"',
    ):
        assert section in visit.logs_text, section
    for seen in (visit.probe_text, visit.logs_text, visit.landing_html):
        assert SENTINEL not in seen

    # On a phone the page never scrolls sideways; a table wider than the phone scrolls in its box.
    assert visit.phone_viewport_width == PHONE["width"]
    assert visit.phone_page_width <= visit.phone_viewport_width
    wide, box = visit.phone_widest_box
    assert wide > box > 0

    OUTPUT_DIR.mkdir(exist_ok=True)
    for name in ("landing-desktop.png", "landing-phone.png", "logs.png"):
        shot = shots / name
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 5_000
        shutil.copyfile(shot, OUTPUT_DIR / name)
    print(f"screenshots: {OUTPUT_DIR.resolve()}")


@pytest.mark.parametrize(
    ("required", "outcome"),
    [
        pytest.param("", pytest.skip.Exception, id="skip"),
        pytest.param("1", pytest.fail.Exception, id="fail"),
    ],
)
def test_missing_program_skips_or_fails(
    required: str, outcome: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_ENV, required)
    with pytest.raises(outcome, match="no-such-program-here not found"):
        require_program("/nonexistent/no-such-program-here", "apt-get install it")


def test_present_program_is_found() -> None:
    assert require_program("sh") == shutil.which("sh")
