"""Tier tables: graduated, volume and package pricing, exact in Decimal (docs/domain.md §3).

One storage convention: tiers sorted by `up_to`, an inclusive upper bound on cumulative units; the
last tier's `up_to` is None (unbounded); tier k starts right after tier k-1's `up_to`. A tier's flat
fee is charged once the tier is entered, and tier 1 is entered at 0 units.

- graduated: each tier prices its own slice of the units.
- volume: the tier that holds the total prices every unit (so cost can fall at a boundary).
- package: ceil(max(units - free_units, 0) / package_size) × the single tier's price per package.

`cost` is exact and never rounded. `charge` is what a term's next usage costs in whole credits:
round(cost(after)) - round(cost(before)), so the charges of a term add up to the rounded cost of
its total, with no drift (docs/domain.md §1). The first charge of a term pays tier 1's flat fee.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from engine.money import round_credits
from engine.vocabulary import TIER_MODES, PricingMode

Mode = PricingMode  # one of TIER_MODES: graduated, volume or package
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tier:
    """One row of a tier table; `up_to` None means no upper bound (an int given is kept as a Decimal)."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO
    rule_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit_price", Decimal(self.unit_price))
        object.__setattr__(self, "flat_fee", Decimal(self.flat_fee))
        if self.up_to is not None:
            object.__setattr__(self, "up_to", Decimal(self.up_to))
        if self.unit_price < 0 or self.flat_fee < 0:
            raise ValueError(f"tier {self.rule_id or self.up_to}: prices cannot be negative")


@dataclass(frozen=True, slots=True)
class Slice:
    """The part of a charge that one tier prices."""

    rule_id: str
    units: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    credits: Decimal  # exact: units × unit_price + flat_fee


