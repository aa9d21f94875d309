"""Quote: exactly how many credits a request costs a clinic, and why.

    quote(pricebook, request, context) -> Quote

The pricebook is one compiled version or a list of versions of one pricebook (the context's date
picks the version in force). A Quote carries the credits (exact and rounded once), their money
value, the rule_ids that priced them, the pricebook's id, version and semantic hash, warnings and —
given a balance — how many more SMS segments and voice minutes the balance still buys at the
clinic's own rates. Its `lines` (each tier slice with its rule_id, units and unit price) and its
`summary` are built from the same priced objects the first time they are read: the backend
charging thousands of leads a second reads credits and rule_ids, a person reads `explain()`
("lead · call · dermatology · Mumbai · package ₹15,000 → rule LP-03 → 250 credits (₹250)").

No quote moves more than OPERATION_CREDITS_MAX credits, nor counts more than UNITS_MAX units: a
campaign whose recipients × segments (or minutes) pass UNITS_MAX, or a request whose exact credits
pass OPERATION_CREDITS_MAX, is a QuoteError naming the request's count field, raised before the
result is rounded (the requests' own bounds keep every step before it exact and finite).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, computed_field

from engine.bounds import OPERATION_CREDITS_MAX, UNITS_MAX
from engine.money import decimal_text, format_credits, format_money, round_credits
from engine.pricebook.model import CompiledPricebook
from engine.pricing.indexes import NO_DISCOUNT, PAYG, Discount, PricingTables, plan_table, tables_for
from engine.pricing.leads import LeadRule
from engine.pricing.requests import (
    LeadRequest,
    QuoteContext,
    QuoteError,
    Request,
    SmsCampaign,
    Usage,
    VoiceCampaign,
    as_context,
    as_request,
)
from engine.pricing.tiers import TierTable
from engine.pricing.units import sms_units, voice_units
from engine.vocabulary import LEAD_CHANNEL_OF_PRODUCT, PRODUCT_UNITS, PricingMode

NUMBER_TYPES = {"sms": ("long_code", "toll_free", "short_code"), "voice": ("local", "toll_free")}


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class QuoteSlice(_Out):
    """The part of a line one rule prices."""

    rule_id: str
    units: Decimal
    unit_price: Decimal  # after any bundle discount
    flat_fee: Decimal = Decimal(0)
    credits: Decimal  # exact


class QuoteLine(_Out):
    product: str
    unit: str
    units: int
    used_before: int = 0
    plan: str = PAYG
    detail: str = ""
    slices: tuple[QuoteSlice, ...] = ()
    discount_pct: Decimal = Decimal(0)
    rule_ids: tuple[str, ...] = ()
    exact_credits: Decimal
    credits: int


class Remaining(_Out):
    """What the balance left after this quote still buys, at the clinic's rates."""

    balance_after: int
    sms_segments: int | None = None  # None: unlimited (a free open tier) or not sold
    voice_minutes: int | None = None


@dataclass(slots=True)
class Priced:
    """One priced line, cheap to make; its QuoteLine is built only when someone reads it. Equal when
    every field is; unhashable (a dataclass with eq and not frozen)."""

    product: str
    units: int
    used_before: int
    plan: str
    detail: str | LeadRequest
    table: TierTable | None
    lead: LeadRule | None
    discount: Discount
    exact: Decimal
    credits: int
    rule_ids: tuple[str, ...]

    def line(self) -> QuoteLine:
        slices: tuple[QuoteSlice, ...]
        if self.lead is not None:
            slices = (
                QuoteSlice(
                    rule_id=self.lead.rule_id,
                    units=Decimal(self.units),
                    unit_price=self.lead.credits,
                    credits=self.exact,
                ),
            )
        else:
            assert self.table is not None
            slices = tuple(
                QuoteSlice(
                    rule_id=s.rule_id, units=s.units, unit_price=s.unit_price, flat_fee=s.flat_fee, credits=s.credits
                )
                for s in self.table.slices(self.used_before, self.units)
            )
        detail = self.detail if isinstance(self.detail, str) else ""
        return QuoteLine(
            product=self.product,
            unit=PRODUCT_UNITS[self.product],
            units=self.units,
            used_before=self.used_before,
            plan=self.plan,
            detail=detail,
            slices=slices,
            discount_pct=self.discount.pct,
            rule_ids=self.rule_ids,
            exact_credits=self.exact,
            credits=self.credits,
        )


