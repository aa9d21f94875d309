"""Scenarios, the Monte-Carlo outputs, A against B, sensitivity, break-even and exports."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from pydantic import ValidationError

from simulator import Range, Scenario, break_evens, compare, in_default, simulate, tornado, us_default
from simulator.export import safe, to_csv, to_xlsx
from simulator.montecarlo import load_pricebooks
from tests.support.paths import US_V1
from tests.support.workbooks import us_version_2


def test_a_scenario_round_trips_through_yaml_and_json(tmp_path: Path) -> None:
    scenario = us_default(clinics=123, seed=9)
    for name in ("s.yaml", "s.json"):
        assert Scenario.load(scenario.save(tmp_path / name)) == scenario
    with pytest.raises(ValidationError, match="high"):
        Range(low=5, high=1)
    with pytest.raises(ValidationError, match="needs `india`"):
        Scenario(market="IN", pricebooks=("x.xlsx",), topups={"block_credits": 1})


def test_shares_that_do_not_add_up_are_scaled_with_a_note() -> None:
    data = us_default().dump()
    data["sizes"]["solo"]["share"] = 0.6
    results = simulate(Scenario.model_validate({**data, "clinics": 500}))
    assert any("scaled to 100%" in note for note in results.notes)


def test_the_same_seed_gives_the_same_results_and_another_seed_does_not() -> None:
    a = simulate(us_default(clinics=2_000, seed=1)).summary()
    assert simulate(us_default(clinics=2_000, seed=1)).summary() == a
    assert simulate(us_default(clinics=2_000, seed=2)).summary()["billed"] != a["billed"]


def test_summary_figures_add_up() -> None:
    results = simulate(us_default(clinics=3_000, plan="payg"))
    bill, summary = results.chosen, results.summary()
    # credits bought + bonus = credits used + credits left (pay-as-you-go: nothing expires in a year)
    assert bill.cash.sum() + bill.bonus.sum() == bill.usage.sum() + bill.closing.sum()
    assert (bill.closing >= 0).all() and (bill.cash % results.scenario.topups.block_credits == 0).all()
    assert summary["billed"] == pytest.approx(summary["usage"] + summary["breakage"])
    margin = (summary["billed"] - summary["upstream_cost"]) / summary["billed"]
    assert summary["gross_margin"] == pytest.approx(margin)


def test_packages_are_bought_monthly_and_what_is_unused_expires() -> None:
    results = simulate(us_default(clinics=1_000, plan="package"))
    bill = results.chosen
    assert (bill.expired > 0).any() and (bill.cost >= bill.usage).all()
    assert (bill.cost == bill.usage + bill.expired).all()
    table = results.by_group_and_plan()
    solo = table[(table.group == "solo") & (table.plan == "Size's monthly packages")].iloc[0]
    assert solo.p5 == pytest.approx((83_000 + 155_000) * 0.0001)  # SOLO-SMS + SOLO-VOICE every month


def test_cheapest_plan_is_the_lowest_total_of_each_clinic() -> None:
    results = simulate(us_default(clinics=2_000, plan="cheapest"))
    totals = np.stack(list(results.plan_costs.values()))
    assert (results.chosen.cost == totals.min(axis=0)).all()
    shares = results.cheapest_by_group().drop(columns=["group", "clinics", "most often cheapest"])
    assert np.allclose(shares.sum(axis=1), 1)


def test_india_top_ups_get_the_bonus_the_rules_grant() -> None:
    results = simulate(in_default(clinics=500, start=date(2026, 2, 1), months=11))  # IN-BONUS20 ends with 2026
    bill = results.chosen
    blocks = bill.cash // 10_000
    assert (bill.bonus == blocks * 2_000).all()  # ₹10,000 → 20% bonus (IN-BONUS20, 2026)
    assert bill.cash.sum() + bill.bonus.sum() == bill.usage.sum() + bill.closing.sum()


def test_pricebook_b_on_the_same_draws(tmp_path: Path) -> None:
    scenario = us_default(clinics=2_000, plan="payg", start=date(2026, 5, 1))
    a = load_pricebooks([US_V1])
    same = compare(scenario, a, a).summary()
    assert same["revenue_change"] == 0 and same["unchanged"] == 2_000
    b = load_pricebooks([us_version_2(tmp_path, voice_1=200, effective_from=datetime(2026, 1, 1))])
    pricier = compare(scenario, a, b)
    figures = pricier.summary()
    assert figures["revenue_change"] > 0 and figures["winners"] == 0 and figures["losers"] > 0
    per_clinic = pricier.per_clinic()
    voice = pricier.a.units["voice_minutes"]
    assert (per_clinic.change[voice == 0] == 0).all()  # no voice, no change: the same draws


def test_tornado_ranks_the_assumptions_by_their_swing() -> None:
    scenario = us_default(clinics=1_000, plan="payg")
    frame = tornado(scenario, load_pricebooks(scenario.pricebook_paths()))
    assert list(frame.swing) == sorted(frame.swing, reverse=True) and len(frame) == 8
    reminders = frame.set_index("assumption").loc["reminders per appointment"]
    assert reminders.low < 0 < reminders.high


def test_break_even_of_the_shipped_packages() -> None:
    found = {b.package: b for b in break_evens(load_pricebooks([US_V1])[0])}
    assert found["SOLO-SMS"].units is None  # the 365-day graduated term keeps PAYG cheaper
    assert found["LARGE-VOICE"].units is not None and 15_000 < found["LARGE-VOICE"].units < 25_000


def test_exports_carry_the_assumptions_and_no_formula() -> None:
    results = simulate(us_default(name='=HYPERLINK("http://evil","x")', clinics=300))
    workbook = load_workbook(io.BytesIO(to_xlsx(results)))
    assert workbook.sheetnames[:2] == ["Assumptions", "Summary"] and "Clinics" in workbook.sheetnames
    values = {row[0]: row[1] for row in workbook["Assumptions"].iter_rows(min_row=2, values_only=True)}
    assert values["name"] == '\'=HYPERLINK("http://evil","x")' and values["seed"] == 2026
    assert any(str(k).startswith("pricebook us-audiology v1") for k in values)
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row)
    assert to_csv(results).decode().splitlines()[0].startswith("clinic,size,plan")
    assert safe("-1") == "'-1" and safe(-1) == -1 and safe("plain") == "plain"
