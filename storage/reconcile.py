"""Recompute every invariant of the ledger from its rows and report any drift.

A cached number (a wallet's balance, a lot's remaining, a charge's unfunded overdraft) is only
trusted while it equals what the append-only rows say. Each check names exactly the account, lot
or transaction that disagrees, so a corruption is found where it is.

(a) every wallet's balance = the sum of its entries (system accounts cache no balance: see
    storage/accounts.py; their balance is the sum of their entries, and (b) keeps the whole ledger at 0)
(b) every transaction's entries sum to zero (double entry)
(c) no wallet is further below zero than its overdraft limit
(d) every lot's remaining = amount − its allocations, within 0..amount, 0 once expired
(e) a wallet's unexpired lots hold exactly max(balance, 0)
(f) a wallet's unfunded charges add up to exactly max(−balance, 0)
(g) an idempotency key has at most one effect; the database's own integrity check passes
(h) every credited payment attempt was credited exactly once: one posted top-up names its reference,
    for its credits, and it is the top-up the attempt names
(i) no credit without a settled payment: every posted top-up names a credited payment attempt

Payment attempts still in flight (recorded, not settled) are not drift: they are listed with their
age (`in_flight`), for the sweeper and for a person to look at.

(j) every clinic's usage counters (storage/usage.py) hold what its posted charges and refunds add
    up to, product by product — and with `full`, day by day

Every check is one pass over a table or a covering index (SQLite cannot aggregate by hashing, and
a GROUP BY that walks an index to look each row up in its table cost 13.7× for 10× the rows), so
the time grows with the ledger, not faster. SQLite's own check is `PRAGMA quick_check` (every page,
row and constraint, in one pass); `full` adds `PRAGMA integrity_check`, which also cross-checks
every index against its table and costs N log N — 22 s of a 1M-transaction ledger's reconcile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text

from engine.vocabulary import PaymentStatus, TransactionKind, TransactionStatus
from storage import payments, usage
from storage.schema import (
    accounts,
    allocations,
    entries,
    idempotency_keys,
    lots,
    payment_attempts,
    transactions,
    usage_days,
)


def totals(conn: Connection, query: Any) -> dict[Any, int]:
    """{key: total} from a two-column grouped query."""
    return {key: int(total or 0) for key, total in conn.execute(query)}


@dataclass(frozen=True)
class Drift:
    check: str
    subject: str  # "wallet 12 (clinic c-3)", "lot 40", "transaction 7"
    expected: int | str
    actual: int | str

    def __str__(self) -> str:
        return f"({self.check}) {self.subject}: expected {self.expected}, found {self.actual}"


@dataclass(frozen=True)
class InFlight:
    """A payment attempt recorded and not settled yet, and for how long."""

    reference: str
    clinic_id: str
    status: str
    provider: str
    credits: int
    age_seconds: int

    def __str__(self) -> str:
        what = f"{self.clinic_id}, {self.provider}, {self.credits:,} credits"
        return f"{self.reference} ({what}): {self.status} for {self.age_seconds:,} s"


@dataclass
class Reconciliation:
    drifts: list[Drift] = field(default_factory=list)
    accounts: int = 0
    lots: int = 0
    transactions: int = 0
    payments: int = 0
    in_flight: list[InFlight] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drifts


def reconcile(conn: Connection, clock: Callable[[], datetime] | None = None, full: bool = False) -> Reconciliation:
    """Every check above. `clock` dates the ages of the payment attempts in flight; it is read only
    when there are some (None: they are not listed). `full` also checks the usage counters day by
    day and SQLite's integrity_check."""
    report = Reconciliation()
    names = _accounts(conn, report)
    _transactions(conn, report)
    held = _lots(conn, report)
    _wallets(conn, report, names, held)
    _shared_keys(conn, report)
    _payments(conn, report, clock)
    _usage(conn, report, full)
    if conn.dialect.name == "sqlite":
        _sqlite(conn, report, full)
    return report


