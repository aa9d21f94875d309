"""Break-even usage between pay-as-you-go and each size's monthly package.

A package costs its credits every month whatever is used (plus the package rate beyond it); pay-as-
you-go costs the graduated tiers over the 365-day term. For a clinic using the same amount every
month, the break-even is the monthly usage above which the package is the cheaper of the two over a
twelve-month term. Computed on the engine's own tables (scalar, exact), by bisection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.pricebook.model import CompiledPricebook
from engine.pricing.indexes import PAYG, plan_table, tables_for


@dataclass(frozen=True)
class BreakEven:
    product: str
    package: str
    size: str
    included_units: int
    package_credits: int
    units: int | None  # monthly usage above which the package is cheaper; None: it never is (≤ 10× included)

    def sentence(self, unit: str) -> str:
        if self.units is None:
            return f"{self.package}: pay-as-you-go stays cheaper up to {10 * self.included_units:,} {unit}/month"
        return f"{self.package} beats pay-as-you-go above {self.units:,} {unit}/month"


def payg_monthly(pricebook: CompiledPricebook, product: str, units: int, bundle: bool = False) -> int:
    """Credits a month of `units` costs on pay-as-you-go, averaged over a twelve-month term."""
    chosen = plan_table(tables_for(pricebook), product, (PAYG,), bundle)
    assert chosen is not None
    return round(chosen.table.charge(0, 12 * units, pricebook.meta.rounding) / 12)


def package_monthly(pricebook: CompiledPricebook, product: str, code: str, units: int, bundle: bool = False) -> int:
    """Credits a month of `units` costs on a package: its credits, or the usage at its rate beyond them."""
    chosen = plan_table(tables_for(pricebook), product, (code,), bundle)
    assert chosen is not None
    package = next(p for p in pricebook.packages if p.package_code == code)
    return max(int(package.total_credits), chosen.table.charge(0, units, pricebook.meta.rounding))


def break_evens(pricebook: CompiledPricebook, bundle: bool = False) -> list[BreakEven]:
    out = []
    for package in sorted(pricebook.packages, key=lambda p: (p.product, p.total_credits)):
        product, code = package.product, package.package_code
        high = 10 * package.included_units

        def cheaper(units: int, product: str = product, code: str = code) -> bool:
            package_cost = package_monthly(pricebook, product, code, units, bundle)
            return package_cost < payg_monthly(pricebook, product, units, bundle)

        found = None
        if cheaper(high):
            low = 0
            while low < high - 1:
                mid = (low + high) // 2
                if cheaper(mid):
                    high = mid
                else:
                    low = mid
            found = high
        out.append(
            BreakEven(product, code, package.clinic_size, package.included_units, int(package.total_credits), found)
        )
    return out


def cost_curves(pricebook: CompiledPricebook, product: str, size: str, points: int = 60) -> dict[str, np.ndarray]:
    """Monthly cost (credits) against monthly usage for pay-as-you-go and the size's package, for charts."""
    package = next((p for p in pricebook.packages if p.product == product and p.clinic_size == size), None)
    top = 2 * (package.included_units if package else 5_000)
    usage = np.linspace(0, top, points).astype(int)
    curves = {"usage": usage, "Pay-as-you-go": np.array([payg_monthly(pricebook, product, int(u)) for u in usage])}
    if package is not None:
        curves[package.package_code] = np.array(
            [package_monthly(pricebook, product, package.package_code, int(u)) for u in usage]
        )
    return curves