class Quote(_Out):
    pricebook_id: str
    version: int
    semantic_hash: str
    currency: str
    money_per_credit: Decimal
    at: datetime
    product: str
    exact_credits: Decimal
    credits: int
    rule_ids: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    remaining: Remaining | None = None
    # How the credits were reached; the lines are built from it when read. A field rather than a
    # private attribute because pydantic makes private attributes cost more than the rest of a quote.
    priced: Any = Field(default=None, exclude=True, repr=False)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy refuses decorators over @property
    @property
    def money(self) -> Decimal:
        return self.credits * self.money_per_credit

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy refuses decorators over @property
    @property
    def units(self) -> int:
        return 0 if self.priced is None else self.priced.units

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy refuses decorators over @property
    @property
    def plan(self) -> str:
        return PAYG if self.priced is None else self.priced.plan

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy refuses decorators over @property
    @cached_property
    def lines(self) -> tuple[QuoteLine, ...]:
        """One line per product, with the slices that priced it."""
        return () if self.priced is None else (self.priced.line(),)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy refuses decorators over @property
    @cached_property
    def summary(self) -> str:
        """What was priced, in a phrase: 'sms · 600 segments after 400 used this term · PAYG'."""
        priced = self.priced
        if priced is None:
            return self.product
        if priced.lead is not None:
            request = priced.detail
            assert isinstance(request, LeadRequest)
            return f"{lead_phrase(request, self.currency, self.money_per_credit)} → rule {priced.lead.rule_id}"
        used = f" after {priced.used_before:,} used this term" if priced.used_before else ""
        return f"{self.product} · {priced.detail}{used} · {priced.plan}"

    def format(self, credits: int | Decimal | None = None) -> str:
        return format_credits(self.credits if credits is None else credits, self.money_per_credit, self.currency)

    def explain(self) -> str:
        """The trace: what was priced, by which rules, to how many credits."""
        out = [
            f"{self.summary} → {self.format()}",
            f"  pricebook {self.pricebook_id} v{self.version} ({self.semantic_hash[:12]})",
        ]
        for line in self.lines:
            for piece in line.slices:
                fee = f" + flat {decimal_text(piece.flat_fee)}" if piece.flat_fee else ""
                out.append(
                    f"  {piece.rule_id}: {decimal_text(piece.units, grouping=True)} × "
                    f"{decimal_text(piece.unit_price)} credits{fee} = "
                    f"{decimal_text(piece.credits, grouping=True)}"
                )
            if line.discount_pct:
                priced = {piece.rule_id for piece in line.slices}
                bundles = ", ".join(r for r in line.rule_ids if r not in priced)
                out.append(f"  {bundles}: {decimal_text(line.discount_pct * 100)}% off, included in the unit prices")
            if line.exact_credits != line.credits:
                out.append(f"  exact {decimal_text(line.exact_credits)} → rounded once to {line.credits:,}")
        if self.remaining is not None:
            left = [f"balance after: {self.format(self.remaining.balance_after)}"]
            if self.remaining.sms_segments is not None:
                left.append(f"{self.remaining.sms_segments:,} more SMS segments")
            if self.remaining.voice_minutes is not None:
                left.append(f"{self.remaining.voice_minutes:,} more voice minutes")
            out.append("  " + "; ".join(left))
        out.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# The stored quote
# ------------------------------------------------------------------------------------------------

_AT_JSON = TypeAdapter(datetime)
_STORED_MAX = 4_096
#: the JSON of quotes priced alike, by everything but their time: (the objects the key names by
#: identity, kept alive so no other takes their id; the JSON before and after the time)
_stored: dict[tuple[Any, ...], tuple[Any, Any, str, str]] = {}
_stored_lock = threading.Lock()


