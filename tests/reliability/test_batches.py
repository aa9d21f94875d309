"""R1 and R2 for batches: charge_batch calls racing on a hot wallet, and batches racing each other
over the same clinics in opposite orders, with the battery's negative controls.

A batch holds every wallet it charges until it commits, so racing batches are where a missing
guard, a stale kept state or a lock taken in two orders would show: exactly as many one-credit
charges accepted as the wallet held, every decline recorded with its reason, no deadlock reaching
a caller, and every invariant after (INV a-g, and INV c in sequence order).
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.billing.results import ChargeResult
from tests.reliability.broken import VARIANTS, broken
from tests.reliability.test_races import _charges, _only_where_it_breaks, _outcome
from tests.support.races import race
from tests.support.reliability import Ledger, findings, lead, scale


@pytest.mark.parametrize("variant", VARIANTS)
def test_r1_batches_racing_on_a_hot_wallet(ledger: Ledger, variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _only_where_it_breaks(ledger, variant)
    credits, workers, batches, size = scale(100, 1_000), scale(8, 16), scale(3, 20), 10
    clinic = ledger.wallet("hot", credits)
    cold = ledger.wallet("cold", 10_000)
    billing = ledger.billing

    def work(worker: int) -> list[Any]:
        answers = []
        for n in range(batches):
            items = [
                {"clinic_id": clinic if i % 3 else cold, "request": lead(1), "key": f"w{worker}-b{n}-{i}"}
                for i in range(size)
            ]
            answers.extend(billing.charge_batch(items))
        return answers

    with broken(variant, monkeypatch, billing.db):
        raced = race(workers, work)
    accepted, declined = _charges(billing, clinic, "posted"), _charges(billing, clinic, "declined")
    asked = sum(1 for i in range(size) if i % 3) * batches * workers
    problems = [f"{type(e).__name__}: {e}" for e in raced.errors[:5]] + findings(billing)
    problems += [f"refused: {a!r}" for a in raced.results if not isinstance(a, ChargeResult)][:5]
    if len(accepted) != min(credits, asked):
        problems.append(f"accepted {len(accepted)} one-credit charges on {credits} credits")
    if len(accepted) + len(declined) != asked or any(not row.reason for row in declined):
        problems.append(f"{len(accepted)} accepted and {len(declined)} declined (with reasons) of {asked} asked")
    print(f"R1 batches {variant}: accepted {len(accepted)}, declined {len(declined)}, retries {billing.db.retries}")
    _outcome(ledger, variant, problems)


def test_r22_batches_taking_the_same_wallets_in_opposite_orders_never_deadlock_a_caller(ledger: Ledger) -> None:
    names = [ledger.wallet(f"c{n}", 5_000) for n in range(6)]
    billing = ledger.billing

    def work(worker: int) -> list[Any]:
        order = names if worker % 2 else list(reversed(names))
        answers = []
        for n in range(scale(4, 30)):
            items = [{"clinic_id": name, "request": lead(3), "key": f"w{worker}-{n}-{name}"} for name in order]
            answers.extend(billing.charge_batch(items))
        return answers

    raced = race(scale(6, 16), work)
    assert not raced.errors, raced.errors[:3]
    assert all(isinstance(a, ChargeResult) and a.approved for a in raced.results)
    assert not findings(billing)
    for name in names:
        assert billing.balance(name).balance == 5_000 - 3 * len(_charges(billing, name, "posted"))
