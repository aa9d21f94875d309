"""The vectorised lead lookup picks exactly the scalar lookup's rule: 100,000 random leads per
shipped lead table, and a synthetic table with value lists, not(...), overlapping duplicates and
specific rows of every shape."""

from __future__ import annotations

import os
from decimal import Decimal

import numpy as np
import pytest

from engine import load_pricebook, round_credits
from engine.pricebook.model import LeadPrice
from engine.pricing.leads import LeadIndex
from engine.pricing.vector import VectorLeadIndex
from tests.support.paths import IN_V1, IN_V2

N = int(os.environ.get("CREDITBOOK_VECTOR_SAMPLES", "100000"))
SEED = int(os.environ.get("CREDITBOOK_SEED", "20261120"))
SPECIALTIES = ["dermatology", "dental", "ivf", "podiatry", None]
CITIES = ["Mumbai", "Pune", "Delhi", "Atlantis", None]


def random_leads(rng: np.random.Generator, n: int, bounds: list[float]) -> tuple[list, list, list, np.ndarray]:
    channels = rng.choice(["chat", "call"], n).tolist()
    specialties = [SPECIALTIES[i] for i in rng.integers(0, len(SPECIALTIES), n)]
    cities = [CITIES[i] for i in rng.integers(0, len(CITIES), n)]
    near = rng.choice(np.array(bounds), n) + rng.choice(np.array([-0.01, 0, 0.01, 1]), n)
    prices = np.where(rng.random(n) < 0.5, near, np.round(rng.random(n) * 250_000, 2))
    prices = np.maximum(prices, 0)
    prices[rng.random(n) < 0.05] = np.nan
    return channels, specialties, cities, prices


def compare(index: LeadIndex, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    bounds = sorted({float(r.lo) for r in index.rules} | {float(r.hi) for r in index.rules if r.hi is not None})
    channels, specialties, cities, prices = random_leads(rng, n, bounds or [0.0])
    vector = VectorLeadIndex.of(index)
    got = vector.lookup(vector.encode(0, channels), vector.encode(1, specialties), vector.encode(2, cities), prices)
    positions = {id(rule): i for i, rule in enumerate(index.rules)}
    quantity = rng.integers(1, 30, n)
    credits = vector.credits_for(got, quantity)
    for i in range(n):
        price = None if np.isnan(prices[i]) else Decimal(repr(float(prices[i])))
        rule = index.lookup(channels[i], specialties[i], cities[i], price)
        expected = -1 if rule is None else positions[id(rule)]
        assert got[i] == expected, (
            f"seed {seed}: lead {i} {channels[i]}/{specialties[i]}/{cities[i]}/{price}: "
            f"vector {got[i]} scalar {expected}"
        )
        if rule is not None:
            assert credits[i] == round_credits(rule.credits * int(quantity[i]), "half_up")


@pytest.mark.parametrize("path", [IN_V1, IN_V2], ids=lambda p: p.name)
def test_shipped_lead_tables(path: object) -> None:
    compare(LeadIndex.of(load_pricebook(path)), N, SEED)


def row(rule_id: str, channel: str, specialty: str, city: str, lo: int, hi: int | None, credits: str) -> LeadPrice:
    return LeadPrice(
        rule_id=rule_id,
        channel=channel,
        specialty=specialty,
        city=city,
        pkg_price_from=Decimal(lo),
        pkg_price_to=None if hi is None else Decimal(hi),
        lead_price_credits=Decimal(credits),
    )


SYNTHETIC = (
    row("D1", "-", "-", "-", 0, 10_000, "100"),
    row("D2", "-", "-", "-", 10_000, None, "200"),
    row("C1", "chat", "-", "-", 0, None, "150.5"),
    row("S1", "-", "dermatology", "-", 5_000, 50_000, "300"),
    row("X1", "chat", "dermatology", "Mumbai", 0, None, "400"),
    row("X2", "call", "dermatology", "Mumbai", 20_000, 30_000, "450"),
    row("L1", "call,chat", "dental", "-", 0, None, "120"),
    row("N1", "-", "ivf", "not(Mumbai)", 0, 100_000, "500"),
    row("N2", "call", "not(dental,ivf)", "Pune", 1_000, None, "250"),
)


def test_synthetic_table_with_every_shape() -> None:
    compare(LeadIndex(SYNTHETIC), 20_000, SEED + 1)


def test_overlapping_duplicates_defer_to_the_scalar_rule() -> None:
    overlapping = (*SYNTHETIC, row("D3", "-", "-", "-", 5_000, 20_000, "100"))
    index = LeadIndex(overlapping)
    assert VectorLeadIndex.of(index).overlapping
    compare(index, 5_000, SEED + 2)