def stored_json(priced: Quote) -> str:
    """`priced.model_dump_json()` — the quote a charge stores with its transaction — built once per
    quote shape: quotes priced alike (same version, request, rules, credits) differ only in their
    time, which is put into the JSON of the first. A lead quote for the same product and price
    range of one pricebook version is one shape, however many clinics are charged it."""
    key = _shape(priced)
    if key is None:
        return priced.model_dump_json()
    at = _AT_JSON.dump_json(priced.at).decode()
    try:
        found = _stored.get(key)
    except TypeError:  # a detail with a part that cannot be a key
        return priced.model_dump_json()
    if found is not None:
        return found[2] + at + found[3]
    whole = priced.model_dump_json()
    head, marker, tail = whole.partition(f'"at":{at}')
    if not marker or f'"at":{at}' in tail:  # the time must be found exactly once
        return whole
    with _stored_lock:
        if len(_stored) >= _STORED_MAX:
            _stored.clear()
        _stored[key] = (priced.priced.table, priced.priced.lead, head + '"at":', tail)
    return whole


def _shape(priced: Quote) -> tuple[Any, ...] | None:
    """What a quote's JSON is made of, but its time; None for a quote not cached (one with a
    balance estimate, or none priced). Decimals by their text: equal numbers may be written apart."""
    line = priced.priced
    if line is None or priced.remaining is not None:
        return None
    detail: Any = line.detail
    if not isinstance(detail, str):  # a LeadRequest: its fields, a Decimal by its text
        detail = (type(detail), *[("D", str(v)) if type(v) is Decimal else v for v in detail.__dict__.values()])
    return (
        priced.pricebook_id,
        priced.version,
        priced.semantic_hash,
        priced.currency,
        str(priced.money_per_credit),
        priced.product,
        str(priced.exact_credits),
        priced.credits,
        priced.rule_ids,
        priced.warnings,
        line.product,
        line.units,
        line.used_before,
        line.plan,
        detail,
        id(line.table),  # compiled pricebook objects: the entry keeps them (its id stays theirs)
        id(line.lead),
        str(line.discount.pct),
        str(line.exact),
        line.credits,
        line.rule_ids,
    )


# ------------------------------------------------------------------------------------------------
# Version selection
# ------------------------------------------------------------------------------------------------


def select_version(pricebooks: CompiledPricebook | Iterable[CompiledPricebook], at: datetime) -> CompiledPricebook:
    """The version in force at `at`: the latest whose effective_from is not after it."""
    if isinstance(pricebooks, CompiledPricebook):
        if pricebooks.meta.effective_from <= at:
            return pricebooks
        candidates = [pricebooks]
    else:
        candidates = sorted(pricebooks, key=lambda p: p.meta.effective_from)
    if not candidates:
        raise QuoteError("pricebook", "no pricebook given")
    if len({p.pricebook_id for p in candidates}) > 1:
        raise QuoteError("pricebook", "the versions given belong to different pricebooks")
    eligible = [p for p in candidates if p.meta.effective_from <= at]
    if not eligible:
        first = candidates[0]
        raise QuoteError(
            "at",
            f"{first.label} takes effect {first.effective_from_local():%Y-%m-%d %H:%M %Z}; "
            f"no version prices {at.isoformat()}",
        )
    return eligible[-1]


# ------------------------------------------------------------------------------------------------
# Pricing
# ------------------------------------------------------------------------------------------------


def _check_plans(tables: PricingTables, context: QuoteContext) -> None:
    for code in context.plans:
        if code != PAYG and code not in tables.packages:
            known = ", ".join(sorted(tables.packages)) or "none"
            raise QuoteError("plan", f"unknown package code {code!r}; this pricebook sells: PAYG, {known}")


