"""A thin, safe layer over durable-rules: decision tables defined once per process, one call per decision.

durable-rules is a Rete engine with a C core, and it has sharp edges that this module exists to
absorb (each is also covered by a test):

- A posted event is consumed by the first rule it matches. The policy sheets are therefore compiled
  (rules/rulesets.py) into *exclusive and exhaustive* rules — every possible fact matches exactly
  one rule, whose outcome lists the pricebook rows that apply — and one `post` decides. Where a
  sheet is too large for that, its rows become one rule each and the facts are asserted as a
  *fact* (every matching rule fires) and retracted again.
- A fact that matches no rule raises MessageNotHandledException: exhaustive tables cannot miss by
  construction, and the per-row form gets a catch-all rule of its own.
- The same message twice raises MessageObservedException: every message gets a fresh id.
- Existence tests (`+m.field`, `-m.field`) made the engine spin forever in some combinations here
  (`+m.id`, `-m.code`): facts always carry every field (with sentinels), and conditions compare
  values only; the per-row form's catch-all is `m.kind == <ruleset>`.
- An action with two parameters is treated as asynchronous (the second is a completion callback):
  actions are one-parameter closures.
- Ruleset names are global to the process and cannot be redefined or removed: rulesets are named
  by content (the pricebook's semantic hash) and defined once, then shared.
- The engine is not thread-safe: one lock serialises every call; the facade may be called from
  any thread.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from durable.lang import assert_fact, m, post, retract_fact, ruleset, when_all

LOCK = threading.RLock()
_DEFINED: dict[str, DecisionTable[Any] | Ruleset] = {}
_IDS = itertools.count(1)
Decided = TypeVar("Decided")  # what a decision table's regions decide: rule ids, or typed rulings
T = TypeVar("T", bound="DecisionTable[Any] | Ruleset")


@dataclass(frozen=True)
class Rule:
    """A named condition: `condition` is a durable-rules expression over `m`."""

    rule_id: str
    condition: Any


@dataclass(frozen=True)
class Region(Generic[Decided]):
    """One rule of an exclusive, exhaustive table: its condition and the rows that apply there."""

    outcome: tuple[Decided, ...]  # rule_ids, or typed rulings (rules/rulesets.py): never parsed text
    condition: Any


MEMO_SIZE = 65_536
_COMPARISONS = frozenset({"$lt", "$lte", "$gt", "$gte", "$neq"})


def _cut_points(conditions: Sequence[Any]) -> tuple[dict[str, list[Any]], frozenset[str]] | None:
    """The constants each fact field is compared with, read from the conditions themselves.

    Facts on the same side of every constant of every field satisfy exactly the same comparisons,
    so they land in the same region: that is what makes a decision memo exact. None when a
    condition is not a plain field-against-constant comparison (no memo then)."""
    numeric: dict[str, set[Any]] = {}
    fields: set[str] = set()

    def walk(node: Any) -> bool:
        if not isinstance(node, dict) or len(node) != 1:
            return False
        ((key, value),) = node.items()
        if key in ("$and", "$or"):
            return all(walk(child) for child in value)
        if key in _COMPARISONS:
            if not isinstance(value, dict) or len(value) != 1:
                return False
            ((key, value),) = value.items()
        if key.startswith("$") or isinstance(value, dict | list):
            return False  # a comparison with another field, or an operator we do not read
        fields.add(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            numeric.setdefault(key, set()).add(value)
        return True

    if not all(walk(condition.define()) for condition in conditions):
        return None
    return {field: sorted(values) for field, values in numeric.items()}, frozenset(fields)


class DecisionTable(Generic[Decided]):
    """Exclusive, exhaustive rules: one `post`, exactly one rule fires, its outcome is the decision.

    Decisions are remembered per *cell*: the position of each numeric fact against the constants
    the conditions compare it with, and the value of every other field they read (`_cut_points`).
    durable-rules decides each cell once; a balance of 812 and one of 4,000 below the same
    threshold share a cell. The memo is exact by construction and proven against fresh posts in
    tests/rules."""

    def __init__(self, name: str, regions: Sequence[Region[Decided]]):
        self.name = name
        self.outcomes = tuple(region.outcome for region in regions)
        self.conditions = tuple(region.condition for region in regions)
        self._slot: dict[int, int] = {}
        self._cells = _cut_points([region.condition for region in regions])
        self._memo: dict[tuple[Any, ...], int] = {}
        with ruleset(name):
            for index, region in enumerate(regions):
                when_all(region.condition)(self._recorder(index))

    def _cell(self, facts: dict[str, Any]) -> tuple[Any, ...] | None:
        if self._cells is None:
            return None
        cuts, fields = self._cells
        key: list[tuple[Any, Any]] = []
        for field in sorted(fields):
            value = facts.get(field)
            points = cuts.get(field)
            if points is not None and isinstance(value, int | float) and not isinstance(value, bool):
                position = bisect.bisect_left(points, value)
                key.append((position, position < len(points) and points[position] == value))
            else:
                key.append(("=", value))
        return tuple(key)

    def _recorder(self, index: int) -> Callable[[Any], None]:
        slot = self._slot

        def record(c: Any) -> None:  # one parameter: two would make durable-rules treat it as async
            slot[c.m.id] = index

        return record

    def matches(self, facts: dict[str, Any], remember: bool = True) -> tuple[Decided, ...]:
        """The rows that apply to `facts` (`remember=False` asks durable-rules even for a known cell)."""
        cell = self._cell(facts) if remember else None
        if cell is not None:
            known = self._memo.get(cell)
            if known is not None:
                return self.outcomes[known]
        with LOCK:
            fact_id = next(_IDS)
            post(self.name, {**facts, "id": fact_id, "kind": self.name})
            index = self._slot.pop(fact_id, None)
            if index is not None and cell is not None:
                if len(self._memo) >= MEMO_SIZE:
                    self._memo.clear()
                self._memo[cell] = index
        if index is None:  # exhaustive by construction: reaching this is a compiler bug, not a decision
            raise RuntimeError(f"no rule of {self.name} matched {facts}")
        return self.outcomes[index]


class Ruleset:
    """One rule per row, facts asserted and retracted: every rule whose condition holds fires."""

    def __init__(self, name: str, rules: Sequence[Rule]):
        self.name = name
        self.rule_ids = tuple(rule.rule_id for rule in rules)
        self._fired: dict[int, list[str]] = {}
        with ruleset(name):
            for rule in rules:
                when_all(rule.condition)(self._recorder(rule.rule_id))
            when_all(m.kind == name)(self._recorder(""))

    def _recorder(self, rule_id: str) -> Callable[[Any], None]:
        fired = self._fired

        def record(c: Any) -> None:
            fired[c.m.id].append(rule_id)

        return record

    def matches(self, facts: dict[str, Any]) -> tuple[str, ...]:
        """Every rule whose condition holds for `facts`, in definition order."""
        with LOCK:
            fact_id = next(_IDS)
            fact = {**facts, "id": fact_id, "kind": self.name}
            self._fired[fact_id] = []
            try:
                assert_fact(self.name, fact)
                retract_fact(self.name, fact)
                fired = self._fired[fact_id]
            finally:
                self._fired.pop(fact_id, None)
        if "" not in fired:  # the catch-all matches every fact: its absence means the engine failed
            raise RuntimeError(f"durable-rules did not evaluate ruleset {self.name}")
        order = {rule_id: i for i, rule_id in enumerate(self.rule_ids)}
        return tuple(sorted((r for r in fired if r), key=order.__getitem__))


def defined(name: str, build: Callable[[], T]) -> T:
    """The table called `name`, defined on first use (names are global and final in durable-rules)."""
    with LOCK:
        found = _DEFINED.get(name)
        if found is None:
            built = build()
            _DEFINED[name] = built
            return built
        # names are given by content (rules/rulesets.py): a name found again was built by the same builder
        return cast(T, found)
