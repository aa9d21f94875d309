"""The notification outbox: events written in the same database transaction as the change that caused
them, and their deliveries, each sent at least once by a worker outside any transaction.

- `add_event` writes the event and one pending delivery per endpoint that wants it (the clinic's own
  endpoints and the company-wide ones, filtered by the kinds each subscribed to). It commits or
  rolls back with the change: an event exists iff its change does.
- `lease_due` hands a worker the deliveries whose time has come and leases them for a while (on
  PostgreSQL with FOR UPDATE SKIP LOCKED, so workers never take the same one; on SQLite the write
  lock serialises them). A worker that dies lets its lease lapse: another sends again. So delivery is
  at least once; receivers de-duplicate on the event id.
- `delivered` and `failed` settle a delivery by compare-and-set on its lease (a worker whose lease
  lapsed and was taken over cannot overwrite the new owner's result).
- `alert_changed` remembers whether an alert's condition holds for a clinic, so an alert is sent
  once per crossing, not once per charge.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from engine.vocabulary import DeliveryStatus, NotifyChannel
from storage.schema import alert_states, deliveries, events, notification_endpoints


@dataclass(frozen=True)
class NewEvent:
    kind: str
    clinic_id: str | None  # None: about the whole company (a pricebook version published)
    payload: dict[str, Any]
    at: datetime


def add_event(conn: Connection, event: NewEvent) -> str:
    """Write an event and its pending deliveries; its id (a uuid4 in hex)."""
    event_id = uuid.uuid4().hex
    conn.execute(
        insert(events).values(
            id=event_id,
            clinic_id=event.clinic_id,
            kind=event.kind,
            payload=json.dumps(event.payload, sort_keys=True, default=str),
            created_at=event.at,
        )
    )
    audience: ColumnElement[bool] = notification_endpoints.c.clinic_id.is_(None)
    if event.clinic_id is not None:
        audience = or_(audience, notification_endpoints.c.clinic_id == event.clinic_id)
    wanted = [
        endpoint_id
        for endpoint_id, kinds in conn.execute(
            select(notification_endpoints.c.id, notification_endpoints.c.kinds).where(
                notification_endpoints.c.active.is_(True), audience
            )
        )
        if not json.loads(kinds) or event.kind in json.loads(kinds)
    ]
    if wanted:
        conn.execute(
            insert(deliveries),
            [
                {
                    "event_id": event_id,
                    "endpoint_id": endpoint_id,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": event.at,
                }
                for endpoint_id in wanted
            ],
        )
    return event_id


@dataclass(frozen=True)
class Endpoint:
    id: int
    clinic_id: str | None
    channel: str
    target: str
    secret: str | None
    kinds: tuple[str, ...]
    active: bool


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        int(row.id), row.clinic_id, row.channel, row.target, row.secret, tuple(json.loads(row.kinds)), bool(row.active)
    )


@dataclass(frozen=True)
class NewEndpoint:
    clinic_id: str | None
    channel: NotifyChannel
    target: str
    secret: str | None
    kinds: tuple[str, ...]  # () = every kind
    at: datetime


def add_endpoint(conn: Connection, new: NewEndpoint) -> int:
    return int(
        conn.execute(
            insert(notification_endpoints)
            .values(
                clinic_id=new.clinic_id,
                channel=new.channel.value,
                target=new.target,
                secret=new.secret,
                kinds=json.dumps(sorted(new.kinds)),
                active=True,
                created_at=new.at,
            )
            .returning(notification_endpoints.c.id)
        ).scalar_one()
    )


def endpoints(conn: Connection, clinic_id: str | None) -> list[Endpoint]:
    """A clinic's endpoints (None: the company-wide ones)."""
    where = (
        notification_endpoints.c.clinic_id.is_(None)
        if clinic_id is None
        else notification_endpoints.c.clinic_id == clinic_id
    )
    rows = conn.execute(select(notification_endpoints).where(where).order_by(notification_endpoints.c.id))
    return [_endpoint(row) for row in rows]


def set_endpoint(
    conn: Connection, endpoint_id: int, clinic_id: str | None, kinds: tuple[str, ...], active: bool
) -> bool:
    """Change which kinds an endpoint receives, or switch it off; False when it is not this clinic's."""
    owner = (
        notification_endpoints.c.clinic_id.is_(None)
        if clinic_id is None
        else notification_endpoints.c.clinic_id == clinic_id
    )
    changed = conn.execute(
        update(notification_endpoints)
        .where(notification_endpoints.c.id == endpoint_id, owner)
        .values(kinds=json.dumps(sorted(kinds)), active=active)
    ).rowcount
    return changed == 1


@dataclass(frozen=True)
class Due:
    """A delivery a worker holds the lease of: what to send, where, and how often it was tried."""

    delivery_id: int
    attempts: int
    leased_until: datetime
    event_id: str
    kind: str
    clinic_id: str | None
    payload: dict[str, Any]
    created_at: datetime
    endpoint: Endpoint


