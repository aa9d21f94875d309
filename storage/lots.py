"""Credit lots: where a wallet's credits live, and the bookkeeping the ledger's door does on them.

Each top-up, bonus or refund into an expired lot creates a lot (paid or granted, amount, remaining,
expires_at). A lot's `remaining` is a cache of its allocations (signed: what charges, repayments of
an overdraft and expiry took out, what refunds put back). The rules kept here:

- Credits are spent by earliest expiry, granted before paid on ties, then oldest; a never-expiring
  lot comes last. A lot is usable iff now < expires_at.
- What a charge cannot take from lots is its `unfunded` part (the overdraft), repaid first by the
  next credits that arrive, oldest unfunded charge first, so the unexpired lots always hold exactly
  max(balance, 0) and the unfunded charges add up to max(−balance, 0).
- Changes are compare-and-set (`WHERE remaining >= :part`, `WHERE expired = false`), so a second
  attempt changes nothing and a lost race is retried, never double-counted.

Only storage/transfers.py calls these: they are one step of posting a transfer, never an operation
on their own. Callers hold the wallet lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, func, insert, or_, select, update

from engine.vocabulary import AllocationKind, LotKind, LotSource
from storage.accounts import balance_of
from storage.database import LostRace
from storage.errors import LedgerError
from storage.schema import allocations, lots, restorations, transactions
from storage.statements import Statement

B = bindparam


@dataclass(frozen=True)
class Lot:
    id: int
    kind: str
    remaining: int
    expires_at: datetime | None


@dataclass
class Taken:
    """What a debit took: per lot, and the unfunded (overdraft) rest."""

    by_lot: list[tuple[int, int]] = field(default_factory=list)
    unfunded: int = 0
    kind: AllocationKind = AllocationKind.CHARGE


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
_INSERT_ALLOCATIONS = Statement(insert(allocations), insert_keys=("lot_id", "transaction_id", "kind", "amount"))


def open_lots(conn: Connection, wallet_id: int) -> list[Lot]:
    """The wallet's unexpired lots that still hold credits (some may be due to expire)."""
    rows = _OPEN_LOTS.run(conn, {"b_wallet": wallet_id}).all()
    return [Lot(int(r.id), r.kind, int(r.remaining), r.expires_at) for r in rows]


def spending_order(found: Iterable[Lot], at: datetime) -> list[Lot]:
    """Lots usable at `at` (now < expires_at) in spending order: earliest expiry first, never-
    expiring last, granted before paid on ties, then oldest."""
    usable = [lot for lot in found if lot.expires_at is None or lot.expires_at > at]
    return sorted(
        usable,
        key=lambda lot: (lot.expires_at is None, lot.expires_at or at, lot.kind != LotKind.GRANTED, lot.id),
    )


def plan_take(amount: int, usable: Sequence[Lot], kind: AllocationKind) -> Taken:
    """What taking `amount` from `usable` (already in spending order) takes from each lot; the rest
    is unfunded. Nothing is written: `take` writes it, and storage/fast.py hands it to the
    PostgreSQL function that writes it there."""
    taken = Taken(kind=kind)
    left = amount
    for lot in usable:
        if left == 0:
            break
        part = min(left, lot.remaining)
        taken.by_lot.append((lot.id, part))
        left -= part
    taken.unfunded = left
    return taken


def take(conn: Connection, amount: int, usable: Sequence[Lot], kind: AllocationKind) -> Taken:
    """Take `amount` from `usable` (already in spending order, read under the wallet lock): each
    lot's part compare-and-set (`remaining >= part`). The allocations are written by
    `record_allocations` once the transaction's id is known."""
    taken = plan_take(amount, usable, kind)
    for lot_id, part in taken.by_lot:
        if _TAKE.run(conn, {"b_lot": lot_id, "b_part": part}).rowcount != 1:
            raise LostRace(f"lot {lot_id} changed while this transaction was taking from it")
    return taken


def after_take(held: Iterable[Lot], taken: Taken) -> list[Lot]:
    """The lots that still hold credits once `taken` is taken from them."""
    parts = dict(taken.by_lot)
    return [
        Lot(lot.id, lot.kind, lot.remaining - parts.get(lot.id, 0), lot.expires_at)
        for lot in held
        if lot.remaining - parts.get(lot.id, 0) > 0
    ]