def price_units(
    tables: PricingTables,
    product: str,
    units: int,
    context: QuoteContext,
    request: SmsCampaign | VoiceCampaign | Usage,
    detail: str = "",
) -> tuple[Priced, list[str]]:
    """`units` of `product` for this clinic (plan, bundle, term usage) under the request's number
    type, direction and time window: the single place where SMS and voice usage becomes credits, for
    quotes, charges, the Tests sheet and the simulator's checks."""
    warnings: list[str] = []
    number_type = request.number_type
    chosen = plan_table(
        tables, product, context.plans, context.bundle, number_type, request.direction, request.time_window
    )
    if chosen is None:
        raise QuoteError("number_type", f"no tier table of {product} applies to {number_type or 'this request'}")
    table, plan, discount = chosen.table, chosen.plan, chosen.discount
    used_before = context.used(product) if chosen.accumulates else 0
    exact, credits = table.exact_and_charge(used_before, units, tables.rounding)
    touched = table.touched(used_before, units)
    if len(touched) > 1 and table.mode == PricingMode.GRADUATED:
        crossings = " → ".join(f"{t.rule_id} ({decimal_text(t.unit_price)})" for t in touched)
        warnings.append(f"crosses a tier boundary: {crossings}")
    rule_ids = tuple(t.rule_id for t in touched) + discount.rule_ids
    return Priced(product, units, used_before, plan, detail, table, None, discount, exact, credits, rule_ids), warnings


def _units_affordable(tables: PricingTables, product: str, context: QuoteContext, used: int, budget: int) -> int | None:
    chosen = plan_table(tables, product, context.plans, context.bundle, None, "outbound", None)
    if chosen is None:
        return 0
    try:
        return chosen.table.units_affordable(used if chosen.accumulates else 0, budget, tables.rounding)
    except ValueError:  # the open tier is free: the balance buys without limit
        return None


def _remaining(tables: PricingTables, context: QuoteContext, product: str, units: int, credits: int) -> Remaining:
    balance_after = (context.balance or 0) - credits
    counts: dict[str, int | None] = {"sms": None, "voice": None}
    for name in counts:
        if name in tables.products and tables.tier_groups.get(name):
            used = context.used(name) + (units if name == product else 0)
            counts[name] = _units_affordable(tables, name, context, used, balance_after)
    return Remaining(balance_after=balance_after, sms_segments=counts["sms"], voice_minutes=counts["voice"])


@functools.lru_cache(maxsize=4096)
def _money(amount: Decimal, currency: str, money_per_credit: Decimal) -> str:
    return format_money(amount, currency, money_per_credit)


def price_lead(tables: PricingTables, request: LeadRequest, warnings: list[str]) -> Priced:
    """Leads of one channel, specialty, city and package price: the most specific LeadPrices row."""
    channel = LEAD_CHANNEL_OF_PRODUCT[request.product]
    if request.city is not None and tables.cities and request.city not in tables.cities:
        warnings.append(f"city {request.city!r} is not on the pricebook's list; priced by rows for any city")
    if request.specialty is not None and tables.specialties and request.specialty not in tables.specialties:
        warnings.append(
            f"specialty {request.specialty!r} is not on the pricebook's list; priced by rows for any specialty"
        )
    if request.package_price is None:
        warnings.append("no treatment package price: only rows without a price range apply")
    rule = tables.leads.lookup(channel, request.specialty, request.city, request.package_price)
    meta = tables.pricebook.meta
    if rule is None:
        raise QuoteError(
            "package_price",
            f"no lead price matches {lead_phrase(request, meta.currency, meta.money_per_credit)}"
            " (add a default row to LeadPrices)",
        )
    exact = rule.credits * request.quantity
    credits = int(exact) if rule.integral else round_credits(exact, tables.rounding)
    return Priced(
        request.product, request.quantity, 0, PAYG, request, None, rule, NO_DISCOUNT, exact, credits, (rule.rule_id,)
    )


