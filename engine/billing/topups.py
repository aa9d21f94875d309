"""What a top-up costs and earns, decided once for the preview and for the purchase.

`plan` is the one implementation of a top-up's terms: what is bought (a package, or pay-as-you-go
credits of at least the pricebook's minimum), the money in whole minor units of the currency, and
the promotions the pricebook's policy gives it (bonus credits and perks), with a promo code either
applied or refused for a stated reason. `Billing.quote_topup` shows it before any money moves; a
purchase records exactly this plan with its payment attempt (the bonuses' uses reserved), so what
the preview promised is what settlement grants, and a code the preview refuses is refused before
the provider is called (engine/billing/purchases.py).

Amounts that are not whole minor units (100,001 US credits are $10.0001) are rounded up to the next
payable number of credits by the preview, which says so; a purchase refuses them and names the two
nearest payable amounts, so that it charges exactly what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.billing import state as clinic_state
from engine.billing.context import Context
from engine.billing.errors import InvalidAmount, UnknownPackage
from engine.billing.payments.amounts import payable_credits, to_minor
from engine.billing.results import TopUpQuote
from engine.bounds import MONEY_MAX, OPERATION_CREDITS_MAX
from engine.money import format_money
from engine.pricebook.model import CompiledPricebook, PackageRule
from engine.vocabulary import PromoRefusal
from rules import PolicyEngine, TopUpDecision, TopUpFacts, normalise_code
from storage import promotions
from storage.database import Connection


@dataclass(frozen=True)
class PlannedBonus:
    """Granted credits a settled top-up earns; they expire `seconds` after settlement (None: never)."""

    rule_id: str
    credits: int
    seconds: int | None


@dataclass(frozen=True)
class PlannedPerk:
    rule_id: str
    perk: str
    seconds: int


@dataclass(frozen=True)
class TopUpPlan:
    pricebook: CompiledPricebook
    package: PackageRule | None
    credits: int
    rounded_up_from: int | None
    amount: Decimal
    amount_minor: int
    promo_code: str | None
    bonuses: tuple[PlannedBonus, ...] = ()
    perks: tuple[PlannedPerk, ...] = ()
    refusal: PromoRefusal | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()
    code_applied: bool = False

    @property
    def currency(self) -> str:
        return self.pricebook.meta.currency

    @property
    def bonus_credits(self) -> int:
        return sum(bonus.credits for bonus in self.bonuses)

    def promotion(self) -> dict[str, Any]:
        """What the payment attempt records: the version, and the bonuses and perks it promised."""
        return {
            "pricebook_id": self.pricebook.pricebook_id,
            "version": self.pricebook.version,
            "bonuses": [[b.rule_id, b.credits, b.seconds] for b in self.bonuses],
            "perks": [[p.rule_id, p.perk, p.seconds] for p in self.perks],
        }


def promised(promotion: dict[str, Any]) -> tuple[tuple[PlannedBonus, ...], tuple[PlannedPerk, ...]]:
    """The bonuses and perks a payment attempt recorded (`TopUpPlan.promotion`)."""
    bonuses = tuple(
        PlannedBonus(rule, int(credits), seconds) for rule, credits, seconds in promotion.get("bonuses", ())
    )
    perks = tuple(PlannedPerk(rule, perk, int(seconds)) for rule, perk, seconds in promotion.get("perks", ()))
    return bonuses, perks


def what_is_bought(current: CompiledPricebook, package_or_amount: object) -> tuple[PackageRule | None, int]:
    """A package code's package and credits, or a number of pay-as-you-go credits (at least the
    pricebook's minimum top-up, at most what one operation may move)."""
    if isinstance(package_or_amount, str):
        code = package_or_amount.strip().upper()
        package = next((p for p in current.packages if p.package_code == code), None)
        if package is None:
            known = ", ".join(p.package_code for p in current.packages) or "none"
            raise UnknownPackage(f"{current.label} sells no package {code!r} (packages: {known})")
        credits = package.total_credits
        if credits != credits.to_integral_value():
            raise InvalidAmount(f"package {code} is worth a fractional number of credits ({credits})")
        return package, int(credits)
    if isinstance(package_or_amount, bool) or not isinstance(package_or_amount, int):
        raise InvalidAmount(f"buy a package code or a whole number of credits, not {package_or_amount!r:.60}")
    if package_or_amount < current.meta.topup_min_credits:
        raise InvalidAmount(
            f"the smallest top-up is {current.format_credits(current.meta.topup_min_credits)}; "
            f"asked for {package_or_amount:,}"
        )
    if package_or_amount > OPERATION_CREDITS_MAX:
        raise InvalidAmount(
            f"one top-up buys at most {OPERATION_CREDITS_MAX:,} credits; asked for {package_or_amount:,}"
        )
    return None, package_or_amount


