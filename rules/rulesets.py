"""The policy sheets of a compiled pricebook as durable-rules decision tables.

Each sheet becomes one table per kind of decision (top-up promotions, referrals, overdraft,
disputes, alerts), named by the pricebook's semantic hash so it is defined once per process.
Tables are *exclusive and exhaustive*: the sheet's own conditions (paid ranges, validity windows,
promo codes, segments and their limits, reasons, products, windows, thresholds) cut the space of
facts into regions, each region is one rule, and the rule's outcome lists the rows that apply
there. Every fact matches exactly one rule, so one `post` decides (a posted event reaches only the
first rule it matches, see rules/durable.py). A promotions sheet too large for that (more than
MAX_REGIONS regions) falls back to one rule per row with facts asserted and retracted.

Facts are flat dicts of numbers and strings: times are UTC epoch seconds, and every field is always
present (absent values are sentinels: code "", runway 1e15, duplicate_age -1).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from functools import partial, reduce
from typing import Any, NamedTuple, TypedDict

from durable.lang import m

from engine.pricebook.model import CompiledPricebook, TopUpPromo, semantic_hash_of
from engine.vocabulary import AlertKind, DisputeMode, PromoType
from rules.durable import DecisionTable, Region, Rule, Ruleset, defined

DAY = 86_400
MAX_REGIONS = 20_000
NO_RUNWAY = 1e15


class Verdict(StrEnum):
    """What a row of the Overdraft or Disputes sheet says about the facts in its region."""

    APPROVE = "approve"  # overdraft: the balance after the charge stays within the limit
    DECLINE = "decline"  # overdraft: it would not
    LATE = "late"  # dispute: opened after the reason's window
    AUTO = "auto"  # dispute: a duplicate close enough to the previous charge to refund at once
    ALLOWED = "allowed"  # dispute: on time, for an admin to decide


class Ruling(NamedTuple):
    """One region's decision: the row that decides (`rule_id`, "" when no row applies) and its verdict."""

    rule_id: str
    verdict: Verdict


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _all(conditions: Iterable[Any], name: str) -> Any:
    """The conjunction of `conditions`; a table's own name when there is nothing to test."""
    present = [c for c in conditions if c is not None]
    return reduce(lambda a, b: a & b, present) if present else (m.kind == name)


def _intervals(field: str, bounds: Iterable[int | None]) -> list[tuple[int, Any]]:
    """Half-open intervals cut at `bounds`, each with a representative value and its condition."""
    points = sorted({b for b in bounds if b is not None})
    edges: list[int | None] = [None, *points, None]
    out = []
    for lo, hi in itertools.pairwise(edges):
        parts = []
        if lo is not None:
            parts.append(getattr(m, field) >= lo)
        if hi is not None:
            parts.append(getattr(m, field) < hi)
        representative = lo if lo is not None else (hi - 1 if hi is not None else 0)
        out.append((representative, reduce(lambda a, b: a & b, parts) if parts else None))
    return out


def _applies(promo: TopUpPromo, paid: int, at: int) -> bool:
    return (
        paid >= promo.paid_from
        and (promo.paid_to is None or paid < promo.paid_to)
        and at >= epoch(promo.valid_from)
        and (promo.valid_to is None or at < epoch(promo.valid_to))
    )


def _promo_regions(promos: Sequence[TopUpPromo], name: str, extra: Any = None) -> list[Region[str]] | None:
    """Regions of (paid, time) for promotions that all apply without a code condition."""
    paid = _intervals("paid", [b for p in promos for b in (p.paid_from, p.paid_to)])
    times = _intervals(
        "at", [b for p in promos for b in (epoch(p.valid_from), epoch(p.valid_to) if p.valid_to else None)]
    )
    regions = []
    for paid_value, paid_condition in paid:
        run: list[tuple[tuple[str, ...], Any]] = []  # consecutive time intervals with one outcome merge
        for time_value, time_condition in times:
            outcome = tuple(p.rule_id for p in promos if _applies(p, paid_value, time_value))
            if run and run[-1][0] == outcome:
                previous = run[-1][1]
                run[-1] = (outcome, None if previous is None or time_condition is None else previous | time_condition)
            else:
                run.append((outcome, time_condition))
        for outcome, time_condition in run:
            regions.append(Region(outcome, _all((extra, paid_condition, time_condition), name)))
    return regions


def topup_table(pricebook: CompiledPricebook, name: str) -> DecisionTable[str] | Ruleset:
    promos = [p for p in pricebook.topup_promos if p.promo_type != PromoType.REFERRAL]
    codes = sorted({p.promo_code.upper() for p in promos if p.promo_code})
    regions: list[Region[str]] = []
    other = _all([m.code != code for code in codes], name) if codes else None
    for code in [*codes, None]:
        relevant = [p for p in promos if p.promo_code is None or (code and p.promo_code.upper() == code)]
        regions.extend(_promo_regions(relevant, name, (m.code == code) if code else other) or [])
        if len(regions) > MAX_REGIONS:
            return Ruleset(
                name,
                [
                    Rule(
                        p.rule_id,
                        _all(
                            [
                                m.paid >= p.paid_from,
                                (m.paid < p.paid_to) if p.paid_to else None,
                                m.at >= epoch(p.valid_from),
                                (m.at < epoch(p.valid_to)) if p.valid_to else None,
                                (m.code == p.promo_code.upper()) if p.promo_code else None,
                            ],
                            name,
                        ),
                    )
                    for p in promos
                ],
            )
    return DecisionTable(name, regions)


