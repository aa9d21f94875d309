"""Payment attempts and the webhook inbox: money coming in, recorded before it is asked for.

An attempt is inserted, and committed, before the provider is called; from then on its status
only moves forward through compare-and-set updates (`WHERE status IN ...`):

    created ──▶ pending ──▶ credited        (a paid attempt is credited exactly once: `mark_credited`)
       │           │   └──▶ failed ──▶ credited   (a late payment of an attempt given up on)
       └───────────┴──────▶ failed

so a purchase's own answer, any number of webhooks and the sweeper can race to settle one attempt
and exactly one of them credits it. `topup_id` (unique) names the one top-up transaction it
credited. A webhook is recorded once per provider event id, whatever becomes of it: an event for a
reference no attempt has is kept as `unknown` for review, never dropped.
"""

from __future__ import annotations

import json
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.vocabulary import IN_FLIGHT_PAYMENTS, PaymentOrigin, PaymentStatus, WebhookStatus
from storage.schema import payment_attempts, payment_events, payment_namespace


@dataclass(frozen=True)
class NewAttempt:
    """A payment attempt as a purchase (or an auto top-up) records it, before the provider is asked."""

    reference: str
    clinic_id: str
    origin: PaymentOrigin
    idempotency_key: str | None
    provider: str
    method: str
    customer: str | None
    credits: int
    amount: Decimal
    currency: str
    package_code: str | None
    promo_code: str | None
    promotion: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Attempt(NewAttempt):
    """A recorded attempt, and what became of it."""

    provider_id: str | None
    status: str
    failure: str | None
    next_action: dict[str, Any] | None
    answered_at: datetime | None
    settled_at: datetime | None
    topup_id: int | None

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT_PAYMENTS


def _attempt(row: Any) -> Attempt:
    values = {name: getattr(row, name) for name in Attempt.__dataclass_fields__}
    return Attempt(
        **values
        | {
            "origin": PaymentOrigin(row.origin),
            "credits": int(row.credits),
            "amount": Decimal(row.amount),
            "promotion": json.loads(row.promotion) if row.promotion else {},
            "next_action": json.loads(row.next_action) if row.next_action else None,
            "topup_id": None if row.topup_id is None else int(row.topup_id),
        }
    )


