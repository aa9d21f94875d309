"""The vectorised path: the same tier tables and lead index, evaluated over numpy arrays.

The simulator prices millions of clinic-months; the scalar Decimal path would take minutes. Here
every price is scaled to an integer (credits × 10^d, d = the most decimals any price of the table
has), so costs are exact int64 sums and rounding is integer arithmetic: the vectorised credits are
the scalar path's credits, bit for bit (a property test checks 100,000 random inputs per table).
Both paths start from the same TierTable / LeadIndex objects, so there is no second copy of any
price rule. Should a product of units and a scaled price not fit in int64, the arrays switch to
Python integers (dtype=object): slower, never wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from engine.pricing.leads import LeadIndex, LeadRule
from engine.pricing.tiers import TierTable
from engine.vocabulary import PricingMode

INT64_MAX = np.iinfo(np.int64).max


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _scaled(value: Decimal, scale: int) -> int:
    exact = value * scale
    if exact != exact.to_integral_value():
        raise ValueError(f"{value} does not fit a scale of {scale}")
    return int(exact)


def _integers(values: list[int]) -> np.ndarray:
    """int64 when every value fits, else Python integers (a price near the bound, scaled by a bundle
    discount's decimals, can pass int64: exact, slower)."""
    fits = all(-INT64_MAX <= value <= INT64_MAX for value in values)
    return np.array(values, dtype=np.int64 if fits else object)


def round_scaled(values: np.ndarray, scale: int, mode: str) -> np.ndarray:
    """Whole credits from scaled non-negative costs, with the pricebook's rounding mode."""
    if scale == 1:
        return values
    quotient, remainder = values // scale, values % scale  # also works on object (Python int) arrays
    if mode in ("down", "floor"):
        return quotient
    if mode in ("up", "ceiling"):
        return quotient + (remainder > 0)
    twice = remainder * 2
    if mode == "half_up":
        return quotient + (twice >= scale)
    if mode == "half_even":
        return quotient + ((twice > scale) | ((twice == scale) & (quotient % 2 == 1)))
    raise ValueError(f"unknown rounding mode {mode!r}")


@dataclass(frozen=True)
class VectorTierTable:
    """A TierTable as integer arrays."""

    table: TierTable
    scale: int
    bounds: np.ndarray  # finite up_to values
    lower: np.ndarray  # where each tier starts
    prices: np.ndarray  # scaled unit prices
    flats: np.ndarray  # scaled flat fees
    base: np.ndarray  # scaled cost of every tier below, flat fees included
    safe_units: int  # beyond this many units int64 could overflow

    @classmethod
    def of(cls, table: TierTable) -> VectorTierTable:
        tiers = table.tiers
        if any(t.up_to is not None and t.up_to != int(t.up_to) for t in tiers):
            raise ValueError("the vectorised path prices whole units; this table has fractional bounds")
        decimals = max(max(_places(t.unit_price), _places(t.flat_fee)) for t in tiers)
        scale = 10**decimals
        prices = [_scaled(t.unit_price, scale) for t in tiers]
        flats = [_scaled(t.flat_fee, scale) for t in tiers]
        bounds = [int(t.up_to) for t in tiers if t.up_to is not None]
        lower = [0, *bounds]
        base = [0]
        for k in range(1, len(tiers)):
            base.append(base[-1] + (lower[k] - lower[k - 1]) * prices[k - 1] + flats[k - 1])
        biggest = max(*prices, 1) + sum(flats)
        safe = (INT64_MAX - max(base) - sum(flats)) // (biggest * max(1, table.package_size or 1)) // 4
        return cls(
            table,
            scale,
            np.array(bounds, dtype=np.int64),
            np.array(lower, dtype=np.int64),
            _integers(prices),
            _integers(flats),
            _integers(base),
            int(safe),  # negative when the arrays do not fit int64: every call takes the exact path
        )

    def _arrays(self, units: np.ndarray) -> tuple[np.ndarray, ...]:
        if units.size and int(units.max()) > self.safe_units:
            as_object = [a.astype(object) for a in (self.prices, self.flats, self.base, self.lower)]
            return (units.astype(object), *as_object)
        return units.astype(np.int64, copy=False), self.prices, self.flats, self.base, self.lower

    def cost_scaled(self, units: np.ndarray) -> np.ndarray:
        """Exact cost × scale of each element of `units` (total units, not increments)."""
        units = np.asarray(units)
        if units.size and int(units.min()) < 0:
            raise ValueError("units cannot be negative")
        u, prices, flats, base, lower = self._arrays(units)
        mode = self.table.mode
        if mode == PricingMode.PACKAGE:
            size = self.table.package_size or 1
            paid = np.maximum(u - self.table.free_units, 0)
            return (paid + size - 1) // size * prices[0]
        k = np.searchsorted(self.bounds, np.asarray(units, dtype=np.int64), side="left")
        if mode == PricingMode.VOLUME:
            return u * prices[k] + flats[k]
        return base[k] + (u - lower[k]) * prices[k] + flats[k]

    def cost(self, units: np.ndarray) -> np.ndarray:
        """Exact costs as float64 (for charts); use `charge` for credits."""
        return np.asarray(self.cost_scaled(units), dtype=np.float64) / self.scale

    def charge(self, used_before: np.ndarray, units: np.ndarray, rounding: str = "half_up") -> np.ndarray:
        """Whole credits for `units` more after `used_before` in a term: the scalar TierTable.charge."""
        used_before = np.asarray(used_before, dtype=np.int64)
        units = np.asarray(units, dtype=np.int64)
        if self.table.mode == PricingMode.VOLUME and used_before.size and int(used_before.max()) > 0:
            raise ValueError("volume pricing prices each charge on its own units, not on a running total")
        after = round_scaled(self.cost_scaled(used_before + units), self.scale, rounding)
        before = round_scaled(self.cost_scaled(used_before), self.scale, rounding)
        charged = np.where(units == 0, 0, np.where(used_before == 0, after, after - before))
        return charged.astype(np.int64) if charged.dtype != object else _integers(charged.tolist())


@dataclass(frozen=True)
class VectorLeadIndex:
    """A LeadIndex as sorted integer arrays; `lookup` returns scaled prices and rule positions."""

    index: LeadIndex
    price_scale: int
    credit_scale: int
    codes: tuple[dict[str, int], dict[str, int], dict[str, int]]
    bucket_keys: np.ndarray  # sorted composite keys of the buckets
    flat_keys: np.ndarray  # composite (bucket, lo) of every bucketed rule, sorted
    flat_hi: np.ndarray
    flat_full: np.ndarray
    flat_rule: np.ndarray  # position in index.rules
    specificity: np.ndarray  # per rule position
    rank: np.ndarray  # per rule position: order of rule_ids (ties resolve to the lowest)
    credits: np.ndarray  # per rule position, scaled
    overlapping: bool  # a bucket whose ranges overlap: the vector path then defers to the scalar one
    big: int

    @classmethod
    def of(cls, index: LeadIndex) -> VectorLeadIndex:
        rules = index.rules
        position = {id(rule): i for i, rule in enumerate(rules)}
        money = [r.lo for r in rules] + [r.hi for r in rules if r.hi is not None]
        # package prices are money: compared to the cent (more if the table's bounds need it)
        price_scale = 10 ** max(2, max((_places(m) for m in money), default=0))
        credit_scale = 10 ** max((_places(r.credits) for r in rules), default=0)
        values: tuple[set[str], set[str], set[str]] = (set(), set(), set())
        for key in index.buckets:
            for dim, value in enumerate(key):
                if value is not None:
                    values[dim].add(value)
        for rule in index.scanned:
            for dim, condition in enumerate(rule.conditions):
                values[dim].update(condition.values)
        channel, specialty, city = ({v: i for i, v in enumerate(sorted(vals))} for vals in values)
        codes = (channel, specialty, city)
        sizes = [len(c) + 2 for c in codes]  # + "other value" and "any"
        keys = sorted((cls._composite(key, codes, sizes), key) for key in index.buckets)
        bucket_keys = np.array([k for k, _ in keys], dtype=np.int64)
        overlapping = False
        top = max([0] + [_scaled(m, price_scale) for m in money])
        big = top + 2
        flat_keys, flat_hi, flat_full, flat_rule = [], [], [], []
        for bucket_id, (_, key) in enumerate(keys):
            _, bucket_rules = index.buckets[key]
            previous_hi = None
            for rule in bucket_rules:
                lo = _scaled(rule.lo, price_scale)
                hi = big if rule.hi is None else _scaled(rule.hi, price_scale)
                if previous_hi is not None and lo < previous_hi:
                    overlapping = True
                previous_hi = max(previous_hi or 0, hi)
                flat_keys.append(bucket_id * big + lo)
                flat_hi.append(hi)
                flat_full.append(rule.lo == 0 and rule.hi is None)
                flat_rule.append(position[id(rule)])
        order = sorted(range(len(rules)), key=lambda i: rules[i].rule_id)
        rank = np.empty(len(rules), dtype=np.int64)
        rank[order] = np.arange(len(rules))
        return cls(
            index,
            price_scale,
            credit_scale,
            codes,
            bucket_keys,
            np.array(flat_keys, dtype=np.int64),
            np.array(flat_hi, dtype=np.int64),
            np.array(flat_full, dtype=bool),
            np.array(flat_rule, dtype=np.int64),
            np.array([r.specificity for r in rules], dtype=np.int64),
            rank,
            np.array([_scaled(r.credits, credit_scale) for r in rules], dtype=np.int64),
            overlapping,
            big,
        )

    @staticmethod
    def _composite(key: tuple[str | None, ...], codes: tuple[dict[str, int], ...], sizes: list[int]) -> int:
        value = 0
        for dim, part in enumerate(key):
            code = sizes[dim] - 1 if part is None else codes[dim][part]
            value = value * sizes[dim] + code
        return value

    def encode(self, dim: int, values: list[str | None] | np.ndarray) -> np.ndarray:
        """Codes of one dimension's values (-1 for a value no row names, -2 for None)."""
        table = self.codes[dim]
        return np.array([-2 if v is None else table.get(v, -1) for v in values], dtype=np.int64)

    def lookup(
        self, channel: np.ndarray, specialty: np.ndarray, city: np.ndarray, price: np.ndarray | None
    ) -> np.ndarray:
        """Position in index.rules of the rule pricing each lead (-1: none). Inputs are encoded
        dimension codes (see `encode`) and package prices (float or Decimal-like; NaN = no price)."""
        n = len(channel)
        if self.overlapping:
            return self._scalar_lookup(channel, specialty, city, price)
        has_price, scaled = self._prices(price, n)
        sizes = [len(c) + 2 for c in self.codes]
        best_rule = np.full(n, -1, dtype=np.int64)
        best_spec = np.full(n, -1, dtype=np.int64)
        best_rank = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        dims = (channel, specialty, city)
        for pattern in range(8 if len(self.bucket_keys) else 0):
            composite = np.zeros(n, dtype=np.int64)
            usable = np.ones(n, dtype=bool)
            for dim in range(3):
                wildcard = bool(pattern >> (2 - dim) & 1)
                code = dims[dim]
                if wildcard:
                    part = np.full(n, sizes[dim] - 1, dtype=np.int64)
                else:
                    usable &= code >= 0
                    part = np.where(code >= 0, code, 0)
                composite = composite * sizes[dim] + part
            at = np.searchsorted(self.bucket_keys, composite)
            at_clipped = np.minimum(at, len(self.bucket_keys) - 1)
            usable &= self.bucket_keys[at_clipped] == composite
            probe = at_clipped * self.big + np.where(has_price, scaled, 0)
            candidate = np.searchsorted(self.flat_keys, probe, side="right") - 1
            candidate_clipped = np.maximum(candidate, 0)
            same_bucket = (candidate >= 0) & (self.flat_keys[candidate_clipped] // self.big == at_clipped)
            inside = np.where(has_price, scaled < self.flat_hi[candidate_clipped], self.flat_full[candidate_clipped])
            found = usable & same_bucket & inside
            self._improve(found, self.flat_rule[candidate_clipped], best_rule, best_spec, best_rank)
        for rule in self.index.scanned:
            mask = self._scanned_mask(rule, dims, has_price, scaled)
            self._improve(mask, np.full(n, self.index.rules.index(rule)), best_rule, best_spec, best_rank)
        return best_rule

    def _prices(self, price: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        if price is None:
            return np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
        values = np.asarray(price, dtype=np.float64)
        has = ~np.isnan(values)
        scaled = np.round(np.where(has, values, 0) * self.price_scale).astype(np.int64)
        # any price at or above every bound behaves alike; clipping keeps probes inside their bucket
        return has, np.minimum(scaled, self.big - 1)

    def _improve(
        self, mask: np.ndarray, rules: np.ndarray, best_rule: np.ndarray, best_spec: np.ndarray, best_rank: np.ndarray
    ) -> None:
        spec = np.where(mask, self.specificity[rules], -1)
        rank = self.rank[rules]
        better = mask & ((spec > best_spec) | ((spec == best_spec) & (rank < best_rank)))
        best_rule[better] = rules[better]
        best_spec[better] = spec[better]
        best_rank[better] = rank[better]

    def _scanned_mask(
        self, rule: LeadRule, dims: tuple[np.ndarray, ...], has_price: np.ndarray, scaled: np.ndarray
    ) -> np.ndarray:
        mask = np.ones(len(has_price), dtype=bool)
        for dim, condition in enumerate(rule.conditions):
            if condition.is_any:
                continue
            listed = np.array([self.codes[dim][v] for v in condition.values if v in self.codes[dim]], dtype=np.int64)
            named = np.isin(dims[dim], listed)  # None (-2) and unlisted values (-1) are never named
            mask &= ~named if condition.negated else named
        lo = _scaled(rule.lo, self.price_scale)
        hi = self.big if rule.hi is None else _scaled(rule.hi, self.price_scale)
        full = rule.lo == 0 and rule.hi is None
        in_range = np.where(has_price, (scaled >= lo) & (scaled < hi), full)
        return mask & in_range

    def _scalar_lookup(
        self, channel: np.ndarray, specialty: np.ndarray, city: np.ndarray, price: np.ndarray | None
    ) -> np.ndarray:
        reverse = [{code: value for value, code in table.items()} for table in self.codes]
        out = np.full(len(channel), -1, dtype=np.int64)
        positions = {id(rule): i for i, rule in enumerate(self.index.rules)}
        for i in range(len(channel)):
            values = [
                None if d[i] == -2 else reverse[k].get(int(d[i]), "\0other")
                for k, d in enumerate((channel, specialty, city))
            ]
            p = None if price is None or np.isnan(price[i]) else Decimal(repr(float(price[i])))
            rule = self.index.lookup(values[0], values[1], values[2], p)
            out[i] = -1 if rule is None else positions[id(rule)]
        return out

    def credits_for(self, rules: np.ndarray, quantity: np.ndarray | int, rounding: str = "half_up") -> np.ndarray:
        """Whole credits for `quantity` leads priced by `rules` (0 where no rule matched)."""
        scaled = np.where(rules >= 0, self.credits[np.maximum(rules, 0)], 0) * np.asarray(quantity, dtype=np.int64)
        return round_scaled(scaled, self.credit_scale, rounding)
