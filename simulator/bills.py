"""What the drawn usage costs under a plan, priced by engine/pricing's vectorised path.

Every price comes from the same compiled tables the ledger charges with: `plan_table` picks the
table a plan prices a product with (the one used by quotes and charges), `VectorTierTable` evaluates
it over arrays exactly (integer credits, the pricebook's rounding), `VectorLeadIndex` prices leads
(tabulated per package-price bracket: `LeadTable`), and the policy rules grant top-up bonuses.
Nothing here restates a price. Everything works on one slice of the population at a time
(simulator/population.py): a clinic's bill depends on its own draws only.

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

import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np

from engine.pricebook.model import CompiledPricebook
from engine.pricing.indexes import PAYG, PlanTable, plan_table, tables_for
from engine.pricing.quote import select_version
from engine.pricing.requests import QuoteError
from engine.pricing.tiers import TierTable
from engine.pricing.vector import VectorLeadIndex, VectorTierTable
from rules import PolicyEngine, TopUpFacts
from simulator.population import LeadBatch, Population
from simulator.scenario import PLANS, ScenarioError

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
    return pricebook.derived("simulator.leads", lambda pb: VectorLeadIndex.of(tables_for(pb).leads))


@dataclass
class Bill:
    """One plan's bill in credits: (clinics, months) arrays as priced, or (clinics,) arrays summed
    over the horizon (`Results.chosen`)."""

    plan: str
    usage: np.ndarray  # credits the usage costs
    cost: np.ndarray  # what the month costs the clinic: usage, plus package credits left to expire
    cash: np.ndarray  # credits bought (packages and top-up blocks), paid in money at the credit value
    bonus: np.ndarray  # granted credits received with top-ups
    expired: np.ndarray  # package credits that expired unused
    closing: np.ndarray  # (clinics,) balance left at the end of the horizon

    @classmethod
    def empty(cls, plan: str, clinics: int) -> Bill:
        """Per-clinic totals, all zero (filled chunk by chunk)."""
        return cls(plan, *(np.zeros(clinics, dtype=np.int64) for _ in range(6)))


def versions_in_force(pricebooks: list[CompiledPricebook], months: list[datetime]) -> list[CompiledPricebook]:
    """The version in force each month; ScenarioError when no version prices a month."""
    try:
        return [select_version(pricebooks, at) for at in months]
    except QuoteError as exc:
        raise ScenarioError(f"the pricebooks cannot price the scenario's months: {exc}") from None


def versions(pricebooks: list[CompiledPricebook], population: Population) -> list[CompiledPricebook]:
    """The version in force each month."""
    return versions_in_force(pricebooks, population.months)


def term_versions(pricebooks: list[CompiledPricebook], population: Population) -> list[CompiledPricebook]:
    """The version pay-as-you-go usage is priced by each month: the one in force when the clinic's
    term started, unless a later version moves existing customers at a date of its own."""
    out = []
    in_force = versions(pricebooks, population)
    for m, at in enumerate(population.months):
        current, started = in_force[m], in_force[m - m % TERM_MONTHS]
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
        used = population.remember(f"used before:{product}", functools.partial(used_before, units))
        for first, last, pricebook in _segments(by_month):
            # pay-as-you-go prices every size alike: one evaluation; packages differ by size
            groups = [
                (rows, _size_plans(pricebook, size)) for rows, size in zip(rows_of, population.groups, strict=True)
            ]
            for rows, plans in groups if on_package else [(slice(None), (PAYG,))]:
                table = _table(pricebook, product, plans, bundle)
                block = units[rows, first:last]
                # a table that does not accumulate prices each month on its own: nothing used before
                before = used[rows, first:last].ravel() if table.accumulates else np.asarray(0, dtype=np.int64)
                charged = vector(table.table).charge(before, block.ravel(), pricebook.meta.rounding)
                credits[rows, first:last] += charged.reshape(block.shape)
    return credits


def package_credits(pricebooks: list[CompiledPricebook], population: Population) -> np.ndarray:
    """(clinics, months) credits of the size's monthly SMS and voice packages."""
    by_size = np.array(
        [
            [
                sum(int(p.total_credits) for p in pricebook.packages if p.clinic_size == size)
                for size in population.groups
            ]
            for pricebook in versions(pricebooks, population)
        ],
        dtype=np.int64,
    )  # (months, sizes)
    return np.ascontiguousarray(by_size[:, population.group].T)