def lead_phrase(request: LeadRequest, currency: str, money_per_credit: Decimal) -> str:
    """'lead · call · dermatology · Mumbai · package ₹15,000 × 21' (built only when someone reads it)."""
    channel = LEAD_CHANNEL_OF_PRODUCT[request.product]
    price_text = (
        "no package price"
        if request.package_price is None
        else "package " + _money(request.package_price, currency, money_per_credit)
    )
    what = " · ".join(part for part in ("lead", channel, request.specialty, request.city, price_text) if part)
    return what + (f" × {request.quantity}" if request.quantity != 1 else "")


def count_field(request: Request) -> str:
    """The field of a request that says how much is asked for (what a bound error names)."""
    if isinstance(request, Usage):
        return "units"
    if isinstance(request, LeadRequest):
        return "quantity"
    if isinstance(request, SmsCampaign):
        return "bodies" if request.bodies is not None else "recipient_fields" if request.template else "recipients"
    return "calls" if request.calls is not None else "recipients"


def _within_units(request: Request, units: int, unit: str) -> None:
    if units > UNITS_MAX:
        raise QuoteError(count_field(request), f"counts {units:,} {unit}s; one request may count at most {UNITS_MAX:,}")


def _within_credits(request: Request, priced: Priced, pricebook: CompiledPricebook) -> None:
    if priced.exact > OPERATION_CREDITS_MAX:
        shown = decimal_text(priced.exact, grouping=True) if priced.exact < 10**21 else f"{priced.exact:.3E}"
        raise QuoteError(
            count_field(request),
            f"would cost {shown} credits; one operation may move at most "
            f"{pricebook.format_credits(OPERATION_CREDITS_MAX)}: split the request",
        )


def quote(
    pricebook: CompiledPricebook | Sequence[CompiledPricebook],
    request: Request | Mapping[str, Any],
    context: QuoteContext | Mapping[str, Any],
) -> Quote:
    """Price one request for one clinic at one moment (see the module docstring)."""
    ctx = as_context(context)
    req = as_request(request)
    chosen = select_version(pricebook, ctx.at)
    tables = tables_for(chosen)
    product = req.product
    if product not in tables.products:
        raise QuoteError(
            "product", f"{chosen.label} does not sell {product} (it sells {', '.join(tables.products) or 'nothing'})"
        )
    if ctx.plans != (PAYG,):
        _check_plans(tables, ctx)
    warnings: list[str] = []
    if isinstance(req, LeadRequest):
        priced = price_lead(tables, req, warnings)
    else:
        number_type = req.number_type
        if number_type is not None and number_type not in NUMBER_TYPES[product]:
            raise QuoteError(
                "number_type",
                f"{number_type!r} is not a {product} number type; expected one of {', '.join(NUMBER_TYPES[product])}",
            )
        if isinstance(req, SmsCampaign):
            units, detail = sms_units(req, tables, warnings)
        elif isinstance(req, VoiceCampaign):
            units, detail = voice_units(req, tables, warnings)
        else:
            assert isinstance(req, Usage)
            units, detail = req.units, f"{req.units:,} {PRODUCT_UNITS[product]}s"
            if units == 0:
                warnings.append("0 units: nothing to charge")
        _within_units(req, units, PRODUCT_UNITS[product])
        priced, tier_warnings = price_units(tables, product, units, ctx, req, detail)
        warnings.extend(tier_warnings)
    _within_credits(req, priced, chosen)
    meta = chosen.meta
    remaining = _remaining(tables, ctx, product, priced.units, priced.credits) if ctx.balance is not None else None
    return Quote(
        pricebook_id=chosen.pricebook_id,
        version=chosen.version,
        semantic_hash=chosen.semantic_hash,
        currency=meta.currency,
        money_per_credit=meta.money_per_credit,
        at=ctx.at,
        product=product,
        exact_credits=priced.exact,
        credits=priced.credits,
        rule_ids=priced.rule_ids,
        warnings=tuple(warnings),
        remaining=remaining,
        priced=priced,
    )


__all__ = [
    "Priced",
    "Quote",
    "QuoteLine",
    "QuoteSlice",
    "Remaining",
    "price_lead",
    "price_units",
    "quote",
    "select_version",
    "stored_json",
]
