"""Simulate a scenario: draw the population, price it under every plan, apply the plan rule, and
summarise what analysts ask for — monthly cost per clinic by size and plan (p5/p50/p95), the
cheapest plan per size, revenue and its margin over upstream costs, credits outstanding, breakage,
bonus cost; pricebook A against B on the same draws; and which assumptions move revenue most."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.loader import load_pricebook
from engine.pricebook.model import CompiledPricebook
from simulator import bills as billing
from simulator.population import Population, draw
from simulator.scenario import PLAN_LABELS, PLANS, Range, Scenario

Progress = Callable[[str, float], None]


def load_pricebooks(paths: Sequence[str | Path]) -> list[CompiledPricebook]:
    return [load_pricebook(path) for path in paths]


@dataclass
class Results:
    scenario: Scenario
    pricebooks: list[CompiledPricebook]
    population: Population
    bills: dict[str, billing.Bill]
    chosen: billing.Bill
    plan_index: np.ndarray
    seconds: float
    notes: list[str] = field(default_factory=list)

    # -- money ------------------------------------------------------------------------------------------
    @property
    def money_per_credit(self) -> Decimal:
        return self.pricebooks[-1].meta.money_per_credit

    @property
    def currency(self) -> str:
        return self.pricebooks[-1].meta.currency

    def money(self, credits: float | np.ndarray) -> Any:
        return np.asarray(credits, dtype=np.float64) * float(self.money_per_credit)

    def upstream(self) -> np.ndarray:
        """(clinics, months) what the usage cost us upstream, in money."""
        costs = self.scenario.costs
        population = self.population
        if population.sms is not None and population.voice is not None:
            return population.sms * float(costs.sms_segment) + population.voice * float(costs.voice_minute)
        return population.lead_counts() * float(costs.lead)

    def summary(self) -> dict[str, float]:
        """Population totals over the horizon, in money (the pricebook's currency)."""
        bill = self.chosen
        billed = float(self.money(bill.cost.sum()))
        upstream = float(self.upstream().sum())
        return {
            "clinics": float(self.population.size),
            "months": float(len(self.population.months)),
            "cash_collected": float(self.money(bill.cash.sum())),
            "billed": billed,  # usage plus expired package credits: what clinics' months cost them
            "usage": float(self.money(bill.usage.sum())),
            "breakage": float(self.money(bill.expired.sum())),
            "bonus_granted": float(self.money(bill.bonus.sum())),
            "outstanding": float(self.money(bill.closing.sum())),
            "outstanding_credits": float(bill.closing.sum()),
            "upstream_cost": upstream,
            "gross_margin": (billed - upstream) / billed if billed else 0.0,
            "monthly_cost_per_clinic_p50": float(np.percentile(self.money(bill.cost.mean(axis=1)), 50)),
        }

    # -- tables -------------------------------------------------------------------------------------------
    def clinics(self) -> pd.DataFrame:
        """One row per clinic: who it is, what it used, which plan it is on and what it paid."""
        population, bill = self.population, self.chosen
        names = list(self.bills)
        frame = pd.DataFrame(
            {
                "clinic": np.arange(population.size),
                "group": np.array(population.groups)[population.group],
                "plan": [PLAN_LABELS[names[i]] for i in self.plan_index],
                "monthly_cost": self.money(bill.cost.mean(axis=1)),
                "total_cost": self.money(bill.cost.sum(axis=1)),
                "cash_paid": self.money(bill.cash.sum(axis=1)),
                "bonus_credits": bill.bonus.sum(axis=1),
                "expired_credits": bill.expired.sum(axis=1),
                "closing_credits": bill.closing,
                "upstream_cost": self.upstream().sum(axis=1),
            }
        )
        if population.sms is not None and population.voice is not None:
            frame.insert(3, "sms_segments", population.sms.sum(axis=1))
            frame.insert(4, "voice_minutes", population.voice.sum(axis=1))
        else:
            frame.insert(3, "leads", population.lead_counts().sum(axis=1))
        return frame.rename(columns={"group": "size" if self.scenario.market == "US" else "specialty"})

    def by_group_and_plan(self) -> pd.DataFrame:
        """Monthly cost per clinic (money) by size (or specialty) and plan: p5, p50, p95 and mean,
        for every plan, whichever the clinics chose."""
        rows = []
        for plan, bill in self.bills.items():
            monthly = self.money(bill.cost.mean(axis=1))
            for k, group in enumerate(self.population.groups):
                values = monthly[self.population.group == k]
                if not len(values):
                    continue
                p5, p50, p95 = np.percentile(values, [5, 50, 95])
                rows.append(
                    {
                        "group": group,
                        "plan": PLAN_LABELS[plan],
                        "clinics": len(values),
                        "p5": p5,
                        "p50": p50,
                        "p95": p95,
                        "mean": values.mean(),
                    }
                )
        return pd.DataFrame(rows)

    def cheapest_by_group(self) -> pd.DataFrame:
        """For each size: the share of clinics for which each plan is the cheapest."""
        names = list(self.bills)
        totals = np.stack([self.bills[n].cost.sum(axis=1) for n in names])
        best = totals.argmin(axis=0)
        rows = []
        for k, group in enumerate(self.population.groups):
            mine = best[self.population.group == k]
            if not len(mine):
                continue
            row: dict[str, Any] = {"group": group, "clinics": len(mine)}
            for i, name in enumerate(names):
                row[PLAN_LABELS[name]] = float((mine == i).mean())
            row["most often cheapest"] = PLAN_LABELS[names[int(np.bincount(mine, minlength=len(names)).argmax())]]
            rows.append(row)
        return pd.DataFrame(rows)

    def by_month(self) -> pd.DataFrame:
        """Per month: total cash collected and billed, and the per-clinic cost band (p10, p50, p90)."""
        bill = self.chosen
        cost = self.money(bill.cost)
        return pd.DataFrame(
            {
                "month": [m.strftime("%Y-%m") for m in self.population.months],
                "cash_collected": self.money(bill.cash.sum(axis=0)),
                "billed": cost.sum(axis=0),
                "p10": np.percentile(cost, 10, axis=0),
                "p50": np.percentile(cost, 50, axis=0),
                "p90": np.percentile(cost, 90, axis=0),
            }
        )


def simulate(
    scenario: Scenario,
    pricebooks: list[CompiledPricebook] | None = None,
    population: Population | None = None,
    progress: Progress | None = None,
) -> Results:
    started = time.perf_counter()
    tick = progress or (lambda step, done: None)
    books = pricebooks or load_pricebooks(scenario.pricebook_paths())
    tick("drawing the clinics", 0.1)
    drawn = population or draw(scenario)
    plans = PLANS if scenario.market == "US" else ("payg",)
    if scenario.market == "US" and scenario.plan != "cheapest":
        plans = tuple(dict.fromkeys((scenario.plan, *PLANS)))  # every plan: for the by-plan tables
    tick("pricing every clinic-month", 0.3)
    priced = billing.bills(books, drawn, plans)
    chosen, index = billing.choose(priced, scenario.plan if scenario.market == "US" else "payg")
    tick("summarising", 0.9)
    return Results(scenario, books, drawn, priced, chosen, index, time.perf_counter() - started, list(drawn.notes))


# -- A against B ------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    a: Results
    b: Results

    def per_clinic(self) -> pd.DataFrame:
        a, b = self.a.money(self.a.chosen.cost.sum(axis=1)), self.b.money(self.b.chosen.cost.sum(axis=1))
        change = b - a
        return pd.DataFrame(
            {
                "clinic": np.arange(len(a)),
                "group": np.array(self.a.population.groups)[self.a.population.group],
                "cost_a": a,
                "cost_b": b,
                "change": change,
                "change_pct": np.divide(change, a, out=np.zeros_like(change), where=a > 0),
            }
        )

    def summary(self) -> dict[str, float]:
        frame = self.per_clinic()
        revenue_a, revenue_b = float(frame.cost_a.sum()), float(frame.cost_b.sum())
        return {
            "revenue_a": revenue_a,
            "revenue_b": revenue_b,
            "revenue_change": revenue_b - revenue_a,
            "revenue_change_pct": (revenue_b - revenue_a) / revenue_a if revenue_a else 0.0,
            "change_p50": float(frame.change.median()),
            "change_p95": float(frame.change.quantile(0.95)),
            "change_pct_p50": float(frame.change_pct.median()),
            "change_pct_p95": float(frame.change_pct.quantile(0.95)),
            "winners": float((frame.change < 0).sum()),  # clinics that pay less under B
            "losers": float((frame.change > 0).sum()),
            "unchanged": float((frame.change == 0).sum()),
        }

    def by_group(self) -> pd.DataFrame:
        frame = self.per_clinic()
        grouped = frame.groupby("group", sort=False)
        return pd.DataFrame(
            {
                "clinics": grouped.size(),
                "change_p50": grouped.change.median(),
                "change_p95": grouped.change.quantile(0.95),
                "change_pct_p50": grouped.change_pct.median(),
                "pay_more": grouped.change.apply(lambda c: float((c > 0).mean())),
            }
        ).reset_index()


def compare(scenario: Scenario, a: list[CompiledPricebook], b: list[CompiledPricebook]) -> Comparison:
    """Both pricebooks on the same clinics and the same months (one draw)."""
    population = draw(scenario)
    return Comparison(simulate(scenario, a, population), simulate(scenario, b, population))


# -- sensitivity --------------------------------------------------------------------------------------------


def _assumptions(scenario: Scenario) -> dict[str, Callable[[float], Scenario]]:
    """Each assumption, as a way to scale it: revenue is re-simulated with it ×0.8 and ×1.2."""

    def scaled(update: Callable[[dict[str, Any], float], None]) -> Callable[[float], Scenario]:
        def build(factor: float) -> Scenario:
            data = scenario.dump()
            update(data, factor)
            return Scenario.model_validate(data)

        return build

    def range_at(*path: str) -> Callable[[dict[str, Any], float], None]:
        def update(data: dict[str, Any], factor: float) -> None:
            node = data
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = Range.model_validate(node[path[-1]]).scaled(factor).model_dump(exclude_none=True)

        return update

    def every(group: str, field_name: str) -> Callable[[dict[str, Any], float], None]:
        def update(data: dict[str, Any], factor: float) -> None:
            container = data[group] if group != "india" else data["india"]["specialties"]
            for item in container.values():
                item[field_name] = Range.model_validate(item[field_name]).scaled(factor).model_dump(exclude_none=True)

        return update

    def plain(path: tuple[str, ...], limit: float | None = None) -> Callable[[dict[str, Any], float], None]:
        def update(data: dict[str, Any], factor: float) -> None:
            node = data
            for key in path[:-1]:
                node = node[key]
            value = node[path[-1]] * factor
            node[path[-1]] = min(value, limit) if limit is not None else value

        return update

    if scenario.market == "US":
        return {
            "appointments per year": scaled(every("sizes", "appointments_per_year")),
            "clients per year": scaled(every("sizes", "clients_per_year")),
            "reminders per appointment": scaled(range_at("us", "reminders_per_appointment")),
            "segments per message": scaled(range_at("us", "segments_per_message")),
            "birthday messages per client": scaled(range_at("us", "birthday_messages_per_client")),
            "campaign messages per client": scaled(range_at("us", "campaign_messages_per_client")),
            "voicemail minutes per appointment": scaled(range_at("us", "voicemail_minutes_per_appointment")),
            "monthly variation": scaled(plain(("monthly_variation",), 2.0)),
        }
    return {
        "leads per month": scaled(every("india", "leads_per_month")),
        "treatment package prices": scaled(_scale_prices),
        "share of call leads": scaled(plain(("india", "call_share"), 1.0)),
        "monthly variation": scaled(plain(("monthly_variation",), 2.0)),
    }


def _scale_prices(data: dict[str, Any], factor: float) -> None:
    for item in data["india"]["specialties"].values():
        item["package_price_median"] *= factor


def tornado(scenario: Scenario, pricebooks: list[CompiledPricebook], swing: float = 0.2) -> pd.DataFrame:
    """Revenue (what clinics are billed) with each assumption at ×(1-swing) and ×(1+swing), the
    others at their values, on the same seed; ranked by the size of the swing."""
    base = simulate(scenario, pricebooks).summary()["billed"]
    rows = []
    for name, build in _assumptions(scenario).items():
        low = simulate(build(1 - swing), pricebooks).summary()["billed"]
        high = simulate(build(1 + swing), pricebooks).summary()["billed"]
        rows.append({"assumption": name, "low": low - base, "high": high - base, "swing": abs(high - low)})
    frame = pd.DataFrame(rows).sort_values("swing", ascending=False, ignore_index=True)
    frame.attrs["base"] = base
    return frame
