"""How a charge's one call reaches SQLite (storage/fast_sqlite.py, storage/database.py `begun` and
`_held_connection`): in a write transaction begun on the connection the thread keeps. What that
must not change: a prediction that does not hold raises and leaves nothing written, a database
another writer holds is waited for and the charge posted once, a replayed key answers what it
answered, and a thread's connection is given back when the thread ends or the database is
disposed. (Rows equal to the reference path's: tests/billing/test_fast_path.py.)"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.billing import Billing
from engine.errors import StorageError
from engine.pricing.requests import LeadRequest
from storage import fast_sqlite, transfers
from storage.database import Autocommit
from tests.support.ledger_rows import snapshot
from tests.support.ledgers import two_charged_clinics


@pytest.fixture
def billing(tmp_path: Path) -> Iterator[Billing]:
    """A SQLite ledger with two Indian clinics funded, each charged once (their states kept)."""
    with two_charged_clinics(f"sqlite:///{tmp_path / 'ledger.db'}") as billing:
        yield billing


def _lead(price: int) -> LeadRequest:
    return LeadRequest(product="lead_call", package_price=Decimal(price))  # type: ignore[arg-type]


def _driver(billing: Billing) -> int:
    """The sqlite3 connection behind this thread's kept connection."""
    return int(billing.db.run(Autocommit(lambda conn: id(conn.connection.driver_connection))))


def test_a_prediction_that_does_not_hold_raises_and_leaves_nothing_written(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(billing)
    predict = transfers.predict

    def off_by_one(transfer: Any) -> Any:
        predicted = predict(transfer)
        return replace(predicted, balance=predicted.balance - 1)

    monkeypatch.setattr(transfers, "predict", off_by_one)
    with pytest.raises(StorageError, match="not the predicted"):
        billing.charge("a", _lead(15_000), key="wrong")
    assert snapshot(billing) == before  # not the key, not the debit, not the transaction
    monkeypatch.setattr(transfers, "predict", predict)
    charged = billing.charge("a", _lead(15_000), key="wrong")  # the key was never claimed
    assert charged.approved and not charged.replayed


def test_a_charge_waits_for_another_writer_and_posts_once(billing: Billing, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(billing.charge("a", _lead(15_000), key="busy")))
    worker.start()
    worker.join(0.3)
    assert worker.is_alive() and not results  # waiting for the write lock, not refused
    other.execute("COMMIT")
    other.close()
    worker.join(10)
    assert results and results[0].approved
    again = billing.charge("a", _lead(15_000), key="busy")
    assert again.replayed and again.transaction_id == results[0].transaction_id
    assert again.balance == results[0].balance


def test_each_thread_keeps_one_connection_given_back_when_it_ends_or_the_database_is_disposed(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[str] = []
    post = fast_sqlite.post_charge

    def counted(conn: Any, charge: Any) -> Any:
        answer = post(conn, charge)
        posted.append(answer.status)
        return answer

    monkeypatch.setattr(fast_sqlite, "post_charge", counted)
    db = billing.db
    pool: Any = db.engine.pool
    driver = _driver(billing)
    for n in range(3):
        assert billing.charge("a", _lead(3_000), key=f"same-{n}").approved
        assert _driver(billing) == driver  # the same connection, charge after charge
    assert posted == ["posted"] * 3  # each by the one call
    held = pool.checkedout()

    def elsewhere(key: str) -> None:
        billing.charge("b", _lead(3_000), key=key)

    for n in range(2):
        worker = threading.Thread(target=elsewhere, args=(f"thread-{n}",))
        worker.start()
        worker.join()
        assert pool.checkedout() == held + 1  # the ended thread's, until another thread needs one
    db.dispose()
    assert pool.checkedout() == 0
