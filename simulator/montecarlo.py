"""Simulate a scenario: draw the population, price it under every plan, apply the plan rule, and
summarise what analysts ask for — monthly cost per clinic by size and plan (p5/p50/p95), the
cheapest plan per size, revenue and its margin over upstream costs, credits outstanding, breakage,
bonus cost; pricebook A against B on the same draws; and which assumptions move revenue most.

The population is walked in chunks of whole draw blocks (simulator/population.py): each chunk is
drawn, priced under every plan (and every pricebook set, for A against B) and folded into per-clinic
totals before the next is drawn, so memory holds one chunk's clinic-months plus a few numbers per
clinic and one per clinic-month of the chosen plan. Before anything is allocated, the scenario's
estimate is checked against the memory budget (`Scenario.check_budget`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import CreditbookError
from engine.loader import load_pricebook
from engine.pricebook.model import CompiledPricebook
from simulator import bills as billing
from simulator.population import Population, chunk_size, chunks, month_starts
from simulator.population import notes as draw_notes
from simulator.scenario import PLAN_LABELS, PLANS, Inert, Range, Scenario, ScenarioError, read_file

Progress = Callable[[str, float], None]  # (what is being done, fraction done)
MAX_PRICEBOOK_BYTES = 20 * 2**20  # a workbook path given to the simulator is read only if it is a file this small


def load_pricebooks(paths: Sequence[str | Path]) -> list[CompiledPricebook]:
    """Compile each workbook; ScenarioError for a path that is not a readable regular file (a folder,
    a FIFO, /dev/zero: refused before anything reads it) or a workbook with errors."""
    from engine.pricebook.validate import PricebookError

    books = []
    for path in paths:
        read_file(path, MAX_PRICEBOOK_BYTES, "pricebook")  # refuses what is not a regular, readable, small file
        try:
            stat = os.stat(path)
            books.append(_compiled(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, load_pricebook))
        except PricebookError as exc:
            raise ScenarioError(str(exc)) from None
        except (CreditbookError, OSError, ValueError) as exc:  # whatever else the loader refuses
            raise ScenarioError(f"cannot load the pricebook {str(path)[:200]}: {exc}") from None
    return books


@functools.lru_cache(maxsize=16)
def _compiled(path: str, mtime_ns: int, size: int, load: Callable[[str], CompiledPricebook]) -> CompiledPricebook:
    """A compiled workbook, remembered while the file is unchanged (compiled pricebooks are immutable)."""
    return load(path)


@dataclass(frozen=True)
class Drawn:
    """Who was simulated: the clinics' groups (US: sizes; IN: specialties) and the months."""

    scenario: Scenario
    months: list[datetime]
    groups: list[str]
    group: np.ndarray
    cities: list[str] = field(default_factory=list)  # IN: the city names, and each clinic's
    city: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.group)


def total(values: np.ndarray) -> int:
    """The exact sum of an integer array (as a Python int: past int64 when it has to be)."""
    if not values.size:
        return 0
    if int(np.abs(values).max()) < (2**63 - 1) // values.size:
        return int(values.sum())
    return sum(int(v) for v in values)


