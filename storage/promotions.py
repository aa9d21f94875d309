"""What promotions gave: uses per clinic and in total (the limits the ledger enforces), referral
rewards (one per referring/referred pair) and perks (entitlements that are not credits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from storage.schema import perks, promo_uses, referrals

ALL_CLINICS: Final = ":all"  # the row counting a promotion's uses by every clinic (outside the id alphabet)


def uses(conn: Connection, pricebook_id: str, clinic_id: str | None = None) -> dict[str, int]:
    """rule_id → how often the promotion was given to this clinic (None: to all clinics)."""
    who = ALL_CLINICS if clinic_id is None else clinic_id
    query = select(promo_uses.c.rule_id, promo_uses.c.uses).where(
        promo_uses.c.pricebook_id == pricebook_id, promo_uses.c.clinic_id == who
    )
    return {rule_id: int(count) for rule_id, count in conn.execute(query)}


def count_use(conn: Connection, pricebook_id: str, rule_id: str, clinic_id: str, max_total: int | None) -> bool:
    """Count one more use of a promotion by a clinic; False (nothing counted) when the total limit
    is reached: the last one went to another clinic a moment ago (compare-and-set)."""
    for who, limit in ((ALL_CLINICS, max_total), (clinic_id, None)):
        key = {"pricebook_id": pricebook_id, "rule_id": rule_id, "clinic_id": who}
        guard = [promo_uses.c[name] == value for name, value in key.items()]
        if conn.execute(select(promo_uses.c.uses).where(*guard)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(promo_uses).values(**key, uses=0))
            except IntegrityError:  # created concurrently: fine, it is updated below
                pass
        if limit is not None:
            guard.append(promo_uses.c.uses < limit)
        if conn.execute(update(promo_uses).where(*guard).values(uses=promo_uses.c.uses + 1)).rowcount != 1:
            return False
    return True


def release_use(conn: Connection, pricebook_id: str, rule_id: str, clinic_id: str) -> None:
    """Give back a use counted for a payment that failed: the bonus it reserved was never granted."""
    for who in (ALL_CLINICS, clinic_id):
        conn.execute(
            update(promo_uses)
            .where(
                promo_uses.c.pricebook_id == pricebook_id,
                promo_uses.c.rule_id == rule_id,
                promo_uses.c.clinic_id == who,
                promo_uses.c.uses > 0,
            )
            .values(uses=promo_uses.c.uses - 1)
        )


@dataclass(frozen=True)
class Referral:
    rewarded: bool  # this pair was already rewarded
    exists: bool


def referral(conn: Connection, referrer_id: str, referred_id: str) -> Referral:
    row = conn.execute(
        select(referrals.c.rewarded_id).where(
            referrals.c.referrer_id == referrer_id, referrals.c.referred_id == referred_id
        )
    ).first()
    return Referral(rewarded=row is not None and row.rewarded_id is not None, exists=row is not None)


def referrer_rewards(conn: Connection, referrer_id: str) -> int:
    query = (
        select(func.count())
        .select_from(referrals)
        .where(referrals.c.referrer_id == referrer_id, referrals.c.rewarded_id.is_not(None))
    )
    return int(conn.execute(query).scalar_one())


def reward_referral(conn: Connection, referrer_id: str, referred_id: str, transaction_id: int, at: datetime) -> None:
    """Mark the pair rewarded by `transaction_id` (once: compare-and-set on an existing row)."""
    if not referral(conn, referrer_id, referred_id).exists:
        conn.execute(
            insert(referrals).values(
                referrer_id=referrer_id, referred_id=referred_id, rewarded_id=transaction_id, rewarded_at=at
            )
        )
        return
    conn.execute(
        update(referrals)
        .where(
            referrals.c.referrer_id == referrer_id,
            referrals.c.referred_id == referred_id,
            referrals.c.rewarded_id.is_(None),
        )
        .values(rewarded_id=transaction_id, rewarded_at=at)
    )


@dataclass(frozen=True)
class PerkGrant:
    clinic_id: str
    perk: str
    rule_id: str
    starts_at: datetime
    until: datetime
    transaction_id: int


def grant_perk(conn: Connection, grant: PerkGrant) -> None:
    conn.execute(insert(perks).values(**grant.__dict__))
