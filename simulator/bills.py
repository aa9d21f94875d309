"""What the drawn usage costs under a plan, priced by engine/pricing's vectorised path.

Every price comes from the same compiled tables the ledger charges with: `plan_table` picks the
table a plan prices a product with (the one used by quotes and charges), `VectorTierTable` evaluates
it over arrays exactly (integer credits, the pricebook's rounding), `VectorLeadIndex` prices leads,
and the policy rules grant top-up bonuses. Nothing here restates a price.

Plans (US): pay-as-you-go, graduated over the clinic's 365-day term (twelve simulated months),
priced by the version in force when the term started; the size's SMS and voice packages, bought
every month (credits valid 30 days: what a month leaves unused expires), usage at the package rate;
and either with the SMS + voice bundle's discount. A month's usage is priced as one charge, which is
exact for graduated tiers (a term's charges add up to the rounded cost of its total) and differs from
per-campaign rounding by under one credit per campaign for fractional (bundle) rates.

Cash: clinics buy credits in blocks (`TopUps.block_credits`) when the month's usage needs them; each
block gets the bonus the policy rules grant at that date; package credits are used first (they
expire first, as in the ledger's lot order).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np

from engine.pricebook.model import CompiledPricebook
from engine.pricing.indexes import PAYG, PlanTable, plan_table, tables_for
from engine.pricing.quote import select_version
from engine.pricing.tiers import TierTable
from engine.pricing.vector import VectorLeadIndex, VectorTierTable
from rules import PolicyEngine, TopUpFacts
from simulator.population import Population
from simulator.scenario import PLANS

TERM_MONTHS = 12
_VECTORS: dict[int, tuple[TierTable, VectorTierTable]] = {}
_LOCK = threading.Lock()


def vector(table: TierTable) -> VectorTierTable:
    """The vector form of a tier table, built once per table object."""
    found = _VECTORS.get(id(table))
    if found is None or found[0] is not table:
        with _LOCK:
            found = _VECTORS[id(table)] = (table, VectorTierTable.of(table))
    return found[1]


def lead_vector(pricebook: CompiledPricebook) -> VectorLeadIndex:
    return pricebook.derived("simulator.leads", lambda pb: VectorLeadIndex.of(tables_for(pb).leads))  # type: ignore[no-any-return]


@dataclass
class Bill:
    """One plan's bill for every clinic and month, in credits."""

    plan: str
    usage: np.ndarray  # credits the usage costs
    cost: np.ndarray  # what the month costs the clinic: usage, plus package credits left to expire
    cash: np.ndarray  # credits bought (packages and top-up blocks), paid in money at the credit value
    bonus: np.ndarray  # granted credits received with top-ups
    expired: np.ndarray  # package credits that expired unused
    closing: np.ndarray  # (clinics,) balance left at the end of the horizon


def versions(pricebooks: list[CompiledPricebook], population: Population) -> list[CompiledPricebook]:
    """The version in force each month."""
    return [select_version(pricebooks, at) for at in population.months]


def term_versions(pricebooks: list[CompiledPricebook], population: Population) -> list[CompiledPricebook]:
    """The version pay-as-you-go usage is priced by each month: the one in force when the clinic's
    term started, unless a later version moves existing customers at a date of its own."""
    out = []
    for m, at in enumerate(population.months):
        current = select_version(pricebooks, at)
        started = select_version(pricebooks, population.months[m - m % TERM_MONTHS])
        moved = current.meta.existing_customers_effective_from
        out.append(current if moved is not None and at >= moved else started)
    return out


def _size_plans(pricebook: CompiledPricebook, size: str) -> tuple[str, ...]:
    return tuple(p.package_code for p in pricebook.packages if p.clinic_size == size)


def _table(pricebook: CompiledPricebook, product: str, plans: tuple[str, ...], bundle: bool) -> PlanTable:
    chosen = plan_table(tables_for(pricebook), product, plans, bundle)
    if chosen is None:
        raise ValueError(f"{pricebook.label} has no tier table for {product}")
    return chosen


def _segments(by_month: list[CompiledPricebook]) -> list[tuple[int, int, CompiledPricebook]]:
    """Runs of months priced by the same version: (first month, month after the last, version)."""
    runs: list[tuple[int, int, CompiledPricebook]] = []
    for m, pricebook in enumerate(by_month):
        if runs and runs[-1][2] is pricebook:
            runs[-1] = (runs[-1][0], m + 1, pricebook)
        else:
            runs.append((m, m + 1, pricebook))
    return runs


def used_before(units: np.ndarray) -> np.ndarray:
    """Units already used in the current term before each month (terms of TERM_MONTHS months)."""
    used = np.empty_like(units)
    for start in range(0, units.shape[1], TERM_MONTHS):
        block = units[:, start : start + TERM_MONTHS]
        used[:, start : start + TERM_MONTHS] = np.cumsum(block, axis=1) - block
    return used


def usage_credits(pricebooks: list[CompiledPricebook], population: Population, plan: str) -> np.ndarray:
    """(clinics, months) credits of the month's SMS and voice usage under `plan` (US)."""
    assert population.sms is not None and population.voice is not None
    bundle = plan.endswith("_bundle")
    on_package = plan.startswith("package")
    by_month = versions(pricebooks, population) if on_package else term_versions(pricebooks, population)
    rows_of = [np.flatnonzero(population.group == k) for k in range(len(population.groups))]
    credits = np.zeros(population.sms.shape, dtype=np.int64)
    for product, units in (("sms", population.sms), ("voice", population.voice)):
        used = used_before(units)
        for first, last, pricebook in _segments(by_month):
            # pay-as-you-go prices every size alike: one evaluation; packages differ by size
            groups = [
                (rows, _size_plans(pricebook, size)) for rows, size in zip(rows_of, population.groups, strict=True)
            ]
            for rows, plans in groups if on_package else [(slice(None), (PAYG,))]:
                table = _table(pricebook, product, plans, bundle)
                block = units[rows, first:last]
                before = used[rows, first:last] if table.accumulates else np.zeros_like(block)
                charged = vector(table.table).charge(before.ravel(), block.ravel(), pricebook.meta.rounding)
                credits[rows, first:last] += charged.reshape(block.shape)
    return credits