def _accounts(conn: Connection, report: Reconciliation) -> dict[int, str]:
    """(a) and (c); every account's name for the other checks' drifts."""
    sums = totals(conn, select(entries.c.account_id, func.sum(entries.c.amount)).group_by(entries.c.account_id))
    names = {}
    for account in conn.execute(select(accounts)):
        report.accounts += 1
        name = (
            f"wallet {account.id} (clinic {account.clinic_id})"
            if account.kind == "wallet"
            else f"{account.kind} account {account.id} ({account.market})"
        )
        names[account.id] = name
        expected = int(sums.get(account.id, 0)) if account.kind == "wallet" else 0
        if int(account.balance) != expected:
            report.drifts.append(Drift("a", name, expected, int(account.balance)))
        if account.kind == "wallet" and account.balance < -account.overdraft_limit:
            report.drifts.append(Drift("c", name, f">= {-account.overdraft_limit}", int(account.balance)))
    return names


def _transactions(conn: Connection, report: Reconciliation) -> None:
    """(b), and the transactions counted."""
    unbalanced = conn.execute(
        select(entries.c.transaction_id, func.sum(entries.c.amount).label("total"))
        .group_by(entries.c.transaction_id)
        .having(func.sum(entries.c.amount) != 0)
    )
    for row in unbalanced:
        report.drifts.append(Drift("b", f"transaction {row.transaction_id}", 0, int(row.total)))
    report.transactions = int(conn.execute(select(func.count()).select_from(transactions)).scalar_one())


def _shared_keys(conn: Connection, report: Reconciliation) -> None:
    """(g): one idempotency key a transaction."""
    shared = conn.execute(
        select(idempotency_keys.c.transaction_id, func.count().label("keys"))
        .where(idempotency_keys.c.transaction_id.is_not(None))
        .group_by(idempotency_keys.c.transaction_id)
        .having(func.count() > 1)
    )
    for row in shared:
        report.drifts.append(Drift("g", f"transaction {row.transaction_id}", "1 idempotency key", int(row.keys)))


def _lots(conn: Connection, report: Reconciliation) -> dict[int, int]:
    """(d); what each wallet's unexpired lots hold."""
    allocated = totals(
        conn, select(allocations.c.lot_id, func.sum(allocations.c.amount)).group_by(allocations.c.lot_id)
    )
    held: dict[int, int] = {}
    for lot in conn.execute(select(lots)):
        report.lots += 1
        expected = int(lot.amount) - int(allocated.get(lot.id, 0))
        if int(lot.remaining) != expected or not 0 <= lot.remaining <= lot.amount or (lot.expired and lot.remaining):
            report.drifts.append(Drift("d", f"lot {lot.id} (wallet {lot.wallet_id})", expected, int(lot.remaining)))
        if not lot.expired:
            held[lot.wallet_id] = held.get(lot.wallet_id, 0) + int(lot.remaining)
    return held


def _wallets(conn: Connection, report: Reconciliation, names: dict[int, str], held: dict[int, int]) -> None:
    """(e) and (f): a wallet's lots hold its positive balance, its unfunded charges its debt."""
    unfunded = totals(  # through the partial index of the (few) charges with an unfunded part
        conn,
        select(transactions.c.clinic_id, func.sum(transactions.c.unfunded))
        .where(transactions.c.unfunded > 0)
        .group_by(transactions.c.clinic_id),
    )
    for account in conn.execute(select(accounts).where(accounts.c.kind == "wallet")):
        name = names[account.id]
        if held.get(account.id, 0) != max(int(account.balance), 0):
            report.drifts.append(Drift("e", name, max(int(account.balance), 0), held.get(account.id, 0)))
        if int(unfunded.get(account.clinic_id) or 0) != max(-int(account.balance), 0):
            report.drifts.append(
                Drift("f", name, max(-int(account.balance), 0), int(unfunded.get(account.clinic_id) or 0))
            )


def _sqlite(conn: Connection, report: Reconciliation, full: bool) -> None:
    """(g) on SQLite: its own integrity check, and rows whose parent row is missing."""
    verdict = conn.exec_driver_sql(f"PRAGMA {'integrity_check' if full else 'quick_check'}").scalar()
    if verdict != "ok":
        report.drifts.append(Drift("g", "database", "ok", str(verdict)))
    orphans = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    for orphan in orphans:
        report.drifts.append(Drift("g", f"{orphan[0]} row {orphan[1]}", "a parent row", f"missing {orphan[2]}"))