_NAMESPACES: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_CREATE_NAMESPACE = {
    name: dialect.insert(payment_namespace).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def namespace(conn: Connection) -> str:
    """This ledger's payment namespace: random, written once (by whichever transaction needs it
    first) and never changed."""
    known = _NAMESPACES.get(conn.engine)
    if known is None:
        query = select(payment_namespace.c.namespace).where(payment_namespace.c.id == 1)
        found = conn.execute(query).scalar()
        if found is None:
            conn.execute(_CREATE_NAMESPACE[conn.dialect.name].values(id=1, namespace=uuid.uuid4().hex))
            found = conn.execute(query).scalar_one()
        known = _NAMESPACES.setdefault(conn.engine, str(found))
    return known


def insert_attempt(conn: Connection, new: NewAttempt) -> None:
    values = {**new.__dict__, "origin": new.origin.value, "promotion": json.dumps(new.promotion, sort_keys=True)}
    conn.execute(insert(payment_attempts).values(**values, status=PaymentStatus.CREATED.value))


B = bindparam
_ATTEMPTS = select(payment_attempts)  # the statements below are built once: a purchase runs several
_BY_REFERENCE = _ATTEMPTS.where(payment_attempts.c.reference == B("b_reference"))
_BY_REFERENCE_LOCKED = _BY_REFERENCE.with_for_update()
_BY_KEY = _ATTEMPTS.where(
    payment_attempts.c.clinic_id == B("b_clinic"), payment_attempts.c.idempotency_key == B("b_key")
)
_BY_PROVIDER_ID = _ATTEMPTS.where(
    payment_attempts.c.provider == B("b_provider"), payment_attempts.c.provider_id == B("b_provider_id")
)
_BY_EITHER = _ATTEMPTS.where(
    (payment_attempts.c.reference == B("b_id")) | (payment_attempts.c.provider_id == B("b_id"))
)


def _one(conn: Connection, query: Any, params: dict[str, Any]) -> Attempt | None:
    row = conn.execute(query, params).first()
    return None if row is None else _attempt(row)


def attempt(conn: Connection, reference: str, lock: bool = False) -> Attempt | None:
    """An attempt by our reference; with `lock`, its row is locked until the transaction ends
    (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock)."""
    query = _BY_REFERENCE_LOCKED if lock and conn.dialect.name == "postgresql" else _BY_REFERENCE
    return _one(conn, query, {"b_reference": reference})


def for_key(conn: Connection, clinic_id: str, key: str) -> Attempt | None:
    """The attempt a purchase key made, if any (one per key: a unique constraint says so)."""
    return _one(conn, _BY_KEY, {"b_clinic": clinic_id, "b_key": key})


def by_provider_id(conn: Connection, provider: str, provider_id: str) -> Attempt | None:
    return _one(conn, _BY_PROVIDER_ID, {"b_provider": provider, "b_provider_id": provider_id})


def find(conn: Connection, payment_id: str) -> Attempt | None:
    """An attempt by our reference or by its provider's payment id (whichever a caller holds)."""
    return _one(conn, _BY_EITHER, {"b_id": payment_id})


def record_answer(
    conn: Connection, reference: str, provider_id: str | None, next_action: dict[str, Any] | None, at: datetime
) -> str | None:
    """Keep what the provider answered for an attempt still in flight: its payment id (set once,
    never changed) and the step the payer must take; the attempt becomes `pending`. Returns the
    provider id the attempt holds afterwards."""
    values: dict[str, Any] = {
        "answered_at": at,
        "next_action": None if next_action is None else json.dumps(next_action),
    }
    conn.execute(
        update(payment_attempts)
        .where(payment_attempts.c.reference == reference, payment_attempts.c.status.in_(IN_FLIGHT_PAYMENTS))
        .values(**values, status=PaymentStatus.PENDING.value)
    )
    if provider_id is not None:
        conn.execute(
            update(payment_attempts)
            .where(payment_attempts.c.reference == reference, payment_attempts.c.provider_id.is_(None))
            .values(provider_id=provider_id)
        )
    return conn.execute(
        select(payment_attempts.c.provider_id).where(payment_attempts.c.reference == reference)
    ).scalar()


def mark_credited(conn: Connection, reference: str, topup_id: int, at: datetime) -> bool:
    """Compare-and-set: an attempt in flight (or given up on, and paid late) is credited once,
    however often and from wherever its payment is reported. False: it already was."""
    changed = conn.execute(
        update(payment_attempts)
        .where(
            payment_attempts.c.reference == reference,
            payment_attempts.c.status.in_((*IN_FLIGHT_PAYMENTS, PaymentStatus.FAILED)),
        )
        .values(status=PaymentStatus.CREDITED.value, topup_id=topup_id, settled_at=at, next_action=None)
    ).rowcount
    return changed == 1


def mark_failed(conn: Connection, reference: str, failure: str, at: datetime) -> bool:
    """Compare-and-set: an attempt in flight fails once (a credited one never does)."""
    changed = conn.execute(
        update(payment_attempts)
        .where(payment_attempts.c.reference == reference, payment_attempts.c.status.in_(IN_FLIGHT_PAYMENTS))
        .values(status=PaymentStatus.FAILED.value, failure=failure[:2000], settled_at=at, next_action=None)
    ).rowcount
    return changed == 1


def note_failure(conn: Connection, reference: str, failure: str, at: datetime) -> None:
    """Keep why an attempt in flight could not be settled yet (a provider's odd answer), for review."""
    conn.execute(
        update(payment_attempts)
        .where(payment_attempts.c.reference == reference, payment_attempts.c.status.in_(IN_FLIGHT_PAYMENTS))
        .values(failure=failure[:2000], answered_at=at)
    )


def in_flight(conn: Connection, created_before: datetime | None = None, limit: int | None = None) -> list[Attempt]:
    """Attempts not settled yet, oldest first (the sweeper's work list; reconcile's in-flight list)."""
    query = select(payment_attempts).where(payment_attempts.c.status.in_(IN_FLIGHT_PAYMENTS))
    if created_before is not None:
        query = query.where(payment_attempts.c.created_at <= created_before)
    query = query.order_by(payment_attempts.c.created_at, payment_attempts.c.reference)
    if limit is not None:
        query = query.limit(limit)
    return [_attempt(row) for row in conn.execute(query)]


def attempts_of(conn: Connection, clinic_id: str, limit: int = 50) -> list[Attempt]:
    """A clinic's attempts, newest first."""
    query = (
        select(payment_attempts)
        .where(payment_attempts.c.clinic_id == clinic_id)
        .order_by(payment_attempts.c.created_at.desc(), payment_attempts.c.reference)
        .limit(limit)
    )
    return [_attempt(row) for row in conn.execute(query)]


def credited_count(conn: Connection, clinic_id: str) -> int:
    """How many payments of the clinic were credited (a referral rewards only the first)."""
    query = (
        select(func.count())
        .select_from(payment_attempts)
        .where(payment_attempts.c.clinic_id == clinic_id, payment_attempts.c.status == PaymentStatus.CREDITED.value)
    )
    return int(conn.execute(query).scalar_one())


# -- the webhook inbox ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    provider: str
    event_id: str
    kind: str
    reference: str | None
    provider_id: str | None
    body: str
    received_at: datetime


@dataclass(frozen=True)
class Event:
    id: int
    provider: str
    event_id: str
    kind: str
    reference: str | None
    provider_id: str | None
    status: str
    note: str | None
    received_at: datetime
    processed_at: datetime | None


_RECORD = {
    name: dialect.insert(payment_events).on_conflict_do_nothing().returning(payment_events.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def record_event(conn: Connection, new: NewEvent) -> tuple[int, str | None]:
    """Record a verified webhook once per (provider, event id): its row id, and the status an
    earlier delivery of the same event left (None when this delivery is the first)."""
    values = {**new.__dict__, "status": WebhookStatus.RECEIVED.value}
    new_id = conn.execute(_RECORD[conn.dialect.name].values(**values)).scalar()
    if new_id is not None:
        return int(new_id), None
    existing = conn.execute(
        select(payment_events.c.id, payment_events.c.status).where(
            payment_events.c.provider == new.provider, payment_events.c.event_id == new.event_id
        )
    ).one()
    return int(existing.id), str(existing.status)


def event_processed(conn: Connection, event_id: int, status: WebhookStatus, note: str | None, at: datetime) -> None:
    conn.execute(
        update(payment_events)
        .where(payment_events.c.id == event_id)
        .values(status=status.value, note=note, processed_at=at)
    )


def events(conn: Connection, status: str | None = None, limit: int = 100) -> list[Event]:
    query = select(*(payment_events.c[name] for name in Event.__dataclass_fields__)).order_by(
        payment_events.c.received_at.desc(), payment_events.c.id.desc()
    )
    if status is not None:
        query = query.where(payment_events.c.status == status)
    return [Event(*row) for row in conn.execute(query.limit(limit))]


__all__ = [
    "Attempt",
    "Event",
    "NewAttempt",
    "NewEvent",
    "attempt",
    "attempts_of",
    "by_provider_id",
    "credited_count",
    "event_processed",
    "events",
    "find",
    "for_key",
    "in_flight",
    "insert_attempt",
    "mark_credited",
    "mark_failed",
    "namespace",
    "note_failure",
    "record_answer",
    "record_event",
]