@dataclass(frozen=True, slots=True)
class TierTable:
    mode: Mode
    tiers: tuple[Tier, ...]
    package_size: int | None = None
    free_units: int = 0

    def __init__(
        self, mode: Mode, tiers: list[Tier] | tuple[Tier, ...], package_size: int | None = None, free_units: int = 0
    ):
        tiers = tuple(sorted(tiers, key=lambda t: (t.up_to is None, t.up_to or 0)))
        if not tiers:
            raise ValueError("a tier table needs at least one tier")
        if mode not in TIER_MODES:
            raise ValueError(f"unknown tier mode {mode!r}")
        mode = PricingMode(mode)
        if tiers[-1].up_to is not None:
            raise ValueError("the last tier must be open-ended (up_to None)")
        if sum(t.up_to is None for t in tiers) != 1:
            raise ValueError("only the last tier may be open-ended")
        bounds = [t.up_to for t in tiers[:-1] if t.up_to is not None]  # every one: only the last is open
        if any(b <= 0 for b in bounds) or any(b >= c for b, c in itertools.pairwise(bounds)):
            raise ValueError("tier bounds must be positive and strictly increasing")
        if mode == PricingMode.PACKAGE:
            if len(tiers) != 1:
                raise ValueError("package pricing takes exactly one tier: the price per package")
            if not package_size or package_size <= 0:
                raise ValueError("package pricing needs a positive package_size")
        if free_units < 0:
            raise ValueError("free_units cannot be negative")
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "tiers", tiers)
        object.__setattr__(self, "package_size", package_size)
        object.__setattr__(self, "free_units", free_units)

    # -- exact cost --------------------------------------------------------------------------------
    def cost(self, units: Decimal | int) -> Decimal:
        """Exact cost of `units` in total (not rounded)."""
        units = Decimal(units)
        if units < 0:
            raise ValueError("units cannot be negative")
        if self.mode == PricingMode.GRADUATED:
            total = ZERO
            lower = ZERO
            for tier in self.tiers:
                total += tier.flat_fee
                upper = tier.up_to
                if upper is None or units <= upper:
                    return total + (units - lower) * tier.unit_price
                total += (upper - lower) * tier.unit_price
                lower = upper
            raise AssertionError("unreachable: the last tier is open")  # pragma: no cover
        if self.mode == PricingMode.VOLUME:
            tier = self.tier_for(units)
            return units * tier.unit_price + tier.flat_fee
        paid = units - self.free_units
        if paid <= 0:
            return ZERO
        assert self.package_size is not None  # __init__ requires one in package mode
        packages = (paid / self.package_size).to_integral_value(rounding=ROUND_CEILING)  # a started package counts
        return packages * self.tiers[0].unit_price

    def tier_for(self, units: Decimal | int) -> Tier:
        """The tier that holds cumulative usage `units` (inclusive upper bounds)."""
        units = Decimal(units)
        for tier in self.tiers:
            if tier.up_to is None or units <= tier.up_to:
                return tier
        raise AssertionError("unreachable: the last tier is open")  # pragma: no cover

    # -- charges over a term ----------------------------------------------------------------------
    def charge(self, used_before: Decimal | int, units: Decimal | int, rounding: str = "half_up") -> int:
        """Whole credits for `units` more after `used_before` in the same term (docs/domain.md §1)."""
        if Decimal(units) < 0 or Decimal(used_before) < 0:
            raise ValueError("units cannot be negative")
        if self.mode == PricingMode.VOLUME and used_before:
            raise ValueError("volume pricing prices each charge on its own units, not on a running total")
        if units == 0:
            return 0
        after = round_credits(self.cost(Decimal(used_before) + Decimal(units)), rounding)
        if used_before == 0:
            return after
        return after - round_credits(self.cost(used_before), rounding)

    def exact_and_charge(
        self, used_before: Decimal | int, units: Decimal | int, rounding: str = "half_up"
    ) -> tuple[Decimal, int]:
        """`exact_charge` and `charge` at once, computing each cost once (the quote's hot path)."""
        if Decimal(units) < 0 or Decimal(used_before) < 0:
            raise ValueError("units cannot be negative")
        if self.mode == PricingMode.VOLUME and used_before:
            raise ValueError("volume pricing prices each charge on its own units, not on a running total")
        if units == 0:
            return ZERO, 0
        after = self.cost(Decimal(used_before) + Decimal(units))
        if used_before == 0:
            return after, round_credits(after, rounding)
        before = self.cost(used_before)
        return after - before, round_credits(after, rounding) - round_credits(before, rounding)

    def exact_charge(self, used_before: Decimal | int, units: Decimal | int) -> Decimal:
        """The unrounded counterpart of `charge`."""
        if units == 0:
            return ZERO
        after = self.cost(Decimal(used_before) + Decimal(units))
        return after if used_before == 0 else after - self.cost(used_before)

    def slices(self, used_before: Decimal | int, units: Decimal | int) -> tuple[Slice, ...]:
        """How each tier prices `units` more after `used_before` (the explanation of a charge)."""
        before, after = Decimal(used_before), Decimal(used_before) + Decimal(units)
        if units == 0:
            return ()
        if self.mode == PricingMode.GRADUATED:
            return tuple(self._graduated_slices(before, after))
        if self.mode == PricingMode.VOLUME:
            tier = self.tier_for(after)
            exact = self.exact_charge(before, units)
            return (Slice(tier.rule_id, Decimal(units), tier.unit_price, ZERO, exact),)
        tier = self.tiers[0]
        exact = self.exact_charge(before, units)
        packages = exact / tier.unit_price if tier.unit_price else ZERO
        return (Slice(tier.rule_id, packages, tier.unit_price, ZERO, exact),)

    def touched(self, used_before: Decimal | int, units: Decimal | int) -> tuple[Tier, ...]:
        """The tiers a charge draws on, in order: the rule_ids of `slices` without their arithmetic."""
        if units == 0:
            return ()
        if self.mode != PricingMode.GRADUATED:
            return (
                self.tier_for(Decimal(used_before) + Decimal(units))
                if self.mode == PricingMode.VOLUME
                else self.tiers[0],
            )
        before, after = used_before, used_before + units
        touched = []
        lower: Decimal | int = 0
        for index, tier in enumerate(self.tiers):
            upper = tier.up_to
            entered_now = (index == 0 and before == 0) or (index > 0 and before <= lower < after)
            if ((upper is None or before < upper) and (lower < after)) or (entered_now and tier.flat_fee > 0):
                touched.append(tier)
            if upper is None or after <= upper:
                break
            lower = upper
        return tuple(touched)

    def _graduated_slices(self, before: Decimal, after: Decimal) -> Iterator[Slice]:
        lower = ZERO
        for index, tier in enumerate(self.tiers):
            upper = tier.up_to
            entered_now = (index == 0 and before == 0) or (index > 0 and before <= lower < after)
            start, end = max(before, lower), after if upper is None else min(after, upper)
            units = max(end - start, ZERO)
            flat = tier.flat_fee if entered_now else ZERO
            if units > 0 or flat > 0:
                yield Slice(tier.rule_id, units, tier.unit_price, flat, units * tier.unit_price + flat)
            if upper is None or after <= upper:
                return
            lower = upper

    # -- derived tables ----------------------------------------------------------------------------
    def discounted(self, pct: Decimal, extra_rule: str = "") -> TierTable:
        """The same table with every unit price cut by `pct` (0.1 = 10% off); flat fees unchanged."""
        factor = 1 - Decimal(pct)
        tiers = [Tier(t.up_to, t.unit_price * factor, t.flat_fee, t.rule_id) for t in self.tiers]
        return TierTable(self.mode, tiers, self.package_size, self.free_units)

    @classmethod
    def flat(cls, unit_price: Decimal, rule_id: str = "") -> TierTable:
        """One price for every unit (a package rate)."""
        return cls(PricingMode.GRADUATED, [Tier(None, unit_price, ZERO, rule_id)])

    def units_affordable(self, used_before: int, budget: int, rounding: str = "half_up") -> int:
        """The most units whose charge after `used_before` stays within `budget` credits (tier-aware)."""
        if budget < 0:
            return 0
        if all(t.unit_price == 0 for t in self.tiers) or self.tiers[-1].unit_price == 0:
            raise ValueError("free units: any budget buys unlimited units")
        fits = lambda n: self.charge(used_before, n, rounding) <= budget  # noqa: E731 - monotone in n
        start = self._graduated_estimate(used_before, budget) if self.mode == PricingMode.GRADUATED else 0
        # the estimate ignores rounding, so the answer is near it: gallop away from it until the
        # test flips, then bisect. Without an estimate this is doubling from 0 then bisecting.
        if fits(start):
            low, step = start, 1
            while fits(low + step):
                low, step = low + step, step * 2
            high = low + step
        else:
            high, step = start, 1
            while high - step > 0 and not fits(high - step):
                high, step = high - step, step * 2
            low = max(high - step, 0)
        while low < high - 1:
            mid = (low + high) // 2
            if fits(mid):
                low = mid
            else:
                high = mid
        return low

    def _graduated_estimate(self, used_before: int, budget: int) -> int:
        """Units the budget buys by walking the tiers in exact arithmetic (before rounding)."""
        money, position, lower = Decimal(budget), Decimal(used_before), ZERO
        for index, tier in enumerate(self.tiers):
            upper = tier.up_to
            if upper is not None and position >= upper:
                lower = upper
                continue
            entering = (index == 0 and used_before == 0) or (index > 0 and used_before <= lower == position)
            if entering:
                if money < tier.flat_fee:
                    break
                money -= tier.flat_fee
            capacity = None if upper is None else upper - position
            if tier.unit_price == 0:
                if capacity is None:
                    break
                position += capacity
            else:
                affordable = (money / tier.unit_price).to_integral_value(rounding=ROUND_FLOOR)
                if capacity is None or affordable < capacity:
                    position += affordable
                    break
                position += capacity
                money -= capacity * tier.unit_price
            lower = upper if upper is not None else lower
        return int(position - used_before)