def package_credits(pricebooks: list[CompiledPricebook], population: Population) -> np.ndarray:
    """(clinics, months) credits of the size's monthly SMS and voice packages."""
    out = np.zeros((population.size, len(population.months)), dtype=np.int64)
    for m, pricebook in enumerate(versions(pricebooks, population)):
        for k, size in enumerate(population.groups):
            total = sum(int(p.total_credits) for p in pricebook.packages if p.clinic_size == size)
            out[population.group == k, m] = total
    return out


def lead_credits(pricebooks: list[CompiledPricebook], population: Population) -> np.ndarray:
    """(clinics, months) credits of every lead, each priced by its channel, specialty, city and
    treatment package price (IN)."""
    leads = population.leads
    assert leads is not None
    out = np.zeros((population.size, len(population.months)), dtype=np.int64)
    by_month = versions(pricebooks, population)
    for pricebook in {id(p): p for p in by_month}.values():
        months = np.array([m for m, p in enumerate(by_month) if p is pricebook])
        chosen = np.isin(leads.month, months)
        index = lead_vector(pricebook)
        clinic = leads.clinic[chosen]
        channel = np.where(leads.call[chosen], *index.encode(0, ["call", "chat"]))
        specialty = index.encode(1, leads.specialty)[leads.specialty_of_clinic[clinic]]
        city = index.encode(2, leads.city)[leads.city_of_clinic[clinic]]
        rules = index.lookup(channel, specialty, city, leads.package_price[chosen])
        if (rules < 0).any():
            raise ValueError(f"{pricebook.label} prices no lead for some simulated leads (add a default row)")
        credits = index.credits_for(rules, 1, pricebook.meta.rounding)
        np.add.at(out, (leads.clinic[chosen], leads.month[chosen]), credits)
    return out


@lru_cache(maxsize=256)
def _bonus(pricebook: CompiledPricebook, block: int, at: datetime, promo: str | None) -> int:
    decision = PolicyEngine.of(pricebook).topup(
        TopUpFacts(clinic_id="simulated", paid_credits=block, at=at, promo_code=promo)
    )
    return int(decision.bonus_credits)


def settle(
    plan: str,
    usage: np.ndarray,
    packages: np.ndarray | None,
    pricebooks: list[CompiledPricebook],
    population: Population,
) -> Bill:
    """Month by month: package credits first, then the balance, then blocks of top-ups with their bonus."""
    topups = population.scenario.topups
    block = topups.block_credits
    clinics = usage.shape[0]
    cost, cash, bonus, expired = (np.empty_like(usage) for _ in range(4))  # every column is written below
    balance = np.zeros(clinics, dtype=np.int64)
    for m, pricebook in enumerate(versions(pricebooks, population)):
        need = usage[:, m]
        package = packages[:, m] if packages is not None else np.zeros(clinics, dtype=np.int64)
        from_package = np.minimum(need, package)
        expired[:, m] = package - from_package
        rest = need - from_package
        extra = _bonus(pricebook, block, population.months[m], topups.promo_code)
        short = np.maximum(rest - balance, 0)
        blocks = -(-short // (block + extra))
        balance = balance + blocks * (block + extra) - rest
        cash[:, m] = package + blocks * block
        bonus[:, m] = blocks * extra
        cost[:, m] = need + expired[:, m]
    return Bill(plan, usage, cost, cash, bonus, expired, balance)


def bills(
    pricebooks: list[CompiledPricebook], population: Population, plans: tuple[str, ...] = PLANS
) -> dict[str, Bill]:
    """Every plan's bill (US), or the pay-as-you-go lead bill (IN)."""
    if population.scenario.market == "IN":
        usage = lead_credits(pricebooks, population)
        return {"payg": settle("payg", usage, None, pricebooks, population)}
    out = {}
    packages = package_credits(pricebooks, population)
    for plan in plans:
        usage = usage_credits(pricebooks, population, plan)
        out[plan] = settle(plan, usage, packages if plan.startswith("package") else None, pricebooks, population)
    return out


def choose(bills_by_plan: dict[str, Bill], rule: str) -> tuple[Bill, np.ndarray]:
    """The bill each clinic pays under the scenario's plan rule, and which plan that is (index into
    the plans given). `cheapest`: the plan with the lowest total cost over the horizon per clinic."""
    names = list(bills_by_plan)
    if rule != "cheapest" or len(names) == 1:
        name = rule if rule in bills_by_plan else names[0]
        return bills_by_plan[name], np.full(len(bills_by_plan[name].closing), names.index(name))
    totals = np.stack([bills_by_plan[n].cost.sum(axis=1) for n in names])
    pick = totals.argmin(axis=0)

    def pick_rows(attribute: str) -> np.ndarray:
        chosen = getattr(bills_by_plan[names[0]], attribute).copy()
        for i, name in enumerate(names[1:], start=1):
            mine = pick == i
            chosen[mine] = getattr(bills_by_plan[name], attribute)[mine]
        return chosen

    chosen = Bill(
        "cheapest",
        pick_rows("usage"),
        pick_rows("cost"),
        pick_rows("cash"),
        pick_rows("bonus"),
        pick_rows("expired"),
        pick_rows("closing"),
    )
    return chosen, pick