@dataclass
class Results:
    scenario: Scenario
    pricebooks: list[CompiledPricebook]
    population: Drawn
    plan_costs: dict[str, np.ndarray]  # each plan's cost per clinic over the horizon (credits)
    chosen: billing.Bill  # per clinic, over the horizon: the plan each clinic is on under the plan rule
    plan_index: np.ndarray  # which plan that is (index into plan_costs)
    cost_by_month: np.ndarray  # (clinics, months) credits of the chosen plan
    cash_by_month: np.ndarray  # (months,) credits bought by every clinic
    units: dict[str, np.ndarray]  # per clinic: sms_segments and voice_minutes (US) or leads (IN)
    seconds: float
    notes: list[str] = field(default_factory=list)
    inert: list[Inert] = field(default_factory=list)  # inputs with no effect under these pricebooks

    # -- money ------------------------------------------------------------------------------------------
    @property
    def money_per_credit(self) -> Decimal:
        return self.pricebooks[-1].meta.money_per_credit

    @property
    def currency(self) -> str:
        return self.pricebooks[-1].meta.currency

    def money(self, credits: float | np.ndarray) -> Any:
        return np.asarray(credits, dtype=np.float64) * float(self.money_per_credit)

    def _unit_costs(self) -> list[tuple[str, Decimal]]:
        costs = self.scenario.costs
        pairs = [("sms_segments", costs.sms_segment), ("voice_minutes", costs.voice_minute), ("leads", costs.lead)]
        return [(unit, cost or Decimal(0)) for unit, cost in pairs if unit in self.units]

    def upstream(self) -> np.ndarray:
        """Per clinic: what its usage cost us upstream over the horizon, in money."""
        out = np.zeros(self.population.size)
        for unit, cost in self._unit_costs():
            out += self.units[unit] * float(cost)
        return out

    def upstream_total(self) -> Decimal:
        """What the whole population's usage cost us upstream, exactly."""
        return sum((total(self.units[unit]) * cost for unit, cost in self._unit_costs()), Decimal(0))

    def credits(self) -> dict[str, int]:
        """Population totals over the horizon, in credits (exact)."""
        bill = self.chosen
        return {
            "billed": total(bill.cost),
            "cash_collected": total(bill.cash),
            "usage": total(bill.usage),
            "breakage": total(bill.expired),
            "bonus_granted": total(bill.bonus),
            "outstanding": total(bill.closing),
        }

    def summary(self) -> dict[str, float]:
        """Population totals over the horizon, in money (the pricebook's currency)."""
        credits = self.credits()
        rate = self.money_per_credit
        money = {key: float(value * rate) for key, value in credits.items()}
        billed, upstream = money["billed"], float(self.upstream_total())
        monthly = self.chosen.cost / len(self.population.months)
        return {
            "clinics": float(self.population.size),
            "months": float(len(self.population.months)),
            "cash_collected": money["cash_collected"],
            "billed": billed,  # usage plus expired package credits: what clinics' months cost them
            "usage": money["usage"],
            "breakage": money["breakage"],
            "bonus_granted": money["bonus_granted"],
            "outstanding": money["outstanding"],
            "outstanding_credits": float(credits["outstanding"]),
            "upstream_cost": upstream,
            "gross_margin": (billed - upstream) / billed if billed else 0.0,
            "monthly_cost_per_clinic_p50": float(np.percentile(self.money(monthly), 50)),
        }

    # -- tables -------------------------------------------------------------------------------------------
    def _labels(self) -> pd.Categorical:
        return pd.Categorical.from_codes(self.population.group, categories=self.population.groups)

    def clinics(self) -> pd.DataFrame:
        """One row per clinic: who it is, what it used, which plan it is on and what it paid."""
        bill, months = self.chosen, len(self.population.months)
        names = [PLAN_LABELS[name] for name in self.plan_costs]
        columns: dict[str, Any] = {
            "clinic": np.arange(self.population.size),
            "group": self._labels(),
            **(
                {"city": pd.Categorical.from_codes(self.population.city, categories=self.population.cities)}
                if self.population.city is not None
                else {}
            ),
            "plan": pd.Categorical.from_codes(self.plan_index, categories=names),
            **self.units,
            "monthly_cost": self.money(bill.cost / months),
            "total_cost": self.money(bill.cost),
            "cash_paid": self.money(bill.cash),
            "bonus_credits": bill.bonus,
            "expired_credits": bill.expired,
            "closing_credits": bill.closing,
            "upstream_cost": self.upstream(),
        }
        frame = pd.DataFrame(columns)
        return frame.rename(columns={"group": "size" if self.scenario.market == "US" else "specialty"})

    def by_group_and_plan(self) -> pd.DataFrame:
        """Monthly cost per clinic (money) by size (or specialty) and plan: p5, p50, p95 and mean,
        for every plan, whichever the clinics chose."""
        rows = []
        months = len(self.population.months)
        for plan, cost in self.plan_costs.items():
            monthly = self.money(cost / months)
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
        names = list(self.plan_costs)
        best = np.stack([self.plan_costs[n] for n in names]).argmin(axis=0)
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
        bands = np.array([np.percentile(column, [10, 50, 90]) for column in self.cost_by_month.T])
        return pd.DataFrame(
            {
                "month": [m.strftime("%Y-%m") for m in self.population.months],
                "cash_collected": self.money(self.cash_by_month),
                "billed": self.money(self.cost_by_month.sum(axis=0)),
                "p10": self.money(bands[:, 0]),
                "p50": self.money(bands[:, 1]),
                "p90": self.money(bands[:, 2]),
            }
        )