@dataclass(frozen=True)
class Uses:
    """How often each promotion was given, to this clinic and to everyone (rule_id → count)."""

    clinic: dict[str, int]
    total: dict[str, int]

    @classmethod
    def read(cls, conn: Connection, pricebook_id: str, clinic_id: str) -> Uses:
        return cls(promotions.uses(conn, pricebook_id, clinic_id), promotions.uses(conn, pricebook_id))


def plan(
    current: CompiledPricebook,
    clinic_id: str,
    package_or_amount: object,
    promo_code: str | None,
    at: datetime,
    uses: Uses,
    *,
    round_up: bool,
) -> TopUpPlan:
    """The terms of a top-up (see the module docstring): what is paid (`paid_terms`), and what the
    pricebook's promotions add to it."""
    code = normalise_code(promo_code)
    paid = paid_terms(current, package_or_amount, code, round_up=round_up)
    decision = PolicyEngine.of(current).topup(
        TopUpFacts(
            clinic_id=clinic_id,
            paid_credits=paid.credits,
            at=at,
            promo_code=code,
            clinic_uses=uses.clinic,
            total_uses=uses.total,
        )
    )
    refusal, reason = _refusal(current, decision, code, at)
    return replace(
        paid,
        bonuses=tuple(
            PlannedBonus(b.rule_id, b.credits, _seconds(b.expires_at, at)) for b in decision.bonuses if b.credits
        ),
        perks=tuple(PlannedPerk(p.rule_id, p.perk, _seconds(p.until, at) or 0) for p in decision.perks),
        refusal=refusal,
        reason=reason,
        notes=decision.notes,
        code_applied=decision.code_status == "applied",
    )


def paid_terms(current: CompiledPricebook, package_or_amount: object, code: str | None, *, round_up: bool) -> TopUpPlan:
    """What a top-up pays, before any promotion: the package or the credits (with `round_up`, an
    amount that is not a whole sum of money is rounded up to the next one), its money and minor
    units. An auto top-up is priced by this alone: the pricebook has no way yet to say that a
    promotion applies to one."""
    package, credits = what_is_bought(current, package_or_amount)
    meta = current.meta
    below, above = payable_credits(credits, meta.money_per_credit, meta.currency)
    rounded_from = None
    if credits != above:
        if package is not None or not round_up:
            raise InvalidAmount(
                f"{current.format_credits(credits)} is not a whole amount of {meta.currency} to pay: "
                f"buy {below:,} or {above:,} credits ({current.format_credits(above)})"
            )
        rounded_from, credits = credits, above
    amount = credits * meta.money_per_credit
    if amount > MONEY_MAX:
        raise InvalidAmount(f"one payment carries at most {MONEY_MAX:,} {meta.currency}; this one is {amount:,}")
    minor = to_minor(amount, meta.currency)
    assert minor is not None  # payable_credits made it so
    return TopUpPlan(current, package, credits, rounded_from, amount, minor, code)


def _seconds(until: datetime | None, at: datetime) -> int | None:
    return None if until is None else int((until - at) / timedelta(seconds=1))