def lease_due(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[Due]:
    """Up to `limit` pending deliveries whose time has come and whose lease (if any) lapsed, leased
    to the caller until now + lease."""
    due = (
        select(deliveries.c.id)
        .where(
            deliveries.c.status == DeliveryStatus.PENDING.value,
            deliveries.c.next_attempt_at <= now,
            or_(deliveries.c.leased_until.is_(None), deliveries.c.leased_until <= now),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = [int(delivery_id) for (delivery_id,) in conn.execute(due)]
    if not ids:
        return []
    until = now + lease
    conn.execute(update(deliveries).where(deliveries.c.id.in_(ids)).values(leased_until=until))
    rows = conn.execute(
        select(deliveries.c.id.label("delivery_id"), deliveries.c.attempts, events, notification_endpoints)
        .select_from(
            deliveries.join(events, events.c.id == deliveries.c.event_id).join(
                notification_endpoints, notification_endpoints.c.id == deliveries.c.endpoint_id
            )
        )
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
    )
    out = []
    for row in rows:
        mapping = row._mapping
        endpoint = Endpoint(
            int(mapping[notification_endpoints.c.id]),
            mapping[notification_endpoints.c.clinic_id],
            mapping[notification_endpoints.c.channel],
            mapping[notification_endpoints.c.target],
            mapping[notification_endpoints.c.secret],
            tuple(json.loads(mapping[notification_endpoints.c.kinds])),
            bool(mapping[notification_endpoints.c.active]),
        )
        out.append(
            Due(
                delivery_id=int(mapping["delivery_id"]),
                attempts=int(mapping["attempts"]),
                leased_until=until,
                event_id=mapping[events.c.id],
                kind=mapping[events.c.kind],
                clinic_id=mapping[events.c.clinic_id],
                payload=json.loads(mapping[events.c.payload]),
                created_at=mapping[events.c.created_at],
                endpoint=endpoint,
            )
        )
    return out


def _held(due: Due) -> Any:
    return and_(
        deliveries.c.id == due.delivery_id,
        deliveries.c.status == DeliveryStatus.PENDING.value,
        deliveries.c.leased_until == due.leased_until,
    )


def delivered(conn: Connection, due: Due, at: datetime) -> bool:
    """The endpoint took it (compare-and-set on the lease: False when another worker owns it now)."""
    return (
        conn.execute(
            update(deliveries)
            .where(_held(due))
            .values(
                status=DeliveryStatus.DELIVERED.value,
                attempts=deliveries.c.attempts + 1,
                delivered_at=at,
                leased_until=None,
                last_error=None,
            )
        ).rowcount
        == 1
    )


def failed(conn: Connection, due: Due, error: str, retry_at: datetime | None) -> bool:
    """An attempt failed: try again at `retry_at`, or give up (dead) when it is None."""
    values: dict[str, Any] = {
        "attempts": deliveries.c.attempts + 1,
        "leased_until": None,
        "last_error": error[:2_000],
    }
    if retry_at is None:
        values["status"] = DeliveryStatus.DEAD.value
    else:
        values["next_attempt_at"] = retry_at
    return conn.execute(update(deliveries).where(_held(due)).values(**values)).rowcount == 1


def replay_dead(conn: Connection, delivery_id: int, at: datetime) -> bool:
    """Send a dead delivery again (a person fixed the receiving end)."""
    return (
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, deliveries.c.status == DeliveryStatus.DEAD.value)
            .values(status=DeliveryStatus.PENDING.value, next_attempt_at=at, attempts=0, leased_until=None)
        ).rowcount
        == 1
    )


def delivery_counts(conn: Connection) -> dict[str, int]:
    """How many deliveries are pending, delivered and dead."""
    query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
    return {status: int(count) for status, count in conn.execute(query)}


def alert_changed(conn: Connection, clinic_id: str, kind: str, active: bool, at: datetime) -> bool:
    """Record whether an alert's condition holds now; True when that is a change (a crossing).
    Called only in a transaction that changes the clinic's wallet (a posted balance change, or the
    expiry sweep's version bump: engine/billing/expiry.py), so the wallet's version covers what is
    recorded here: a clinic state read with it (storage/clinics.py)
    stays true while the version does."""
    known = conn.execute(
        select(alert_states.c.active).where(alert_states.c.clinic_id == clinic_id, alert_states.c.kind == kind)
    ).scalar()
    if known is None:
        if not active:
            return False
        try:
            with conn.begin_nested():
                conn.execute(insert(alert_states).values(clinic_id=clinic_id, kind=kind, active=True, changed_at=at))
        except IntegrityError:  # another transaction recorded it first: not our crossing
            return False
        return True
    if bool(known) == active:
        return False
    changed = conn.execute(
        update(alert_states)
        .where(alert_states.c.clinic_id == clinic_id, alert_states.c.kind == kind, alert_states.c.active == known)
        .values(active=active, changed_at=at)
    ).rowcount
    return changed == 1 and active
