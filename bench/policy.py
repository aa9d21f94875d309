"""Policy benchmark: decisions per second through PolicyEngine beside raw durable-rules `post` of the
same facts on a ruleset with the same conditions, in the same run.

Target on this machine: the facade at >= 50% of the raw rate. (The simulator's bonus decisions for
whole populations are vectorised in simulator/bills.py and timed by `python -m bench simulator`.)
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bench.common import ROOT, table


def run() -> None:
    from durable.lang import post

    from engine import load_pricebook
    from rules import ChargeFacts, PolicyEngine, TopUpFacts
    from rules.rulesets import epoch, overdraft_table, topup_table

    print("== policy: decisions through the facade beside raw durable-rules post of the same facts ==")
    india = load_pricebook(ROOT / "pricebooks/in/in-clinic-leads-v2.xlsx")
    us = load_pricebook(ROOT / "pricebooks/us/us-audiology-v1.xlsx")
    engine, us_engine = PolicyEngine.of(india), PolicyEngine.of(us)
    zone = ZoneInfo("Asia/Kolkata")
    rng = random.Random(20261120)
    start = datetime(2026, 10, 1, tzinfo=zone)
    topups = [
        TopUpFacts(
            clinic_id=f"c{i % 500}",
            paid_credits=rng.choice([1000, 5000, 7500, 10_000, 25_000]),
            at=start + timedelta(hours=rng.randrange(0, 24 * 120)),
            promo_code=rng.choice([None, None, "DOUBLE5K", "EXTRA2K"]),
        )
        for i in range(5_000)
    ]
    charges = [
        ChargeFacts(
            segment=rng.choice(["standard", "preferred"]),
            balance=rng.randrange(-100_000, 100_000),
            amount=rng.randrange(0, 200_000),
        )
        for _ in range(5_000)
    ]

    # the raw baseline: the same decision tables defined again under their own names, and each
    # fact posted straight to durable-rules (no facade, no lock, no decision object)
    ids = itertools.count(10**9)
    raw_names = {
        "topup": f"bench_raw_topup_{time.monotonic_ns()}",
        "overdraft": f"bench_raw_overdraft_{time.monotonic_ns()}",
    }
    topup_table(india, raw_names["topup"])
    overdraft_table(us, raw_names["overdraft"])
    topup_facts = [
        {"kind": raw_names["topup"], "paid": f.paid_credits, "at": epoch(f.at), "code": (f.promo_code or "").upper()}
        for f in topups
    ]
    charge_facts = [
        {"kind": raw_names["overdraft"], "segment": f.segment, "after": f.balance - f.amount} for f in charges
    ]

    def rate(fn, count: int, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
        rates = []
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            rates.append(count / (time.perf_counter() - started))
        return statistics.median(rates)

    raw_topup = rate(lambda: [post(raw_names["topup"], {**f, "id": next(ids)}) for f in topup_facts], len(topups))
    facade_topup = rate(lambda: [engine.topup(f) for f in topups], len(topups))
    raw_charge = rate(
        lambda: [post(raw_names["overdraft"], {**f, "id": next(ids)}) for f in charge_facts], len(charges)
    )
    facade_charge = rate(lambda: [us_engine.overdraft(f) for f in charges], len(charges))
    rows = [
        [
            "top-up bonus (India v2 promotions)",
            f"{facade_topup:,.0f}",
            f"{raw_topup:,.0f}",
            f"{facade_topup / raw_topup:.0%}",
        ],
        [
            "overdraft approve/decline (US segments)",
            f"{facade_charge:,.0f}",
            f"{raw_charge:,.0f}",
            f"{facade_charge / raw_charge:.0%}",
        ],
    ]
    print(table(["decision", "facade/s", "raw post/s", "facade / raw"], rows))
    worst = min(facade_topup / raw_topup, facade_charge / raw_charge)
    print(f"target: facade >= 50% of raw post → {'PASS' if worst >= 0.5 else 'FAIL'} (worst {worst:.0%})")
