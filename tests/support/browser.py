"""Debian's Chromium driven by Playwright, for the tests that look at pages as people do (the
Streamlit app, the clinic dashboard)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


def chromium() -> str:
    """The browser's path; skip without it (fail under CREDITBOOK_REQUIRE_BROWSER=1, as CI sets)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Chromium is not installed (Debian: apt-get install chromium; `make test` installs it as root)"
        if os.environ.get("CREDITBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@contextmanager
def launched() -> Iterator[Any]:
    """A headless Chromium for the block, closed after it."""
    path = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()
