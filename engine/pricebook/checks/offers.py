"""Packages, Bundles and TopUpPromos: what a clinic can buy and what it gets on top."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterator
from datetime import datetime, time, timedelta
from decimal import Decimal

from engine.money import decimal_text
from engine.pricebook.checks.context import CheckContext, valid
from engine.pricebook.checks.tiers import TIER_PRICING, plural
from engine.pricebook.excel_tables import Row
from engine.vocabulary import PRODUCT_UNITS, Beneficiary, PromoType


def window_end(valid_to: datetime | None) -> datetime | None:
    """valid_to is the last day of an offer, inclusive: a date (midnight) ends at the next midnight;
    a date with a time of day ends at that moment."""
    if valid_to is None:
        return None
    if valid_to.time() == time(0, 0):
        return valid_to + timedelta(days=1)
    return valid_to


def last_day(end: datetime | None) -> datetime | None:
    """The inverse of window_end: an offer's end instant as the workbook states it, its last day
    inclusive (the midnight that ends an offer belongs to the day after its last day)."""
    if end is None or end.time() != time(0, 0):
        return end
    return end - timedelta(days=1)


def check_packages(ctx: CheckContext) -> None:
    products = ctx.product_rows()
    first_tier: dict[str, tuple[int, Decimal]] = {}  # product → (up_to, price) of its lowest tier
    for row in ctx.sheet("UsageTiers"):
        product, price, up_to = row.get("product"), row.get("unit_price_credits"), row.get("up_to")
        if (
            valid(product)
            and valid(price)
            and valid(up_to)
            and (product not in first_tier or up_to < first_tier[product][0])
        ):
            first_tier[product] = (up_to, price)
    for row in ctx.sheet("Packages"):
        product = row.get("product")
        if not valid(product):
            continue
        if product not in products:
            ctx.error(
                "X01",
                row,
                "product",
                f"The package covers {product}, which is not on the Products sheet.",
                f"Add {product} to Products or pick another product.",
            )
        elif products[product].get("pricing") not in TIER_PRICING:
            ctx.error(
                "X01",
                row,
                "product",
                f"{product} is priced by the lead table; packages are for SMS and voice.",
                "Pick sms or voice.",
            )
        units, price, stated = row.get("included_units"), row.get("unit_price_credits"), row.get("stated_total_credits")
        if valid(units) and valid(price):
            total = units * price
            if valid(stated) and stated != total:
                unit = plural(PRODUCT_UNITS.get(product, "unit"), units)
                ctx.error(
                    "T11",
                    row,
                    "stated_total_credits",
                    f"The stated package total "
                    f"{ctx.count(stated)} credits does not match "
                    f"{ctx.count(units)} {unit} × {decimal_text(price)} credits = "
                    f"{ctx.credits(total)}.",
                    "One of included_units, the rate and this total is mistyped: correct that one.",
                )
            payg = first_tier.get(product, (0, None))[1]
            if payg is not None and price > payg:
                ctx.warn(
                    "T07",
                    row,
                    "unit_price_credits",
                    f"The package rate {ctx.credits(price)} per "
                    f"{PRODUCT_UNITS.get(product, 'unit')} is above the pay-as-you-go price "
                    f"{ctx.credits(payg)}: no clinic gains by buying it.",
                    "Check the package rate.",
                )


def check_bundles(ctx: CheckContext) -> None:
    products = ctx.product_rows()
    stacked: dict[str, list[tuple[Row, Decimal]]] = defaultdict(list)
    for row in ctx.sheet("Bundles"):
        components = row.get("components")
        if valid(components):
            _check_components(ctx, row, components, products)
        pct = row.get("discount_pct")
        if valid(pct):
            _check_bundle_discount(ctx, row, pct)
            if valid(components):
                for component in set(components):
                    stacked[component].append((row, pct))
    for component, discounts in stacked.items():
        stackable = [(r, p) for r, p in discounts if r.get("stackable")]
        total = sum((p for _, p in stackable), Decimal(0))
        if len(stackable) > 1 and total >= 1:
            row = stackable[-1][0]
            ctx.error(
                "T12",
                row,
                "discount_pct",
                f"Stackable bundle discounts on {component} add up to "
                f"{total:%}: the product would be free or paid for.",
                "Lower the discounts or make them non-stackable (the best single one then applies).",
            )


def _check_components(ctx: CheckContext, row: Row, components: list[str], products: Container[str]) -> None:
    """A bundle lists at least two different products, each once and each on the Products sheet."""
    seen: set[str] = set()
    for component in components:
        if component in seen:
            ctx.error(
                "X02",
                row,
                "components",
                f"{component} is listed twice in the bundle.",
                "List each product once.",
            )
        seen.add(component)
        if component not in products:
            ctx.error(
                "X01",
                row,
                "components",
                f"The bundle includes {component}, which is not on the Products sheet.",
                f"Add {component} to Products or remove it from the bundle.",
            )
    if len(seen) < 2:
        ctx.error(
            "X01",
            row,
            "components",
            "A bundle needs at least two different products.",
            "List the products a clinic must hold together, e.g. sms, voice.",
        )


def _check_bundle_discount(ctx: CheckContext, row: Row, pct: Decimal) -> None:
    """A bundle's discount is below 100% (and, to be worth a row, above 0)."""
    if pct >= 1:
        ctx.error(
            "T12",
            row,
            "discount_pct",
            f"A discount of {pct:%} makes the products free.",
            "Type a discount below 100%.",
        )
    elif pct == 0:
        ctx.warn("C04", row, "discount_pct", "The bundle gives no discount.", "Type the discount, e.g. 10%.")


