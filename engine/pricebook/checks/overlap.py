"""Find rows of a decision table that can match the same input at the same specificity.

The rule (DOMAIN §4): the most specific matching row wins, so two rows are only a problem when
they are equally specific and some input matches both. Rows are hyper-rectangles: a categorical
condition per dimension and a half-open numeric range. Instead of comparing all pairs (10^10 for
a 100,000-row table) rows are grouped by specificity and by which dimensions they fix; rows that
fix single values on the dimensions two groups share are bucketed by those values, and each
bucket is swept along the numeric range once. Only rows with value lists or not(...) on a shared
dimension fall back to pairwise comparison.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations_with_replacement
from typing import Any, Generic, TypeVar

from engine.pricebook.cells import Domain
from engine.pricebook.conditions import Condition
from engine.pricebook.excel_tables import Row

Out = TypeVar("Out", bound=Hashable)  # what a row decides: its price, or the rows' shared key
Side = tuple["Entry[Out]", int]  # an entry and which of the two compared groups it came from


class Entry(Generic[Out]):
    """One row as a hyper-rectangle: a condition per dimension and a half-open range [lo, hi)."""

    __slots__ = ("conditions", "full_range", "hi", "lo", "output", "row", "shape", "specificity")

    def __init__(
        self,
        row: Row,
        conditions: tuple[Condition, ...],
        lo: Decimal,
        hi: Decimal | None,
        output: Out,
        full_range: bool = True,
    ):
        self.row, self.conditions, self.lo, self.hi, self.output = row, conditions, lo, hi, output
        self.full_range = full_range
        self.shape = tuple(not c.is_any for c in conditions)
        self.specificity = sum(self.shape) + (0 if full_range else 1)

    def overlaps_range(self, other: Entry[Any]) -> bool:
        return (other.hi is None or self.lo < other.hi) and (self.hi is None or other.lo < self.hi)


@dataclass(frozen=True)
class Clash(Generic[Out]):
    first: Entry[Out]
    second: Entry[Out]
    same_shape: bool

    @property
    def same_output(self) -> bool:
        return self.first.output == self.second.output

    def witness(self, domains: list[Domain]) -> tuple[list[str | None], Decimal]:
        """One input both rows match: a value per dimension (None = any) and a number."""
        values: list[str | None] = []
        for a, b, domain in zip(self.first.conditions, self.second.conditions, domains, strict=True):
            values.append(None if a.is_any and b.is_any else a.witness(b, domain.values))
        return values, max(self.first.lo, self.second.lo)


def _simple_key(entry: Entry[Any], dims: list[int]) -> tuple[str, ...] | None:
    key = []
    for i in dims:
        condition = entry.conditions[i]
        if condition.negated or len(condition.values) != 1:
            return None
        key.append(next(iter(condition.values)))
    return tuple(key)


def _sweep(items: list[Side[Out]], cross: bool) -> Iterator[tuple[Entry[Out], Entry[Out]]]:
    """Pairs of overlapping ranges; with `cross`, only pairs from different sides."""
    items.sort(key=lambda item: item[0].lo)
    active: dict[tuple[int, Hashable], Entry[Out]] = {}
    for entry, side in items:
        for key, other in list(active.items()):
            if other.hi is not None and other.hi <= entry.lo:
                del active[key]
                continue
            if cross and key[0] == side:
                continue
            yield other, entry
        key = (side, entry.output)
        current = active.get(key)
        if current is None or (current.hi is not None and (entry.hi is None or entry.hi > current.hi)):
            active[key] = entry


def _conditions_meet(a: Entry[Any], b: Entry[Any], dims: list[int], domains: list[Domain]) -> bool:
    return all(a.conditions[i].intersects(b.conditions[i], domains[i].frozen, domains[i].closed) for i in dims)


def find_clashes(entries: list[Entry[Out]], domains: list[Domain]) -> Iterator[Clash[Out]]:
    """Every pair of equally specific entries that some input matches (each pair at most once)."""
    by_level: dict[int, dict[tuple[bool, ...], list[Entry[Out]]]] = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        by_level[entry.specificity][entry.shape].append(entry)
    for shapes in by_level.values():
        for shape_a, shape_b in combinations_with_replacement(sorted(shapes), 2):
            same = shape_a == shape_b
            dims = [i for i, (x, y) in enumerate(zip(shape_a, shape_b, strict=True)) if x and y]
            sides = [shapes[shape_a]] if same else [shapes[shape_a], shapes[shape_b]]
            yield from _shape_clashes(sides, dims, same, domains)


def _shape_clashes(
    sides: list[list[Entry[Out]]], dims: list[int], same: bool, domains: list[Domain]
) -> Iterator[Clash[Out]]:
    """The clashes between two groups of one specificity (one group, `same`, against itself) that
    share the dimensions `dims`: bucketed rows swept by range, the others compared pairwise."""
    buckets: dict[tuple[str, ...], list[Side[Out]]] = defaultdict(list)
    complex_entries: list[Side[Out]] = []
    for side, group in enumerate(sides):
        for entry in group:
            key = _simple_key(entry, dims)
            if key is None:
                complex_entries.append((entry, side))
            else:
                buckets[key].append((entry, side))
    for bucket in buckets.values():
        for first, second in _sweep(bucket, cross=not same):
            yield Clash(first, second, same)
    if complex_entries:
        yield from _pairwise_clashes(complex_entries, sides, dims, same, domains)


def _pairwise_clashes(
    complex_entries: list[Side[Out]],
    sides: list[list[Entry[Out]]],
    dims: list[int],
    same: bool,
    domains: list[Domain],
) -> Iterator[Clash[Out]]:
    """The clashes of rows with value lists or not(...) on a shared dimension, compared one by one."""
    others = [(e, s) for group_side, group in enumerate(sides) for e in group for s in [group_side]]
    done: set[tuple[int, int]] = set()
    for entry, side in complex_entries:
        for other, other_side in others:
            if other is entry or (not same and other_side == side):
                continue
            pair = (min(id(entry), id(other)), max(id(entry), id(other)))
            if pair in done:
                continue
            done.add(pair)
            if entry.overlaps_range(other) and _conditions_meet(entry, other, dims, domains):
                first, second = sorted((entry, other), key=lambda e: e.row.row)
                yield Clash(first, second, same)
