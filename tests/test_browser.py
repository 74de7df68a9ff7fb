"""A person with a browser: headless Chromium drives the landing page, a probe and its logs.

Selenium is synchronous, so the browser runs in a worker thread while the event loop keeps
serving the exporter and the simulator on their real ports.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

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


@dataclass
class Visit:
    """What the browser saw, collected in the worker thread for assertions in the test."""

    probe_url: str = ""
    probe_text: str = ""
    landing_title: str = ""
    newest_row: str = ""
    logs_href: str = ""
    logs_url: str = ""
    logs_text: str = ""
    landing_html: str = ""


def arrive(driver: webdriver.Chrome, path: str) -> None:
    """A click returns before the navigation it starts has finished."""
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: path in d.current_url)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def browse(base_url: str, line_id: str, profile: Path, shots: Path) -> Visit:
    """Fill the form like a person would, then follow the newest probe's logs link."""
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
        driver.find_element(By.NAME, "target").send_keys(line_id)
        Select(driver.find_element(By.NAME, "module")).select_by_value("line")
        debug = driver.find_element(By.NAME, "debug")
        if not debug.is_selected():
            debug.click()
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        arrive(driver, "/probe?")
        visit.probe_url = driver.current_url
        visit.probe_text = driver.find_element(By.TAG_NAME, "body").text

        driver.get(base_url + "/")
        row = driver.find_element(
            By.XPATH, "//h2[text()='Recent probes']/following::table[1]//tr[2]"
        )
        visit.newest_row = row.text
        visit.landing_html = driver.page_source
        driver.save_screenshot(str(shots / "landing.png"))
        link = row.find_element(By.LINK_TEXT, "Logs")
        visit.logs_href = link.get_attribute("href") or ""
        link.click()
        arrive(driver, "/logs?")
        visit.logs_url = driver.current_url
        visit.logs_text = driver.find_element(By.TAG_NAME, "body").text
        driver.save_screenshot(str(shots / "logs.png"))
    finally:
        driver.quit()
    return visit


async def test_probe_from_the_landing_page(
    exporter: Exporter, simulator: Simulator, tmp_path: Path
) -> None:
    require_program(CHROMIUM, INSTALL_HINT)
    require_program(CHROMEDRIVER, INSTALL_HINT)
    line_id = simulator.accounts[0].lines[3]["ID"]
    # An older failure, so the table has more than the browser's own row.
    status, _ = await exporter.probe("target=nosuch&module=quota")
    assert status == 200
    shots = tmp_path / "screenshots"
    shots.mkdir()

    visit = await asyncio.to_thread(
        browse, exporter.url, line_id, tmp_path / "chromium-profile", shots
    )

    assert visit.landing_title == "AAISP Multi Exporter"
    assert visit.probe_url == (
        f"{exporter.url}/probe?target={line_id}&module=line&auth=&debug=true"
    )
    assert f"Probe of target {line_id} succeeded" in visit.probe_text
    assert "probe_success 1.0" in visit.probe_text
    newest = exporter.state.history.recent()[0]
    assert (newest.target, newest.module, newest.auth, newest.success) == (
        line_id,
        "line",
        "home",
        True,
    )
    assert visit.newest_row.split()[2:6] == ["line", line_id, "home", "Success"]
    assert visit.logs_href == f"{exporter.url}/logs?id={newest.id}"
    assert visit.logs_url == visit.logs_href
    for section in (
        f"Probe of target {line_id} succeeded",
        "Logs for the probe:",
        "Metrics that would have been returned:",
        f'aaisp_broadband_line_info{{line_id="{line_id}"',
        "Module configuration:",
        "[modules.line]",
        '"<secret>"',
    ):
        assert section in visit.logs_text, section
    assert "Failure" in visit.landing_html
    for seen in (visit.probe_text, visit.logs_text, visit.landing_html):
        assert SENTINEL not in seen

    for name in ("landing.png", "logs.png"):
        shot = shots / name
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 5_000
        OUTPUT_DIR.mkdir(exist_ok=True)
        shutil.copyfile(shot, OUTPUT_DIR / name)


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
