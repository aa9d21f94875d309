"""Registering clinics with their wallets, and moving them between segments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from engine.billing import support
from engine.billing.base import BillingBase, Done
from engine.billing.errors import (
    AdjustmentRefused,
    ClinicExists,
    InvalidAmount,
    NoPricebook,
)
from engine.billing.results import (
    ClinicResult,
)
from storage import ledger
from storage.schema import (
    clinics,
)


class ClinicOperations(BillingBase):
    """Registering clinics with their wallets, and moving them between segments."""

    def register_clinic(
        self,
        clinic_id: str,
        name: str,
        market: str,
        key: str,
        segment: str = "standard",
        bundle: bool = False,
        clinic_size: str | None = None,
        referred_by: str | None = None,
        at: datetime | None = None,
    ) -> ClinicResult:
        """A clinic and its wallet; its overdraft limit comes from its segment and the pricebook."""
        when = self._at(at)
        if segment not in ("standard", "preferred"):
            raise InvalidAmount(f"segment must be standard or preferred, not {segment!r}")

        def work(conn: Connection, at: datetime) -> Done:
            if conn.execute(select(clinics.c.id).where(clinics.c.id == clinic_id)).first() is not None:
                raise ClinicExists(f"clinic {clinic_id!r} already exists")
            pricebook_id = self.catalog.markets(conn).get(market.upper())
            if pricebook_id is None:
                raise NoPricebook(f"no pricebook is published for market {market!r}")
            current = self._current(conn, pricebook_id, at)
            if referred_by is not None:
                support.clinic(conn, referred_by)
            conn.execute(
                insert(clinics).values(
                    id=clinic_id,
                    name=name,
                    market=current.meta.market,
                    pricebook_id=pricebook_id,
                    segment=segment,
                    bundle=bundle,
                    clinic_size=clinic_size,
                    timezone=current.meta.timezone,
                    referred_by=referred_by,
                    created_at=at,
                )
            )
            limit = self._policy(current).overdraft_limit(segment)
            ledger.create_wallet(conn, clinic_id, current.meta.market, limit)
            return Done(
                ClinicResult(
                    clinic_id=clinic_id,
                    market=current.meta.market,
                    pricebook_id=pricebook_id,
                    segment=segment,
                    overdraft_limit=limit,
                ),
                None,
            )

        request = {
            "clinic": clinic_id,
            "name": name,
            "market": market.upper(),
            "segment": segment,
            "bundle": bundle,
            "size": clinic_size,
            "referred_by": referred_by,
        }
        return self._idempotent(clinic_id, key, "register", request, work, ClinicResult, when)

    def set_segment(
        self, clinic_id: str, segment: str, actor: str, key: str, at: datetime | None = None
    ) -> ClinicResult:
        """Move a clinic between standard and preferred; its overdraft limit follows the pricebook.
        Lowering the limit below what the clinic already owes is refused."""
        when = self._at(at)

        def work(conn: Connection, at: datetime) -> Done:
            found = support.clinic(conn, clinic_id)
            wallet = ledger.wallet(conn, clinic_id, lock=True)
            assert wallet is not None
            current = self._current(conn, found.pricebook_id, at)
            limit = self._policy(current).overdraft_limit(segment)
            if not ledger.set_overdraft_limit(conn, wallet.id, limit):
                raise AdjustmentRefused(
                    f"clinic {clinic_id} owes {current.format_credits(-wallet.balance)}, more than the "
                    f"{segment} overdraft limit of {current.format_credits(limit)}"
                )
            conn.execute(update(clinics).where(clinics.c.id == clinic_id).values(segment=segment))
            return Done(
                ClinicResult(
                    clinic_id=clinic_id,
                    market=found.market,
                    pricebook_id=found.pricebook_id,
                    segment=segment,
                    overdraft_limit=limit,
                ),
                None,
            )

        if segment not in ("standard", "preferred"):
            raise InvalidAmount(f"segment must be standard or preferred, not {segment!r}")
        return self._idempotent(
            clinic_id, key, "segment", {"segment": segment, "actor": actor}, work, ClinicResult, when
        )