def stated_promo_total(row: Row) -> Decimal | None:
    """What a promotion's stated total should say: paid_from plus its bonus (None when unknown)."""
    paid = row.get("paid_from")
    promo_type = row.get("promo_type")
    if not valid(paid):
        return None
    if promo_type in (PromoType.FIXED_BONUS, PromoType.REFERRAL) and valid(row.get("bonus_credits")):
        return Decimal(paid + row.get("bonus_credits"))
    if promo_type == PromoType.PCT_BONUS and valid(row.get("bonus_pct")):
        bonus = paid * row.get("bonus_pct")
        cap = row.get("bonus_cap_credits")
        if valid(cap):
            bonus = min(bonus, Decimal(cap))
        return paid + bonus
    return None


def check_promos(ctx: CheckContext) -> None:
    rows = ctx.sheet("TopUpPromos")
    for row in rows:
        promo_type = row.get("promo_type")
        _check_bonus_fields(ctx, row, promo_type)
        _check_beneficiary(ctx, row, promo_type)
        _check_perk(ctx, row)
        _check_paid_range(ctx, row)
        _check_window(ctx, row, promo_type)
        _check_limits_and_total(ctx, row)
    _check_promo_overlaps(ctx, rows)


def _check_bonus_fields(ctx: CheckContext, row: Row, promo_type: object) -> None:
    """The bonus field a promotion's type needs is there, and the other one is not."""
    if promo_type in (PromoType.FIXED_BONUS, PromoType.REFERRAL):
        if row.ok("bonus_credits") and not valid(row.get("bonus_credits")):
            ctx.error(
                "C01",
                row,
                "bonus_credits",
                f"A {promo_type} promotion needs bonus_credits.",
                "Type the number of bonus credits.",
            )
        if valid(row.get("bonus_pct")):
            ctx.warn(
                "X01",
                row,
                "bonus_pct",
                f"bonus_pct is ignored for a {promo_type} promotion.",
                "Clear it, or change promo_type to pct_bonus.",
            )
    if promo_type == PromoType.PCT_BONUS:
        if row.ok("bonus_pct") and not valid(row.get("bonus_pct")):
            ctx.error(
                "C01",
                row,
                "bonus_pct",
                "A pct_bonus promotion needs bonus_pct.",
                "Type the bonus percentage, e.g. 20%.",
            )
        if valid(row.get("bonus_credits")):
            ctx.warn(
                "X01",
                row,
                "bonus_credits",
                "bonus_credits is ignored for a pct_bonus promotion; bonus_cap_credits caps it.",
                "Clear it.",
            )


def _check_beneficiary(ctx: CheckContext, row: Row, promo_type: object) -> None:
    """A referral rewards the referrer too; a top-up promotion has no referrer to reward."""
    beneficiary = row.get("beneficiary")
    if promo_type == PromoType.REFERRAL and beneficiary == Beneficiary.PAYER:
        ctx.warn(
            "P03",
            row,
            "beneficiary",
            "Only the referred clinic gets this referral bonus; the clinic that referred it gets nothing.",
            "Pick both (or referrer) if the referrer should be rewarded too.",
        )
    if promo_type in (PromoType.FIXED_BONUS, PromoType.PCT_BONUS) and beneficiary in (
        Beneficiary.REFERRER,
        Beneficiary.BOTH,
    ):
        ctx.error(
            "P03",
            row,
            "beneficiary",
            "A top-up promotion has no referrer to reward.",
            "Pick payer, or change promo_type to referral.",
        )


def _check_perk(ctx: CheckContext, row: Row) -> None:
    """A perk and its duration come together."""
    if valid(row.get("perk")) and not valid(row.get("perk_days")) and row.ok("perk_days"):
        ctx.error(
            "C01", row, "perk_days", f"The perk {row.get('perk')} needs a duration.", "Type how many days it lasts."
        )
    if valid(row.get("perk_days")) and not valid(row.get("perk")):
        ctx.warn("X01", row, "perk_days", "perk_days is set but there is no perk.", "Pick a perk or clear it.")


