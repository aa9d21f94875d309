"""A real ledger for every billing test, on SQLite (a file, WAL) and on PostgreSQL (a throw-away
database of its own), with the shipped pricebooks published, a clock the test moves, and the fake
payment gateway. After every test the ledger's invariants are recomputed and must hold."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.billing import Billing, FakeGateway
from storage.database import Database
from tests.conftest import IN_V1, IN_V2, US_V1, Clock
from tests.pricebook.book import Book


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def billing(ledger_url: str, clock: Clock, gateway: FakeGateway) -> Iterator[Billing]:
    database = Database(ledger_url)
    service = Billing(database, clock=clock, gateway=gateway)
    published = datetime(2025, 6, 1, tzinfo=UTC)
    for path in (US_V1, IN_V1, IN_V2):
        service.publish_pricebook(path, actor="pricing", key=f"publish-{path.name}", at=published)
    yield service
    report = service.reconcile()
    database.dispose()
    assert report.ok, "ledger invariants broken:\n" + "\n".join(map(str, report.drifts))


def us_version_2(
    folder: Path,
    voice_1: int = 165,
    effective_from: datetime = datetime(2026, 4, 1),
    existing_customers_from: datetime | None = None,
    preferred_limit: int | None = None,
) -> Path:
    """US v2 as the pricing team would make it: VOICE-1 repriced, its examples updated, a later date."""
    book = Book(US_V1)
    book.set_meta("version", 2)
    book.set_meta("supersedes_version", 1)
    book.set_meta("effective_from", effective_from)
    book.set_meta("existing_customers_effective_from", existing_customers_from)
    book.set_meta("change_summary", f"VOICE-1 from 160 to {voice_1} credits a minute.")
    book.set("UsageTiers", "VOICE-1", "unit_price_credits", voice_1)
    book.set("UsageTiers", "VOICE-1", "stated_tier_credits", 500 * voice_1)
    book.set("Tests", "T-VOICE-01", "expected_credits", 200 * voice_1)
    book.set("Tests", "T-VOICE-02", "expected_credits", 200 * voice_1)
    if preferred_limit is not None:
        book.set("Overdraft", "OD-PREFERRED", "max_negative_credits", preferred_limit)
    return book.save(folder / "us-audiology-v2.xlsx")


@pytest.fixture
def twin_urls(ledger_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty ledgers of the same kind (the same operations on both must leave the same rows)."""
    if ledger_url.startswith("sqlite"):
        yield ledger_url, f"sqlite:///{tmp_path / 'twin.db'}"
        return
    admin = create_engine(request.getfixturevalue("postgres_admin_url"), isolation_level="AUTOCOMMIT")
    name = f"creditbook_twin_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield ledger_url, make_url(ledger_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
