"""Small pieces the billing operations share: keys and request hashes, clinic rows, time windows,
and the versions and plans a clinic is priced with."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, func, insert, select

from engine.billing.catalog import Catalog
from engine.billing.errors import InvalidKey, UnknownClinic
from engine.pricebook.model import CompiledPricebook
from storage.fast import Statement
from storage.schema import clinics, holdings, terms, transactions

MAX_KEY = 200


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        raise InvalidKey(f"an idempotency key must be non-empty text of at most {MAX_KEY} characters; got {key!r}")
    return key


def request_hash(operation: str, request: dict[str, Any]) -> str:
    """What makes two requests 'the same' for an idempotency key: the operation and its inputs."""
    text = json.dumps({"operation": operation, **request}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def check_aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC is fine)")
    return at


@dataclass(frozen=True)
class Clinic:
    id: str
    name: str
    market: str
    pricebook_id: str
    segment: str
    bundle: bool
    clinic_size: str | None
    timezone: str
    referred_by: str | None

    @classmethod
    def from_row(cls, row: Any) -> Clinic:
        return cls(
            row.id,
            row.name,
            row.market,
            row.pricebook_id,
            row.segment,
            bool(row.bundle),
            row.clinic_size,
            row.timezone,
            row.referred_by,
        )


def clinic(conn: Connection, clinic_id: str) -> Clinic:
    row = conn.execute(select(clinics).where(clinics.c.id == clinic_id)).first()
    if row is None:
        raise UnknownClinic(f"no clinic {clinic_id!r}")
    return Clinic.from_row(row)


def month_start(at: datetime, zone: str) -> datetime:
    """Midnight of the first day of `at`'s month in the pricebook's time zone ("this month")."""
    local = at.astimezone(ZoneInfo(zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def active_packages(conn: Connection, clinic_id: str, at: datetime) -> tuple[str, ...]:
    rows = conn.execute(
        select(holdings.c.package_code)
        .where(holdings.c.clinic_id == clinic_id, holdings.c.starts_at <= at, holdings.c.ends_at > at)
        .order_by(holdings.c.ends_at.desc())
    )
    return tuple(dict.fromkeys(row.package_code for row in rows))


def term_for(
    conn: Connection,
    catalog: Catalog,
    clinic_id: str,
    product: str,
    at: datetime,
    current: CompiledPricebook,
    start_if_missing: bool = True,
) -> Any:
    """The clinic's pay-as-you-go term for `product` at `at`; started (with the version then in force)
    when there is none and the product accumulates usage over a term."""
    spec = current.product(product)
    if spec is None or spec.term_days is None:
        return None
    row = conn.execute(
        select(terms)
        .where(
            terms.c.clinic_id == clinic_id, terms.c.product == product, terms.c.starts_at <= at, terms.c.ends_at > at
        )
        .order_by(terms.c.starts_at.desc())
        .limit(1)
    ).first()
    if row is not None or not start_if_missing:
        return row
    conn.execute(
        insert(terms).values(
            clinic_id=clinic_id,
            product=product,
            starts_at=at,
            ends_at=at + timedelta(days=spec.term_days),
            units=0,
            pricebook_id=current.pricebook_id,
            version=current.version,
        )
    )
    return conn.execute(
        select(terms).where(terms.c.clinic_id == clinic_id, terms.c.product == product, terms.c.starts_at == at)
    ).first()


_CHARGED_SINCE = Statement(
    select(func.coalesce(func.sum(transactions.c.credits - transactions.c.refunded), 0)).where(
        transactions.c.clinic_id == bindparam("b_clinic"),
        transactions.c.kind == "charge",
        transactions.c.status == "posted",
        transactions.c.at >= bindparam("b_since"),
        transactions.c.at < bindparam("b_until"),
    )
)


def charged_since(conn: Connection, clinic_id: str, since: datetime, until: datetime) -> int:
    """Credits of posted charges in [since, until), net of what refunds gave back."""
    params = {"b_clinic": clinic_id, "b_since": since, "b_until": until}
    return int(_CHARGED_SINCE.run(conn, params).scalar())