_SUMMED = ("usage", "cost", "cash", "bonus", "expired")


class _Collector:
    """Per-clinic totals of one pricebook set, filled chunk by chunk."""

    def __init__(self, scenario: Scenario, books: list[CompiledPricebook], plans: tuple[str, ...]):
        n, m = scenario.clinics, scenario.months
        self.scenario, self.books, self.plans = scenario, books, plans
        self.group = np.zeros(n, dtype=np.int16)
        self.city = np.zeros(n, dtype=np.int16) if scenario.market == "IN" else None
        self.plan_costs = {plan: np.zeros(n, dtype=np.int64) for plan in plans}
        self.chosen = billing.Bill.empty(scenario.plan if scenario.market == "US" else "payg", n)
        self.plan_index = np.zeros(n, dtype=np.int8)
        self.cost_by_month = np.zeros((n, m), dtype=np.int64)
        self.cash_by_month = np.zeros(m, dtype=np.int64)
        units = ("sms_segments", "voice_minutes") if scenario.market == "US" else ("leads",)
        self.units = {unit: np.zeros(n, dtype=np.int64) for unit in units}

    def add(self, population: Population, priced: dict[str, billing.Bill]) -> None:
        rows = slice(population.first, population.first + population.size)
        rule = self.scenario.plan if self.scenario.market == "US" else "payg"
        sums = {name: np.stack([getattr(bill, name).sum(axis=1) for bill in priced.values()]) for name in _SUMMED}
        index = billing.choose(priced, rule, sums["cost"])
        self.group[rows] = population.group
        if self.city is not None and population.city is not None:
            self.city[rows] = population.city
        for plan, cost in zip(priced, sums["cost"], strict=True):
            self.plan_costs[plan][rows] = cost
        for name, stacked in sums.items():
            getattr(self.chosen, name)[rows] = np.take_along_axis(stacked, index[None, :].astype(np.intp), 0)[0]
        closing = np.stack([bill.closing for bill in priced.values()])
        self.chosen.closing[rows] = np.take_along_axis(closing, index[None, :].astype(np.intp), 0)[0]
        self.plan_index[rows] = index
        months = self.cost_by_month[rows]
        for p, bill in enumerate(priced.values()):
            mine = index == p
            if mine.all():
                months[:] = bill.cost
                self.cash_by_month += bill.cash.sum(axis=0)
            elif mine.any():
                months[mine] = bill.cost[mine]
                self.cash_by_month += bill.cash[mine].sum(axis=0)
        if population.sms is not None and population.voice is not None:
            self.units["sms_segments"][rows] = population.sms.sum(axis=1)
            self.units["voice_minutes"][rows] = population.voice.sum(axis=1)
        else:
            self.units["leads"][rows] = population.lead_counts().sum(axis=1)

    def results(self, groups: list[str], seconds: float, inert: list[Inert]) -> Results:
        scenario = self.scenario
        cities = list(scenario.india.cities) if scenario.india is not None else []
        drawn = Drawn(scenario, month_starts(scenario.start, scenario.months), groups, self.group, cities, self.city)
        chosen_rule = "cheapest" if scenario.plan == "cheapest" else self.chosen.plan
        self.chosen.plan = chosen_rule
        extra = [item.sentence() for item in inert]
        return Results(
            scenario,
            self.books,
            drawn,
            self.plan_costs,
            self.chosen,
            self.plan_index,
            self.cost_by_month,
            self.cash_by_month,
            self.units,
            seconds,
            draw_notes(scenario) + extra,
            inert,
        )


