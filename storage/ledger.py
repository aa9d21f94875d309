"""Ledger operations on one open database transaction: credits, ids and metadata, never prices.

The rules this module keeps (ledger reference §"Lessons"):
- A wallet's balance changes only through `debit_wallet` (one guarded UPDATE that refuses to go
  further below zero than the wallet's own overdraft limit) or `credit_wallet`; never read-modify-
  write in Python. Every change is a leg of a double-entry transaction whose legs sum to zero.
- Credits are spent from lots by earliest expiry, granted before paid on ties, then oldest; a lot
  is usable iff now < expires_at. What a charge cannot take from lots is its `unfunded` part (the
  overdraft), repaid first by the next credits that arrive.
- State changes are compare-and-set (`WHERE status = ...`, `WHERE remaining >= ...`) so that a
  second attempt changes nothing.
- Callers lock the wallet (`wallet(..., lock=True)`) before touching its lots: on PostgreSQL a row
  lock, on SQLite the write lock BEGIN IMMEDIATE already holds.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from engine.errors import IdempotencyConflict, StorageError
from storage.database import LostRace
from storage.fast import Statement
from storage.schema import (
    SYSTEM_ACCOUNTS,
    accounts,
    allocations,
    disputes,
    entries,
    idempotency_keys,
    lots,
    payments,
    restorations,
    transactions,
)


class LedgerError(StorageError):
    """The ledger found its own rows inconsistent (a bug or a damaged database): never a refusal
    of the request, always a reason to stop and look."""


@dataclass(frozen=True)
class Wallet:
    id: int
    clinic_id: str
    market: str
    balance: int
    overdraft_limit: int


@dataclass(frozen=True)
class Claim:
    """An idempotency key: new (`outcome` None, proceed) or already answered (`outcome` replayed)."""

    id: int
    outcome: dict[str, Any] | None
    replay: bool


@dataclass
class Taken:
    """What a debit took: per lot, and the unfunded (overdraft) rest."""

    by_lot: list[tuple[int, int]] = field(default_factory=list)
    unfunded: int = 0
    kind: str = "charge"


def totals(conn: Connection, query: Any) -> dict[Any, int]:
    """{key: total} from a two-column grouped query."""
    return {key: int(total or 0) for key, total in conn.execute(query)}


_SYSTEM_IDS: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], int]] = weakref.WeakKeyDictionary()


def system_account(conn: Connection, kind: str, market: str) -> int:
    """The id of a system account (created on first use, one per kind and market). Ids found
    committed are remembered per database engine: they never change once created."""
    if kind not in SYSTEM_ACCOUNTS:
        raise ValueError(f"unknown system account {kind!r}")
    known = _SYSTEM_IDS.setdefault(conn.engine, {})
    if (kind, market) in known:
        return known[(kind, market)]
    query = select(accounts.c.id).where(
        accounts.c.kind == kind, accounts.c.market == market, accounts.c.clinic_id.is_(None)
    )
    found = conn.execute(query).scalar()
    if found is not None:
        known[(kind, market)] = int(found)
        return int(found)
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    insert(accounts)
                    .values(kind=kind, market=market, balance=0, overdraft_limit=0, version=0)
                    .returning(accounts.c.id)
                ).scalar_one()
            )  # not remembered: this transaction may still roll back
    except IntegrityError:  # another transaction created it first
        return int(conn.execute(query).scalar_one())


def create_wallet(conn: Connection, clinic_id: str, market: str, overdraft_limit: int) -> int:
    return int(
        conn.execute(
            insert(accounts)
            .values(
                kind="wallet", market=market, clinic_id=clinic_id, balance=0, overdraft_limit=overdraft_limit, version=0
            )
            .returning(accounts.c.id)
        ).scalar_one()
    )


def wallet(conn: Connection, clinic_id: str, lock: bool = False) -> Wallet | None:
    query = select(
        accounts.c.id, accounts.c.clinic_id, accounts.c.market, accounts.c.balance, accounts.c.overdraft_limit
    ).where(accounts.c.clinic_id == clinic_id, accounts.c.kind == "wallet")
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(key_share=False)
    row = conn.execute(query).first()
    return (
        None
        if row is None
        else Wallet(int(row.id), row.clinic_id, row.market, int(row.balance), int(row.overdraft_limit))
    )


def set_overdraft_limit(conn: Connection, wallet_id: int, limit: int) -> bool:
    """Change a wallet's limit; refused (False) while the wallet is further overdrawn than the new one."""
    result = conn.execute(
        update(accounts)
        .where(accounts.c.id == wallet_id, accounts.c.balance >= -limit)
        .values(overdraft_limit=limit, version=accounts.c.version + 1)
    )
    return result.rowcount == 1