def _refusal(
    current: CompiledPricebook, decision: TopUpDecision, code: str | None, at: datetime
) -> tuple[PromoRefusal | None, str | None]:
    """Why a typed code gives nothing, or (None, None) when it applies (or lost to a better
    promotion that is given instead: the clinic receives at least what the code would give)."""
    if code is None or decision.code_status == "applied":
        return None, None
    if decision.code_status == "unknown":
        return PromoRefusal.UNKNOWN, f"promo code {code} is not known"
    rows = [p for p in current.topup_promos if p.promo_code and p.promo_code.upper() == code]
    ours = {p.rule_id for p in rows}
    zone = ZoneInfo(current.meta.timezone)
    for note, words in zip(decision.reasons, decision.notes, strict=True):
        if note.kind == "not_combined" and note.subject in ours:
            return None, None
        if note.kind == "clinic_limit" and note.subject in ours:
            return PromoRefusal.USED_UP, f"promo code {code} was already used by this clinic ({note.value} per clinic)"
        if note.kind == "total_limit" and note.subject in ours:
            return PromoRefusal.USED_UP, f"promo code {code} is used up: all {note.value} have been given"
        if note.kind == "code_not_valid_now":
            starts = min(p.valid_from for p in rows)
            if at < starts:
                when = starts.astimezone(zone)
                return PromoRefusal.NOT_YET_VALID, f"promo code {code} is valid from {when:%Y-%m-%d} ({zone.key})"
            ended = max((p.valid_to for p in rows if p.valid_to is not None), default=starts)
            last_day = (ended.astimezone(zone) - timedelta(microseconds=1)).date()
            return PromoRefusal.EXPIRED, f"promo code {code} expired after {last_day:%Y-%m-%d} ({zone.key})"
        if note.kind in ("code_minimum", "code_not_for_amount"):
            return PromoRefusal.NOT_APPLICABLE, words
    return PromoRefusal.NOT_APPLICABLE, f"promo code {code} does not apply to this top-up"


def quote_topup(
    ctx: Context,
    clinic_id: str,
    package_or_amount: object,
    promo_code: str | None,
    payment_method: str | None,
    at: datetime,
) -> TopUpQuote:
    """The preview: what a top-up costs and earns, before any money moves (module docstring). The
    payment method, when given, is only checked (by the facade): the provider is the currency's."""

    def read(conn: Connection) -> TopUpPlan:
        found = clinic_state.load(conn, clinic_id, at)
        current = clinic_state.current(ctx.catalog, conn, found, at)
        return plan(
            current,
            clinic_id,
            package_or_amount,
            promo_code,
            at,
            Uses.read(conn, current.pricebook_id, clinic_id),
            round_up=True,
        )

    terms = ctx.db.read(read)
    return quote_of(terms, clinic_id, ctx.gateway.for_currency(terms.currency).provider)


def quote_of(terms: TopUpPlan, clinic_id: str, provider: str) -> TopUpQuote:
    book = terms.pricebook
    meta = book.meta
    pay = format_money(terms.amount, meta.currency, meta.money_per_credit)
    message = f"pay {pay} for {book.format_credits(terms.credits)}"
    if terms.bonus_credits:
        message += f" and a bonus of {book.format_credits(terms.bonus_credits)}"
    if terms.rounded_up_from is not None:
        message += (
            f"; {terms.rounded_up_from:,} credits are not a whole amount of {meta.currency}, "
            f"so they were rounded up to {terms.credits:,}"
        )
    if terms.reason:
        message += f"; {terms.reason}"
    return TopUpQuote(
        clinic_id=clinic_id,
        currency=meta.currency,
        money_per_credit=meta.money_per_credit,
        package_code=terms.package.package_code if terms.package else None,
        paid_credits=terms.credits,
        rounded_up_from=terms.rounded_up_from,
        amount=terms.amount,
        amount_minor=terms.amount_minor,
        bonus_credits=terms.bonus_credits,
        bonus_rule_ids=tuple(b.rule_id for b in terms.bonuses),
        perks=tuple(p.perk for p in terms.perks),
        promo_code=terms.promo_code,
        promo_applies=terms.code_applied,
        promo_refusal=terms.refusal.value if terms.refusal else None,
        promo_reason=terms.reason,
        provider=provider,
        notes=terms.notes,
        message=message,
    )
