"""Lead prices: the most specific matching row of the LeadPrices table (docs/domain.md §4).

Rows are indexed once per pricebook. A row that names single values (or `-`) in channel,
specialty and city goes into a bucket keyed by those three (None for `-`); a lead is matched by
looking up its 8 possible keys (each dimension: the lead's value or any) and bisecting each
bucket's price ranges. Rows with value lists or not(...) are few and are scanned. The most
specific match wins; the validator guarantees no two equally specific rows disagree, and ties of
equal price resolve to the lowest rule_id so the answer is deterministic.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal

from engine.pricebook.conditions import Condition, condition_from_text
from engine.pricebook.model import CompiledPricebook, LeadPrice

Key = tuple[str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class LeadRule:
    rule_id: str
    conditions: tuple[Condition, Condition, Condition]
    lo: Decimal
    hi: Decimal | None
    credits: Decimal
    specificity: int
    integral: bool = False  # whole-credit price: a quantity of leads needs no rounding

    @classmethod
    def of(cls, row: LeadPrice) -> LeadRule:
        conditions = (
            condition_from_text(row.channel),
            condition_from_text(row.specialty),
            condition_from_text(row.city),
        )
        full = row.pkg_price_from == 0 and row.pkg_price_to is None
        specificity = sum(not c.is_any for c in conditions) + (0 if full else 1)
        credits = row.lead_price_credits
        return cls(
            row.rule_id,
            conditions,
            row.pkg_price_from,
            row.pkg_price_to,
            credits,
            specificity,
            credits == credits.to_integral_value(),
        )

    def matches(self, channel: str | None, specialty: str | None, city: str | None, price: Decimal | None) -> bool:
        if price is None:
            if not (self.lo == 0 and self.hi is None):
                return False
        elif price < self.lo or (self.hi is not None and price >= self.hi):
            return False
        a, b, c = self.conditions
        return a.matches(channel) and b.matches(specialty) and c.matches(city)


def _simple_value(condition: Condition) -> tuple[bool, str | None]:
    if condition.is_any:
        return True, None
    if not condition.negated and len(condition.values) == 1:
        return True, next(iter(condition.values))
    return False, None


class LeadIndex:
    """Fast most-specific-row lookup over a pricebook's LeadPrices."""

    def __init__(self, rows: tuple[LeadPrice, ...]):
        self.rules = [LeadRule.of(row) for row in rows]
        buckets: dict[Key, list[LeadRule]] = {}
        self.scanned: list[LeadRule] = []
        for rule in self.rules:
            (a_ok, a), (b_ok, b), (c_ok, c) = (_simple_value(condition) for condition in rule.conditions)
            if a_ok and b_ok and c_ok:
                key: Key = (a, b, c)
                buckets.setdefault(key, []).append(rule)
            else:
                self.scanned.append(rule)
        # which dimensions each bucket fixes: a lead only probes the patterns some bucket has
        self.patterns = tuple(sorted({tuple(v is not None for v in key) for key in buckets}, reverse=True))
        self.buckets: dict[Key, tuple[list[Decimal], list[LeadRule]]] = {}
        self.overlapping: set[Key] = set()  # buckets with overlapping ranges (same price: a warning)
        for key, rules in buckets.items():
            rules.sort(key=lambda r: (r.lo, r.rule_id))
            self.buckets[key] = ([r.lo for r in rules], rules)
            reach: Decimal | None = Decimal(0)
            for rule in rules:
                if reach is None or rule.lo < reach:
                    self.overlapping.add(key)
                reach = None if rule.hi is None or reach is None else max(reach, rule.hi)

    @classmethod
    def of(cls, pricebook: CompiledPricebook) -> LeadIndex:
        return cls(pricebook.lead_prices)

    def _bucket_match(self, key: Key, price: Decimal | None) -> LeadRule | None:
        entry = self.buckets.get(key)
        if entry is None:
            return None
        los, rules = entry
        if price is None:
            return next((r for r in rules if r.lo == 0 and r.hi is None), None)
        last = bisect.bisect_right(los, price) - 1
        if key not in self.overlapping:  # ranges do not overlap: only the last one starting below can hold it
            rule = rules[last] if last >= 0 else None
            return rule if rule is not None and (rule.hi is None or price < rule.hi) else None
        # overlapping ranges (allowed only with equal prices): every match, lowest rule_id wins
        found = [r for r in rules[: last + 1] if r.hi is None or price < r.hi]
        return min(found, key=lambda r: r.rule_id) if found else None

    def lookup(
        self, channel: str | None, specialty: str | None, city: str | None, price: Decimal | None
    ) -> LeadRule | None:
        """The row that prices this lead, or None when no row matches."""
        best: LeadRule | None = None
        for pattern in self.patterns:
            if (pattern[0] and channel is None) or (pattern[1] and specialty is None) or (pattern[2] and city is None):
                continue
            key: Key = (
                channel if pattern[0] else None,
                specialty if pattern[1] else None,
                city if pattern[2] else None,
            )
            rule = self._bucket_match(key, price)
            if rule is not None:
                best = _better(best, rule)
        for rule in self.scanned:
            if rule.matches(channel, specialty, city, price):
                best = _better(best, rule)
        return best


def _better(current: LeadRule | None, candidate: LeadRule) -> LeadRule:
    if current is None or candidate.specificity > current.specificity:
        return candidate
    if candidate.specificity == current.specificity and candidate.rule_id < current.rule_id:
        return candidate
    return current
