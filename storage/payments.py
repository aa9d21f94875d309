"""Payments: one row per provider payment, settled (credited or failed) exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from engine.vocabulary import PaymentStatus
from storage.schema import payments


@dataclass(frozen=True)
class PaymentRow:
    id: str
    clinic_id: str
    amount: Decimal
    currency: str
    credits: int
    package_code: str | None
    promo_code: str | None
    idempotency_key: str
    status: str
    failure: str | None
    created_at: datetime
    settled_at: datetime | None


def _row(row: Any) -> PaymentRow:
    return PaymentRow(*(getattr(row, name) for name in PaymentRow.__dataclass_fields__))


def payment(conn: Connection, payment_id: str) -> PaymentRow | None:
    row = conn.execute(select(payments).where(payments.c.id == payment_id)).first()
    return None if row is None else _row(row)


def insert_payment(conn: Connection, new: PaymentRow) -> None:
    conn.execute(insert(payments).values(**new.__dict__))


def mark_credited(conn: Connection, payment_id: str, at: datetime) -> bool:
    """Compare-and-set: a paid (or pending) payment is credited once, however often it is delivered."""
    changed = conn.execute(
        update(payments)
        .where(payments.c.id == payment_id, payments.c.status.in_((PaymentStatus.PENDING, PaymentStatus.SUCCEEDED)))
        .values(status=PaymentStatus.CREDITED.value, settled_at=at)
    ).rowcount
    return changed == 1


def mark_failed(conn: Connection, payment_id: str, failure: str | None, at: datetime) -> None:
    conn.execute(
        update(payments)
        .where(payments.c.id == payment_id, payments.c.status != PaymentStatus.CREDITED.value)
        .values(status=PaymentStatus.FAILED.value, failure=failure, settled_at=at)
    )


def credited_count(conn: Connection, clinic_id: str) -> int:
    """How many payments of the clinic were credited (a referral rewards only the first)."""
    query = (
        select(func.count())
        .select_from(payments)
        .where(payments.c.clinic_id == clinic_id, payments.c.status == PaymentStatus.CREDITED.value)
    )
    return int(conn.execute(query).scalar_one())
