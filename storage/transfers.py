"""The ledger's one door: every balance change is a transfer posted here.

A transfer names what kind of transaction it is, the clinic's wallet, how many credits, the system
account on the other side, and its effect on the wallet's lots:

- `Fund`: credits arrive as a new lot (a top-up, a package, a bonus, a referral reward, a positive
  adjustment); they repay the wallet's overdraft first.
- `Spend`: credits leave through THE guarded statement (never further below zero than the wallet's
  overdraft limit), taken from the lots in spending order; what the lots cannot cover is the
  overdraft ("unfunded"). A refused spend is either recorded as a declined transaction (a charge:
  "a declined charge is still recorded") or refused with nothing written (an adjustment).
- `Restore`: a refund gives back what a charge took, to the lots it came from (compare-and-set on
  the charge: never more than it took, however often it is asked).
- `Expire`: the wallet's lots whose time is up lose what they hold (compare-and-set per lot: once).

`post` writes, in one place and in this order, the transaction row (with the pricing stamp and the
metadata), the guarded wallet change, the lots and their allocations, the double-entry legs and the
clinic's usage counters (a charge, a refund: storage/usage.py) — and checks there what every
transfer must satisfy: the legs sum to zero, the wallet's balance moved by exactly the legs'
amount, the lots hold what the wallet holds. It returns `Posted` or `Declined`; it never reads a
price. Callers hold the wallet lock (storage/clinics.py reads the clinic's state with it) and pass
the lots they read under it.

`predict` decides a spend the same way without writing (the plan: approved or declined, what each
lot gives, the balance after), from the wallet and lots the transfer carries. It is how a charge is
posted in one round trip on PostgreSQL (storage/fast.py): the function there writes the predicted
rows only while the wallet is still at the version the prediction was made from, and its own
guarded statement must agree — `post` stays the reference the fast path is tested against.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from engine.bounds import BALANCE_MAX
from engine.errors import InvalidInput, OutOfOrder
from engine.vocabulary import AccountKind, AllocationKind, TransactionKind, TransactionStatus
from storage import accounts, lots, usage
from storage.accounts import Wallet
from storage.database import LostRace
from storage.errors import LedgerError
from storage.lots import Entry, Lot, NewLot, Taken
from storage.schema import entries, transactions
from storage.statements import Statement
from storage.usage import Count

B = bindparam


@dataclass(frozen=True)
class Stamp:
    """What priced a transfer: the pricebook version, its semantic hash, the rules, the quote (JSON
    text: pydantic writes it from the quote in a third of the time of a dict through json.dumps).
    Storage keeps it so that "why did this cost 320 credits?" has an answer from the ledger alone."""

    pricebook_id: str | None = None
    version: int | None = None
    semantic_hash: str | None = None
    rule_ids: tuple[str, ...] = ()
    quote: str | None = None


@dataclass(frozen=True)
class Details:
    """What a person reads about a transaction beside its amount."""

    product: str | None = None
    units: int | None = None
    reason: str | None = None
    actor: str | None = None
    note: str | None = None
    related_id: int | None = None
    payment_id: str | None = None
    patient_ref: str | None = None


class OnDecline(StrEnum):
    RECORD = "record"  # a declined charge is recorded, with its reason and quote
    REFUSE = "refuse"  # nothing is written; the caller raises


@dataclass(frozen=True)
class Fund:
    lot: NewLot


@dataclass(frozen=True)
class Refusal:
    """Why a spend was declined, and the rules to record on the declined charge (empty: the stamp's)."""

    reason: str
    rule_ids: tuple[str, ...] = ()


GUARD_REFUSAL = Refusal("declined by the ledger's overdraft guard")


@dataclass(frozen=True)
class Spend:
    usable: Sequence[Lot]  # the wallet's usable lots in spending order, read under the wallet lock
    on_decline: OnDecline
    allocation: AllocationKind = AllocationKind.CHARGE
    why: Callable[[], Refusal] = lambda: GUARD_REFUSAL  # asked only when the guard declines


@dataclass(frozen=True)
class Restore:
    charge_id: int
    grace: timedelta  # a refund into a lot that expired meanwhile stays usable this long


@dataclass(frozen=True)
class Expire:
    due: Sequence[Lot]  # the wallet's lots whose time is up (credits: what they hold)


Effect = Fund | Spend | Restore | Expire


@dataclass(frozen=True)
class Transfer:
    kind: TransactionKind
    wallet: Wallet
    credits: int  # what moves (an Expire computes it from its lots: pass 0)
    counter: AccountKind  # the system account on the other side
    effect: Effect
    at: datetime
    stamp: Stamp = field(default_factory=Stamp)
    details: Details = field(default_factory=Details)


@dataclass(frozen=True)
class Posted:
    transaction_id: int
    balance: int  # the wallet's balance after the transfer
    credits: int
    taken: Taken | None = None  # what a spend took from each lot


@dataclass(frozen=True)
class Declined:
    transaction_id: int | None  # the recorded declined transaction, or None when nothing was written
    balance: int  # unchanged
    reason: str
    refusal: Refusal | None = None  # why, with the rules the declined transaction records


_ROW = (  # the columns of transaction_row, in its order (a statement compiled once for them)
    "clinic_id", "kind", "status", "credits", "at", "product", "units", "pricebook_id", "pricebook_version",
    "pricebook_hash", "rule_ids", "quote", "reason", "actor", "note", "related_id", "payment_id", "patient_ref",
    "unfunded", "refunded",
)  # fmt: skip
_INSERT_TRANSACTION = Statement(insert(transactions).returning(transactions.c.id), insert_keys=_ROW)
_INSERT_ENTRIES = Statement(insert(entries), insert_keys=("transaction_id", "account_id", "amount"))
_SET_CREDITS = Statement(
    update(transactions).where(transactions.c.id == B("b_id")).values(credits=B("b_credits"), unfunded=B("b_unfunded"))
)


def _check(transfer: Transfer) -> None:
    """What every transfer must be before anything is written."""
    if transfer.credits < 0 or (transfer.credits == 0 and not isinstance(transfer.effect, Spend | Expire)):
        raise ValueError(f"a transfer moves a positive number of credits, not {transfer.credits}")
    if transfer.counter is AccountKind.WALLET:
        raise ValueError("the other side of a transfer is a system account")
    last = transfer.wallet.last_at
    if last is not None and transfer.at < last:
        raise OutOfOrder(
            f"clinic {transfer.wallet.clinic_id}'s latest operation is dated {last.isoformat()}; "
            f"an operation dated {transfer.at.isoformat()} would go back in time",
            clinic_id=transfer.wallet.clinic_id,
        )


def post(conn: Connection, transfer: Transfer) -> Posted | Declined:
    """Post one transfer in the caller's database transaction (see the module docstring)."""
    _check(transfer)
    effect = transfer.effect
    if isinstance(effect, Spend):
        return _spend(conn, transfer, effect)
    if isinstance(effect, Fund):
        return _fund(conn, transfer, effect)
    if isinstance(effect, Restore):
        return _restore(conn, transfer, effect)
    return _expire(conn, transfer, effect)


def predict(transfer: Transfer) -> Posted | Declined:
    """What `post` does with a spend, decided without writing (transaction ids 0): declined when the
    guarded statement would refuse it (further below zero than the wallet's limit), else what each
    lot gives in spending order and the unfunded rest. Exact when the wallet and lots the transfer
    carries are the wallet's at the time it is posted (see the module docstring)."""
    _check(transfer)
    effect = transfer.effect
    if not isinstance(effect, Spend):
        raise ValueError("only a spend is predicted")
    wallet = transfer.wallet
    if transfer.credits == 0:
        return Posted(0, wallet.balance, 0, Taken(kind=effect.allocation))
    balance = wallet.balance - transfer.credits
    if balance < -wallet.overdraft_limit:  # what accounts.debit's WHERE refuses
        refusal = effect.why()
        return Declined(0, wallet.balance, refusal.reason, refusal)
    _check_lots(wallet, wallet.balance, effect.usable)
    return Posted(0, balance, transfer.credits, lots.plan_take(transfer.credits, effect.usable, effect.allocation))


def record(
    conn: Connection,
    transfer: Transfer,
    status: TransactionStatus,
) -> int:
    """A transaction that moves no credits (a failed payment, a declined charge): the row only."""
    if status is TransactionStatus.POSTED:
        raise ValueError("a posted transaction goes through post()")
    return _insert(conn, transfer, status)


def transaction_row(transfer: Transfer, status: TransactionStatus, unfunded: int = 0) -> dict[str, Any]:
    """The transactions row a transfer writes (everything but its id)."""
    stamp, details = transfer.stamp, transfer.details
    return {  # the keys of _ROW
        "clinic_id": transfer.wallet.clinic_id,
        "kind": transfer.kind.value,
        "status": status.value,
        "credits": transfer.credits,
        "at": transfer.at,
        "product": details.product,
        "units": details.units,
        "pricebook_id": stamp.pricebook_id,
        "pricebook_version": stamp.version,
        "pricebook_hash": stamp.semantic_hash,
        "rule_ids": json.dumps(list(stamp.rule_ids)) if stamp.rule_ids else None,
        "quote": stamp.quote,
        "reason": details.reason,
        "actor": details.actor,
        "note": details.note,
        "related_id": details.related_id,
        "payment_id": details.payment_id,
        "patient_ref": details.patient_ref,
        "unfunded": unfunded,
        "refunded": 0,
    }


def declined(transfer: Transfer, refusal: Refusal) -> Transfer:
    """The transfer as its declined transaction records it: the reason, and the refusal's rules."""
    return replace(
        transfer,
        details=replace(transfer.details, reason=refusal.reason),
        stamp=replace(transfer.stamp, rule_ids=refusal.rule_ids or transfer.stamp.rule_ids),
    )


def charge_count(transfer: Transfer) -> Count:
    """What a posted charge adds to its clinic's usage counters."""
    wallet, details = transfer.wallet, transfer.details
    return usage.charge(
        wallet.clinic_id, wallet.timezone, transfer.at, details.product or "", transfer.credits, details.units or 0
    )


def _insert(conn: Connection, transfer: Transfer, status: TransactionStatus, unfunded: int = 0) -> int:
    return int(_INSERT_TRANSACTION.run(conn, transaction_row(transfer, status, unfunded)).scalar())


def _legs(conn: Connection, transfer: Transfer, transaction_id: int, wallet_amount: int) -> None:
    """The double-entry legs: the wallet and the system account, summing to zero."""
    if not wallet_amount:
        return
    counter = accounts.system_account(conn, transfer.counter, transfer.wallet.market)
    legs = [(transfer.wallet.id, wallet_amount), (counter, -wallet_amount)]
    if sum(amount for _, amount in legs) != 0:  # the invariant, stated where it is kept
        raise LedgerError(f"legs of transaction {transaction_id} do not sum to zero: {legs}")
    _INSERT_ENTRIES.run_many(
        conn,
        [{"transaction_id": transaction_id, "account_id": account, "amount": amount} for account, amount in legs],
    )


def _check_lots(wallet: Wallet, before: int, usable: Sequence[Lot]) -> None:
    held = sum(lot.remaining for lot in usable)
    if held != max(before, 0):  # the lots must hold what the wallet holds
        raise LedgerError(
            f"wallet {wallet.id} held {before} credits but the lots given to spend from "
            f"hold {held}: spend from the lots read under the wallet lock, after expiring the due ones"
        )


def _spend(conn: Connection, transfer: Transfer, effect: Spend) -> Posted | Declined:
    wallet = transfer.wallet
    charge = transfer.kind is TransactionKind.CHARGE
    if transfer.credits == 0:  # a free charge: recorded, nothing moves
        transaction_id = _insert(conn, transfer, TransactionStatus.POSTED)
        accounts.touch(conn, wallet.id, transfer.at)
        if charge:
            usage.add(conn, [charge_count(transfer)])
        return Posted(transaction_id, wallet.balance, 0, Taken(kind=effect.allocation))
    balance = accounts.debit(conn, wallet.id, transfer.credits, transfer.at)
    if balance is None:
        refusal = effect.why()
        if effect.on_decline is OnDecline.REFUSE:
            return Declined(None, wallet.balance, refusal.reason)
        recorded = _insert(conn, declined(transfer, refusal), TransactionStatus.DECLINED)
        return Declined(recorded, wallet.balance, refusal.reason, refusal)
    before = balance + transfer.credits
    if before != wallet.balance:  # read without the wallet lock, and another transaction got there first
        raise LostRace(f"wallet {wallet.id} changed after its state was read ({wallet.balance} → {before})")
    _check_lots(wallet, before, effect.usable)
    taken = lots.take(conn, transfer.credits, effect.usable, effect.allocation)
    transaction_id = _insert(conn, transfer, TransactionStatus.POSTED, unfunded=taken.unfunded)
    lots.record_allocations(conn, taken, transaction_id)
    _legs(conn, transfer, transaction_id, -transfer.credits)
    if charge:
        usage.add(conn, [charge_count(transfer)])
    return Posted(transaction_id, balance, transfer.credits, taken)


def _fund(conn: Connection, transfer: Transfer, effect: Fund) -> Posted:
    wallet = transfer.wallet
    transaction_id = _insert(conn, transfer, TransactionStatus.POSTED)
    balance = accounts.credit(conn, wallet.id, transfer.credits, transfer.at)
    if balance is None:
        raise InvalidInput("credits", f"the wallet would hold more than {BALANCE_MAX:,} credits")
    debt = max(-(balance - transfer.credits), 0)
    entry = Entry(wallet.id, wallet.clinic_id, transaction_id, transfer.at)
    lots.add_lot(conn, entry, effect.lot, transfer.credits, debt)
    _legs(conn, transfer, transaction_id, transfer.credits)
    return Posted(transaction_id, balance, transfer.credits)


def _restore(conn: Connection, transfer: Transfer, effect: Restore) -> Posted | Declined:
    wallet = transfer.wallet
    if not lots.mark_refunded(conn, effect.charge_id, transfer.credits):
        return Declined(None, wallet.balance, f"charge {effect.charge_id} has less than that left to refund")
    transaction_id = _insert(conn, transfer, TransactionStatus.POSTED)
    entry = Entry(wallet.id, wallet.clinic_id, transaction_id, transfer.at)
    lots.restore(conn, entry, effect.charge_id, transfer.credits, effect.grace)
    balance = accounts.credit(conn, wallet.id, transfer.credits, transfer.at)
    if balance is None:
        raise InvalidInput("credits", f"the wallet would hold more than {BALANCE_MAX:,} credits")
    _legs(conn, transfer, transaction_id, transfer.credits)
    if transfer.kind is TransactionKind.REFUND:
        charged_at = lots.charged_at(conn, effect.charge_id)
        zone, product = wallet.timezone, transfer.details.product or ""
        usage.add(conn, usage.refund(wallet.clinic_id, zone, transfer.at, charged_at, product, transfer.credits))
    return Posted(transaction_id, balance, transfer.credits)


def _expire(conn: Connection, transfer: Transfer, effect: Expire) -> Posted:
    wallet = transfer.wallet
    transaction_id = _insert(conn, transfer, TransactionStatus.POSTED)
    total = sum(lots.expire_lot(conn, lot.id, transaction_id) for lot in effect.due)
    balance = wallet.balance
    if not total:
        accounts.touch(conn, wallet.id, transfer.at)
    else:
        found = accounts.debit(conn, wallet.id, total, transfer.at)
        if found is None:
            raise LedgerError(f"expiring {total} credits would break wallet {wallet.id}'s limit")
        balance = found
        _legs(conn, transfer, transaction_id, -total)
    _SET_CREDITS.run(conn, {"b_id": transaction_id, "b_credits": total, "b_unfunded": 0})
    return Posted(transaction_id, balance, total)


__all__ = [
    "Declined",
    "Details",
    "Expire",
    "Fund",
    "OnDecline",
    "Posted",
    "Refusal",
    "Restore",
    "Spend",
    "Stamp",
    "Transfer",
    "charge_count",
    "declined",
    "post",
    "predict",
    "record",
    "transaction_row",
]
