"""Read-only queries behind the dashboards: a clinic's month, its history, a market's revenue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from engine.vocabulary import AccountKind, DisputeStatus, PaymentStatus, TransactionStatus
from storage.schema import accounts, clinics, disputes, entries, lots, transactions
from storage.schema import payment_attempts as payments


def month_totals(
    conn: Connection, clinic_id: str, since: datetime, until: datetime
) -> dict[tuple[str, str | None], tuple[int, int]]:
    """(kind, product) → (credits, units) of the clinic's posted transactions in [since, until]."""
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
        )
        .group_by(transactions.c.kind, transactions.c.product)
    ).all()
    return {(kind, product): (int(credits), int(units)) for kind, product, credits, units in rows}


@dataclass(frozen=True)
class HistoryFilter:
    clinic_id: str
    wallet_id: int
    kinds: Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None


def history(conn: Connection, where: HistoryFilter, page: int, page_size: int) -> tuple[int, list[Any]]:
    """(total rows, the page's rows newest first) of a clinic's transactions, each with what it did
    to the wallet (`signed`) and its dispute, if any."""
    conditions = [transactions.c.clinic_id == where.clinic_id]
    if where.kinds:
        conditions.append(transactions.c.kind.in_(list(where.kinds)))
    if where.since is not None:
        conditions.append(transactions.c.at >= where.since)
    if where.until is not None:
        conditions.append(transactions.c.at < where.until)
    if where.status is not None:
        conditions.append(transactions.c.status == where.status)
    total = conn.execute(select(func.count()).select_from(transactions).where(*conditions)).scalar_one()
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
        .select_from(transactions.outerjoin(disputes, disputes.c.charge_id == transactions.c.id))
        .where(*conditions)
        .order_by(transactions.c.at.desc(), transactions.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return int(total), list(conn.execute(query))


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
