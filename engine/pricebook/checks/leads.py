"""LeadPrices: ranges that make sense, no two equally specific rows that price the same lead
differently, and a default that prices every lead (DOMAIN §4)."""

from __future__ import annotations

from decimal import Decimal

from engine.pricebook.cells import INVALID
from engine.pricebook.checks.context import CheckContext
from engine.pricebook.checks.overlap import Clash, Entry, find_clashes
from engine.pricebook.excel_tables import Row
from engine.vocabulary import LEAD_CHANNEL_OF_PRODUCT

DIMENSIONS = ("channel", "specialty", "city")
MAX_CLASH_FINDINGS = 1000


def _entries(ctx: CheckContext) -> tuple[list[Entry], bool]:
    """Rows as entries, and whether every row's conditions and range could be read. When some
    could not, coverage is not judged: a row that failed to read would make up a gap that is not
    there. A row whose price failed to read still covers its range (its output is INVALID)."""
    entries: list[Entry] = []
    complete = True
    for row in ctx.sheet("LeadPrices"):
        conditions = (row.get("channel"), row.get("specialty"), row.get("city"))
        lo, hi, price = row.get("pkg_price_from"), row.get("pkg_price_to"), row.get("lead_price_credits")
        if INVALID in (lo, hi) or INVALID in conditions:
            complete = False
            continue
        if hi is not None and hi <= lo:
            ctx.error(
                "T06",
                row,
                "pkg_price_to",
                f"The package price range is empty: from "
                f"{ctx.money_text(lo)} up to {ctx.money_text(hi)} contains no price.",
                "pkg_price_to must be above pkg_price_from (it is exclusive), or empty for no limit.",
            )
            complete = False
            continue
        entries.append(Entry(row, conditions, lo, hi, price, full_range=(lo == 0 and hi is None)))
    return entries, complete


def describe_lead(values: list[str | None], price: Decimal, ctx: CheckContext) -> str:
    channel, specialty, city = values
    parts = [f"a {channel or 'chat or call'} lead"]
    if specialty:
        parts.append(f"in {specialty}")
    if city:
        parts.append(f"from {city}")
    parts.append(f"for a treatment package of {ctx.money_text(price)}")
    return " ".join(parts)


def check_lead_prices(ctx: CheckContext) -> None:
    rows = ctx.sheet("LeadPrices")
    lead_products = [p for p in ctx.product_rows() if p in LEAD_CHANNEL_OF_PRODUCT]
    if lead_products and not rows:
        ctx.error(
            "T09",
            None,
            "",
            f"{', '.join(lead_products)} are sold but LeadPrices has no rows.",
            "Add lead prices, starting with a default row of - in channel, specialty and city.",
            sheet="LeadPrices",
        )
        return
    if not lead_products:
        if rows:
            ctx.warn(
                "X01",
                rows[0],
                "rule_id",
                "LeadPrices has rows, but no lead product is on the Products sheet, so they are never used.",
                "Add lead_chat and lead_call to Products, or delete the rows.",
            )
        return
    entries, complete = _entries(ctx)
    domains = [ctx.domains[d] for d in DIMENSIONS]
    reported = 0
    for clash in find_clashes([e for e in entries if e.output is not INVALID], domains):
        if reported >= MAX_CLASH_FINDINGS:
            ctx.error(
                "T08",
                None,
                "",
                f"More than {MAX_CLASH_FINDINGS} clashing rows; the rest are not listed.",
                "Fix the ones listed, then validate again.",
                sheet="LeadPrices",
            )
            break
        if _report_clash(ctx, clash, domains):
            reported += 1
    if complete:
        _check_default(ctx, entries, lead_products)


def _report_clash(ctx: CheckContext, clash: Clash, domains: list) -> bool:
    """A clash is reported at the lower of its two rows on the sheet: rows are added at the
    bottom, so that is the likelier newcomer (the typo finder moves it to a mistyped cell)."""
    first, second = sorted((clash.first, clash.second), key=lambda entry: entry.row.row)
    values, price = clash.witness(domains)
    lead = describe_lead(values, price, ctx)
    if clash.same_output:
        if clash.same_shape:
            ctx.warn(
                "T10",
                second.row,
                "pkg_price_from",
                f"Row {second.row.row} overlaps row {first.row.row} "
                f"({second.row.rule_id} and {first.row.rule_id}) with the same price "
                f"{ctx.credits(second.output)}; one of them is redundant (e.g. {lead}).",
                "Delete one of the rows or make their ranges meet without overlapping.",
            )
            return True
        return False
    code = "T04" if clash.same_shape else "T08"
    column = "pkg_price_from" if clash.same_shape else "channel"
    ctx.error(
        code,
        second.row,
        column,
        f"{first.row.rule_id} (row {first.row.row}) prices it {ctx.credits(first.output)} and "
        f"{second.row.rule_id} (row {second.row.row}) {ctx.credits(second.output)}: the two rows are equally "
        f"specific and both match {lead}.",
        "Make one of the rows more specific, or change the ranges so they meet without overlapping.",
    )
    return True


def _check_default(ctx: CheckContext, entries: list[Entry], lead_products: list[str]) -> None:
    defaults = [e for e in entries if e.conditions[1].is_any and e.conditions[2].is_any]
    if entries and not defaults:
        ctx.error(
            "T09",
            None,
            "",
            "LeadPrices has no default row, so a lead from a specialty or city without its own row has no price.",
            "Add a row with - in specialty and city (and channel), from 0 "
            "with an empty pkg_price_to, priced at the usual lead price.",
            sheet="LeadPrices",
        )
        return
    channels = [LEAD_CHANNEL_OF_PRODUCT[p] for p in lead_products]
    for channel in channels:
        ranges = [e for e in defaults if e.conditions[0].matches(channel)]
        gap_at, anchor = first_gap(ranges)
        if gap_at is None:
            continue
        if not ranges:
            ctx.error(
                "T03",
                None,
                "",
                f"No default row prices {channel} leads.",
                f"Add a row with {channel} (or -) in channel and - in specialty and city.",
                sheet="LeadPrices",
            )
            continue
        lead = describe_lead([channel, None, None], gap_at, ctx)
        ctx.error(
            "T03",
            anchor or ranges[0].row,
            "pkg_price_to",
            f"No default row prices {lead}: the default ranges for {channel} leads stop at {ctx.money_text(gap_at)}.",
            "Make the ranges meet: each range's pkg_price_from equal to the pkg_price_to of the range below "
            f"it (a row from {ctx.money_text(gap_at)} is missing), and pkg_price_to empty on the last range.",
        )


def first_gap(entries: list[Entry]) -> tuple[Decimal | None, Row | None]:
    """The smallest uncovered price from 0 up (None when the ranges reach infinity), and the row
    whose range ends there."""
    reach, anchor = Decimal(0), None
    for entry in sorted(entries, key=lambda e: e.lo):
        if entry.lo > reach:
            return reach, anchor
        if entry.hi is None:
            return None, None
        if entry.hi > reach:
            reach, anchor = entry.hi, entry.row
    return reach, anchor
