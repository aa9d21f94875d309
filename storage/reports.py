"""Read-only queries behind the dashboards: a clinic's month, its history, a market's revenue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from engine.vocabulary import AccountKind, DisputeStatus, PaymentStatus, TransactionKind, TransactionStatus
from storage.lots import Lot
from storage.schema import accounts, allocations, clinics, disputes, entries, lots, transactions
from storage.schema import payment_attempts as payments
from storage.usage import Totals


def balance_at(conn: Connection, wallet_id: int, at: datetime) -> int:
    """What a wallet held at `at`: the sum of its legs in transactions dated up to then (a
    historical read; the current balance is the wallet's cached one)."""
    found = conn.execute(
        select(func.coalesce(func.sum(entries.c.amount), 0))
        .select_from(entries.join(transactions, transactions.c.id == entries.c.transaction_id))
        .where(entries.c.account_id == wallet_id, transactions.c.at <= at)
    ).scalar_one()
    return int(found)


def lots_at(conn: Connection, wallet_id: int, at: datetime) -> list[Lot]:
    """The wallet's lots as they stood at `at`: created by then, not yet expired by then, holding
    their amount less what transactions dated up to then took out (or put back)."""
    moved = (
        select(allocations.c.lot_id, func.sum(allocations.c.amount).label("out"))
        .select_from(allocations.join(transactions, transactions.c.id == allocations.c.transaction_id))
        .where(transactions.c.at <= at)
        .group_by(allocations.c.lot_id)
        .subquery()
    )
    query = (
        select(lots.c.id, lots.c.kind, (lots.c.amount - func.coalesce(moved.c.out, 0)).label("left"), lots.c.expires_at)
        .select_from(lots.outerjoin(moved, moved.c.lot_id == lots.c.id))
        .where(lots.c.wallet_id == wallet_id, lots.c.created_at <= at)
    )
    return [
        Lot(int(row.id), row.kind, int(row.left), row.expires_at)
        for row in conn.execute(query)
        if int(row.left) > 0 and (row.expires_at is None or row.expires_at > at)
    ]


def month_totals(conn: Connection, clinic_id: str, since: datetime, until: datetime) -> dict[str, Totals]:
    """product → what the clinic's posted charges and refunds in [since, until] charged, counted and
    gave back, summed from its transactions: the figures of a month as it stood at an earlier time
    (the current month reads the counters of storage/usage.py, which hold the same sums)."""
    rows = conn.execute(
        select(
            transactions.c.kind,
            transactions.c.product,
            func.coalesce(func.sum(transactions.c.credits), 0),
            func.coalesce(func.sum(transactions.c.units), 0),
        )
        .where(
            transactions.c.clinic_id == clinic_id,
            transactions.c.at >= since,
            transactions.c.at <= until,
            transactions.c.status == TransactionStatus.POSTED.value,
            transactions.c.kind.in_([TransactionKind.CHARGE.value, TransactionKind.REFUND.value]),
        )
        .group_by(transactions.c.kind, transactions.c.product)
    ).all()
    found: dict[str, Totals] = {}
    for kind, product, credits, units in rows:
        was = found.get(product or "", Totals())
        if kind == TransactionKind.CHARGE:
            found[product or ""] = replace(was, charged=int(credits), units=int(units))
        else:
            found[product or ""] = replace(was, refunded=int(credits))
    return found


def charged_between(conn: Connection, clinic_id: str, since: datetime, until: datetime) -> int:
    """Net credits (less what was refunded of them) of the clinic's posted charges in [since,
    until]: the trailing usage as it stood at an earlier time."""
    found = conn.execute(
        select(func.coalesce(func.sum(transactions.c.credits - transactions.c.refunded), 0)).where(
            transactions.c.clinic_id == clinic_id,
            transactions.c.kind == TransactionKind.CHARGE.value,
            transactions.c.status == TransactionStatus.POSTED.value,
            transactions.c.at >= since,
            transactions.c.at <= until,
        )
    ).scalar_one()
    return int(found)


@dataclass(frozen=True)
class HistoryFilter:
    clinic_id: str
    wallet_id: int
    kinds: Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    after: tuple[datetime, int] | None = None  # keyset: only rows before this (at, id), newest first


def history(conn: Connection, where: HistoryFilter, page: int, page_size: int) -> tuple[int | None, list[Any]]:
    """(total rows or None, the page's rows newest first) of a clinic's transactions, each with what
    it did to the wallet (`signed`) and its dispute, if any.

    Every page is read by keyset — the rows right after a row's (at, id), newest first, through the
    (clinic_id, at, id) index — so that its cost does not grow with how far back it is, and
    `signed` and the dispute are looked up for the page's own rows only. With `where.after` (a
    cursor) the page starts after that row and the total is not counted; page N without one starts
    after the row that ends page N−1, found by skipping along the index alone."""
    conditions = [transactions.c.clinic_id == where.clinic_id]
    if where.kinds:
        conditions.append(transactions.c.kind.in_(list(where.kinds)))
    if where.since is not None:
        conditions.append(transactions.c.at >= where.since)
    if where.until is not None:
        conditions.append(transactions.c.at < where.until)
    if where.status is not None:
        conditions.append(transactions.c.status == where.status)
    newest_first = (transactions.c.at.desc(), transactions.c.id.desc())
    total, after = None, where.after
    if after is None:
        total = int(conn.execute(select(func.count()).select_from(transactions).where(*conditions)).scalar_one())
        if page > 1:
            skip = (page - 1) * page_size - 1
            last = conn.execute(
                select(transactions.c.at, transactions.c.id)
                .where(*conditions)
                .order_by(*newest_first)
                .offset(skip)
                .limit(1)
            ).first()
            if last is None:
                return total, []
            after = (last.at, int(last.id))
    if after is not None:  # a row value: both databases seek the index to it (an OR of two ranges they scan)
        conditions.append(tuple_(transactions.c.at, transactions.c.id) < tuple_(*after))
    shown = select(transactions.c.id).where(*conditions).order_by(*newest_first).limit(page_size).subquery()
    signed = (
        select(func.coalesce(func.sum(entries.c.amount), 0))
        .where(entries.c.transaction_id == transactions.c.id, entries.c.account_id == where.wallet_id)
        .scalar_subquery()
    )
    query = (
        select(
            transactions,
            signed.label("signed"),
            disputes.c.id.label("dispute_id"),
            disputes.c.status.label("dispute_status"),
        )
        .select_from(
            transactions.join(shown, shown.c.id == transactions.c.id).outerjoin(
                disputes, disputes.c.charge_id == transactions.c.id
            )
        )
        .order_by(*newest_first)
    )
    return total, list(conn.execute(query))


@dataclass(frozen=True)
class MarketFigures:
    posted: list[tuple[str, datetime, int]]  # (kind, at, credits) of every posted transaction
    payments: list[tuple[datetime, Decimal]]  # (settled_at, amount) of every credited payment
    balances: list[int]  # every wallet's balance
    open_disputes: int


def market_figures(
    conn: Connection, market: str, currency: str, since: datetime | None, until: datetime | None
) -> MarketFigures:
    in_market = transactions.c.clinic_id.in_(select(clinics.c.id).where(clinics.c.market == market))
    where = [transactions.c.status == TransactionStatus.POSTED.value, in_market]
    paid = [payments.c.status == PaymentStatus.CREDITED.value, payments.c.currency == currency]
    if since is not None:
        where.append(transactions.c.at >= since)
        paid.append(payments.c.settled_at >= since)
    if until is not None:
        where.append(transactions.c.at < until)
        paid.append(payments.c.settled_at < until)
    posted = [
        (kind, at, int(credits))
        for kind, at, credits in conn.execute(
            select(transactions.c.kind, transactions.c.at, transactions.c.credits).where(*where)
        )
    ]
    money = [
        (at, Decimal(amount))
        for at, amount in conn.execute(select(payments.c.settled_at, payments.c.amount).where(*paid))
    ]
    balances = [
        int(balance)
        for (balance,) in conn.execute(
            select(accounts.c.balance).where(accounts.c.kind == AccountKind.WALLET.value, accounts.c.market == market)
        )
    ]
    open_count = conn.execute(
        select(func.count())
        .select_from(disputes)
        .where(
            disputes.c.status == DisputeStatus.OPEN.value,
            disputes.c.clinic_id.in_(select(clinics.c.id).where(clinics.c.market == market)),
        )
    ).scalar_one()
    return MarketFigures(posted, money, balances, int(open_count))


def wallet_lots(conn: Connection, wallet_id: int) -> list[dict[str, Any]]:
    """Every lot of a wallet, oldest first."""
    return [
        dict(row._mapping)
        for row in conn.execute(select(lots).where(lots.c.wallet_id == wallet_id).order_by(lots.c.id))
    ]
