"""Tier tables: the conventions of DOMAIN §3 on the public worked examples of Lago and Stripe,
the seed's numbers, and the properties every term of charges must have."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Tier, TierTable

D = Decimal


def stripe_tiers(mode: str) -> TierTable:
    # Stripe's tiered-pricing guide: fonts 1-5 at $7, 6-10 at $6.50, 11+ at $6.
    return TierTable(mode, [Tier(5, D(7)), Tier(10, D("6.5")), Tier(None, D(6))])  # type: ignore[arg-type]


@pytest.mark.parametrize(("units", "total"), [(1, 7), (5, 35), (6, 39), (20, 120), (25, 150)])
def test_stripe_volume_example(units: int, total: int) -> None:
    assert stripe_tiers("volume").cost(units) == total


@pytest.mark.parametrize(("units", "total"), [(1, 7), (5, 35), (6, D("41.5")), (10, D("67.5")), (20, D("127.5"))])
def test_stripe_graduated_example(units: int, total: Decimal) -> None:
    assert stripe_tiers("graduated").cost(units) == total


def test_volume_total_can_fall_at_a_boundary() -> None:
    table = stripe_tiers("volume")
    assert table.cost(6) < table.cost(5) + 7  # the sixth font makes every font cheaper
    lago = TierTable(
        "volume",
        [
            Tier(10_000, D("10"), D(100_000)),
            Tier(50_000, D("8"), D(100_000)),
            Tier(100_000, D("6"), D(100_000)),
            Tier(None, D("4"), D(100_000)),
        ],
    )
    # Lago's volume guide, in ten-thousandths of a dollar: 65,000 calls at $0.0006 + $10 = $49.
    assert lago.cost(65_000) == 490_000
    assert lago.cost(10_001) < lago.cost(10_000)


def test_lago_graduated_specification_with_flat_fees() -> None:
    table = TierTable("graduated", [Tier(10, D(10), D(2)), Tier(20, D(5), D(3)), Tier(None, D(5), D(3))])
    assert [table.cost(u) for u in (0, 1, 10, 11, 12, 21)] == [2, 12, 102, 110, 115, 163]


def test_lago_package_examples() -> None:
    # $5 per 100 units, first 100 free: 201 units = 2 packages.
    assert TierTable("package", [Tier(None, D(5))], package_size=100, free_units=100).cost(201) == 10
    table = TierTable("package", [Tier(None, D(100))], package_size=10)
    assert (table.cost(121), TierTable("package", [Tier(None, D(100))], package_size=10, free_units=10).cost(121)) == (
        1300,
        1200,
    )
    assert table.cost(0) == 0 and table.cost(1) == 100 and table.cost(10) == 100 and table.cost(11) == 200


def test_up_to_is_inclusive_and_tier_one_is_entered_at_zero() -> None:
    table = TierTable("graduated", [Tier(500, D(85), D(0), "A"), Tier(None, D(83), D(1000), "B")])
    assert table.cost(500) == 500 * 85
    assert table.cost(501) == 500 * 85 + 83 + 1000
    assert table.tier_for(500).rule_id == "A" and table.tier_for(501).rule_id == "B"
    with_fee = TierTable("graduated", [Tier(10, D(1), D(50)), Tier(None, D(1))])
    assert with_fee.cost(0) == 50
    assert with_fee.charge(0, 1) == 51  # the first charge of a term pays tier 1's flat fee
    assert with_fee.charge(0, 0) == 0


def test_seed_sms_tiers_after_400_used() -> None:
    sms = TierTable(
        "graduated",
        [Tier(500, D(85), rule_id="SMS-1"), Tier(1500, D(83), rule_id="SMS-2"), Tier(None, D(81), rule_id="SMS-3")],
    )
    assert sms.charge(400, 600) == 100 * 85 + 500 * 83 == 50_000
    assert [(s.rule_id, s.units, s.credits) for s in sms.slices(400, 600)] == [
        ("SMS-1", 100, 8_500),
        ("SMS-2", 500, 41_500),
    ]


def test_bundle_discount_is_rounded_once_per_line() -> None:
    package = TierTable.flat(D(83), "PK-SOLO-SMS").discounted(D("0.10"))
    assert package.tiers[0].unit_price == D("74.7")
    assert package.charge(0, 1000) == 74_700
    assert package.charge(0, 5) == 374  # 373.5 rounded once, not 5 × 75 = 375


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [Tier(10, D(1))],
        [Tier(None, D(1)), Tier(None, D(2))],
        [Tier(10, D(1)), Tier(10, D(2)), Tier(None, D(1))],
    ],
)
def test_malformed_tables_are_refused(tiers: list[Tier]) -> None:
    with pytest.raises(ValueError):
        TierTable("graduated", tiers)


def test_negative_inputs_are_refused() -> None:
    table = stripe_tiers("graduated")
    with pytest.raises(ValueError):
        table.cost(-1)
    with pytest.raises(ValueError):
        table.charge(0, -3)
    with pytest.raises(ValueError, match="volume"):
        stripe_tiers("volume").charge(5, 1)
    with pytest.raises(ValueError):
        Tier(5, D(-1))


prices = st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def graduated_tables(draw: st.DrawFn) -> TierTable:
    bounds = sorted(draw(st.sets(st.integers(1, 10_000), max_size=5)))
    tiers = [Tier(b, draw(prices), draw(prices), f"T{i}") for i, b in enumerate(bounds)]
    tiers.append(Tier(None, draw(prices), draw(prices), f"T{len(bounds)}"))
    return TierTable("graduated", tiers)


@settings(max_examples=200, deadline=None)
@given(graduated_tables(), st.integers(0, 20_000), st.integers(0, 20_000))
def test_graduated_cost_never_decreases(table: TierTable, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert table.cost(low) <= table.cost(high)


@settings(max_examples=200, deadline=None)
@given(
    graduated_tables(),
    st.lists(st.integers(0, 3_000), max_size=12),
    st.sampled_from(["half_up", "half_even", "up", "down"]),
)
def test_charges_of_a_term_add_up_to_the_rounded_total(table: TierTable, usages: list[int], rounding: str) -> None:
    from engine.money import round_credits

    used = 0
    charged = 0
    for units in usages:
        charged += table.charge(used, units, rounding)
        used += units
    expected = round_credits(table.cost(used), rounding) if used else 0
    assert charged == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 50), st.integers(0, 30), prices, st.integers(0, 500))
def test_package_cost_is_a_step_function(size: int, free: int, price: Decimal, units: int) -> None:
    table = TierTable("package", [Tier(None, price)], package_size=size, free_units=free)
    cost = table.cost(units)
    packages = max(0, -(-(units - free) // size))
    assert cost == packages * price
    assert table.cost(units + 1) - cost in (0, price)


@settings(max_examples=150, deadline=None)
@given(graduated_tables(), st.integers(0, 5_000), st.integers(0, 2_000_000))
def test_units_affordable_is_the_largest_that_fits(table: TierTable, used: int, budget: int) -> None:
    if table.tiers[-1].unit_price == 0:
        with pytest.raises(ValueError, match="unlimited"):
            table.units_affordable(used, budget)
        return
    n = table.units_affordable(used, budget)
    assert table.charge(used, n) <= budget or n == 0
    assert table.charge(used, n + 1) > budget


@settings(max_examples=300, deadline=None)
@given(graduated_tables(), st.integers(0, 15_000), st.integers(0, 15_000))
def test_touched_tiers_are_exactly_the_sliced_ones(table: TierTable, used: int, units: int) -> None:
    """Quotes name their rules from `touched` and build slices only when read: the two must agree."""
    assert [t.rule_id for t in table.touched(used, units)] == [s.rule_id for s in table.slices(used, units)]


@settings(max_examples=150, deadline=None)
@given(
    st.decimals(Decimal("0.0001"), Decimal("0.05"), places=4),
    st.integers(0, 100_000),
    st.integers(0, 5_000),
    st.sampled_from(["half_up", "down", "up"]),
)
def test_units_affordable_with_prices_far_below_one_credit(
    price: Decimal, used: int, budget: int, rounding: str
) -> None:
    """Rounding whole credits then spans many units: the answer must still be exactly the largest."""
    table = TierTable("graduated", [Tier(1_000, price * 2, Decimal(3), "A"), Tier(None, price, Decimal(0), "B")])
    n = table.units_affordable(used, budget, rounding)
    assert table.charge(used, n, rounding) <= budget
    assert table.charge(used, n + 1, rounding) > budget