@dataclass(frozen=True)
class LeadTable:
    """What one lead costs under one pricebook, for every channel, specialty and city of a scenario
    and every bracket of package prices between two consecutive bounds of the LeadPrices table.

    Within a bracket no row starts or ends, so every price in it is matched by the same rows: the
    table is filled by asking the engine's own `VectorLeadIndex` (the lookup quotes and charges use)
    about one price per bracket, and a lead's credits are then one bracket search and one array
    read. The rules are the engine's; only their answers are tabulated."""

    price_scale: int
    breaks: np.ndarray  # scaled package prices where some row's range starts or ends; breaks[0] = 0
    credits: np.ndarray  # (channel, specialty, city, bracket) → credits; -1 where no row prices it
    cities: int
    specialties: int

    @classmethod
    def of(cls, pricebook: CompiledPricebook, specialties: list[str], cities: list[str]) -> LeadTable | None:
        """The table, or None when it would be larger than pricing the leads one by one."""
        index = lead_vector(pricebook)
        scale = index.price_scale
        if scale % 100:  # prices are drawn to the paisa; a coarser scale is the lookup's to handle
            return None
        bounds = {0} | {int(rule.lo * scale) for rule in index.index.rules}
        bounds |= {int(rule.hi * scale) for rule in index.index.rules if rule.hi is not None}
        breaks = np.array(sorted(bounds), dtype=np.int64)
        shape = (len(CHANNELS), len(specialties), len(cities), len(breaks))
        if np.prod(shape) > LEAD_TABLE_CELLS:
            return None
        channel, specialty, city, bracket = (axis.ravel() for axis in np.indices(shape))
        rules = index.lookup(
            _encode(index, 0, CHANNELS)[channel],
            _encode(index, 1, specialties)[specialty],
            _encode(index, 2, cities)[city],
            breaks[bracket] / scale,
        )
        credits = np.where(rules >= 0, index.credits_for(rules, 1, pricebook.meta.rounding), -1)
        return cls(scale, breaks, credits.reshape(shape), len(cities), len(specialties))

    def offsets(self, specialty: np.ndarray, city: np.ndarray) -> np.ndarray:
        """Where each clinic's (specialty, city) row of chat prices starts in the flat table."""
        return (specialty * self.cities + city) * len(self.breaks)

    def price(self, offset: np.ndarray, call: np.ndarray, paise: np.ndarray) -> np.ndarray:
        """Credits of each lead, from its clinic's offset, its channel and its package price in
        paise (-1: no row prices it). `price_scale` is a multiple of 100: money to the paisa or finer."""
        cell = _brackets(self.breaks, paise * (self.price_scale // 100))
        cell += offset - 1
        cell += call * (self.specialties * self.cities * len(self.breaks))
        return self.credits.ravel()[cell]


CHANNELS = ("chat", "call")  # LeadBatch.call is the index into this
#: up to this many breaks a price's bracket is counted by comparisons (one vectorised pass per
#: break) rather than found by binary search: 4× faster for the few breaks a LeadPrices table has
FEW_BREAKS = 16


def _brackets(breaks: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """`np.searchsorted(breaks, prices, side="right")`: how many breaks each price is at or above
    (`breaks` sorted). Counted break by break in one byte per price when there are few."""
    if len(breaks) > FEW_BREAKS:
        return np.searchsorted(breaks, prices, side="right")
    counted = np.zeros(len(prices), dtype=np.int8)
    for value in breaks:
        counted += (prices >= value).view(np.int8)
    return counted.astype(np.int64)


def _encode(index: VectorLeadIndex, dimension: int, names: Sequence[str]) -> np.ndarray:
    """The index's codes for a scenario's channel, specialty or city names."""
    values: list[str | None] = list(names)
    return index.encode(dimension, values)


LEAD_TABLE_CELLS = 2_000_000
_LEAD_TABLES: OrderedDict[tuple[int, tuple[str, ...], tuple[str, ...]], tuple[CompiledPricebook, LeadTable | None]]
_LEAD_TABLES = OrderedDict()


def lead_table(pricebook: CompiledPricebook, specialties: list[str], cities: list[str]) -> LeadTable | None:
    """`LeadTable.of`, remembered for the last few pricebooks and scenarios' names."""
    key = (id(pricebook), tuple(specialties), tuple(cities))
    with _LOCK:
        found = _LEAD_TABLES.get(key)
        if found is not None and found[0] is pricebook:
            _LEAD_TABLES.move_to_end(key)
            return found[1]
    table = LeadTable.of(pricebook, specialties, cities)
    with _LOCK:
        _LEAD_TABLES[key] = (pricebook, table)
        while len(_LEAD_TABLES) > 32:
            _LEAD_TABLES.popitem(last=False)
    return table


def _lead_prices(pricebook: CompiledPricebook, population: Population, batch: LeadBatch) -> np.ndarray:
    """Credits of each lead of a batch under one pricebook."""
    assert population.city is not None
    specialty, city = population.group[batch.rows], population.city[batch.rows]
    table = lead_table(pricebook, population.groups, population.cities)
    if table is not None:
        credits = table.price(np.repeat(table.offsets(specialty, city), batch.counts), batch.call, batch.paise)
    else:  # a LeadPrices table too large to tabulate: the engine's lookup, lead by lead (vectorised)
        index = lead_vector(pricebook)
        rules = index.lookup(
            _encode(index, 0, CHANNELS)[batch.call.astype(np.int64)],
            np.repeat(_encode(index, 1, population.groups)[specialty], batch.counts),
            np.repeat(_encode(index, 2, population.cities)[city], batch.counts),
            batch.package_price,
        )
        credits = np.where(rules >= 0, index.credits_for(rules, 1, pricebook.meta.rounding), -1)
    if credits.size and int(credits.min()) < 0:
        raise ScenarioError(
            f"{pricebook.label} prices no lead for some simulated leads: add a default row to its LeadPrices, "
            "or change the scenario's specialties and cities"
        )
    return credits


def lead_credits_many(book_sets: list[list[CompiledPricebook]], population: Population) -> list[np.ndarray]:
    """(clinics, months) credits of every lead under each set of pricebook versions, each lead
    priced by its channel, specialty, city and treatment package price (IN). The leads are drawn
    once, a block and a month at a time, and priced under every set before the next batch."""
    by_month = [versions(books, population) for books in book_sets]
    out = [np.zeros((population.size, len(population.months)), dtype=np.int64) for _ in book_sets]
    for batch in population.lead_batches():
        if not len(batch.call):
            continue
        bounds = np.concatenate(([0], np.cumsum(batch.counts)))
        for credits, versions_by_month in zip(out, by_month, strict=True):
            prices = _lead_prices(versions_by_month[batch.month], population, batch)
            running = np.concatenate(([0], np.cumsum(prices)))
            credits[batch.rows, batch.month] = running[bounds[1:]] - running[bounds[:-1]]
    return out


def lead_credits(pricebooks: list[CompiledPricebook], population: Population) -> np.ndarray:
    """(clinics, months) credits of every lead under one set of pricebook versions (IN)."""
    return lead_credits_many([pricebooks], population)[0]


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
    """Month by month: package credits first, then the balance, then blocks of top-ups with their bonus.
    (Worked month-major: each month's clinics are one contiguous row.)"""
    topups = population.scenario.topups
    block = topups.block_credits
    need_by_month = np.ascontiguousarray(usage.T)
    package_by_month = None if packages is None else np.ascontiguousarray(packages.T)
    cost, cash, bonus, expired = (np.empty_like(need_by_month) for _ in range(4))  # every row is written below
    balance = np.zeros(usage.shape[0], dtype=np.int64)
    for m, pricebook in enumerate(versions(pricebooks, population)):
        need = need_by_month[m]
        if package_by_month is None:
            rest = need
            expired[m] = 0
            cash[m] = 0
        else:
            package = package_by_month[m]
            rest = np.maximum(need - package, 0)
            np.subtract(package, need - rest, out=expired[m])  # what the package did not cover expires
            cash[m] = package
        extra = _bonus(pricebook, block, population.months[m], topups.promo_code)
        blocks = np.maximum(rest - balance, 0)
        blocks += block + extra - 1
        blocks //= block + extra
        balance += blocks * (block + extra) - rest
        cash[m] += blocks * block
        np.multiply(blocks, extra, out=bonus[m])
        np.add(need, expired[m], out=cost[m])
    return Bill(plan, usage, cost.T, cash.T, bonus.T, expired.T, balance)


def bills(
    pricebooks: list[CompiledPricebook], population: Population, plans: tuple[str, ...] = PLANS
) -> dict[str, Bill]:
    """Every plan's bill (US), or the pay-as-you-go lead bill (IN)."""
    return bills_many([pricebooks], population, plans)[0]


def bills_many(
    book_sets: list[list[CompiledPricebook]], population: Population, plans: tuple[str, ...] = PLANS
) -> list[dict[str, Bill]]:
    """`bills` under each set of pricebook versions, on the same population (leads drawn once)."""
    if population.scenario.market == "IN":
        usages = lead_credits_many(book_sets, population)
        return [
            {"payg": settle("payg", usage, None, books, population)}
            for usage, books in zip(usages, book_sets, strict=True)
        ]
    out = []
    for books in book_sets:
        packages = package_credits(books, population)
        priced = {}
        for plan in plans:
            usage = usage_credits(books, population, plan)
            priced[plan] = settle(plan, usage, packages if plan.startswith("package") else None, books, population)
        out.append(priced)
    return out


def choose(bills_by_plan: dict[str, Bill], rule: str, costs: np.ndarray | None = None) -> np.ndarray:
    """Which plan each clinic pays under the scenario's plan rule (index into the plans given).
    `cheapest`: the plan with the lowest total cost over the horizon per clinic; `costs`, if given,
    is each plan's cost per clinic already summed (plans × clinics)."""
    names = list(bills_by_plan)
    clinics = len(bills_by_plan[names[0]].closing)
    if rule != "cheapest" or len(names) == 1:
        return np.full(clinics, names.index(rule if rule in bills_by_plan else names[0]), dtype=np.int8)
    if costs is None:
        costs = np.stack([bills_by_plan[n].cost.sum(axis=1) for n in names])
    return costs.argmin(axis=0).astype(np.int8)