def _payments(conn: Connection, report: Reconciliation, clock: Callable[[], datetime] | None) -> None:
    """(h) and (i), and the attempts in flight."""
    topups: dict[str, list[tuple[int, int]]] = {}
    posted = select(transactions.c.id, transactions.c.payment_id, transactions.c.credits).where(
        transactions.c.kind == TransactionKind.TOPUP.value, transactions.c.status == TransactionStatus.POSTED.value
    )
    for topup in conn.execute(posted):
        topups.setdefault(topup.payment_id or "", []).append((int(topup.id), int(topup.credits)))
    attempts = select(
        payment_attempts.c.reference, payment_attempts.c.status, payment_attempts.c.credits, payment_attempts.c.topup_id
    )
    known = set()
    for row in conn.execute(attempts):
        report.payments += 1
        known.add(row.reference)
        found = topups.get(row.reference, [])
        if row.status == PaymentStatus.CREDITED.value:
            expected = [(int(row.topup_id), int(row.credits))]
            if found != expected:
                report.drifts.append(Drift("h", f"payment {row.reference}", f"1 top-up {expected}", f"{found}"))
        elif found:
            report.drifts.append(Drift("i", f"payment {row.reference}", f"no top-up while {row.status}", f"{found}"))
    for reference, found in topups.items():
        if reference not in known:
            for transaction_id, credits in found:
                subject = f"transaction {transaction_id} ({credits:,} credits)"
                report.drifts.append(Drift("i", subject, "a credited payment", f"no payment {reference or '(none)'}"))
    waiting = payments.in_flight(conn) if clock is not None else []
    if waiting and clock is not None:
        at = clock()
        report.in_flight = [
            InFlight(
                a.reference, a.clinic_id, a.status, a.provider, a.credits, int((at - a.created_at).total_seconds())
            )
            for a in waiting
        ]


def _usage(conn: Connection, report: Reconciliation, full: bool) -> None:
    """(j): the counters' totals per clinic and product against the transactions' (one scan of
    each); with `full`, every counter row against its day's transactions (storage/usage.py
    `recount`, which reads every charge and refund into Python)."""
    kept: dict[tuple[str, str], list[int]] = {}
    for row in conn.execute(
        select(
            usage_days.c.clinic_id,
            usage_days.c.product,
            func.sum(usage_days.c.charged),
            func.sum(usage_days.c.units),
            func.sum(usage_days.c.refunded),
            func.sum(usage_days.c.charge_refunded),
        ).group_by(usage_days.c.clinic_id, usage_days.c.product)
    ):
        amounts = [int(value) for value in row[2:]]
        if any(amounts):
            kept[(row[0], row[1])] = amounts
    posted: dict[tuple[str, str], list[int]] = {}
    for clinic_id, product, kind, credits, units in conn.execute(_POSTED_USAGE[conn.dialect.name]):
        found = posted.setdefault((clinic_id, product or ""), [0, 0, 0, 0])
        if kind == TransactionKind.CHARGE:
            found[0], found[1] = found[0] + int(credits), found[1] + int(units or 0)
        else:
            found[2], found[3] = found[2] + int(credits), found[3] + int(credits)
    posted = {key: amounts for key, amounts in posted.items() if any(amounts)}
    for clinic_id, product in sorted(set(kept) | set(posted)):
        expected, actual = posted.get((clinic_id, product), [0] * 4), kept.get((clinic_id, product), [0] * 4)
        if expected != actual:
            report.drifts.append(Drift("j", f"usage of clinic {clinic_id} ({product})", str(expected), str(actual)))
    if full:
        counted, stored = usage.recount(conn), usage.stored(conn)
        for key in sorted(set(counted) | set(stored), key=str):
            if counted.get(key) != stored.get(key):
                clinic_id, day, product = key
                subject = f"usage of clinic {clinic_id} on {day} ({product})"
                report.drifts.append(Drift("j", subject, str(counted.get(key)), str(stored.get(key))))


_POSTED = (
    "select clinic_id, product, kind, sum(credits), sum(units) from transactions {} "
    "where status = 'posted' and kind in ('charge', 'refund') group by clinic_id, product, kind"
)
_POSTED_USAGE = {  # SQLite scans the table (NOT INDEXED) instead of walking the clinic index row by row
    "sqlite": text(_POSTED.format("not indexed")),
    "postgresql": text(_POSTED.format("")),
}
