"""App benchmark: the real `streamlit run` server seen in Debian's headless Chromium (Playwright).

- Launch to first page: seconds from starting the server process until the simulator's heading is
  visible in the browser, and until its first figure is, beside a one-line Streamlit app (a heading
  and nothing else) launched and timed the same way in the same run (target: < 3 s to the heading).
- Memory across reruns: the server's resident memory after the first page, after 20 reruns of one
  session that each change the scenario (the clinics slider moved by one step), and after visiting
  every page (target: the 20 reruns add < 150 MB; before the caches were bounded a few pages took
  the process to 3.5 GB).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import table

PAGES = ("compare", "inspector", "wallet", "admin")
RERUNS = 20
HELLO = 'import streamlit as st\n\nst.title("Hello")\n'


def _browser(playwright: object) -> object:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("bench app needs Chromium (Debian: apt-get install chromium)")
    return playwright.chromium.launch(  # type: ignore[attr-defined]
        executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    )


def _first_page(browser: object, folder: Path, script: Path, heading: str, metric: str | None) -> tuple[float, float]:
    """Seconds from launch to `heading` visible, and to the first metric (`metric`'s label) visible."""
    from playwright.sync_api import expect

    from simulator.app.launch import running

    with running(folder / f"{script.stem}.log", script) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
        page.goto(server.url, wait_until="commit")
        expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=60_000)
        to_heading = time.perf_counter() - server.started
        to_metric = to_heading
        if metric is not None:
            expect(page.get_by_test_id("stMetric").filter(has_text=metric).first).to_be_visible(timeout=60_000)
            to_metric = time.perf_counter() - server.started
        page.close()
    return to_heading, to_metric


def _memory(browser: object, folder: Path) -> tuple[float, float, float]:
    """The server's RSS (MB) after the first page, after RERUNS reruns, after every page."""
    from playwright.sync_api import expect

    from simulator.app.launch import running

    with running(folder / "memory.log") as server:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
        page.goto(server.url, wait_until="commit")
        caption = page.get_by_text("clinics ×").first
        expect(caption).to_be_visible(timeout=60_000)
        first = server.rss_mb()
        slider = page.get_by_role("slider", name="Clinics")
        for _ in range(RERUNS):
            before = caption.inner_text()
            slider.focus()
            slider.press("ArrowRight")
            expect(caption).not_to_have_text(before, timeout=60_000)
        reruns = server.rss_mb()
        for name in PAGES:
            page.goto(f"{server.url}/{name}", wait_until="commit")
            page.get_by_role("heading").first.wait_for(timeout=60_000)
            page.wait_for_timeout(2_000)
        pages = server.rss_mb()
        page.close()
    return first, reruns, pages


def run() -> None:
    import os

    from playwright.sync_api import sync_playwright

    from engine.billing import Billing
    from engine.billing.demo import seed_demo
    from simulator.app.launch import ROOT

    print("== app: first page and memory, the real server in headless Chromium (noisy on a shared machine) ==")
    with tempfile.TemporaryDirectory(prefix="creditbook-bench-app-") as tmp:
        folder = Path(tmp)
        ledger = folder / "demo.db"
        billing = Billing(f"sqlite:///{ledger}")
        seed_demo(billing, until=datetime(2026, 3, 2, tzinfo=UTC), months=1, us_clinics=3, in_clinics=3, seed=3)
        billing.db.dispose()
        os.environ["CREDITBOOK_DATABASE_URL"] = f"sqlite:///{ledger}"
        hello = folder / "hello.py"
        hello.write_text(HELLO)
        with sync_playwright() as playwright:
            browser = _browser(playwright)
            bare = [_first_page(browser, folder, hello, "Hello", None)[0] for _ in range(3)]
            app = [
                _first_page(browser, folder, ROOT / "simulator/app/main.py", "What-if simulator", "Billed")
                for _ in range(3)
            ]
            first, reruns, pages = _memory(browser, folder)
            browser.close()  # type: ignore[attr-defined]
    heading = statistics.median(a[0] for a in app)
    metric = statistics.median(a[1] for a in app)
    baseline = statistics.median(bare)
    growth = reruns - first
    print(
        table(
            ["figure", "value", "baseline", "target", "verdict"],
            [
                (
                    "launch → simulator heading visible",
                    f"{heading:.2f} s",
                    f"hello app {baseline:.2f} s",
                    "< 3 s",
                    "PASS" if heading < 3 else "below",
                ),
                (
                    "launch → first figure visible",
                    f"{metric:.2f} s",
                    f"hello app {baseline:.2f} s",
                    "(informational)",
                    "",
                ),
                (
                    f"RSS after {RERUNS} reruns",
                    f"{reruns:,.0f} MB",
                    f"first page {first:,.0f} MB",
                    "< +150 MB",
                    "PASS" if growth < 150 else "below",
                ),
                ("RSS after every page", f"{pages:,.0f} MB", f"first page {first:,.0f} MB", "(informational)", ""),
            ],
        )
    )
