"""The app under Streamlit's own test harness, on a small demo ledger of its own, and helpers to
read what a page shows (metrics, tables, charts) the way a person would."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine.billing import Billing
from engine.billing.demo import seed_demo
from simulator.app.launch import MAIN

PASSWORD = "s3cret-staff"
__all__ = ["MAIN", "PASSWORD"]


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    billing = Billing(f"sqlite:///{path}")
    seed_demo(billing, until=datetime.now(UTC), months=1, us_clinics=3, in_clinics=3, seed=3)
    billing.db.dispose()
    return path


def copy_ledger(source: Path, target: Path) -> Path:
    import sqlite3

    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        a.backup(b)
    return target


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


def open_page(app: AppTest, page: str) -> AppTest:
    app.run()
    app.switch_page(f"views/{page}.py")
    app.run()
    assert not app.exception, app.exception
    return app


def log_in(app: AppTest, password: str = PASSWORD) -> AppTest:
    app.text_input(key="admin_password").input(password)
    app.button(key="login_submit").click().run()
    assert not app.exception, app.exception
    return app


def metric(app: AppTest, label: str) -> Any:
    """The metric whose label starts with `label` (labels may carry the credits after ' · ')."""
    return next(m for m in app.metric if m.label.split(" · ")[0] == label)


def frame(app: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with this column."""
    return next(f.value for f in app.dataframe if column in f.value.columns)


def number(text: str) -> float:
    """The number a formatted amount says: '₹12,34,567' → 1234567; '-$1.50' → -1.5."""
    return float(re.sub(r"[^\d.\-]", "", text.split(" (", maxsplit=1)[0]))


def charts(app: AppTest) -> list[tuple[dict[str, Any], list[pd.DataFrame]]]:
    """Each Vega-Lite chart's spec and the rows it plots."""
    import pyarrow as pa

    found = []
    for node in app.get("vega_lite_chart"):
        proto = node.proto  # type: ignore[attr-defined]
        data = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in proto.datasets]
        found.append((json.loads(proto.spec), data))
    return found