def record_allocations(conn: Connection, taken: Taken, transaction_id: int) -> None:
    if taken.by_lot:
        _INSERT_ALLOCATIONS.run_many(
            conn,
            [
                {"lot_id": lot_id, "transaction_id": transaction_id, "kind": taken.kind.value, "amount": part}
                for lot_id, part in taken.by_lot
            ],
        )


@dataclass(frozen=True)
class Entry:
    """Where and when a transfer moves credits: the wallet (and its clinic) and the transaction."""

    wallet_id: int
    clinic_id: str
    transaction_id: int
    at: datetime


@dataclass(frozen=True)
class NewLot:
    """The shape of a lot a transfer creates."""

    kind: LotKind
    source: LotSource
    expires_at: datetime | None


def add_lot(conn: Connection, entry: Entry, shape: NewLot, amount: int, debt: int) -> int:
    """A new lot of credits; it first repays `debt` (the wallet's overdraft before these credits),
    oldest unfunded charge first, so that the lots always hold exactly max(balance, 0)."""
    repay = min(amount, max(debt, 0))
    lot_id = int(
        conn.execute(
            insert(lots)
            .values(
                wallet_id=entry.wallet_id,
                kind=shape.kind.value,
                source=shape.source.value,
                amount=amount,
                remaining=amount - repay,
                created_at=entry.at,
                expires_at=shape.expires_at,
                expired=False,
                transaction_id=entry.transaction_id,
            )
            .returning(lots.c.id)
        ).scalar_one()
    )
    if repay:
        repay_debt(conn, entry, lot_id, repay)
    return lot_id


def repay_debt(conn: Connection, entry: Entry, lot_id: int, amount: int) -> None:
    """Allocate `amount` of a lot to the wallet's unfunded charges, oldest first."""
    charges = conn.execute(
        select(transactions.c.id, transactions.c.unfunded)
        .where(transactions.c.clinic_id == entry.clinic_id, transactions.c.unfunded > 0)
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
                lot_id=lot_id,
                transaction_id=entry.transaction_id,
                charge_id=charge.id,
                kind=AllocationKind.REPAY.value,
                amount=part,
            )
        )
        left -= part
    if left:
        raise LedgerError(
            f"wallet {entry.wallet_id} owed less than {amount}: unfunded charges do not match its balance"
        )


def _sums(conn: Connection, query: Select[tuple[Any, Any]]) -> dict[int, int]:
    return {int(key): int(total or 0) for key, total in conn.execute(query)}


