"""The freshness page in a real headless Chromium: what a person sees.

The app of conftest.py (clock at T0 + 2 h, acme's CRL fresh until T0 + 1 day, grace 1 h)
is served on a real 127.0.0.1 port from its own thread, and Debian's `chromium` is driven
through `chromedriver` by selenium. The page refreshes itself every second here
(`/?refresh=1`), so moving the injected clock is all it takes to see a source go stale:
nothing reloads the page and nothing sleeps 30 seconds.

A failing run leaves its screenshots in pytest's tmp_path (printed with `-rA`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.common.exceptions import JavascriptException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.peers import need_binary
from tests.web.conftest import ACME_MIRROR, ACME_URL, GLOBEX_URL, NEXT_UPDATE, World

# the page's colours (templates/page.css), as computed styles
GREEN = "rgb(42, 125, 42)"
AMBER = "rgb(240, 176, 0)"
ORANGE = "rgb(194, 65, 12)"  # expiring: the grace is ending, more urgent than stale
RED = "rgb(176, 0, 32)"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def served(world: World) -> Iterator[str]:
    """The app on a real port, in a thread of its own: selenium's calls block."""
    world.cache.ready = True
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(world.app, access_log=None)

    async def start() -> str:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = need_binary("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(need_binary("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


# One script reads the whole table: the page swaps its rows in every second here, so
# element-by-element reads could straddle a refresh.
READ_TABLE = """
const table = {};
for (const row of document.querySelectorAll("#sources-body tr")) {
  const badge = row.querySelector(".badge");
  const seen = {
    visible: row.getClientRects().length > 0,
    state: badge.innerText,
    colour: getComputedStyle(badge).backgroundColor,
  };
  for (const cell of row.querySelectorAll("td")) seen[cell.dataset.label] = cell.innerText;
  table[row.querySelector(".url").textContent] = seen;
}
return table;
"""


def table(browser: webdriver.Chrome) -> dict[str, dict[str, Any]]:
    """What a person sees in each source's row, by source URL."""
    seen: dict[str, dict[str, Any]] = browser.execute_script(READ_TABLE)
    return seen


def visible(browser: webdriver.Chrome) -> set[str]:
    return {url for url, row in table(browser).items() if row["visible"]}


def wait(browser: webdriver.Chrome) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(
        browser, 10, ignored_exceptions=(StaleElementReferenceException, JavascriptException)
    )


def screenshot(browser: webdriver.Chrome, path: Path) -> Path:
    assert browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(PNG)
    assert len(data) > 5000  # a rendered table, not a blank frame
    return path


def console_errors(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """SEVERE console entries: a CSP violation (a blocked script or style) would be one."""
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_a_stale_partner_is_shown_as_stale_when_the_clock_moves(
    browser: webdriver.Chrome, served: str, world: World, tmp_path: Path
) -> None:
    browser.get(f"{served}/?refresh=1")
    assert browser.title == "revocd: partners' freshness"
    acme = table(browser)[ACME_URL]
    assert (acme["state"], acme["colour"]) == ("fresh", GREEN)
    assert acme["nextUpdate"].startswith("in 22h")
    assert table(browser)[GLOBEX_URL]["state"] == "none"
    screenshot(browser, tmp_path / "fresh.png")

    world.clock.set(NEXT_UPDATE + timedelta(minutes=10))
    wait(browser).until(lambda b: table(b)[ACME_URL]["state"] == "stale")
    acme = table(browser)[ACME_URL]
    assert acme["colour"] == AMBER
    assert acme["nextUpdate"].startswith("10m ago")
    assert acme["grace ends"].startswith("in 50m")
    assert "1 stale" in browser.find_element(By.ID, "summary").text
    screenshot(browser, tmp_path / "stale.png")

    world.clock.set(NEXT_UPDATE + timedelta(minutes=50))
    wait(browser).until(lambda b: table(b)[ACME_URL]["state"] == "expiring")
    assert table(browser)[ACME_URL]["colour"] == ORANGE

    world.clock.set(NEXT_UPDATE + timedelta(hours=1))
    wait(browser).until(lambda b: table(b)[ACME_URL]["state"] == "expired")
    assert table(browser)[ACME_URL]["colour"] == RED
    assert console_errors(browser) == []


def test_the_filter_box_hides_rows_that_do_not_match(
    browser: webdriver.Chrome, served: str, world: World, tmp_path: Path
) -> None:
    world.board.update(
        world.source("globex-bridge", GLOBEX_URL), failing=True, last_error="refused"
    )
    browser.get(f"{served}/?refresh=1")
    box = browser.find_element(By.ID, "filter")
    assert box.get_attribute("placeholder") == "filter: partner, issuer, URL, state, reason"

    assert visible(browser) == {ACME_URL, ACME_MIRROR, GLOBEX_URL}
    box.send_keys("globex")
    assert visible(browser) == {GLOBEX_URL}
    assert browser.find_element(By.ID, "shown").text == "1 of 3 shown"
    box.clear()
    box.send_keys("acme none")  # every word must match: acme's mirror has no CRL yet
    assert visible(browser) == {ACME_MIRROR}
    box.clear()
    box.send_keys("failing")
    assert visible(browser) == {GLOBEX_URL}

    # the table refreshes itself under the filter, and the filter keeps applying
    summary = browser.find_element(By.ID, "summary")
    wait(browser).until(expected_conditions.staleness_of(summary))  # swapped for a new one
    assert visible(browser) == {GLOBEX_URL}
    assert browser.find_element(By.ID, "filter").get_attribute("value") == "failing"
    screenshot(browser, tmp_path / "filtered.png")

    browser.refresh()  # a reload keeps the filter too (it is in the URL: #q=failing)
    assert browser.current_url.endswith("/?refresh=1#q=failing")
    assert browser.find_element(By.ID, "filter").get_attribute("value") == "failing"
    assert visible(browser) == {GLOBEX_URL}


def test_on_a_phone_sources_are_cards_without_sideways_scrolling(
    browser: webdriver.Chrome, served: str, world: World, tmp_path: Path
) -> None:
    world.board.update(
        world.source("acme-issuing", ACME_MIRROR),
        failing=True,
        last_error="CRL number 41 is lower than accepted 42; keeping CRL 42",
        last_reject_reason="rollback",
    )
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    browser.get(served)
    assert browser.execute_script("return window.innerWidth") == 390
    width, client = browser.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];"
    )
    assert width <= client
    assert not browser.find_element(By.CSS_SELECTOR, "#sources thead").is_displayed()
    state = browser.find_element(By.CSS_SELECTOR, '#sources-body td[data-label="state"]')
    assert state.value_of_css_property("display") == "block"
    label = browser.execute_script(
        "return getComputedStyle(arguments[0], '::before').content", state
    )
    assert label == '"state"'  # each value says what it is, since the header row is gone
    acme, mirror = table(browser)[ACME_URL], table(browser)[ACME_MIRROR]
    assert (acme["state"], acme["colour"], acme["visible"]) == ("fresh", GREEN, True)
    assert "rollback" in mirror["last error"]
    screenshot(browser, tmp_path / "phone.png")


def test_without_javascript_the_page_is_a_plain_table_that_reloads_itself(
    served: str, world: World, tmp_path: Path
) -> None:
    options = Options()
    options.binary_location = need_binary("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs", {"profile.managed_default_content_settings.javascript": 2}
    )
    browser = webdriver.Chrome(options=options, service=Service(need_binary("chromedriver")))
    try:
        browser.get(f"{served}/?refresh=1")
        assert browser.find_elements(By.ID, "filter") == []
        acme = table(browser)[ACME_URL]  # (chromedriver's own scripts still run)
        assert (acme["state"], acme["colour"]) == ("fresh", GREEN)
        world.clock.set(NEXT_UPDATE + timedelta(minutes=10))
        wait(browser).until(lambda b: table(b)[ACME_URL]["state"] == "stale")  # <noscript> meta
        screenshot(browser, tmp_path / "no-javascript.png")
    finally:
        browser.quit()