def _check_window(ctx: CheckContext, row: Row, promo_type: object) -> None:
    """The offer's dates: it ends after it starts, and is not over before the version takes effect."""
    effective = ctx.effective_from
    start, end = row.get("valid_from"), window_end(row.get("valid_to")) if valid(row.get("valid_to")) else None
    if valid(start) and end is not None and end <= start:
        ctx.error(
            "D01",
            row,
            "valid_to",
            f"The offer ends ({row.get('valid_to'):%Y-%m-%d}) before it starts ({start:%Y-%m-%d}).",
            "valid_to is the last day of the offer; it must not be before valid_from.",
        )
    elif isinstance(effective, datetime) and end is not None and end <= effective:
        ctx.warn(
            "D02",
            row,
            "valid_to",
            f"The offer is already over when this version takes effect ({effective:%Y-%m-%d}).",
            "Delete the row or move its dates.",
        )
    elif valid(start) and end is None and promo_type != PromoType.REFERRAL and row.ok("valid_to"):
        ctx.info("D02", row, "valid_to", "The offer never ends.", "Type a last day if it is a limited offer.")


def _check_paid_range(ctx: CheckContext, row: Row) -> None:
    """Some top-up qualifies: the paid range is not empty."""
    paid_from, paid_to = row.get("paid_from"), row.get("paid_to")
    if valid(paid_from) and valid(paid_to) and paid_to <= paid_from:
        ctx.error(
            "T06",
            row,
            "paid_to",
            f"No top-up qualifies: paid_to ({ctx.count(paid_to)}) must be above paid_from ({ctx.count(paid_from)}).",
            "Raise paid_to (it is exclusive) or clear it for no upper limit.",
        )


def _check_limits_and_total(ctx: CheckContext, row: Row) -> None:
    """The per-clinic limit fits in the total one, and the stated total adds up."""
    max_clinic, max_total = row.get("max_per_clinic"), row.get("max_total")
    if valid(max_clinic) and valid(max_total) and max_clinic > max_total:
        ctx.error(
            "P02",
            row,
            "max_per_clinic",
            f"One clinic may receive it {max_clinic} times but only {max_total} may be given in total.",
            "Lower max_per_clinic or raise max_total.",
        )
    stated = row.get("stated_total_credits")
    expected = stated_promo_total(row)
    if valid(stated) and expected is not None and stated != expected:
        ctx.error(
            "T11",
            row,
            "stated_total_credits",
            f"The stated total {ctx.count(stated)} "
            f"credits does not match paid {ctx.count(row.get('paid_from'))} + bonus = "
            f"{ctx.credits(expected)}.",
            "One of paid_from, the bonus and this total is mistyped: correct that one.",
        )


def _overlap(a: Row, b: Row) -> bool:
    """Two promotions' date windows and paid ranges meet."""
    a_start, b_start = a.get("valid_from"), b.get("valid_from")
    a_end, b_end = window_end(a.get("valid_to")), window_end(b.get("valid_to"))
    if not (valid(a_start) and valid(b_start)):
        return False
    dates = (a_end is None or b_start < a_end) and (b_end is None or a_start < b_end)
    a_lo, a_hi, b_lo, b_hi = a.get("paid_from"), a.get("paid_to"), b.get("paid_from"), b.get("paid_to")
    if not (valid(a_lo) and valid(b_lo)):
        return dates
    paid = (a_hi is None or b_lo < a_hi) and (b_hi is None or a_lo < b_hi)
    return dates and paid


def _check_promo_overlaps(ctx: CheckContext, rows: list[Row]) -> None:
    by_code: dict[str, list[Row]] = defaultdict(list)
    automatic: list[Row] = []
    for row in rows:
        if not row.ok("promo_code", "valid_from", "valid_to", "paid_from", "paid_to"):
            continue
        code = row.get("promo_code")
        if code:
            by_code[code.casefold()].append(row)
        elif row.get("promo_type") != PromoType.REFERRAL and not row.get("stackable"):
            automatic.append(row)
    for same in by_code.values():
        for row, earlier in _first_overlaps(same):
            ctx.error(
                "P01",
                row,
                "promo_code",
                f"The promo code {row.get('promo_code')} is also used by row {earlier.row} ({earlier.rule_id}) "
                "at the same time; a clinic typing it would get either.",
                "Give each offer its own code, or make their dates or paid ranges not overlap.",
            )
    for row, earlier in _first_overlaps(automatic):
        ctx.warn(
            "D03",
            row,
            "promo_type",
            f"This automatic promotion and row {earlier.row} ({earlier.rule_id}) apply to the same top-ups at "
            "the same time; as neither stacks, a clinic gets only the larger bonus.",
            "Intended? Otherwise make one stackable or separate their paid ranges or dates.",
        )


def _first_overlaps(rows: list[Row]) -> Iterator[tuple[Row, Row]]:
    """Each row with the first earlier row whose window and paid range it overlaps."""
    for i, row in enumerate(rows):
        earlier = next((other for other in rows[:i] if _overlap(other, row)), None)
        if earlier is not None:
            yield row, earlier
