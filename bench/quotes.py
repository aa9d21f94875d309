"""Quote benchmark: scalar quotes per second (a lead, a 1,000-recipient SMS campaign with one
150-character template, a 200-call voice campaign), vectorised tier evaluations per second, and,
on the same SMS tier table in the same run, two baselines: a bare `bisect` lookup and durable-rules
posting one event per evaluation.

Targets on this machine: >= 100,000 lead quotes/s, >= 50,000 campaign quotes/s, >= 5,000,000
vectorised evaluations/s and >= 50x the scalar path.
"""

from __future__ import annotations

import bisect
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from bench.common import ROOT, table

TEMPLATE = (
    "Hi, this is Riverside Hearing. Reminder: your hearing aid check is Tue Mar 3 at 10:30 AM with "
    "Dr. Lee. Reply C to confirm or R to reschedule. STOP to opt out"
)[:150]
TARGETS = {"lead": 100_000, "sms": 50_000, "voice": 50_000}


def rate(run: Callable[[], int], repeat: int = 5) -> float:
    """Median items per second over `repeat` runs of `run` (which returns how many it did)."""
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = run()
        rates.append(done / (time.perf_counter() - started))
    return statistics.median(rates)


def durable_rules_rate(bounds: list[int], prices: list[Decimal], values: list[int]) -> float:
    """One durable-rules event per tier lookup: the user's rules engine used as a lookup table."""
    from durable.lang import m, post, ruleset, when_all

    found: dict[str, Decimal] = {}
    name = f"bench_tiers_{time.monotonic_ns()}"
    with ruleset(name):
        lower = None
        for up_to, price in zip([*bounds, None], prices, strict=True):
            condition = (m.units > lower) if lower is not None else (m.units >= 0)
            if up_to is not None:
                condition = condition & (m.units <= up_to)

            def action(c: object, price: Decimal = price) -> None:
                found["price"] = price

            when_all(condition)(action)
            lower = up_to

    counter = iter(range(10**9))

    def run() -> int:
        # each event needs its own id: durable-rules refuses an event it has already observed
        for value in values:
            post(name, {"id": next(counter), "units": value})
        return len(values)

    return rate(run, repeat=3)


def run() -> None:
    from engine import LeadRequest, QuoteContext, SmsCampaign, VoiceCampaign, load_pricebook, quote
    from engine.pricing.indexes import tables_for
    from engine.pricing.vector import VectorTierTable

    print("== quotes: scalar quotes, vectorised tiers, bisect and durable-rules baselines ==")
    us = load_pricebook(ROOT / "pricebooks/us/us-audiology-v1.xlsx")
    leads = load_pricebook(ROOT / "pricebooks/in/in-clinic-leads-v2.xlsx")
    context = QuoteContext(at=datetime(2026, 3, 2, tzinfo=UTC))
    rng = random.Random(20261120)
    cities = [*leads.list_values("city"), "Nashik"]
    specialties = list(leads.list_values("specialty"))
    specs = [
        (
            rng.choice(["lead_chat", "lead_call"]),
            rng.choice(specialties),
            rng.choice(cities),
            Decimal(rng.randrange(500, 200_000_00)) / 100,
        )
        for _ in range(2_000)
    ]

    def lead_quotes() -> int:
        for product, specialty, city, price in specs * 10:
            quote(leads, LeadRequest(product=product, specialty=specialty, city=city, package_price=price), context)
        return len(specs) * 10

    def sms_quotes() -> int:
        for _ in range(20_000):
            quote(us, SmsCampaign(body=TEMPLATE, recipients=1000), context)
        return 20_000

    def voice_quotes() -> int:
        for _ in range(20_000):
            quote(us, VoiceCampaign(recipients=200, expected_seconds=45), context)
        return 20_000

    calls = [
        {"duration_s": rng.randrange(0, 300), "outcome": rng.choice(["completed"] * 8 + ["busy", "no-answer"])}
        for _ in range(200)
    ]

    def voice_record_quotes() -> int:
        for _ in range(500):
            quote(us, VoiceCampaign(calls=calls), context)
        return 500

    scalar = {"lead": rate(lead_quotes), "sms": rate(sms_quotes), "voice": rate(voice_quotes)}
    records = rate(voice_record_quotes, repeat=3)
    print(
        table(
            ["scalar quote (request built each time)", "quotes/s", "target", ""],
            [
                [
                    "lead (random channel, specialty, city, price)",
                    f"{scalar['lead']:,.0f}",
                    f"{TARGETS['lead']:,}",
                    "PASS" if scalar["lead"] >= TARGETS["lead"] else "FAIL",
                ],
                [
                    "SMS campaign: 1,000 recipients × one 150-char body",
                    f"{scalar['sms']:,.0f}",
                    f"{TARGETS['sms']:,}",
                    "PASS" if scalar["sms"] >= TARGETS["sms"] else "FAIL",
                ],
                [
                    "voice campaign: 200 calls × 45 s expected",
                    f"{scalar['voice']:,.0f}",
                    f"{TARGETS['voice']:,}",
                    "PASS" if scalar["voice"] >= TARGETS["voice"] else "FAIL",
                ],
                ["voice charge: 200 call records (informational)", f"{records:,.0f}", "-", ""],
            ],
        )
    )

    sms_table = tables_for(us).tier_group("sms", None, "outbound", None).table  # type: ignore[union-attr]
    vector = VectorTierTable.of(sms_table)
    np_rng = np.random.default_rng(20261120)
    n = 2_000_000
    used = np_rng.integers(0, 20_000, n)
    units = np_rng.integers(0, 3_000, n)
    vector_rate = rate(lambda: len(vector.charge(used, units)))
    sample = list(zip(used[:50_000].tolist(), units[:50_000].tolist(), strict=True))
    scalar_rate = rate(lambda: sum(1 for u, k in sample if sms_table.charge(u, k) >= 0), repeat=3)
    bounds = [int(t.up_to) for t in sms_table.tiers if t.up_to is not None]
    prices = [t.unit_price for t in sms_table.tiers]
    values = used[:200_000].tolist()
    bisect_rate = rate(lambda: sum(1 for v in values if prices[bisect.bisect_left(bounds, v)] >= 0))
    durable_rate = durable_rules_rate(bounds, prices, values[:20_000])
    print(
        table(
            ["tier evaluation on the SMS table", "evaluations/s", "× durable-rules"],
            [
                [
                    "vectorised charge (numpy, exact integers)",
                    f"{vector_rate:,.0f}",
                    f"{vector_rate / durable_rate:,.0f}",
                ],
                ["scalar charge (Decimal, same table)", f"{scalar_rate:,.0f}", f"{scalar_rate / durable_rate:,.1f}"],
                [
                    "baseline: bare bisect lookup (price only)",
                    f"{bisect_rate:,.0f}",
                    f"{bisect_rate / durable_rate:,.1f}",
                ],
                ["baseline: durable-rules, one event per evaluation", f"{durable_rate:,.0f}", "1.0"],
            ],
        )
    )
    ok = vector_rate >= 5_000_000 and vector_rate / scalar_rate >= 50
    print(
        f"target: vectorised >= 5,000,000/s and >= 50x the scalar path → {'PASS' if ok else 'FAIL'} "
        f"({vector_rate / scalar_rate:,.0f}x)"
    )
