"""The app under Streamlit's own test harness, on a small demo ledger of its own (reading its pages:
tests/support/app_pages.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine.billing import Billing
from engine.billing.demo import seed_demo
from simulator.app.launch import MAIN
from tests.support.app_pages import PASSWORD, copy_ledger


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    billing = Billing(f"sqlite:///{path}")
    seed_demo(billing, until=datetime.now(UTC), months=1, us_clinics=3, in_clinics=3, seed=3)
    billing.db.dispose()
    return path


@pytest.fixture
def ledger_copy(demo_database: Path, tmp_path: Path) -> Path:
    """A copy each test may change."""
    return copy_ledger(demo_database, tmp_path / "ledger.db")


@pytest.fixture
def app(ledger_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("CREDITBOOK_DATABASE_URL", f"sqlite:///{ledger_copy}")
    monkeypatch.delenv("CREDITBOOK_ADMIN_PASSWORD", raising=False)
    from simulator.app.services import COMPARISONS, SIMULATIONS, TORNADOS

    st.cache_data.clear()
    st.cache_resource.clear()
    test = AppTest.from_file(str(MAIN), default_timeout=90)
    yield test
    st.cache_resource.clear()
    for cache in (SIMULATIONS, COMPARISONS, TORNADOS):
        cache.clear()


@pytest.fixture
def staff_app(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app with the admin password configured (wallet and admin behind the login)."""
    monkeypatch.setenv("CREDITBOOK_ADMIN_PASSWORD", PASSWORD)
    return app
