"""Registering clinics with their wallets, and moving them between segments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.billing import state as clinic_state
from engine.billing.context import Context, Done, Keyed
from engine.billing.errors import AdjustmentRefused, ClinicExists, InvalidAmount, UnknownClinic
from engine.billing.results import ClinicResult
from engine.vocabulary import Segment
from rules import PolicyEngine
from storage import accounts, clinics
from storage.clinics import NewClinic
from storage.database import Connection


@dataclass(frozen=True)
class Registration:
    clinic_id: str
    name: str
    market: str
    segment: str = Segment.STANDARD
    bundle: bool = False
    clinic_size: str | None = None
    referred_by: str | None = None

    def request(self) -> dict[str, object]:
        return {
            "clinic": self.clinic_id,
            "name": self.name,
            "market": self.market.upper(),
            "segment": self.segment,
            "bundle": self.bundle,
            "size": self.clinic_size,
            "referred_by": self.referred_by,
        }


def _segment(segment: str) -> Segment:
    if segment not in tuple(Segment):
        raise InvalidAmount(f"segment must be standard or preferred, not {segment!r}")
    return Segment(segment)


def register(ctx: Context, asked: Registration, key: str, at: datetime) -> ClinicResult:
    """A clinic and its wallet; its overdraft limit comes from its segment and the pricebook."""
    segment = _segment(asked.segment)

    def work(conn: Connection, at: datetime) -> Done:
        if clinics.exists(conn, asked.clinic_id):
            raise ClinicExists(f"clinic {asked.clinic_id!r} already exists")
        pricebook_id = ctx.catalog.pricebook_for(conn, asked.market)
        current = ctx.catalog.in_force(conn, pricebook_id, at)
        if asked.referred_by is not None and not clinics.exists(conn, asked.referred_by):
            raise UnknownClinic(f"no clinic {asked.referred_by!r}", clinic_id=asked.referred_by)
        clinics.insert_clinic(
            conn,
            NewClinic(
                id=asked.clinic_id,
                name=asked.name,
                market=current.meta.market,
                pricebook_id=pricebook_id,
                segment=segment.value,
                bundle=asked.bundle,
                clinic_size=asked.clinic_size,
                timezone=current.meta.timezone,
                referred_by=asked.referred_by,
                created_at=at,
            ),
        )
        limit = PolicyEngine.of(current).overdraft_limit(segment)
        accounts.create_wallet(conn, asked.clinic_id, current.meta.market, limit)
        result = ClinicResult(
            clinic_id=asked.clinic_id,
            market=current.meta.market,
            pricebook_id=pricebook_id,
            segment=segment.value,
            overdraft_limit=limit,
        )
        return Done(result, None)

    return ctx.idempotent(Keyed(asked.clinic_id, key, "register", asked.request()), work, ClinicResult, at)


def set_segment(ctx: Context, clinic_id: str, segment: str, actor: str, key: str, at: datetime) -> ClinicResult:
    """Move a clinic between standard and preferred; its overdraft limit follows the pricebook.
    Lowering the limit below what the clinic already owes is refused."""
    chosen = _segment(segment)

    def work(conn: Connection, at: datetime) -> Done:
        found = clinic_state.load(conn, clinic_id, at, lock=True)
        current = clinic_state.current(ctx.catalog, conn, found, at)
        limit = PolicyEngine.of(current).overdraft_limit(chosen)
        if not accounts.set_overdraft_limit(conn, found.wallet.id, limit):
            raise AdjustmentRefused(
                f"clinic {clinic_id} owes {current.format_credits(-found.wallet.balance)}, more than the "
                f"{chosen} overdraft limit of {current.format_credits(limit)}"
            )
        clinics.set_segment(conn, clinic_id, chosen.value)
        result = ClinicResult(
            clinic_id=clinic_id,
            market=found.clinic.market,
            pricebook_id=found.clinic.pricebook_id,
            segment=chosen.value,
            overdraft_limit=limit,
        )
        return Done(result, None)

    keyed = Keyed(clinic_id, key, "segment", {"segment": chosen.value, "actor": actor})
    return ctx.idempotent(keyed, work, ClinicResult, at)
