"""A real ledger for every billing test, on SQLite (a file, WAL) and on PostgreSQL (a throw-away
database of its own), with the shipped pricebooks published, a clock the test moves, and the fake
payment gateway. After every test the ledger's invariants are recomputed and must hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.billing import Billing, FakeGateway
from tests.support.clock import Clock
from tests.support.ledgers import shipped_ledger
from tests.support.postgres import throwaway_database


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def billing(ledger_url: str, clock: Clock, gateway: FakeGateway) -> Iterator[Billing]:
    with shipped_ledger(ledger_url, clock, gateway) as service:
        yield service


@pytest.fixture
def twin_urls(ledger_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty ledgers of the same kind (the same operations on both must leave the same rows)."""
    if ledger_url.startswith("sqlite"):
        yield ledger_url, f"sqlite:///{tmp_path / 'twin.db'}"
        return
    with throwaway_database(request.getfixturevalue("postgres_admin_url"), "creditbook_twin") as twin:
        yield ledger_url, twin
