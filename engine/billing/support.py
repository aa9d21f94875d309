"""Small pieces the billing operations share: keys and request hashes, clinic rows and the month
in the pricebook's time zone. (What a charge reads about a clinic is engine/billing/state.py.)"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from engine.billing.errors import InvalidKey, UnknownClinic
from storage.schema import clinics

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
