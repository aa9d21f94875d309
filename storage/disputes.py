"""Disputes and the charges they are about: rows, the duplicate look-up, and decisions taken once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from engine.vocabulary import DisputeStatus, TransactionKind, TransactionStatus
from storage.schema import disputes, transactions


@dataclass(frozen=True)
class ChargeRow:
    """A posted charge as a refund or a dispute needs it."""

    id: int
    clinic_id: str
    at: datetime
    credits: int
    refunded: int
    product: str | None
    patient_ref: str | None
    pricebook_id: str | None
    pricebook_version: int | None
    pricebook_hash: str | None
    rule_ids: str | None


def posted_charge(conn: Connection, charge_id: int) -> ChargeRow | None:
    """The posted charge `charge_id` (of any clinic), or None."""
    row = conn.execute(
        select(transactions).where(
            transactions.c.id == charge_id,
            transactions.c.kind == TransactionKind.CHARGE.value,
            transactions.c.status == TransactionStatus.POSTED.value,
        )
    ).first()
    return None if row is None else ChargeRow(*(getattr(row, name) for name in ChargeRow.__dataclass_fields__))


def previous_charge_at(conn: Connection, charge: ChargeRow) -> datetime | None:
    """The latest posted charge for the same patient to the same clinic before this one, in ledger
    order (an earlier time, or the same instant and a lower id): what makes a lead a duplicate."""
    if not charge.patient_ref:
        return None
    found: datetime | None = conn.execute(
        select(func.max(transactions.c.at)).where(
            transactions.c.clinic_id == charge.clinic_id,
            transactions.c.patient_ref == charge.patient_ref,
            transactions.c.kind == TransactionKind.CHARGE.value,
            transactions.c.status == TransactionStatus.POSTED.value,
            or_(transactions.c.at < charge.at, and_(transactions.c.at == charge.at, transactions.c.id < charge.id)),
        )
    ).scalar()
    return found


def is_disputed(conn: Connection, charge_id: int) -> bool:
    return conn.execute(select(disputes.c.id).where(disputes.c.charge_id == charge_id)).first() is not None


@dataclass(frozen=True)
class NewDispute:
    clinic_id: str
    charge_id: int
    reason: str
    status: DisputeStatus
    decision: str
    decision_reason: str
    opened_at: datetime
    decided_at: datetime | None
    decided_by: str | None


def open_dispute(conn: Connection, new: NewDispute) -> int:
    values = {**new.__dict__, "status": new.status.value}
    return int(conn.execute(insert(disputes).values(**values).returning(disputes.c.id)).scalar_one())


@dataclass(frozen=True)
class DisputeRow:
    id: int
    clinic_id: str
    charge_id: int
    status: str
    decision: str | None


def dispute(conn: Connection, dispute_id: int) -> DisputeRow | None:
    row = conn.execute(
        select(disputes.c.id, disputes.c.clinic_id, disputes.c.charge_id, disputes.c.status, disputes.c.decision).where(
            disputes.c.id == dispute_id
        )
    ).first()
    return None if row is None else DisputeRow(int(row.id), row.clinic_id, int(row.charge_id), row.status, row.decision)


@dataclass(frozen=True)
class Decision:
    status: DisputeStatus
    at: datetime
    actor: str
    note: str


def decide(conn: Connection, dispute_id: int, decision: Decision) -> bool:
    """Compare-and-set: an open dispute becomes approved or rejected, once."""
    changed = conn.execute(
        update(disputes)
        .where(disputes.c.id == dispute_id, disputes.c.status == DisputeStatus.OPEN.value)
        .values(status=decision.status.value, decided_at=decision.at, decided_by=decision.actor, note=decision.note)
    ).rowcount
    return changed == 1


def set_refund(conn: Connection, dispute_id: int, refund_id: int) -> None:
    conn.execute(
        update(disputes).where(disputes.c.id == dispute_id, disputes.c.refund_id.is_(None)).values(refund_id=refund_id)
    )


def listed(conn: Connection, status: str | None, clinic_id: str | None) -> list[dict[str, Any]]:
    """Disputes with the credits and product of their charge, oldest first."""
    query = (
        select(disputes, transactions.c.credits, transactions.c.product)
        .select_from(disputes.join(transactions, transactions.c.id == disputes.c.charge_id))
        .order_by(disputes.c.id)
    )
    if status is not None:
        query = query.where(disputes.c.status == status)
    if clinic_id is not None:
        query = query.where(disputes.c.clinic_id == clinic_id)
    return [dict(row._mapping) for row in conn.execute(query)]
