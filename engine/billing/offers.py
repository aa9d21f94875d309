"""What a clinic is offered now, and what a request would cost it now, without moving a credit.

`offers` answers "what can I buy?": the packages of the clinic's pricebook version in force, the
smallest pay-as-you-go top-up, and every top-up promotion in force at that instant, each with its
validity, its code (if one must be typed), the top-ups it applies to, and how many more times this
clinic may still use it — a promotion a clinic has used up, or that every clinic together has used
up, is listed as used up rather than hidden, so the clinic learns why a code stopped working. What
each promotion *means* (its amounts, limits and stacking) is the policy rules' (rules.PolicyEngine);
this module only reads them.

`estimate` answers "what would this cost?": the request priced exactly as a charge would price it
at that instant (the clinic's pin, package or pay-as-you-go term, bundle and segment), the balance
after it, and whether the overdraft policy would approve it. Nothing is written: a pay-as-you-go
term that a charge would start is priced as a term with nothing used yet, which is what the charge
would count from.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from engine.billing import state as clinic_state
from engine.billing.context import Context
from engine.billing.state import ClinicState
from engine.pricebook.model import CompiledPricebook, PackageRule
from engine.pricing.quote import Quote, quote
from engine.pricing.requests import QuoteContext, Request
from rules import ChargeFacts, PolicyEngine
from storage import promotions
from storage.database import Connection


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class PromotionOffer(_View):
    """One top-up promotion in force (docs/domain.md §6). Credits are whole credits; `bonus_pct` is
    a fraction (0.2 is 20 %); `valid_until` is the first instant it no longer applies (None: open)."""

    rule_id: str
    kind: str  # fixed_bonus, pct_bonus, referral
    promo_code: str | None  # None: applied without a code
    bonus_credits: int | None
    bonus_pct: Decimal | None
    bonus_cap_credits: int | None
    perk: str | None
    perk_days: int | None
    min_topup_credits: int  # the smallest paid top-up it applies to (never below the pricebook's minimum)
    max_topup_credits: int | None  # top-ups of this many credits or more do not get it (None: no bound)
    valid_from: datetime
    valid_until: datetime | None
    stackable: bool
    uses_left: int | None  # how many more times this clinic may get it (None: no limit)
    used_up: bool  # this clinic, or every clinic together, has used it as often as it may


class Offers(_View):
    clinic_id: str
    pricebook_id: str
    version: int
    currency: str
    money_per_credit: Decimal
    topup_min_credits: int
    at: datetime
    packages: tuple[PackageRule, ...]
    promotions: tuple[PromotionOffer, ...]


class Estimate(_View):
    """What a charge of this request would do now: its quote, the balance after it, and whether
    the overdraft policy would approve it (a declined estimate says why)."""

    clinic_id: str
    quote: Quote
    balance: int
    balance_after: int
    approved: bool
    decline_reason: str | None = None


def offers(ctx: Context, clinic_id: str, at: datetime) -> Offers:
    """The packages on sale to the clinic and the promotions in force at `at` (module docstring)."""

    def read(conn: Connection) -> Offers:
        found = clinic_state.load(conn, clinic_id, at)
        current = clinic_state.current(ctx.catalog, conn, found, at)
        meta = current.meta
        return Offers(
            clinic_id=clinic_id,
            pricebook_id=current.pricebook_id,
            version=current.version,
            currency=meta.currency,
            money_per_credit=meta.money_per_credit,
            topup_min_credits=meta.topup_min_credits,
            at=at,
            packages=current.packages,
            promotions=_promotions(conn, current, clinic_id, at),
        )

    return ctx.db.read(read)


def _promotions(
    conn: Connection, current: CompiledPricebook, clinic_id: str, at: datetime
) -> tuple[PromotionOffer, ...]:
    own = promotions.uses(conn, current.pricebook_id, clinic_id)
    everyone = promotions.uses(conn, current.pricebook_id)
    listed = []
    for promo in PolicyEngine.of(current).promos.values():
        if promo.valid_from > at or (promo.valid_to is not None and at >= promo.valid_to):
            continue
        left = None if promo.max_per_clinic is None else max(promo.max_per_clinic - own.get(promo.rule_id, 0), 0)
        all_gone = promo.max_total is not None and everyone.get(promo.rule_id, 0) >= promo.max_total
        listed.append(
            PromotionOffer(
                rule_id=promo.rule_id,
                kind=promo.promo_type.value,
                promo_code=promo.promo_code,
                bonus_credits=promo.bonus_credits,
                bonus_pct=promo.bonus_pct,
                bonus_cap_credits=promo.bonus_cap_credits,
                perk=promo.perk,
                perk_days=promo.perk_days,
                min_topup_credits=max(promo.paid_from, current.meta.topup_min_credits),
                max_topup_credits=promo.paid_to,
                valid_from=promo.valid_from,
                valid_until=promo.valid_to,
                stackable=promo.stackable,
                uses_left=0 if all_gone else left,
                used_up=all_gone or left == 0,
            )
        )
    return tuple(listed)


def pricing_context(
    ctx: Context, conn: Connection, found: ClinicState, product: str, at: datetime
) -> tuple[CompiledPricebook, CompiledPricebook, QuoteContext]:
    """(the version in force, the version that prices `product` for this clinic, the quote context
    a charge at `at` would use) — read only: a term a charge would start counts from zero."""
    current = clinic_state.current(ctx.catalog, conn, found, at)
    term = None if clinic_state.packages_cover(found, product, current) else found.terms.get(product)
    pricing = clinic_state.pricing_version(ctx.catalog, conn, found, product, current, at)
    context = QuoteContext(
        at=at,
        plan=clinic_state.plan(found),
        bundle=found.clinic.bundle,
        segment=found.clinic.segment,
        term_usage={product: term.units if term is not None else 0},
        balance=found.wallet.balance,
    )
    return current, pricing, context


def estimate(ctx: Context, clinic_id: str, request: Request, at: datetime) -> Estimate:
    """What charging `request` would cost the clinic at `at` (module docstring)."""

    def read(conn: Connection) -> Estimate:
        found = clinic_state.load(conn, clinic_id, at)
        current, pricing, context = pricing_context(ctx, conn, found, request.product, at)
        priced = quote(pricing, request, context)
        balance = found.wallet.balance
        decision = PolicyEngine.of(current).overdraft(
            ChargeFacts(segment=found.clinic.segment, balance=balance, amount=priced.credits)
        )
        return Estimate(
            clinic_id=clinic_id,
            quote=priced,
            balance=balance,
            balance_after=decision.balance_after,
            approved=decision.approved,
            decline_reason=None if decision.approved else decision.reason,
        )

    return ctx.db.read(read)


__all__ = ["Estimate", "Offers", "PromotionOffer", "estimate", "offers", "pricing_context"]
