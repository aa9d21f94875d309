"""The simulation walks the population in chunks: the results are the same whatever the chunk
size, memory holds one chunk at a time, a scenario too large for the budget is refused before
anything is allocated, and long work reports its progress."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from simulator import ScenarioError, compare, in_default, simulate, us_default
from simulator.montecarlo import Results, load_pricebooks
from simulator.population import DRAW_BLOCK, chunks, draw
from tests.simulator.scripts import run_script
from tests.support.paths import IN_V1, US_V1


def _same(a: Results, b: Results) -> None:
    """Every number two simulations hold is identical."""
    assert a.plan_costs.keys() == b.plan_costs.keys()
    for plan in a.plan_costs:
        assert np.array_equal(a.plan_costs[plan], b.plan_costs[plan]), plan
    for name in ("usage", "cost", "cash", "bonus", "expired", "closing"):
        assert np.array_equal(getattr(a.chosen, name), getattr(b.chosen, name)), name
    assert np.array_equal(a.plan_index, b.plan_index)
    assert np.array_equal(a.cost_by_month, b.cost_by_month)
    assert np.array_equal(a.cash_by_month, b.cash_by_month)
    assert np.array_equal(a.population.group, b.population.group)
    for unit in a.units:
        assert np.array_equal(a.units[unit], b.units[unit]), unit
    assert a.summary() == b.summary()


@pytest.mark.parametrize("market", ["US", "IN"])
def test_the_same_seed_gives_the_same_results_whatever_the_chunk_size(market: str) -> None:
    default = us_default if market == "US" else in_default
    scenario = default(clinics=2 * DRAW_BLOCK + 917, months=14, start=date(2026, 1, 1))
    books = load_pricebooks(scenario.pricebook_paths())
    whole = simulate(scenario, books, chunk_clinics=scenario.clinics)
    for size in (1, DRAW_BLOCK, 2 * DRAW_BLOCK + 1):
        _same(simulate(scenario, books, chunk_clinics=size), whole)
    assert len(list(chunks(scenario, DRAW_BLOCK))) == 3  # the chunks were really walked one by one


def test_a_comparison_is_the_same_whatever_the_chunk_size() -> None:
    scenario = in_default(clinics=DRAW_BLOCK + 300, months=8, start=date(2025, 10, 1))  # crosses v1 → v2
    a, b = load_pricebooks([IN_V1]), load_pricebooks(scenario.pricebook_paths())
    whole = compare(scenario, a, b, chunk_clinics=scenario.clinics)
    small = compare(scenario, a, b, chunk_clinics=DRAW_BLOCK)
    _same(whole.a, small.a)
    _same(whole.b, small.b)
    assert whole.summary() == small.summary() and whole.summary()["revenue_change"] != 0


def test_a_clinics_draws_depend_on_the_seed_and_its_position_only() -> None:
    scenario = us_default(clinics=3 * DRAW_BLOCK, months=6)
    everyone = draw(scenario)
    middle = draw(scenario, DRAW_BLOCK, DRAW_BLOCK)
    assert np.array_equal(middle.sms, everyone.sms[DRAW_BLOCK : 2 * DRAW_BLOCK])
    assert np.array_equal(middle.group, everyone.group[DRAW_BLOCK : 2 * DRAW_BLOCK])
    india = in_default(clinics=2 * DRAW_BLOCK, months=3)
    assert np.array_equal(draw(india, DRAW_BLOCK).lead_counts(), draw(india).lead_counts()[DRAW_BLOCK:])
    with pytest.raises(ValueError, match="multiple of"):
        draw(scenario, 5)


def test_another_seed_gives_other_clinics() -> None:
    a, b = draw(us_default(clinics=500, seed=1)), draw(us_default(clinics=500, seed=2))
    assert not np.array_equal(a.sms, b.sms)


def test_progress_runs_from_zero_to_one_chunk_by_chunk() -> None:
    calls: list[tuple[float, str]] = []
    scenario = us_default(clinics=3 * DRAW_BLOCK, months=3)
    simulate(
        scenario, load_pricebooks([US_V1]), lambda step, done: calls.append((done, step)), chunk_clinics=DRAW_BLOCK
    )
    fractions = [done for done, _ in calls]
    assert fractions[0] == 0 and fractions[-1] == 1 and fractions == sorted(fractions)
    assert len(calls) == 4 and calls[-1][1] == f"priced {3 * DRAW_BLOCK:,} of {3 * DRAW_BLOCK:,} clinics"


def test_a_scenario_over_the_memory_budget_is_refused_naming_the_fields_to_reduce() -> None:
    scenario = us_default(clinics=1_000_000, months=36)
    with pytest.raises(ScenarioError, match="reduce clinics or months") as refused:
        simulate(scenario, load_pricebooks([US_V1]), memory_budget=200 * 2**20)
    assert "200 MB" in str(refused.value)
    assert scenario.estimate().peak_bytes < 1024 * 2**20  # the schema's largest fits the default budget
    assert scenario.estimate(runs=2).peak_bytes > scenario.estimate().peak_bytes
    india = in_default(clinics=1_000_000, months=36).dump()
    for specialty in india["india"]["specialties"].values():
        specialty["leads_per_month"] = {"low": 900_000, "high": 1_000_000}
    with pytest.raises(ScenarioError, match="leads_per_month"):
        in_default(**india).check_budget()


def test_the_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = us_default(clinics=200_000)
    monkeypatch.setenv("CREDITBOOK_SIM_MEMORY_MB", "20")
    with pytest.raises(ScenarioError, match="over the budget of 20 MB"):
        simulate(scenario, load_pricebooks([US_V1]))
    monkeypatch.setenv("CREDITBOOK_SIM_MEMORY_MB", "nan")
    with pytest.raises(ScenarioError, match="CREDITBOOK_SIM_MEMORY_MB"):
        scenario.check_budget()


_MEASURE = """
import json, sys
from bench.common import memory_mb
from simulator import load_pricebooks, simulate, us_default
scenario = us_default(clinics=int(sys.argv[1]))
books = load_pricebooks(scenario.pricebook_paths())
simulate(us_default(clinics=100), books)
start = memory_mb("VmRSS")
results = simulate(scenario, books)
print(json.dumps({"grew_mb": memory_mb("VmHWM") - start, "estimate_mb": scenario.estimate().peak_bytes / 2**20,
                  "kept_mb": scenario.estimate().kept_bytes / 2**20}))
"""


def test_memory_holds_one_chunk_not_the_whole_population() -> None:
    """200,000 clinic-years: the whole population's clinic-months under four plans would take
    well over a gigabyte; chunked, the process grows by what is kept per clinic plus one chunk,
    within the estimate the budget is checked against."""
    figures = run_script(_MEASURE, "200000")
    assert figures["grew_mb"] < figures["estimate_mb"] < 300, figures
    assert figures["grew_mb"] < figures["kept_mb"] + 150, figures
