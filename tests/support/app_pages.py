"""Reading the Streamlit app the way a person would: opening a page, logging in as staff, and what a
page shows (metrics, tables, charts, formatted amounts)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from streamlit.testing.v1 import AppTest

PASSWORD = "s3cret-staff"  # the staff password the app tests configure


def copy_ledger(source: Path, target: Path) -> Path:
    import sqlite3

    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        a.backup(b)
    return target


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