def restore(conn: Connection, entry: Entry, charge_id: int, amount: int, grace: timedelta) -> None:
    """Give back `amount` of what `charge_id` took. The charge's unrepaid overdraft is cancelled
    first; the rest goes back to the lots it came from (into a new lot expiring after `grace` when
    that lot has expired meanwhile). Credits that land in lots while the wallet is overdrawn repay
    that overdraft first, so the lots keep holding exactly max(balance, 0). The door moves the
    wallet's balance (+amount) and records the legs."""
    debt_before = max(-balance_of(conn, entry.wallet_id), 0)
    refund_id = entry.transaction_id
    taken = _sums(
        conn,
        select(allocations.c.lot_id, func.sum(allocations.c.amount))
        .where(
            or_(
                and_(allocations.c.transaction_id == charge_id, allocations.c.kind == AllocationKind.CHARGE.value),
                and_(allocations.c.charge_id == charge_id, allocations.c.kind == AllocationKind.REPAY.value),
            )
        )
        .group_by(allocations.c.lot_id),
    )
    given = _sums(
        conn,
        select(restorations.c.source_lot_id, func.sum(restorations.c.amount))
        .where(restorations.c.charge_id == charge_id, restorations.c.source_lot_id.is_not(None))
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
        part = min(left, taken[lot_id] - given.get(lot_id, 0))
        if part <= 0:
            continue
        target = _give_back(conn, entry, lot_id, part, charge_id, grace)
        conn.execute(
            insert(restorations).values(
                refund_id=refund_id, charge_id=charge_id, source_lot_id=lot_id, credited_lot_id=target, amount=part
            )
        )
        credited.append((target, part))
        left -= part
    if left:
        raise LedgerError(f"cannot give back {amount} credits of charge {charge_id}: it has {amount - left} left")
    _repay_from(conn, entry, credited, debt_before - cancelled)


def _give_back(conn: Connection, entry: Entry, lot_id: int, part: int, charge_id: int, grace: timedelta) -> int:
    """Put `part` back into the lot it came from, or into a new short-lived lot when that one has
    expired meanwhile; the lot that received it."""
    lot = conn.execute(select(lots.c.kind, lots.c.expired, lots.c.expires_at).where(lots.c.id == lot_id)).one()
    if not lot.expired and (lot.expires_at is None or lot.expires_at > entry.at):
        conn.execute(update(lots).where(lots.c.id == lot_id).values(remaining=lots.c.remaining + part))
        conn.execute(
            insert(allocations).values(
                lot_id=lot_id,
                transaction_id=entry.transaction_id,
                charge_id=charge_id,
                kind=AllocationKind.REFUND.value,
                amount=-part,
            )
        )
        return lot_id
    shape = NewLot(LotKind(lot.kind), LotSource.REFUND, entry.at + grace)
    return add_lot(conn, entry, shape, part, debt=0)


def _repay_from(conn: Connection, entry: Entry, credited: list[tuple[int, int]], owed: int) -> None:
    """Credits a refund put back repay the wallet's other overdraft first."""
    for target, part in credited:
        if owed <= 0:
            break
        repay = min(part, owed)
        conn.execute(
            update(lots)
            .where(lots.c.id == target, lots.c.remaining >= repay)
            .values(remaining=lots.c.remaining - repay)
        )
        repay_debt(conn, entry, target, repay)
        owed -= repay


def refundable(conn: Connection, charge_id: int) -> int:
    """What refunds can still give back of a charge."""
    row = conn.execute(
        select(transactions.c.credits, transactions.c.refunded).where(transactions.c.id == charge_id)
    ).first()
    return 0 if row is None else int(row.credits) - int(row.refunded)


def charged_at(conn: Connection, charge_id: int) -> datetime:
    """When a charge was posted (its refunds count against that day's usage: storage/usage.py)."""
    return conn.execute(select(transactions.c.at).where(transactions.c.id == charge_id)).scalar_one()


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


def due_lots(conn: Connection, at: datetime, wallet_id: int | None = None) -> list[Lot]:
    """Lots whose time is up and that are not yet marked expired (what the expiry sweep takes)."""
    query = select(lots.c.id, lots.c.kind, lots.c.remaining, lots.c.expires_at).where(
        lots.c.expired.is_(False), lots.c.expires_at.is_not(None), lots.c.expires_at <= at
    )
    if wallet_id is not None:
        query = query.where(lots.c.wallet_id == wallet_id)
    return [Lot(int(r.id), r.kind, int(r.remaining), r.expires_at) for r in conn.execute(query.order_by(lots.c.id))]


def wallets_with_due_lots(conn: Connection, at: datetime) -> list[int]:
    query = (
        select(lots.c.wallet_id)
        .where(lots.c.expired.is_(False), lots.c.expires_at.is_not(None), lots.c.expires_at <= at)
        .distinct()
        .order_by(lots.c.wallet_id)
    )
    return [int(wallet_id) for (wallet_id,) in conn.execute(query)]


def wallets_with_lots_expiring(conn: Connection, after: datetime, until: datetime) -> list[int]:
    """Wallets holding credits in a lot that expires in (after, until]: those whose expiring-credits
    alert may start to hold with time alone, no balance change (engine/billing/expiry.py)."""
    query = (
        select(lots.c.wallet_id)
        .where(
            lots.c.expired.is_(False),
            lots.c.remaining > 0,
            lots.c.expires_at > after,
            lots.c.expires_at <= until,
        )
        .distinct()
        .order_by(lots.c.wallet_id)
    )
    return [int(wallet_id) for (wallet_id,) in conn.execute(query)]


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
            insert(allocations).values(
                lot_id=lot_id, transaction_id=transaction_id, kind=AllocationKind.EXPIRE.value, amount=remaining
            )
        )
    return int(remaining)
