"""A real ledger for every billing test, on SQLite (a file, WAL) and on PostgreSQL (a throw-away
database of its own), with the shipped pricebooks published, a clock the test moves, and the fake
payment gateway. After every test the ledger's invariants are recomputed and must hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.billing import Billing, FakeGateway
from storage.database import Database
from tests.conftest import IN_V1, IN_V2, US_V1

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
