"""The simulator's LeadTable answers exactly what the engine's lead lookup answers, for tables of
every shape (wildcards, lists, not(...), overlapping ranges, fractional credits, bounds to the
paisa) and for prices at, just below and just above every bound; and when a table is too large to
tabulate, leads are priced by the lookup directly, with the same credits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest

from engine.pricebook.model import CompiledPricebook, LeadPrice
from simulator import bills, in_default
from simulator.montecarlo import load_pricebooks
from simulator.population import draw
from tests.pricing.test_vector_leads import SYNTHETIC, row
from tests.support.paths import IN_V2

SPECIALTIES = ["dermatology", "dental", "ivf", "orthopedics"]
CITIES = ["Mumbai", "Pune", "Delhi", "Nowhere"]
SHAPES = {
    "every shape": SYNTHETIC,
    "overlapping ranges": (*SYNTHETIC, row("D3", "-", "-", "-", 5_000, 20_000, "100")),
    "bounds to the paisa and finer": (
        row("P1", "-", "-", "-", 0, None, "90"),
        LeadPrice(rule_id="P2", specialty="dental", pkg_price_to=Decimal("999.99"), lead_price_credits=Decimal(91)),
        LeadPrice(
            rule_id="P3",
            specialty="dental",
            pkg_price_from=Decimal("999.99"),
            pkg_price_to=Decimal("1000.005"),
            lead_price_credits=Decimal("92.5"),
        ),
        LeadPrice(rule_id="P4", specialty="dental", pkg_price_from=Decimal("1000.005"), lead_price_credits=Decimal(93)),
    ),
}


def _pricebook(rows: tuple[object, ...]) -> CompiledPricebook:
    v2 = load_pricebooks([IN_V2])[0]
    return CompiledPricebook.model_validate({**v2.model_dump(), "lead_prices": rows})


@pytest.mark.parametrize("shape", SHAPES)
def test_the_table_prices_every_lead_as_the_lookup_does(shape: str) -> None:
    pricebook = _pricebook(SHAPES[shape])
    table = bills.LeadTable.of(pricebook, SPECIALTIES, CITIES)
    assert table is not None
    index = bills.lead_vector(pricebook)
    rng = np.random.default_rng(7)
    bounds = table.breaks * 100 // table.price_scale  # in paise (a bound between two paise: the one below)
    paise = np.concatenate([bounds, bounds - 1, bounds + 1, rng.integers(0, 20_000_000, 20_000)])
    paise = np.maximum(paise, 0)
    n = len(paise)
    call = rng.random(n) < 0.5
    specialty, city = rng.integers(0, len(SPECIALTIES), n), rng.integers(0, len(CITIES), n)
    ours = table.price(table.offsets(specialty, city), call, paise)
    rules = index.lookup(
        bills._encode(index, 0, bills.CHANNELS)[call.astype(np.int64)],
        bills._encode(index, 1, SPECIALTIES)[specialty],
        bills._encode(index, 2, CITIES)[city],
        paise / 100,
    )
    theirs = np.where(rules >= 0, index.credits_for(rules, 1, pricebook.meta.rounding), -1)
    assert np.array_equal(ours, theirs)


def test_a_table_too_large_to_tabulate_prices_through_the_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = in_default(clinics=300, months=2, start=date(2026, 1, 1))
    books = load_pricebooks(scenario.pricebook_paths())
    population = draw(scenario)
    tabulated = bills.lead_credits(books, population)
    monkeypatch.setattr(bills, "LEAD_TABLE_CELLS", 0)
    bills._LEAD_TABLES.clear()
    assert bills.lead_table(books[-1], population.groups, population.cities) is None
    assert np.array_equal(bills.lead_credits(books, population), tabulated)
    bills._LEAD_TABLES.clear()


def test_a_lead_no_row_prices_is_refused_with_the_pricebook_named() -> None:
    pricebook = _pricebook((row("ONLY", "-", "dental", "-", 0, None, "100"),))
    scenario = in_default(clinics=50, months=1)
    from simulator import ScenarioError, simulate

    with pytest.raises(ScenarioError, match="prices no lead for some simulated leads"):
        simulate(scenario, [pricebook])
    assert Decimal(100) == pricebook.lead_prices[0].lead_price_credits


@pytest.mark.parametrize("count", [1, 2, 6, bills.FEW_BREAKS, bills.FEW_BREAKS + 1, 40])
def test_brackets_are_what_a_binary_search_finds(count: int) -> None:
    """Counted break by break (few breaks) or searched (many): the same bracket for every price,
    prices at, just below and just above each break included."""
    rng = np.random.default_rng(count)
    breaks = np.unique(np.concatenate(([0], rng.integers(1, 10**9, count - 1)))).astype(np.int64)
    edges = np.concatenate([breaks - 1, breaks, breaks + 1])
    prices = np.concatenate([edges[edges >= 0], rng.integers(0, 2 * 10**9, 10_000)]).astype(np.int64)
    found = bills._brackets(breaks, prices)
    assert found.dtype == np.int64
    assert np.array_equal(found, np.searchsorted(breaks, prices, side="right"))
