"""The vectorised tier path gives exactly the scalar path's credits: 100,000 random inputs per
tier table of the shipped US pricebook (PAYG tiers with and without the bundle, every package
rate), weighted towards tier boundaries where off-by-one errors live."""

from __future__ import annotations

import os
from decimal import Decimal

import numpy as np
import pytest

from engine import TierTable, load_pricebook
from engine.pricing.indexes import tables_for
from engine.pricing.vector import VectorTierTable, round_scaled
from tests.support.paths import US_V1

N = int(os.environ.get("CREDITBOOK_VECTOR_SAMPLES", "100000"))
SEED = int(os.environ.get("CREDITBOOK_SEED", "20261120"))
TABLES = tables_for(load_pricebook(US_V1))


def shipped_tables() -> list[tuple[str, TierTable]]:
    out = []
    for product, groups in TABLES.tier_groups.items():
        for group in groups:
            out.append((f"{product}-payg", group.table))
            out.append((f"{product}-payg-bundle", TABLES.discounted(group.table, Decimal("0.1"))))
    for (code, _), table in TABLES.package_tables.items():
        out.append((code, table))
        out.append((f"{code}-bundle", TABLES.discounted(table, Decimal("0.1"))))
    return out


def inputs(table: TierTable, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    bounds = [int(t.up_to) for t in table.tiers if t.up_to is not None] or [1000]
    near = rng.choice(np.array(bounds), n) + rng.integers(-3, 4, n)
    anywhere = rng.integers(0, 3 * max(bounds), n)
    used = np.maximum(np.where(rng.random(n) < 0.5, near, anywhere), 0)
    used[rng.random(n) < 0.1] = 0
    units = np.where(rng.random(n) < 0.5, rng.integers(0, 5, n), rng.integers(0, 2 * max(bounds), n))
    return used.astype(np.int64), units.astype(np.int64)


@pytest.mark.parametrize(("name", "table"), shipped_tables(), ids=[name for name, _ in shipped_tables()])
def test_vector_charges_equal_scalar_charges(name: str, table: TierTable) -> None:
    rng = np.random.default_rng(SEED + sum(map(ord, name)))
    used, units = inputs(table, rng, N)
    vector = VectorTierTable.of(table).charge(used, units, "half_up")
    scalar = np.fromiter(
        (table.charge(int(u), int(k), "half_up") for u, k in zip(used, units, strict=True)), dtype=np.int64, count=N
    )
    mismatches = np.flatnonzero(vector != scalar)
    assert mismatches.size == 0, (
        f"seed {SEED}: {mismatches.size} mismatches, first at used={used[mismatches[0]]} "
        f"units={units[mismatches[0]]}: vector {vector[mismatches[0]]} scalar "
        f"{scalar[mismatches[0]]}"
    )


@pytest.mark.parametrize("mode", ["half_up", "half_even", "up", "down"])
def test_rounding_modes_match_the_decimal_ones(mode: str) -> None:
    from engine.money import round_credits

    scale = 10
    values = np.arange(0, 2000, dtype=np.int64)
    expected = [round_credits(Decimal(int(v)) / scale, mode) for v in values]
    assert round_scaled(values, scale, mode).tolist() == expected


def test_huge_units_switch_to_python_integers_and_stay_exact() -> None:
    table = TierTable.flat(Decimal("74.7"))
    vector = VectorTierTable.of(table)
    units = np.array([vector.safe_units * 3, 10**15], dtype=np.int64)
    got = vector.charge(np.zeros(2, dtype=np.int64), units)
    assert [int(g) for g in got] == [table.charge(0, int(u)) for u in units]
