"""The real app in a real browser: one `streamlit run` server for the module (simulator/app/launch),
Debian's Chromium driven by Playwright. A bookmarked page opened first shows this app's own
navigation; every page is screenshotted at 1280 px and at phone width (390 px) into the test's
output folder, and no headline figure is cut off ("…") at either width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.app.launch import Server, running
from tests.support.app_pages import PASSWORD, copy_ledger
from tests.support.browser import launched

PAGES = (  # nav title, heading, url path
    ("Simulator", "What-if simulator", ""),
    ("Compare pricebooks", "Compare pricebooks", "compare"),
    ("Pricebook inspector", "Pricebook inspector", "inspector"),
    ("Clinic wallet", "Clinic wallet", "wallet"),
    ("Admin", "Admin", "admin"),
)
# A metric value (or any element inside it) whose text is wider than its box is shown cut off.
CUT_OFF = """() => [...document.querySelectorAll(
        '[data-testid="stMetricValue"], [data-testid="stMetricValue"] *, [data-testid="stMetricLabel"] p')]
    .filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => e.closest('[data-testid="stMetric"]').innerText.replace(/\\n/g, ' | '))"""


@pytest.fixture(scope="module")
def server(demo_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("browser")
    ledger = copy_ledger(demo_database, folder / "ledger.db")
    env = {"CREDITBOOK_DATABASE_URL": f"sqlite:///{ledger}", "CREDITBOOK_ADMIN_PASSWORD": PASSWORD}
    with running(folder / "streamlit.log", env=env) as started:
        yield started


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    with launched() as opened:
        yield opened


def _settle(page: Any) -> None:
    """Wait until the script has finished (no spinner, no running indicator) and every chart has drawn."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        '() => !document.querySelector(\'[data-testid="stStatusWidget"], [data-testid="stSpinner"]\')',
        timeout=120_000,
        polling=200,
    )
    charts = page.locator("[data-testid='stVegaLiteChart']")
    for n in range(charts.count()):
        charts.nth(n).locator("canvas, svg").first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)


def _staff_login(page: Any) -> None:
    """On the wallet and admin pages: log in if the session has not yet, then wait for the figures."""
    page.locator("input[type=password], [data-testid='stMetric']").first.wait_for(timeout=60_000)
    if page.get_by_label("Admin password").count():
        page.get_by_label("Admin password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
    page.get_by_test_id("stMetric").first.wait_for(timeout=60_000)


def _open(page: Any, server: Server, title: str, heading: str, path: str, phone: bool) -> None:
    """A page by its link in the navigation (the same session), or on a phone by its address."""
    from playwright.sync_api import expect

    if phone:  # the navigation hides behind the sidebar's button
        page.goto(f"{server.url}/{path}", wait_until="domcontentloaded")
    else:
        page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=60_000)
    if path in ("wallet", "admin"):
        _staff_login(page)
    _settle(page)
    if path != "inspector":  # every other page leads with its figures
        page.get_by_test_id("stMetric").first.wait_for(timeout=60_000)
        _settle(page)


def test_a_bookmarked_page_opened_first_shows_this_apps_navigation(server: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server.url}/admin", wait_until="domcontentloaded")  # the first visit since the server started
    expect(page.get_by_role("heading", name="Admin")).to_be_visible(timeout=60_000)
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    expect(links).to_have_count(len(PAGES), timeout=30_000)
    assert [links.nth(n).inner_text().split("\n")[-1] for n in range(links.count())] == [p[0] for p in PAGES]
    page.close()


def test_the_simulator_reacts_in_the_browser(server: Server, browser: Any, output_dir: Path) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 2200})
    page.goto(server.url, wait_until="domcontentloaded")
    billed = page.get_by_test_id("stMetric").filter(has_text="Billed to clinics").get_by_test_id("stMetricValue")
    expect(billed).to_contain_text("$", timeout=60_000)
    _settle(page)
    before = billed.inner_text()
    slider = page.get_by_role("slider", name="Reminders per appointment")
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    expect(billed).not_to_have_text(before, timeout=30_000)
    assert float(billed.inner_text().strip("$").replace(",", "")) > float(before.strip("$").replace(",", ""))
    page.get_by_text("India (₹)").click()
    expect(billed).to_contain_text("₹", timeout=60_000)
    _settle(page)
    page.screenshot(path=str(output_dir / "simulator-india-1280.png"))
    assert page.evaluate(CUT_OFF) == []
    page.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_fits_its_figures(server: Server, browser: Any, output_dir: Path, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 2400 if width > 400 else 1800})
    page.goto(server.url, wait_until="domcontentloaded")
    page.get_by_test_id("stMetric").first.wait_for(timeout=60_000)
    _settle(page)
    cut: dict[str, list[str]] = {}
    for title, heading, path in PAGES:
        _open(page, server, title, heading, path, phone=width < 400)
        page.screenshot(path=str(output_dir / f"{path or 'simulator'}-{width}.png"))
        found = page.evaluate(CUT_OFF)
        if found:
            cut[title] = found
        if path != "inspector":
            assert page.get_by_test_id("stMetric").count() >= 3, title
    assert cut == {}, f"figures cut off at {width} px: {cut}"
    assert (output_dir / f"simulator-{width}.png").stat().st_size > 20_000
