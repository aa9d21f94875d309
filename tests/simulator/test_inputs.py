"""Honest inputs: a realistic upstream cost per lead by default (so India's gross margin is not a
flat 100%), labelled as our assumption; and the inputs the chosen pricebooks cannot react to are
named, found from the pricebooks' own tables (and the simulation agrees they change nothing)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.pricebook.model import CompiledPricebook, LeadPrice
from simulator import Scenario, in_default, simulate, tornado, us_default
from simulator.montecarlo import load_pricebooks
from simulator.scenario import ASSUMPTION_NOTES
from tests.support.paths import IN_V1, IN_V2

CALL_SHARE, CITIES, PRICES, PROMO = (
    "india.call_share",
    "india.cities",
    "india.specialties.*.package_price_median",
    "topups.promo_code",
)


def _fields(scenario: Scenario, books: list[CompiledPricebook] | None = None) -> set[str]:
    return {item.field for item in scenario.inert_inputs(books or load_pricebooks(scenario.pricebook_paths()))}


def _billed(scenario: Scenario, books: list[CompiledPricebook] | None = None) -> float:
    return simulate(scenario, books).summary()["billed"]


def test_india_has_a_realistic_upstream_cost_per_lead_by_default() -> None:
    scenario = in_default(clinics=2_000)
    assert scenario.costs.lead == Decimal(200) and "assumption" in ASSUMPTION_NOTES["costs.lead"]
    margin = simulate(scenario).summary()["gross_margin"]
    assert 0 < margin < 0.9  # was 1.0: the cost defaulted to ₹0
    written = in_default().dump()
    del written["costs"]
    assert Scenario.validated(written).costs.lead == Decimal(200)  # a file without costs gets the default
    us = us_default()
    assert us.costs.lead is None and us.costs.sms_segment == Decimal("0.0083")
    assert "lead" not in us.dump()["costs"]


def test_under_v2_the_call_share_and_the_cities_have_no_effect_and_the_note_says_why() -> None:
    scenario = in_default(clinics=1_500, months=6)  # 2026: v2, priced by package price range only
    assert _fields(scenario) == {CALL_SHARE, CITIES}
    results = simulate(scenario)
    assert [item.field for item in results.inert] == [CALL_SHARE, CITIES]
    assert any(
        note.startswith("The share of call leads has no effect: no lead price in in-clinic-leads v2")
        for note in results.notes
    )
    calls = {
        share: _billed(in_default(clinics=1_500, months=6, india={**scenario.dump()["india"], "call_share": share}))
        for share in (0.1, 0.9)
    }
    assert calls[0.1] == calls[0.9]  # the claim holds: same draws, same bill


def test_under_v1_the_package_prices_have_no_effect_but_the_call_share_does() -> None:
    scenario = in_default(clinics=1_500, months=4, start=date(2025, 8, 1))  # v1: flat chat 300, call 500
    assert _fields(scenario) == {PRICES, CITIES}
    india = scenario.dump()["india"]
    low, high = (
        _billed(in_default(clinics=1_500, months=4, start=date(2025, 8, 1), india={**india, "call_share": share}))
        for share in (0.1, 0.9)
    )
    assert high > low
    both = in_default(clinics=1_500, months=6, start=date(2025, 11, 1))  # crosses into v2: both react
    assert _fields(both) == {CITIES}


def test_what_has_no_effect_comes_from_the_tables_not_from_names() -> None:
    """Add one lead row that prices calls in Mumbai differently: then the call share and the cities
    matter, and the simulation agrees."""
    v2 = load_pricebooks([IN_V2])[0]
    row = LeadPrice(
        rule_id="LP-MUMBAI-CALL",
        channel="call",
        city="Mumbai",
        pkg_price_from=Decimal(0),
        pkg_price_to=Decimal(10**9),
        lead_price_credits=Decimal(900),
    )
    edited = CompiledPricebook.model_validate({**v2.model_dump(), "lead_prices": (*v2.lead_prices, row)})
    scenario = in_default(clinics=1_500, months=3, pricebooks=[str(IN_V2)])
    assert _fields(scenario, [v2]) == {CALL_SHARE, CITIES}
    assert _fields(scenario, [edited]) == set()
    india = scenario.dump()["india"]
    low, high = (
        _billed(in_default(clinics=1_500, months=3, india={**india, "call_share": share}), [edited])
        for share in (0.1, 0.9)
    )
    assert high > low


def test_a_promotion_code_no_pricebook_knows_has_no_effect() -> None:
    unknown = in_default(topups={"block_credits": 10_000, "promo_code": "NOPE"})
    known = in_default(topups={"block_credits": 10_000, "promo_code": "extra2k"})  # codes compare without case
    assert PROMO in _fields(unknown) and PROMO not in _fields(known)
    assert PROMO not in _fields(in_default())


def test_the_tornado_skips_what_has_no_effect_and_reports_progress() -> None:
    scenario = in_default(clinics=800, months=3)
    calls: list[float] = []
    frame = tornado(scenario, load_pricebooks([IN_V1, IN_V2]), progress=lambda step, done: calls.append(done))
    rows = frame.set_index("assumption")
    assert rows.loc["share of call leads", "no_effect"].startswith("no lead price in in-clinic-leads v2")
    assert rows.loc["share of call leads", "swing"] == 0
    assert rows.loc["leads per month", "no_effect"] == "" and rows.loc["leads per month", "swing"] > 0
    assert calls[0] == 0 and calls[-1] == 1 and calls == sorted(calls)