def _plans(scenario: Scenario) -> tuple[str, ...]:
    if scenario.market != "US":
        return ("payg",)
    if scenario.plan == "cheapest":
        return PLANS
    return tuple(dict.fromkeys((scenario.plan, *PLANS)))  # every plan: for the by-plan tables


def _run(
    scenario: Scenario,
    book_sets: list[list[CompiledPricebook]],
    progress: Progress | None,
    chunk_clinics: int | None,
    memory_budget: int | None,
) -> list[Results]:
    started = time.perf_counter()
    scenario.check_budget(memory_budget, runs=len(book_sets))
    tick = progress or (lambda step, done: None)
    plans = _plans(scenario)
    collectors = [_Collector(scenario, books, plans) for books in book_sets]
    groups: list[str] = []
    size = chunk_clinics or chunk_size(scenario)
    tick(f"drawing and pricing {scenario.clinics:,} clinics", 0.0)
    try:
        for population in chunks(scenario, size):
            groups = population.groups
            for collector, priced in zip(collectors, billing.bills_many(book_sets, population, plans), strict=True):
                collector.add(population, priced)
            done = population.first + population.size
            tick(f"priced {done:,} of {scenario.clinics:,} clinics", done / scenario.clinics)
    except OverflowError:
        raise ScenarioError(
            "a clinic's credits do not fit in 64 bits: reduce the usage ranges or check the pricebook's prices"
        ) from None
    seconds = time.perf_counter() - started
    return [c.results(groups, seconds, scenario.inert_inputs(c.books)) for c in collectors]


def simulate(
    scenario: Scenario,
    pricebooks: list[CompiledPricebook] | None = None,
    progress: Progress | None = None,
    *,
    chunk_clinics: int | None = None,
    memory_budget: int | None = None,
) -> Results:
    """Simulate the scenario under its pricebooks (or `pricebooks`). `progress(step, fraction)` is
    called as chunks are priced; `chunk_clinics` changes how much is held at once, never the
    results; `memory_budget` (bytes, default `memory_budget()`) refuses a scenario too large."""
    books = pricebooks or load_pricebooks(scenario.pricebook_paths())
    return _run(scenario, [books], progress, chunk_clinics, memory_budget)[0]


