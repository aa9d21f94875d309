"""The decision memo is exact: for every decision table of the shipped pricebooks, a remembered
decision equals what durable-rules decides for the same facts afresh, at and around every
constant the conditions compare with."""

from __future__ import annotations

import random

import pytest
from durable.lang import m

from engine import load_pricebook
from rules import PolicyEngine
from rules.durable import DecisionTable, _cut_points
from tests.support.paths import IN_V1, IN_V2, US_V1


def _constants(node: object, found: dict[str, set[object]]) -> None:
    """Every (field, constant) pair anywhere in a condition's definition (independently of the memo)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, int | float | str) and not key.startswith("$"):
                found.setdefault(key, set()).add(value)
            else:
                _constants(value, found)
    elif isinstance(node, list):
        for child in node:
            _constants(child, found)


def _facts(table: DecisionTable, rng: random.Random) -> dict[str, object]:
    found: dict[str, set[object]] = {}
    for condition in table.conditions:
        _constants(condition.define(), found)
    facts: dict[str, object] = {}
    for field, values in found.items():
        point = rng.choice(sorted(values, key=str))
        if isinstance(point, str):
            facts[field] = rng.choice([point, "something else"])
        else:
            facts[field] = point + rng.choice([0, -1, 1, -0.5, 0.5, -1e6, 1e6, rng.uniform(-1e4, 1e4)])
    return facts


@pytest.mark.parametrize("path", [US_V1, IN_V1, IN_V2], ids=lambda p: p.stem)
def test_remembered_decisions_equal_fresh_ones(path: object) -> None:
    engine = PolicyEngine.of(load_pricebook(path))  # type: ignore[arg-type]
    rng = random.Random(20261120)
    tables = [t for t in engine.rulesets.values() if isinstance(t, DecisionTable) and t._cells is not None]
    assert tables, "no decision table is remembered: the memo is not in use"
    for table in tables:
        for _ in range(400):
            facts = _facts(table, rng)
            assert table.matches(facts) == table.matches(facts, remember=False), (table.name, facts)
        assert table._memo, f"{table.name} remembered nothing"


def test_conditions_that_compare_fields_with_each_other_are_not_remembered() -> None:
    assert _cut_points([(m.a > m.b)]) is None
    cuts, fields = _cut_points([(m.after >= -50) & (m.segment == "preferred"), m.after < 7])  # type: ignore[misc]
    assert cuts == {"after": [-50, 7]} and fields == {"after", "segment"}
