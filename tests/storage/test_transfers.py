"""The ledger's one door, driven directly on SQLite and PostgreSQL: each kind of transfer posts its
transaction, wallet change, lots and balanced legs; a spend past the limit is declined (recorded or
refused); a refund never gives back more than the charge took; expiry happens once; and a transfer
whose lots disagree with its wallet, or that would overflow a wallet, is refused with nothing left
behind. After every test every invariant is recomputed from the rows (storage/reconcile.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.bounds import BALANCE_MAX
from engine.errors import InvalidInput
from engine.vocabulary import AccountKind, AllocationKind, LotKind, LotSource, TransactionKind
from storage import accounts, clinics, transfers
from storage.clinics import NewClinic
from storage.database import Connection, Database
from storage.errors import LedgerError
from storage.lots import NewLot, spending_order
from storage.reconcile import reconcile
from storage.schema import allocations, entries, lots, transactions

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(ledger_url: str) -> Iterator[Database]:
    database = Database(ledger_url)
    database.upgrade()

    def register(conn: Connection) -> None:
        for clinic_id, limit in (("c", 0), ("p", 500)):
            clinics.insert_clinic(
                conn,
                NewClinic(clinic_id, clinic_id, "IN", "in-leads", "standard", False, None, "Asia/Kolkata", None, T0),
            )
            accounts.create_wallet(conn, clinic_id, "IN", limit)

    database.run(register)
    yield database
    report = database.read(reconcile)
    database.dispose()
    # (h) and (i) tie top-ups to payment attempts; this suite funds wallets through the door alone
    drifts = [drift for drift in report.drifts if drift.check not in ("h", "i")]
    assert not drifts, "\n".join(map(str, drifts))


def post(db: Database, clinic_id: str, make: Any, at: datetime = T0) -> transfers.Posted | transfers.Declined:
    """Post the transfer `make(wallet, state)` builds, under the wallet lock, in one transaction."""

    def work(conn: Connection) -> transfers.Posted | transfers.Declined:
        state = clinics.load_state(conn, clinic_id, at, lock=True)
        assert state is not None
        return transfers.post(conn, make(state.wallet, state))

    return db.run(work)


def fund(credits: int, kind: LotKind = LotKind.PAID, expires: datetime | None = None, at: datetime = T0) -> Any:
    source = LotSource.TOPUP if kind is LotKind.PAID else LotSource.BONUS
    counter = AccountKind.CASH if kind is LotKind.PAID else AccountKind.PROMOTION_EXPENSE
    kind_of = TransactionKind.TOPUP if kind is LotKind.PAID else TransactionKind.BONUS
    return lambda wallet, state: transfers.Transfer(
        kind_of, wallet, credits, counter, transfers.Fund(NewLot(kind, source, expires)), at
    )


def spend(credits: int, on_decline: transfers.OnDecline = transfers.OnDecline.RECORD, at: datetime = T0) -> Any:
    return lambda wallet, state: transfers.Transfer(
        TransactionKind.CHARGE,
        wallet,
        credits,
        AccountKind.USAGE_REVENUE,
        transfers.Spend(spending_order(state.lots, at), on_decline),
        at,
        stamp=transfers.Stamp("in-leads", 2, "abc", ("LP-03",), f'{{"credits": {credits}}}'),
        details=transfers.Details(product="lead_call", units=1),
    )


def rows(db: Database, table: Any, **where: Any) -> list[Any]:
    return db.read(lambda conn: list(conn.execute(select(table).where(*(table.c[k] == v for k, v in where.items())))))


def count(db: Database, table: Any) -> int:
    return int(db.read(lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()))


def test_a_fund_writes_the_transaction_a_lot_and_two_legs_that_sum_to_zero(db: Database) -> None:
    posted = post(db, "c", fund(1_000, expires=T0 + timedelta(days=30)))
    assert isinstance(posted, transfers.Posted) and posted.balance == 1_000 and posted.credits == 1_000
    (lot,) = rows(db, lots, transaction_id=posted.transaction_id)
    assert (lot.kind, lot.source, lot.amount, lot.remaining) == ("paid", "topup", 1_000, 1_000)
    legs = rows(db, entries, transaction_id=posted.transaction_id)
    assert sorted(leg.amount for leg in legs) == [-1_000, 1_000]
    (txn,) = rows(db, transactions, id=posted.transaction_id)
    assert (txn.kind, txn.status, txn.credits) == ("topup", "posted", 1_000)


def test_a_spend_takes_lots_in_spending_order_and_records_its_stamp(db: Database) -> None:
    post(db, "c", fund(300, expires=T0 + timedelta(days=60)))
    soon = post(db, "c", fund(200, expires=T0 + timedelta(days=5)))
    granted = post(db, "c", fund(100, LotKind.GRANTED, expires=T0 + timedelta(days=5)))
    posted = post(db, "c", spend(250))
    assert isinstance(posted, transfers.Posted) and posted.balance == 350
    assert posted.taken is not None and posted.taken.unfunded == 0
    taken = {row.lot_id: row.amount for row in rows(db, allocations, transaction_id=posted.transaction_id)}
    lot_of = {row.transaction_id: row.id for row in rows(db, lots)}
    # earliest expiry first, granted before paid on the tie
    assert taken == {lot_of[granted.transaction_id]: 100, lot_of[soon.transaction_id]: 150}
    (txn,) = rows(db, transactions, id=posted.transaction_id)
    assert (txn.pricebook_id, txn.pricebook_version, txn.pricebook_hash, txn.rule_ids) == (
        "in-leads",
        2,
        "abc",
        '["LP-03"]',
    )
    assert (txn.product, txn.units, txn.unfunded) == ("lead_call", 1, 0)


def test_a_spend_past_the_limit_is_declined_and_recorded_without_moving_anything(db: Database) -> None:
    post(db, "c", fund(100))
    before = (count(db, entries), count(db, allocations))
    declined = post(db, "c", spend(101))
    assert isinstance(declined, transfers.Declined) and declined.balance == 100
    (txn,) = rows(db, transactions, id=declined.transaction_id)
    assert (txn.status, txn.credits, txn.reason) == ("declined", 101, "declined by the ledger's overdraft guard")
    assert (count(db, entries), count(db, allocations)) == before


def test_a_refused_spend_writes_nothing_at_all(db: Database) -> None:
    post(db, "c", fund(100))
    before = count(db, transactions)
    refused = post(db, "c", spend(101, transfers.OnDecline.REFUSE))
    assert isinstance(refused, transfers.Declined) and refused.transaction_id is None
    assert count(db, transactions) == before


def test_a_spend_into_the_overdraft_is_unfunded_and_the_next_fund_repays_it(db: Database) -> None:
    post(db, "p", fund(100))
    charged = post(db, "p", spend(400))
    assert isinstance(charged, transfers.Posted) and charged.balance == -300
    assert charged.taken is not None and charged.taken.unfunded == 300
    assert isinstance(post(db, "p", spend(201)), transfers.Declined)  # -501 is past the limit of 500
    topped = post(db, "p", fund(1_000))
    assert isinstance(topped, transfers.Posted) and topped.balance == 700
    (txn,) = rows(db, transactions, id=charged.transaction_id)
    assert txn.unfunded == 0  # repaid by the top-up, oldest unfunded charge first
    (lot,) = rows(db, lots, transaction_id=topped.transaction_id)
    assert lot.remaining == 700


def test_a_restore_gives_back_to_the_original_lots_once(db: Database) -> None:
    post(db, "c", fund(500))
    charged = post(db, "c", spend(200))
    assert isinstance(charged, transfers.Posted)

    def restore(credits: int) -> Any:
        return lambda wallet, state: transfers.Transfer(
            TransactionKind.REFUND,
            wallet,
            credits,
            AccountKind.USAGE_REVENUE,
            transfers.Restore(charged.transaction_id, timedelta(days=7)),
            T0,
        )

    partial = post(db, "c", restore(150))
    assert isinstance(partial, transfers.Posted) and partial.balance == 450
    assert isinstance(post(db, "c", restore(51)), transfers.Declined)  # only 50 is left of the charge
    rest = post(db, "c", restore(50))
    assert isinstance(rest, transfers.Posted) and rest.balance == 500
    (lot,) = rows(db, lots)
    assert lot.remaining == 500  # back in the lot it came from: no new lot


def test_a_restore_into_an_expired_lot_opens_a_short_lived_lot(db: Database) -> None:
    post(db, "c", fund(300, expires=T0 + timedelta(days=1)))
    charged = post(db, "c", spend(100))
    later = T0 + timedelta(days=2)
    expired = post(
        db,
        "c",
        lambda wallet, state: transfers.Transfer(
            TransactionKind.EXPIRY,
            wallet,
            0,
            AccountKind.EXPIRED,
            transfers.Expire([lot for lot in state.lots if lot.expires_at and lot.expires_at <= later]),
            later,
        ),
        at=later,
    )
    assert isinstance(expired, transfers.Posted) and expired.credits == 200 and expired.balance == 0
    refunded = post(
        db,
        "c",
        lambda wallet, state: transfers.Transfer(
            TransactionKind.REFUND,
            wallet,
            100,
            AccountKind.USAGE_REVENUE,
            transfers.Restore(charged.transaction_id, timedelta(days=7)),
            later,
        ),
        at=later,
    )
    assert isinstance(refunded, transfers.Posted) and refunded.balance == 100
    (new_lot,) = rows(db, lots, transaction_id=refunded.transaction_id)
    assert (new_lot.source, new_lot.remaining, new_lot.expires_at) == ("refund", 100, later + timedelta(days=7))


def test_expiry_takes_what_due_lots_hold_once(db: Database) -> None:
    post(db, "c", fund(300, expires=T0 + timedelta(days=1)))
    post(db, "c", fund(50))
    later = T0 + timedelta(days=1)  # a lot is usable iff now < expires_at: due at the instant

    def expire(wallet: Any, state: Any) -> transfers.Transfer:
        due = [lot for lot in state.lots if lot.expires_at and lot.expires_at <= later]
        return transfers.Transfer(TransactionKind.EXPIRY, wallet, 0, AccountKind.EXPIRED, transfers.Expire(due), later)

    first = post(db, "c", expire, at=later)
    assert isinstance(first, transfers.Posted) and (first.credits, first.balance) == (300, 50)
    again = post(db, "c", expire, at=later)
    assert isinstance(again, transfers.Posted) and (again.credits, again.balance) == (0, 50)
    assert [row.kind for row in rows(db, allocations)] == [AllocationKind.EXPIRE]


def test_a_spend_whose_lots_disagree_with_its_wallet_is_refused_and_leaves_nothing(db: Database) -> None:
    post(db, "c", fund(100))
    before = (count(db, transactions), count(db, entries))

    def stale(wallet: Any, state: Any) -> transfers.Transfer:  # a caller that lost track of its lots
        return spend(50)(wallet, replace(state, lots=[]))

    with pytest.raises(LedgerError, match="lots given to spend from"):
        post(db, "c", stale)
    assert (count(db, transactions), count(db, entries)) == before


def test_a_fund_past_the_wallet_bound_is_refused_and_leaves_nothing(db: Database) -> None:
    post(db, "c", fund(BALANCE_MAX - 10))
    before = count(db, transactions)
    with pytest.raises(InvalidInput, match="more than"):
        post(db, "c", fund(11))
    assert count(db, transactions) == before


@pytest.mark.parametrize(
    "make",
    [
        lambda w, s: transfers.Transfer(
            TransactionKind.TOPUP,
            w,
            -5,
            AccountKind.CASH,
            transfers.Fund(NewLot(LotKind.PAID, LotSource.TOPUP, None)),
            T0,
        ),
        lambda w, s: transfers.Transfer(
            TransactionKind.TOPUP,
            w,
            5,
            AccountKind.WALLET,
            transfers.Fund(NewLot(LotKind.PAID, LotSource.TOPUP, None)),
            T0,
        ),
    ],
    ids=["negative credits", "a wallet on both sides"],
)
def test_a_malformed_transfer_is_refused(db: Database, make: Any) -> None:
    with pytest.raises(ValueError):
        post(db, "c", make)
    assert count(db, transactions) == 0
