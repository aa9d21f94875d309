"""The app under Streamlit's own test harness, on a small demo ledger of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine.billing import Billing
from engine.billing.demo import seed_demo
from tests.conftest import ROOT

MAIN = ROOT / "simulator" / "app" / "main.py"


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
    import sqlite3

    copy = tmp_path / "ledger.db"
    with sqlite3.connect(demo_database) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    return copy


@pytest.fixture
def app(ledger_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("CREDITBOOK_DATABASE_URL", f"sqlite:///{ledger_copy}")
    monkeypatch.delenv("CREDITBOOK_ADMIN_PASSWORD", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    test = AppTest.from_file(str(MAIN), default_timeout=90)
    yield test
    st.cache_resource.clear()


def open_page(app: AppTest, page: str) -> AppTest:
    app.run()
    app.switch_page(f"pages/{page}.py")
    app.run()
    assert not app.exception, app.exception
    return app
