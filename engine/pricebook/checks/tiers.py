"""Products and UsageTiers: each tier-priced product has a default tier table, every tier table is
well formed (one open-ended last tier, no repeated bounds), and stated totals add up."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from engine.money import decimal_text
from engine.pricebook.checks.context import CheckContext, valid
from engine.pricebook.checks.overlap import Entry, find_clashes
from engine.pricebook.conditions import Condition
from engine.pricebook.excel_tables import Row
from engine.vocabulary import LEAD_CHANNEL_OF_PRODUCT, PRODUCT_UNITS, TIER_MODES, PricingMode

TIER_PRICING = frozenset(TIER_MODES)
CONDITION_COLUMNS = ("number_type", "direction", "time_window")


def plural(unit: str, count: Decimal | int = 2) -> str:
    return unit if Decimal(count) == 1 else unit + "s"


def check_products(ctx: CheckContext) -> None:
    for row in ctx.sheet("Products"):
        product, unit, pricing = row.get("product"), row.get("unit"), row.get("pricing")
        if not (valid(product) and isinstance(product, str)):
            continue
        expected_unit = PRODUCT_UNITS[product]
        if valid(unit) and unit != expected_unit:
            ctx.error(
                "X01",
                row,
                "unit",
                f"{product} is counted in {plural(expected_unit)}, not {plural(unit)}.",
                f"Pick {expected_unit}.",
            )
        if valid(pricing):
            is_lead = product in LEAD_CHANNEL_OF_PRODUCT
            if is_lead and pricing != PricingMode.LEAD_TABLE:
                ctx.error(
                    "X01",
                    row,
                    "pricing",
                    f"{product} is priced by the LeadPrices table, not {pricing}.",
                    "Pick lead_table.",
                )
            if not is_lead and pricing == PricingMode.LEAD_TABLE:
                ctx.error(
                    "X01",
                    row,
                    "pricing",
                    f"{product} cannot be priced by the lead table.",
                    "Pick graduated, volume or package.",
                )
            if pricing == "package" and not valid(row.get("package_size")):
                ctx.error(
                    "C01",
                    row,
                    "package_size",
                    f"{product} is priced in packages, but package_size is empty.",
                    "Type the number of units in one package.",
                )
        if product != "voice":
            for column in ("billing_increment_s", "min_billable_s"):
                if valid(row.get(column)):
                    ctx.warn(
                        "X01",
                        row,
                        column,
                        f"{column} only applies to voice; it is ignored for {product}.",
                        "Leave it empty.",
                    )


def _units(ctx: CheckContext, product: str, count: Decimal | int) -> str:
    return f"{ctx.count(count)} {plural(PRODUCT_UNITS.get(product, 'unit'), count)}"


def tier_tables(ctx: CheckContext) -> dict[tuple[str, ...], list[Row]]:
    """UsageTiers rows by tier table (product, number_type, direction, time_window), in sheet
    order; rows whose product or conditions cannot be read, or whose product is not priced by
    tiers, belong to no table."""
    products = ctx.product_rows()
    groups: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    for row in ctx.sheet("UsageTiers"):
        product = row.get("product")
        if not (valid(product) and row.ok(*CONDITION_COLUMNS)) or product not in products:
            continue
        pricing = products[product].get("pricing")
        if valid(pricing) and pricing not in TIER_PRICING:
            continue
        groups[(product, *(row.get(c).text for c in CONDITION_COLUMNS))].append(row)
    return groups


def check_usage_tiers(ctx: CheckContext) -> None:
    products = ctx.product_rows()
    for row in ctx.sheet("UsageTiers"):
        product = row.get("product")
        if not (valid(product) and row.ok(*CONDITION_COLUMNS)):
            continue
        product_row = products.get(product)
        if product_row is None:
            ctx.error(
                "X01",
                row,
                "product",
                f"{product} has tiers but is not on the Products sheet.",
                f"Add {product} to Products, or delete these tiers.",
            )
            continue
        pricing = product_row.get("pricing")
        if valid(pricing) and pricing not in TIER_PRICING:
            ctx.error(
                "X01",
                row,
                "product",
                f"Products prices {product} by {pricing}, so these tiers would never be used.",
                "Change the pricing on Products, or delete these tiers.",
            )
    groups = tier_tables(ctx)
    for key, rows in groups.items():
        pricing = products[key[0]].get("pricing")
        check_tier_table(ctx, key[0], rows, pricing if valid(pricing) else PricingMode.GRADUATED)
    for product, product_row in products.items():
        if product_row.get("pricing") in TIER_PRICING and not any(
            k[0] == product and all(v == "-" for v in k[1:]) for k in groups
        ):
            ctx.error(
                "T09",
                product_row,
                "product",
                f"{product} is priced by tiers, but UsageTiers has no tier "
                f"table for {product} with - in number_type, direction and time_window.",
                f"Add {product} tiers that apply to any number type, direction and time window.",
            )
    _check_ambiguous_groups(ctx, groups)


def tier_cost(size: int, price: Decimal, flat: Decimal) -> Decimal:
    """Credits of a whole tier: its size × unit price, plus its flat fee (what stated totals state)."""
    return size * price + flat


def check_tier_table(ctx: CheckContext, product: str, rows: list[Row], pricing: str) -> None:
    """One tier table: bounds that rise to one open-ended last tier, and stated totals that add up.

    A row whose up_to cannot be read has its own finding; the sequence around it is then unknown,
    so neither the last tier nor any stated total is judged (they would blame correct cells).
    A row whose price cannot be read still holds its place in the sequence."""
    if pricing == "package":
        if len(rows) != 1 or valid(rows[0].get("up_to")):
            ctx.error(
                "X01",
                rows[0],
                "up_to",
                f"{product} is priced in packages: its tier table takes exactly "
                "one row with an empty up_to, priced per package.",
                "Keep one row and clear up_to.",
            )
        return
    sequence_known = all(row.ok("up_to") for row in rows)
    tiers = _tier_sequence(ctx, product, [row for row in rows if row.ok("up_to")])
    last_up_to, last_row = tiers[-1] if tiers else (None, None)
    if sequence_known and last_up_to is not None and last_row is not None:
        ctx.error(
            "T05",
            last_row,
            "up_to",
            f"Usage of {product} above {_units(ctx, product, last_up_to)} has no price: the last tier ends "
            f"there, so a term of {_units(ctx, product, last_up_to + 1)} could not be priced.",
            "Leave up_to empty on the last tier so it covers everything above.",
        )
    lower = 0
    previous_price: Decimal | None = None
    for up_to, row in tiers:
        price = row.get("unit_price_credits")
        if row.ok("unit_price_credits"):
            if previous_price is not None and price > previous_price:
                ctx.warn(
                    "T07",
                    row,
                    "unit_price_credits",
                    f"The unit price of {product} rises from "
                    f"{ctx.credits(previous_price)} to {ctx.credits(price)} in a higher tier.",
                    "Check the price: higher volumes usually cost less per unit.",
                )
            previous_price = price
        stated = row.get("stated_tier_credits")
        if valid(stated) and sequence_known and row.ok("unit_price_credits", "flat_fee_credits"):
            _check_stated_tier(ctx, product, row, up_to, lower, stated)
        if up_to is not None:
            lower = up_to


def _tier_sequence(ctx: CheckContext, product: str, rows: list[Row]) -> list[tuple[int | None, Row]]:
    """The tiers sorted by up_to (the open-ended one last); a repeated bound is reported once."""
    seen: dict[int | None, Row] = {}
    previous: int | None = None
    unsorted_reported = False
    for row in rows:
        up_to = row.get("up_to")
        if up_to in seen:
            first = seen[up_to]
            if up_to is None:
                ctx.error(
                    "T04",
                    row,
                    "up_to",
                    f"Rows {first.row} and {row.row} are both open-ended tiers of "
                    f"{product}; only the last tier may have an empty up_to.",
                    "Type the tier's upper bound in one of them.",
                )
            else:
                ctx.error(
                    "T04",
                    row,
                    "up_to",
                    f"Two tiers of {product} end at {_units(ctx, product, up_to)} (rows "
                    f"{first.row} and {row.row}): usage up to there is priced twice.",
                    "Change one of the up_to values, or delete the repeated row.",
                )
            continue
        seen[up_to] = row
        if not unsorted_reported and previous is not None and up_to is not None and up_to < previous:
            ctx.warn(
                "T02",
                row,
                "up_to",
                f"The tiers of {product} are not in order of up_to (this row ends at "
                f"{ctx.count(up_to)}, the row above at {ctx.count(previous)}). They are priced in order of "
                "up_to anyway.",
                "Sort the rows by up_to so the sheet reads the way it prices.",
            )
            unsorted_reported = True
        if up_to is not None:
            previous = up_to if previous is None else max(previous, up_to)
    return sorted(seen.items(), key=lambda item: (item[0] is None, item[0] or 0))


def _check_stated_tier(
    ctx: CheckContext, product: str, row: Row, up_to: int | None, lower: int, stated: Decimal
) -> None:
    if up_to is None:
        ctx.warn(
            "T11",
            row,
            "stated_tier_credits",
            "An open-ended tier has no total, so the stated total cannot be checked.",
            "Leave stated_tier_credits empty on the last tier.",
        )
        return
    price, flat = row.get("unit_price_credits"), row.get("flat_fee_credits") or Decimal(0)
    size = up_to - lower
    expected = tier_cost(size, price, flat)
    if stated != expected:
        fee = f" + {ctx.credits(flat)} flat fee" if flat else ""
        ctx.error(
            "T11",
            row,
            "stated_tier_credits",
            f"The stated tier total {ctx.count(stated)} credits does not match "
            f"{_units(ctx, product, size)} × {decimal_text(price)} credits{fee} = {ctx.credits(expected)}.",
            "One of the unit price, up_to (this tier's or the one above's) and this total is mistyped: "
            "correct that one.",
        )


def _check_ambiguous_groups(ctx: CheckContext, groups: dict[tuple[str, ...], list[Row]]) -> None:
    """Two tier tables of one product that are equally specific and can price the same request."""
    domains = [ctx.domains[c] for c in CONDITION_COLUMNS]
    by_product: dict[str, list[Entry]] = defaultdict(list)
    for key, rows in groups.items():
        conditions = tuple(rows[0].get(c) for c in CONDITION_COLUMNS)
        if all(isinstance(c, Condition) for c in conditions):
            by_product[key[0]].append(Entry(rows[0], conditions, Decimal(0), None, key))
    for product, entries in by_product.items():
        for clash in find_clashes(entries, domains):
            values, _ = clash.witness(domains)
            request = ", ".join(f"{c}={v}" for c, v in zip(CONDITION_COLUMNS, values, strict=True) if v)
            ctx.error(
                "T08",
                clash.second.row,
                "number_type",
                f"The {product} tier tables of rows "
                f"{clash.first.row.row} and {clash.second.row.row} are equally specific and both apply "
                f"to a request with {request or 'any conditions'}; creditbook cannot tell which prices it.",
                "Make one of them more specific, or merge them.",
            )
