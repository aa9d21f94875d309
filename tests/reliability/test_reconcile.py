"""R24: the reconciliation detector names exactly the wallet, lot or transaction that was corrupted."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from storage.schema import accounts, entries, lots
from tests.support.reliability import Ledger, lead


def _corrupt(ledger: Ledger, statement: Any) -> None:
    ledger.billing.db.run(lambda conn: conn.execute(statement))
    ledger.damaged_on_purpose = True


@pytest.fixture
def busy(ledger: Ledger) -> Ledger:
    for n in range(5):
        clinic = ledger.wallet(f"c{n}", 10_000)
        for i in range(5):
            ledger.billing.charge(clinic, lead(7), key=f"lead-{i}")
    assert ledger.billing.reconcile().ok
    return ledger


def _ids(ledger: Ledger) -> tuple[int, int]:
    wallet = ledger.billing.db.read(
        lambda conn: conn.execute(select(accounts.c.id).where(accounts.c.clinic_id == "c3")).scalar_one()
    )
    lot = ledger.billing.db.read(
        lambda conn: conn.execute(select(lots.c.id).where(lots.c.wallet_id == wallet)).scalars().first()
    )
    return wallet, lot


def test_r24_a_cached_balance_changed_behind_the_ledger(busy: Ledger) -> None:
    wallet, _ = _ids(busy)
    _corrupt(busy, update(accounts).where(accounts.c.id == wallet).values(balance=accounts.c.balance + 7))
    drifts = busy.billing.reconcile().drifts
    assert {(d.check, d.subject) for d in drifts} == {
        ("a", f"wallet {wallet} (clinic c3)"),
        ("e", f"wallet {wallet} (clinic c3)"),
    }


def test_r24_a_lot_remainder_changed_behind_the_ledger(busy: Ledger) -> None:
    wallet, lot = _ids(busy)
    _corrupt(busy, update(lots).where(lots.c.id == lot).values(remaining=lots.c.remaining - 3))
    drifts = busy.billing.reconcile().drifts
    assert {(d.check, d.subject) for d in drifts} == {
        ("d", f"lot {lot} (wallet {wallet})"),
        ("e", f"wallet {wallet} (clinic c3)"),
    }


def test_r24_an_entry_edited_in_place(busy: Ledger) -> None:
    wallet, _ = _ids(busy)
    entry, txn = busy.billing.db.read(
        lambda conn: conn.execute(
            select(entries.c.id, entries.c.transaction_id).where(entries.c.account_id == wallet)
        ).first()
    )
    _corrupt(busy, update(entries).where(entries.c.id == entry).values(amount=entries.c.amount - 1))
    subjects = {(d.check, d.subject) for d in busy.billing.reconcile().drifts}
    assert ("b", f"transaction {txn}") in subjects and ("a", f"wallet {wallet} (clinic c3)") in subjects
    assert all(f"{wallet}" in s or f"transaction {txn}" in s for _, s in subjects)