# -- idempotency ----------------------------------------------------------------------------------


def claim(conn: Connection, scope: str, key: str, operation: str, request_hash: str, at: datetime) -> Claim:
    """Claim `key` for this request in the current transaction, or replay its stored outcome.

    Same key and same request → the stored outcome (a declined key stays declined). Same key and a
    different request → IdempotencyConflict. The claim commits with the effect, or not at all."""
    values = {"scope": scope, "key": key, "operation": operation, "request_hash": request_hash, "created_at": at}
    new_id = _CLAIM[conn.dialect.name].run(conn, values).scalar()
    if new_id is not None:
        return Claim(int(new_id), None, replay=False)
    existing = conn.execute(_CLAIMED, {"b_scope": scope, "b_key": key}).one()
    if existing.request_hash != request_hash or existing.operation != operation:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used for a different {existing.operation} "
            "request; use a new key for a new request"
        )
    outcome = None if existing.outcome is None else json.loads(existing.outcome)
    return Claim(int(existing.id), outcome, replay=outcome is not None)


# Statements of the hot path are built once: SQLAlchemy then reuses their compiled form and cache
# key, which is most of a statement's cost in Python (building one costs ~80 µs, running it ~30 µs).
B = bindparam
_CLAIM = {  # INSERT ... ON CONFLICT DO NOTHING: one statement, no savepoint, on both databases
    name: Statement(dialect.insert(idempotency_keys).on_conflict_do_nothing().returning(idempotency_keys.c.id))
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_CLAIMED = select(idempotency_keys).where(
    idempotency_keys.c.scope == B("b_scope"), idempotency_keys.c.key == B("b_key")
)
_STORE = Statement(
    update(idempotency_keys)
    .where(idempotency_keys.c.id == B("b_id"))
    .values(outcome=B("b_outcome"), transaction_id=B("b_txn"))
)


def store_outcome(conn: Connection, claim_id: int, outcome: dict[str, Any], transaction_id: int | None) -> None:
    text = json.dumps(outcome, sort_keys=True, default=str)
    _STORE.run(conn, {"b_id": claim_id, "b_outcome": text, "b_txn": transaction_id})


# -- transactions and legs -----------------------------------------------------------------------


def insert_transaction(conn: Connection, **values: Any) -> int:
    for name in ("rule_ids", "quote"):
        if name in values and not isinstance(values[name], str | None):
            values[name] = json.dumps(values[name], sort_keys=True, default=str)
    return int(_INSERT_TRANSACTION.run(conn, values).scalar())


_INSERT_TRANSACTION = Statement(insert(transactions).returning(transactions.c.id))
_INSERT_ENTRIES = Statement(insert(entries))


def post_legs(conn: Connection, transaction_id: int, legs: Sequence[tuple[int, int]]) -> None:
    """Record the legs of a transaction; they must sum to zero. A wallet's balance must already have
    moved through debit_wallet / credit_wallet. System accounts keep no cached balance (their
    balance is the sum of their entries): one hot row updated by every charge of a market would
    serialise all clinics' charges on PostgreSQL."""
    if sum(amount for _, amount in legs) != 0:
        raise ValueError(f"legs of transaction {transaction_id} do not sum to zero: {legs}")
    _INSERT_ENTRIES.run_many(
        conn,
        [
            {"transaction_id": transaction_id, "account_id": account, "amount": amount}
            for account, amount in legs
            if amount
        ],
    )


_DEBIT = Statement(
    update(accounts)
    .where(
        accounts.c.id == B("b_wallet"),
        accounts.c.kind == "wallet",
        accounts.c.balance - B("b_amount") >= -accounts.c.overdraft_limit,
    )
    .values(balance=accounts.c.balance - B("b_amount"), version=accounts.c.version + 1)
    .returning(accounts.c.balance)
)
_CREDIT = Statement(
    update(accounts)
    .where(accounts.c.id == B("b_wallet"), accounts.c.kind == "wallet")
    .values(balance=accounts.c.balance + B("b_amount"), version=accounts.c.version + 1)
    .returning(accounts.c.balance)
)


def debit_wallet(conn: Connection, wallet_id: int, amount: int) -> int | None:
    """THE guarded statement: take `amount` unless that would put the wallet further below zero
    than its own overdraft limit. Returns the new balance, or None: declined, nothing changed."""
    return _DEBIT.run(conn, {"b_wallet": wallet_id, "b_amount": amount}).scalar()


def credit_wallet(conn: Connection, wallet_id: int, amount: int) -> int:
    """Add credits to a wallet; returns the new balance."""
    return int(_CREDIT.run(conn, {"b_wallet": wallet_id, "b_amount": amount}).scalar())


def clinic_balance(conn: Connection, clinic_id: str) -> int:
    """The balance of a clinic's wallet (read inside the transaction that changed it)."""
    found = wallet(conn, clinic_id)
    if found is None:
        raise LedgerError(f"clinic {clinic_id!r} has no wallet")
    return found.balance


def balance_of(conn: Connection, wallet_id: int) -> int:
    return int(conn.execute(select(accounts.c.balance).where(accounts.c.id == wallet_id)).scalar_one())


# -- lots ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lot:
    id: int
    kind: str
    remaining: int
    expires_at: datetime | None


def open_lots(conn: Connection, wallet_id: int) -> list[Lot]:
    """The wallet's unexpired lots that still hold credits (some may be due to expire)."""
    rows = _OPEN_LOTS.run(conn, {"b_wallet": wallet_id}).all()
    return [Lot(int(r.id), r.kind, int(r.remaining), r.expires_at) for r in rows]


_OPEN_LOTS = Statement(
    select(lots.c.id, lots.c.kind, lots.c.remaining, lots.c.expires_at).where(
        lots.c.wallet_id == B("b_wallet"), lots.c.expired.is_(False), lots.c.remaining > 0
    )
)
_TAKE = Statement(
    update(lots)
    .where(lots.c.id == B("b_lot"), lots.c.remaining >= B("b_part"))
    .values(remaining=lots.c.remaining - B("b_part"))
)
_INSERT_ALLOCATIONS = Statement(insert(allocations))


def spending_order(found: Iterable[Lot], at: datetime) -> list[Lot]:
    """Lots usable at `at` (now < expires_at) in spending order: earliest expiry first, never-
    expiring last, granted before paid on ties, then oldest."""
    usable = [lot for lot in found if lot.expires_at is None or lot.expires_at > at]
    return sorted(
        usable,
        key=lambda lot: (lot.expires_at is None, lot.expires_at or at, lot.kind != "granted", lot.id),
    )


def usable_lots(conn: Connection, wallet_id: int, at: datetime) -> list[Lot]:
    return spending_order(open_lots(conn, wallet_id), at)


def take(
    conn: Connection,
    wallet_id: int,
    amount: int,
    transaction_id: int,
    at: datetime,
    kind: str = "charge",
    usable: Sequence[Lot] | None = None,
    defer: bool = False,
) -> Taken:
    """Take `amount` from the wallet's lots in spending order (`usable`, when the caller already
    read them under the wallet lock); the rest is unfunded. With `defer`, the allocations are
    written later by `record_allocations` (once the transaction's id is known)."""
    taken = Taken(kind=kind)
    left = amount
    for lot in usable if usable is not None else usable_lots(conn, wallet_id, at):
        if left == 0:
            break
        part = min(left, lot.remaining)
        changed = _TAKE.run(conn, {"b_lot": lot.id, "b_part": part}).rowcount
        if changed != 1:
            raise LostRace(f"lot {lot.id} changed while this transaction was taking from it")
        taken.by_lot.append((lot.id, part))
        left -= part
    taken.unfunded = left
    if not defer:
        record_allocations(conn, taken, transaction_id)
    return taken


def record_allocations(conn: Connection, taken: Taken, transaction_id: int) -> None:
    if taken.by_lot:
        _INSERT_ALLOCATIONS.run_many(
            conn,
            [
                {"lot_id": lot_id, "transaction_id": transaction_id, "kind": taken.kind, "amount": part}
                for lot_id, part in taken.by_lot
            ],
        )


def add_lot(
    conn: Connection,
    wallet_id: int,
    kind: str,
    source: str,
    amount: int,
    at: datetime,
    expires_at: datetime | None,
    transaction_id: int,
    debt_before: int,
) -> int:
    """A new lot of credits; it first repays `debt_before` (the wallet's overdraft), oldest
    unfunded charge first, so that the lots always hold exactly max(balance, 0)."""
    repay = min(amount, max(debt_before, 0))
    lot_id = int(
        conn.execute(
            insert(lots)
            .values(
                wallet_id=wallet_id,
                kind=kind,
                source=source,
                amount=amount,
                remaining=amount - repay,
                created_at=at,
                expires_at=expires_at,
                expired=False,
                transaction_id=transaction_id,
            )
            .returning(lots.c.id)
        ).scalar_one()
    )
    if repay:
        repay_debt(conn, wallet_id, lot_id, repay, transaction_id)
    return lot_id


def debt(conn: Connection, wallet_id: int) -> int:
    return max(-balance_of(conn, wallet_id), 0)


def repay_debt(conn: Connection, wallet_id: int, lot_id: int, amount: int, transaction_id: int) -> None:
    """Allocate `amount` of a lot to the wallet's unfunded charges, oldest first."""
    clinic_id = conn.execute(select(accounts.c.clinic_id).where(accounts.c.id == wallet_id)).scalar_one()
    charges = conn.execute(
        select(transactions.c.id, transactions.c.unfunded)
        .where(transactions.c.clinic_id == clinic_id, transactions.c.unfunded > 0)
        .order_by(transactions.c.id)
    )
    left = amount
    for charge in charges:
        if left == 0:
            break
        part = min(left, int(charge.unfunded))
        conn.execute(
            update(transactions)
            .where(transactions.c.id == charge.id, transactions.c.unfunded >= part)
            .values(unfunded=transactions.c.unfunded - part)
        )
        conn.execute(
            insert(allocations).values(
                lot_id=lot_id, transaction_id=transaction_id, charge_id=charge.id, kind="repay", amount=part
            )
        )
        left -= part
    if left:
        raise LedgerError(f"wallet {wallet_id} owed less than {amount}: unfunded charges do not match its balance")


def refundable(conn: Connection, charge_id: int) -> int:
    """What refunds can still give back of a charge."""
    row = conn.execute(
        select(transactions.c.credits, transactions.c.refunded).where(transactions.c.id == charge_id)
    ).first()
    return 0 if row is None else int(row.credits) - int(row.refunded)


def mark_refunded(conn: Connection, charge_id: int, amount: int) -> bool:
    """Compare-and-set: count `amount` as refunded unless that would exceed what the charge took."""
    return (
        conn.execute(
            update(transactions)
            .where(transactions.c.id == charge_id, transactions.c.refunded + amount <= transactions.c.credits)
            .values(refunded=transactions.c.refunded + amount)
        ).rowcount
        == 1
    )


def decide_dispute(conn: Connection, dispute_id: int, status: str, at: datetime, actor: str, note: str) -> bool:
    """Compare-and-set: an open dispute becomes approved or rejected, once."""
    changed = conn.execute(
        update(disputes)
        .where(disputes.c.id == dispute_id, disputes.c.status == "open")
        .values(status=status, decided_at=at, decided_by=actor, note=note)
    ).rowcount
    return changed == 1


def mark_payment_credited(conn: Connection, payment_id: str, at: datetime) -> bool:
    """Compare-and-set: a paid (or pending) payment is credited once, however often it is delivered."""
    changed = conn.execute(
        update(payments)
        .where(payments.c.id == payment_id, payments.c.status.in_(("pending", "succeeded")))
        .values(status="credited", settled_at=at)
    ).rowcount
    return changed == 1


def restore(
    conn: Connection, charge_id: int, refund_id: int, wallet_id: int, at: datetime, grace: timedelta, amount: int
) -> None:
    """Give back `amount` of what `charge_id` took. The charge's unrepaid overdraft is cancelled
    first; the rest goes back to the lots it came from (into a new lot expiring after `grace` when
    that lot has expired meanwhile). Credits that land in lots while the wallet is overdrawn repay
    that overdraft first, so the lots keep holding exactly max(balance, 0). The caller moves the
    wallet's balance (+amount) and records the legs."""
    debt_before = debt(conn, wallet_id)
    taken = totals(
        conn,
        select(allocations.c.lot_id, func.sum(allocations.c.amount))
        .where(
            or_(
                and_(allocations.c.transaction_id == charge_id, allocations.c.kind == "charge"),
                and_(allocations.c.charge_id == charge_id, allocations.c.kind == "repay"),
            )
        )
        .group_by(allocations.c.lot_id),
    )
    given = totals(
        conn,
        select(restorations.c.source_lot_id, func.sum(restorations.c.amount))
        .where(restorations.c.charge_id == charge_id)
        .group_by(restorations.c.source_lot_id),
    )
    left = amount
    unrepaid = int(conn.execute(select(transactions.c.unfunded).where(transactions.c.id == charge_id)).scalar_one())
    cancelled = min(left, unrepaid)
    if cancelled:
        conn.execute(
            update(transactions)
            .where(transactions.c.id == charge_id, transactions.c.unfunded >= cancelled)
            .values(unfunded=transactions.c.unfunded - cancelled)
        )
        conn.execute(
            insert(restorations).values(
                refund_id=refund_id, charge_id=charge_id, source_lot_id=None, credited_lot_id=None, amount=cancelled
            )
        )
        left -= cancelled
    credited: list[tuple[int, int]] = []
    for lot_id in sorted(taken):
        if left == 0:
            break
        part = min(left, int(taken[lot_id]) - int(given.get(lot_id, 0)))
        if part <= 0:
            continue
        lot = conn.execute(select(lots.c.kind, lots.c.expired, lots.c.expires_at).where(lots.c.id == lot_id)).one()
        if not lot.expired and (lot.expires_at is None or lot.expires_at > at):
            conn.execute(update(lots).where(lots.c.id == lot_id).values(remaining=lots.c.remaining + part))
            conn.execute(
                insert(allocations).values(
                    lot_id=lot_id, transaction_id=refund_id, charge_id=charge_id, kind="refund", amount=-part
                )
            )
            target = lot_id
        else:
            target = add_lot(conn, wallet_id, lot.kind, "refund", part, at, at + grace, refund_id, debt_before=0)
        conn.execute(
            insert(restorations).values(
                refund_id=refund_id, charge_id=charge_id, source_lot_id=lot_id, credited_lot_id=target, amount=part
            )
        )
        credited.append((target, part))
        left -= part
    if left:
        raise LedgerError(f"cannot give back {amount} credits of charge {charge_id}: it has {amount - left} left")
    owed = debt_before - cancelled  # other charges' overdraft, still to be repaid
    for target, part in credited:
        if owed <= 0:
            break
        repay = min(part, owed)
        conn.execute(
            update(lots)
            .where(lots.c.id == target, lots.c.remaining >= repay)
            .values(remaining=lots.c.remaining - repay)
        )
        repay_debt(conn, wallet_id, target, repay, refund_id)
        owed -= repay


def due_lots(conn: Connection, at: datetime, wallet_id: int | None = None) -> list[Any]:
    """Lots whose time is up and that still hold credits (what the expiry sweep takes)."""
    query = select(lots.c.id, lots.c.wallet_id, lots.c.remaining).where(
        lots.c.expired.is_(False), lots.c.expires_at.is_not(None), lots.c.expires_at <= at
    )
    if wallet_id is not None:
        query = query.where(lots.c.wallet_id == wallet_id)
    return list(conn.execute(query.order_by(lots.c.wallet_id, lots.c.id)))


def expire_lot(conn: Connection, lot_id: int, transaction_id: int) -> int:
    """Mark a lot expired and allocate its remainder to the expiry (compare-and-set: once)."""
    remaining = conn.execute(select(lots.c.remaining).where(lots.c.id == lot_id, lots.c.expired.is_(False))).scalar()
    if remaining is None:
        return 0
    changed = conn.execute(
        update(lots)
        .where(lots.c.id == lot_id, lots.c.expired.is_(False), lots.c.remaining == remaining)
        .values(expired=True, remaining=0)
    ).rowcount
    if changed != 1:
        return 0
    if remaining:
        conn.execute(
            insert(allocations).values(lot_id=lot_id, transaction_id=transaction_id, kind="expire", amount=remaining)
        )
    return int(remaining)