def referral_table(pricebook: CompiledPricebook, name: str) -> DecisionTable[str]:
    promos = [p for p in pricebook.topup_promos if p.promo_type == PromoType.REFERRAL]
    return DecisionTable(name, _promo_regions(promos, name) or [])


def overdraft_table(pricebook: CompiledPricebook, name: str) -> DecisionTable[Ruling]:
    regions = []
    for row in pricebook.overdraft:
        limit = -row.max_negative_credits
        regions.append(Region((Ruling(row.rule_id, Verdict.APPROVE),), (m.segment == row.segment) & (m.after >= limit)))
        regions.append(Region((Ruling(row.rule_id, Verdict.DECLINE),), (m.segment == row.segment) & (m.after < limit)))
    other = _all([m.segment != row.segment for row in pricebook.overdraft], name)
    regions.append(Region((Ruling("", Verdict.APPROVE),), other & (m.after >= 0)))
    regions.append(Region((Ruling("", Verdict.DECLINE),), other & (m.after < 0)))
    return DecisionTable(name, regions)


def dispute_table(pricebook: CompiledPricebook, name: str) -> DecisionTable[Ruling]:
    regions = []
    pairs = [(row, product) for row in pricebook.disputes for product in row.products]
    for row, product in pairs:
        base = (m.reason == row.reason) & (m.product == product)
        window = row.window_days * DAY
        regions.append(Region((Ruling(row.rule_id, Verdict.LATE),), base & (m.age > window)))
        on_time = base & (m.age <= window)
        if row.decision == DisputeMode.AUTO_APPROVE_DUPLICATE and row.duplicate_window_days:
            close = row.duplicate_window_days * DAY
            regions.append(
                Region(
                    (Ruling(row.rule_id, Verdict.AUTO),), on_time & (m.duplicate_age >= 0) & (m.duplicate_age <= close)
                )
            )
            regions.append(
                Region(
                    (Ruling(row.rule_id, Verdict.ALLOWED),),
                    on_time & ((m.duplicate_age < 0) | (m.duplicate_age > close)),
                )
            )
        else:
            regions.append(Region((Ruling(row.rule_id, Verdict.ALLOWED),), on_time))
    regions.append(
        Region((), _all([(m.reason != row.reason) | (m.product != product) for row, product in pairs], name))
    )
    return DecisionTable(name, regions)


def alert_table(pricebook: CompiledPricebook, name: str) -> DecisionTable[str]:
    tests = []
    for row in pricebook.alerts:
        if row.alert == AlertKind.LOW_BALANCE_CREDITS:
            tests.append((row.rule_id, m.balance < row.threshold, m.balance >= row.threshold))
        elif row.alert == AlertKind.LOW_BALANCE_RUNWAY_DAYS:
            tests.append((row.rule_id, m.runway < row.threshold, m.runway >= row.threshold))
        elif row.alert == AlertKind.EXPIRING_CREDITS_DAYS:
            tests.append((row.rule_id, m.expiring > 0, m.expiring <= 0))
    regions = []
    for flags in itertools.product((True, False), repeat=len(tests)):
        outcome = tuple(rule_id for (rule_id, _, _), on in zip(tests, flags, strict=True) if on)
        conditions = [yes if on else no for (_, yes, no), on in zip(tests, flags, strict=True)]
        regions.append(Region(outcome, _all(conditions, name)))
    return DecisionTable(name, regions)


class Rulesets(TypedDict):
    """A pricebook's decision tables by kind, each deciding what its `matches` returns."""

    topup: DecisionTable[str] | Ruleset  # the promotions (rule ids) a top-up earns
    referral: DecisionTable[str]  # the referral programmes (rule ids) a first paid top-up earns
    overdraft: DecisionTable[Ruling]  # the one ruling on a charge's balance after
    dispute: DecisionTable[Ruling]  # the rulings on a dispute, one per verdict that applies
    alerts: DecisionTable[str]  # the Alerts rows (rule ids) a balance triggers


def rulesets_for(pricebook: CompiledPricebook) -> Rulesets:
    """The pricebook's decision tables, defined once per process per content hash."""
    prefix = "creditbook_{}_" + (pricebook.semantic_hash or semantic_hash_of(pricebook))[:24]

    def name(kind: str) -> str:
        return prefix.format(kind)

    return Rulesets(
        topup=defined(name("topup"), partial(topup_table, pricebook, name("topup"))),
        referral=defined(name("referral"), partial(referral_table, pricebook, name("referral"))),
        overdraft=defined(name("overdraft"), partial(overdraft_table, pricebook, name("overdraft"))),
        dispute=defined(name("dispute"), partial(dispute_table, pricebook, name("dispute"))),
        alerts=defined(name("alerts"), partial(alert_table, pricebook, name("alerts"))),
    )