# -- A against B ------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    a: Results
    b: Results

    def per_clinic(self) -> pd.DataFrame:
        a, b = self.a.money(self.a.chosen.cost), self.b.money(self.b.chosen.cost)
        change = b - a
        return pd.DataFrame(
            {
                "clinic": np.arange(len(a)),
                "group": self.a._labels(),
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
        grouped = frame.groupby("group", sort=False, observed=True)
        return pd.DataFrame(
            {
                "clinics": grouped.size(),
                "change_p50": grouped.change.median(),
                "change_p95": grouped.change.quantile(0.95),
                "change_pct_p50": grouped.change_pct.median(),
                "pay_more": grouped.change.apply(lambda c: float((c > 0).mean())),
            }
        ).reset_index()


def compare(
    scenario: Scenario,
    a: list[CompiledPricebook],
    b: list[CompiledPricebook],
    progress: Progress | None = None,
    *,
    chunk_clinics: int | None = None,
    memory_budget: int | None = None,
) -> Comparison:
    """Both pricebooks on the same clinics and the same months: each chunk is drawn once and
    priced under both."""
    first, second = _run(scenario, [a, b], progress, chunk_clinics, memory_budget)
    return Comparison(first, second)


# -- sensitivity --------------------------------------------------------------------------------------------

Update = Callable[[dict[str, Any], float], None]


@dataclass(frozen=True)
class Assumption:
    """One input the tornado swings: its label, the field it scales, how."""

    label: str
    field: str  # matches Inert.field, so an input with no effect is not re-simulated
    update: Update


def _range_at(*path: str) -> Update:
    def update(data: dict[str, Any], factor: float) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = Range.model_validate(node[path[-1]]).scaled(factor).model_dump(exclude_none=True)

    return update


def _every(container: tuple[str, ...], field_name: str) -> Update:
    def update(data: dict[str, Any], factor: float) -> None:
        node = data
        for key in container:
            node = node[key]
        for item in node.values():
            value = item[field_name]
            item[field_name] = (
                Range.model_validate(value).scaled(factor).model_dump(exclude_none=True)
                if isinstance(value, dict)
                else value * factor
            )

    return update


def _plain(path: tuple[str, ...], limit: float) -> Update:
    def update(data: dict[str, Any], factor: float) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = min(node[path[-1]] * factor, limit)

    return update


def assumptions(scenario: Scenario) -> list[Assumption]:
    """The inputs the tornado swings, for the scenario's market."""
    variation = Assumption("monthly variation", "monthly_variation", _plain(("monthly_variation",), 2.0))
    if scenario.market == "US":
        usage = [
            ("reminders per appointment", "reminders_per_appointment"),
            ("segments per message", "segments_per_message"),
            ("birthday messages per client", "birthday_messages_per_client"),
            ("campaign messages per client", "campaign_messages_per_client"),
            ("voicemail minutes per appointment", "voicemail_minutes_per_appointment"),
        ]
        return [
            Assumption(
                "appointments per year", "sizes.*.appointments_per_year", _every(("sizes",), "appointments_per_year")
            ),
            Assumption("clients per year", "sizes.*.clients_per_year", _every(("sizes",), "clients_per_year")),
            *(Assumption(label, f"us.{name}", _range_at("us", name)) for label, name in usage),
            variation,
        ]
    specialties = ("india", "specialties")
    return [
        Assumption("leads per month", "india.specialties.*.leads_per_month", _every(specialties, "leads_per_month")),
        Assumption(
            "treatment package prices",
            "india.specialties.*.package_price_median",
            _every(specialties, "package_price_median"),
        ),
        Assumption("share of call leads", "india.call_share", _plain(("india", "call_share"), 1.0)),
        variation,
    ]


def tornado(
    scenario: Scenario,
    pricebooks: list[CompiledPricebook],
    swing: float = 0.2,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Revenue (what clinics are billed) with each assumption at ×(1-swing) and ×(1+swing), the
    others at their values, on the same seed; ranked by the size of the swing. An assumption no
    pricebook in force reacts to is not re-simulated: its row says why (`no_effect`)."""
    tick = progress or (lambda step, done: None)
    inert = {item.field: item.reason for item in scenario.inert_inputs(pricebooks)}
    every = assumptions(scenario)
    runs = 1 + 2 * sum(item.field not in inert for item in every)
    finished = 0

    def run(built: Scenario, step: str) -> float:
        nonlocal finished

        def inner(detail: str, done: float) -> None:
            tick(f"{step}: {detail}", (finished + done) / runs)

        billed = simulate(built, pricebooks, inner).summary()["billed"]
        finished += 1
        return billed

    base = run(scenario, "the scenario as it is")
    rows = []
    for item in every:
        if item.field in inert:
            rows.append(
                {"assumption": item.label, "low": 0.0, "high": 0.0, "swing": 0.0, "no_effect": inert[item.field]}
            )
            continue
        low = run(_swung(scenario, item, 1 - swing), f"{item.label} ×{1 - swing:g}")
        high = run(_swung(scenario, item, 1 + swing), f"{item.label} ×{1 + swing:g}")
        rows.append(
            {
                "assumption": item.label,
                "low": low - base,
                "high": high - base,
                "swing": abs(high - low),
                "no_effect": "",
            }
        )
    tick("done", 1.0)
    frame = pd.DataFrame(rows).sort_values("swing", ascending=False, ignore_index=True, kind="stable")
    frame.attrs["base"] = base
    return frame


def _swung(scenario: Scenario, item: Assumption, factor: float) -> Scenario:
    data = scenario.dump()
    item.update(data, factor)
    return Scenario.validated(data)
