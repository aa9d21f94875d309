"""Indexes a pricebook is priced with, built once per pricebook version and shared.

The scalar quote path and the vectorised path both start from these: tier tables per product and
condition group (each a TierTable with the rule_ids of its tiers), package rates, bundle discounts
and the lead index. They are derived from the CompiledPricebook only, so a cache keyed by the
pricebook's identity and semantic hash can never serve stale prices.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal

from engine.pricebook.conditions import Condition, condition_from_text
from engine.pricebook.model import BundleRule, CompiledPricebook, PackageRule, ProductRule
from engine.pricing.leads import LeadIndex
from engine.pricing.sms import SegmentLimits
from engine.pricing.tiers import Tier, TierTable
from engine.vocabulary import TIER_MODES, AppliesTo, Plan, PricingMode

PAYG = Plan.PAYG


@dataclass(frozen=True, slots=True)
class TierGroup:
    """One tier table of a product, for the requests its conditions match."""

    product: str
    conditions: tuple[Condition, Condition, Condition]  # number_type, direction, time_window
    specificity: int
    table: TierTable

    def matches(self, number_type: str | None, direction: str | None, time_window: str | None) -> bool:
        a, b, c = self.conditions
        return a.matches(number_type) and b.matches(direction) and c.matches(time_window)


@dataclass(frozen=True, slots=True)
class Discount:
    pct: Decimal
    rule_ids: tuple[str, ...]


NO_DISCOUNT = Discount(Decimal(0), ())


class PricingTables:
    def __init__(self, pricebook: CompiledPricebook):
        self.pricebook = pricebook
        meta = pricebook.meta
        self.rounding = meta.rounding
        self.limits = SegmentLimits(meta.sms_gsm7_single, meta.sms_gsm7_part, meta.sms_ucs2_single, meta.sms_ucs2_part)
        self.products: dict[str, ProductRule] = {p.product: p for p in pricebook.products}
        self.tier_groups: dict[str, list[TierGroup]] = {}
        grouped: dict[tuple[str, str, str, str], list[Tier]] = {}
        for row in pricebook.usage_tiers:
            key = (row.product, row.number_type, row.direction, row.time_window)
            grouped.setdefault(key, []).append(
                Tier(
                    None if row.up_to is None else Decimal(row.up_to),
                    row.unit_price_credits,
                    row.flat_fee_credits,
                    row.rule_id,
                )
            )
        for (product, number_type, direction, time_window), tiers in grouped.items():
            spec = self.products.get(product)
            if spec is None:
                continue
            mode = spec.pricing if spec.pricing in TIER_MODES else PricingMode.GRADUATED
            table = TierTable(mode, tiers, spec.package_size, spec.free_units)
            parsed = (
                condition_from_text(number_type),
                condition_from_text(direction),
                condition_from_text(time_window),
            )
            group = TierGroup(product, parsed, sum(not c.is_any for c in parsed), table)
            self.tier_groups.setdefault(product, []).append(group)
        for groups in self.tier_groups.values():
            groups.sort(key=lambda g: -g.specificity)
        self.packages: dict[str, dict[str, PackageRule]] = {}
        for package in pricebook.packages:
            self.packages.setdefault(package.package_code, {})[package.product] = package
        self.package_tables: dict[tuple[str, str], TierTable] = {
            (p.package_code, p.product): TierTable.flat(p.unit_price_credits, p.rule_id) for p in pricebook.packages
        }
        self.bundles: tuple[BundleRule, ...] = pricebook.bundles
        self.leads = LeadIndex(pricebook.lead_prices)
        self.cities = frozenset(pricebook.list_values("city"))
        self.specialties = frozenset(pricebook.list_values("specialty"))
        self._discounted: dict[tuple[int, Decimal], TierTable] = {}
        self._lock = threading.Lock()

    def tier_group(
        self, product: str, number_type: str | None, direction: str | None, time_window: str | None
    ) -> TierGroup | None:
        """The most specific tier table of `product` for these conditions."""
        for group in self.tier_groups.get(product, ()):
            if group.matches(number_type, direction, time_window):
                return group
        return None

    def package_for(self, plans: tuple[str, ...], product: str) -> PackageRule | None:
        for code in plans:
            if code != PAYG and product in self.packages.get(code, {}):
                return self.packages[code][product]
        return None

    def discount(self, product: str, on_package: bool, bundle: bool) -> Discount:
        """Bundle discount on `product`: the best non-stackable bundle plus every stackable one."""
        if not bundle:
            return NO_DISCOUNT
        plan_kind = AppliesTo.PACKAGES if on_package else AppliesTo.PAYG
        applicable = [
            b for b in self.bundles if product in b.components and b.applies_to in (plan_kind, AppliesTo.BOTH)
        ]
        if not applicable:
            return NO_DISCOUNT
        best = max((b for b in applicable if not b.stackable), key=lambda b: (b.discount_pct, b.rule_id), default=None)
        chosen = [b for b in applicable if b.stackable] + ([best] if best else [])
        chosen.sort(key=lambda b: b.rule_id)
        return Discount(sum((b.discount_pct for b in chosen), Decimal(0)), tuple(b.rule_id for b in chosen))

    def discounted(self, table: TierTable, pct: Decimal) -> TierTable:
        if not pct:
            return table
        key = (id(table), pct)
        found = self._discounted.get(key)
        if found is None:
            with self._lock:
                found = self._discounted.setdefault(key, table.discounted(pct))
        return found


@dataclass(frozen=True)
class PlanTable:
    """The tier table that prices a product for a clinic's plan, and how it accumulates."""

    table: TierTable
    accumulates: bool  # graduated over the pay-as-you-go term (False: each charge on its own units)
    plan: str  # PAYG or the package code
    discount: Discount


def plan_table(
    tables: PricingTables,
    product: str,
    plans: tuple[str, ...],
    bundle: bool,
    number_type: str | None = None,
    direction: str | None = "outbound",
    time_window: str | None = None,
) -> PlanTable | None:
    """Which table prices `product` for a clinic holding `plans` (and the bundle or not): a package's
    rate when one of the plans covers the product, else the most specific pay-as-you-go tier table;
    the bundle discount applied. The one place plans become tables, for quotes, charges and the
    simulator alike. None when no tier table of the product applies to these conditions."""
    package = tables.package_for(plans, product)
    discount = tables.discount(product, package is not None, bundle) if bundle else NO_DISCOUNT
    if package is not None:
        table = tables.discounted(tables.package_tables[(package.package_code, product)], discount.pct)
        return PlanTable(table, False, package.package_code, discount)
    group = tables.tier_group(product, number_type, direction, time_window)
    if group is None:
        return None
    table = tables.discounted(group.table, discount.pct)
    accumulates = tables.products[product].term_days is not None and table.mode != PricingMode.VOLUME
    return PlanTable(table, accumulates, PAYG, discount)


def tables_for(pricebook: CompiledPricebook) -> PricingTables:
    """The indexes of a pricebook version, built on first use and kept with the version object."""
    return pricebook.derived("pricing.tables", PricingTables)
