"""The real app in a real browser: `streamlit run` on a free port, Debian's Chromium driven by
Playwright, charts waited for, a slider moved with the keyboard, a metric seen to change, and
screenshots of each page saved in the test's output folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.conftest import MAIN
from tests.conftest import ROOT


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Chromium is not installed (Debian: apt-get install chromium; `make test` installs it as root)"
        if os.environ.get("CREDITBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def server(ledger_copy: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CREDITBOOK_DATABASE_URL": f"sqlite:///{ledger_copy}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(MAIN),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError(
                "streamlit did not start: " + (process.stdout.read(4000) if process.stdout else b"").decode()
            )
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_app_in_a_headless_browser(server: str, output_dir: Path) -> None:
    chromium = _chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1500, "height": 2200})
        page.goto(server, wait_until="domcontentloaded")
        billed = page.get_by_test_id("stMetric").filter(has_text="Billed to clinics").get_by_test_id("stMetricValue")
        expect(billed).to_contain_text("$", timeout=60_000)
        page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg").first.wait_for(
            timeout=60_000
        )
        page.wait_for_timeout(1_500)  # let every chart finish drawing
        page.screenshot(path=str(output_dir / "simulator.png"))
        before = billed.inner_text()
        slider = page.get_by_role("slider", name="Reminders per appointment")
        slider.focus()
        for _ in range(10):
            slider.press("ArrowRight")
        expect(billed).not_to_have_text(before, timeout=30_000)
        after = billed.inner_text()
        assert float(after.strip("$").replace(",", "")) > float(before.strip("$").replace(",", ""))
        page.screenshot(path=str(output_dir / "simulator-more-reminders.png"))
        for name, title in (("wallet", "Clinic wallet"), ("admin", "Admin"), ("inspector", "Pricebook inspector")):
            page.goto(f"{server}/{name}", wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=60_000)
            if name != "inspector":
                page.get_by_test_id("stMetric").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1_500)
            page.screenshot(path=str(output_dir / f"{name}.png"))
        browser.close()
    assert (output_dir / "simulator.png").stat().st_size > 20_000
