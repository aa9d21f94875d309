"""Shared test wiring: the shipped pricebooks, an output folder per test, and PostgreSQL.

PostgreSQL tests skip when the server is unreachable, unless CREDITBOOK_REQUIRE_POSTGRES=1 (set by
.ci/run), in which case they fail: CI must never pass because the database was missing.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRICEBOOKS = ROOT / "pricebooks"
US_V1 = PRICEBOOKS / "us" / "us-audiology-v1.xlsx"
IN_V1 = PRICEBOOKS / "in" / "in-clinic-leads-v1.xlsx"
IN_V2 = PRICEBOOKS / "in" / "in-clinic-leads-v2.xlsx"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


PLACEHOLDER = re.compile(r"\{[A-Za-z_][\w.]*(?:![rsa])?(?::[^{}]*)?\}")


@pytest.fixture(autouse=True)
def findings_have_no_placeholders(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every finding any test produces is scanned for an unfilled template field ('in credits
    ({credit})'); a brace pair that quotes the cell's own value is the editor's text, not ours."""
    from engine.pricebook.findings import Collector

    original = Collector.add
    leftovers: list[str] = []

    def add(self: Collector, *args: Any, **kwargs: Any) -> Any:
        finding = original(self, *args, **kwargs)
        typed = "" if finding.value is None else str(finding.value)
        for text in (finding.message, finding.hint):
            for match in PLACEHOLDER.finditer(text):
                if match.group() not in typed:
                    leftovers.append(f"{finding.code} {finding.location}: {text!r}")
        return finding

    monkeypatch.setattr(Collector, "add", add)
    yield
    assert not leftovers, "findings with an unfilled placeholder:\n" + "\n".join(leftovers)


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """A folder for what a test writes and a person may want to look at afterwards."""
    folder = ROOT / "test-output" / request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _postgres_admin_url() -> str:
    return os.environ.get("CREDITBOOK_PG_URL", DEFAULT_PG_URL)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """URL of a reachable PostgreSQL server, or skip (fail under CREDITBOOK_REQUIRE_POSTGRES=1)."""
    from sqlalchemy import create_engine, text

    url = _postgres_admin_url()
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means the same thing here
        message = f"PostgreSQL not reachable at {url}: {exc}"
        if os.environ.get("CREDITBOOK_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_database(postgres_admin_url: str) -> Iterator[str]:
    """A throw-away database of its own for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"creditbook_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class Clock:
    """The injected clock: tests set or advance it; the ledger never reads the wall clock."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_database")
