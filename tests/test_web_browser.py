"""The web view in a real browser: headless Chromium (Debian's `chromium`, driven through its
`chromium-driver` by Selenium, nothing downloaded) loads the opening page and a canned query,
logs no console error, shows a hostile feed title as text, and leaves screenshots in
test-artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from support import Site
from test_web_server import poll_world
from web_support import HOSTILE, monitor_serve

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    # Both paths given and Selenium Manager told to stay offline: it never downloads a browser.
    monkeypatch.setenv("SE_OFFLINE", "true")
    assert Path(CHROMIUM).exists() and Path(DRIVER).exists(), "make test-deps installs chromium"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1400", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def no_alert(driver: webdriver.Chrome) -> bool:
    try:
        driver.switch_to.alert  # noqa: B018 - raises when no alert is open
    except NoAlertPresentException:
        return True
    return False


def test_the_web_view_in_a_browser(
    site: Site, workdir: Path, run_cli: Any, browser: webdriver.Chrome
) -> None:
    poll_world(site, workdir, run_cli)
    ARTIFACTS.mkdir(exist_ok=True)
    with monitor_serve(workdir) as server:
        browser.get(server.url + "/")
        assert "monitor" in browser.title
        heading = browser.find_element(By.TAG_NAME, "h1").text
        assert heading.startswith("monitor")
        feeds = browser.find_elements(By.CSS_SELECTOR, 'link[type="application/atom+xml"]')
        assert feeds[0].get_attribute("href") == server.url + "/-/atom/all.atom"
        # The chart is drawn (vega-lite, served by the plugin itself).
        browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe.monitor-chart"))
        browser.implicitly_wait(10)
        assert browser.find_elements(By.CSS_SELECTOR, "svg, canvas")
        browser.implicitly_wait(0)
        browser.switch_to.default_content()
        browser.save_screenshot(str(ARTIFACTS / "web-index.png"))
        assert console_errors(browser) == []

        browser.get(server.url + "/monitor/new_stories")
        body = browser.find_element(By.TAG_NAME, "body").text
        assert HOSTILE in body  # shown as text: the <script> is visible, not run
        assert no_alert(browser)
        assert not browser.execute_script("return window.__pwned === true")
        scripts = [
            s.get_attribute("innerHTML") for s in browser.find_elements(By.TAG_NAME, "script")
        ]
        assert not any("pwned" in (s or "") for s in scripts)
        browser.save_screenshot(str(ARTIFACTS / "web-new-stories.png"))
        assert console_errors(browser) == []
