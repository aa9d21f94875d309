"""Which credits a charge spends, when credits expire, and where refunded credits go."""

from __future__ import annotations

import threading
from datetime import timedelta

from engine.billing import Billing
from engine.pricing.requests import Usage
from tests.support.clock import Clock
from tests.support.ledger_rows import allocations_of, rows
from tests.support.races import start_and_join


def test_lots_are_spent_by_earliest_expiry_granted_first_on_ties_never_expiring_last(
    billing: Billing, clock: Clock
) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.adjust("c", 5_000, actor="support", reason="goodwill", key="adj")  # granted, never expires
    first = billing.purchase("c", 2_000_000, payment_method="card_ok", key="buy-1")  # + 5% bonus, same expiry
    assert first.bonus_credits == 100_000
    clock.advance(days=3)
    billing.purchase("c", 100_000, payment_method="card_ok", key="buy-2")  # expires 3 days later
    goodwill, paid_1, bonus, paid_2 = (int(lot.id) for lot in rows(billing, "lots"))
    assert [lot.kind for lot in rows(billing, "lots")] == ["granted", "paid", "granted", "paid"]

    def spend(units: int, key: str) -> dict[int, int]:
        charged = billing.charge("c", Usage(product="voice", units=units), key=key)
        assert charged.approved
        return allocations_of(billing, charged.transaction_id)

    assert spend(500, "v1") == {bonus: 80_000}  # the bonus ties the paid lot's expiry: granted first
    # 100 × 158 = 15,800: the bonus's last 20,000 then nothing else
    assert spend(100, "v2") == {bonus: 15_800}
    # 4,200 left in the bonus, then the first paid lot
    assert spend(100, "v3") == {bonus: 4_200, paid_1: 15_800 - 4_200}
    left_1 = 2_000_000 - 11_600
    taken_back = billing.adjust("c", -(left_1 + 50_000), actor="support", reason="correction", key="adj-2")
    taken = allocations_of(billing, taken_back.transaction_id)  # adjustments take in the same order
    assert taken == {paid_1: left_1, paid_2: 50_000}
    assert goodwill not in taken  # the never-expiring lot is spent last


def test_a_lot_is_usable_until_the_instant_it_expires_and_expires_once(billing: Billing, clock: Clock) -> None:
    for clinic in ("c", "d"):
        billing.register_clinic(clinic, clinic.upper(), "US", key="reg")
        billing.purchase(clinic, 100_000, payment_method="card_ok", key="buy")
    lot = rows(billing, "lots")[0]
    assert lot.expires_at == clock.now + timedelta(days=365)

    clock.now = lot.expires_at - timedelta(microseconds=1)
    assert billing.expire_lots().lots == 0
    last_moment = billing.charge("c", Usage(product="voice", units=10), key="v1")
    assert last_moment.approved and allocations_of(billing, last_moment.transaction_id) == {int(lot.id): 1_600}

    clock.now = lot.expires_at  # usable iff now < expires_at
    at_expiry = billing.charge("c", Usage(product="voice", units=10), key="v2")
    assert not at_expiry.approved and at_expiry.balance == 0  # the charge expired the lot first
    assert [int(t.credits) for t in rows(billing, "transactions", clinic_id="c", kind="expiry")] == [98_400]
    swept = billing.expire_lots()
    assert (swept.lots, swept.credits, swept.wallets) == (1, 100_000, 1)  # only d's lot was still due
    assert billing.expire_lots().lots == 0  # safe twice
    assert billing.revenue_report("US").rows[-1].expired_credits == 198_400


def test_expiry_sweeps_running_together_expire_each_lot_once(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    for n in range(5):
        billing.purchase("c", 100_000, payment_method="card_ok", key=f"buy-{n}")
    clock.advance(days=366)
    results = []
    barrier = threading.Barrier(3)

    def sweep() -> None:
        barrier.wait()
        results.append(billing.expire_lots())

    start_and_join(threading.Thread(target=sweep) for _ in range(3))
    assert sum(r.credits for r in results) == 500_000 and sum(r.lots for r in results) == 5
    assert billing.balance("c").balance == 0
    assert sum(int(t.credits) for t in rows(billing, "transactions", kind="expiry")) == 500_000


def test_a_refund_goes_back_to_the_lots_the_charge_took_even_when_one_has_expired(
    billing: Billing, clock: Clock
) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.purchase("c", 100_000, payment_method="card_ok", key="buy-1")
    clock.advance(days=200)
    billing.purchase("c", 100_000, payment_method="card_ok", key="buy-2")
    old, new = (int(lot.id) for lot in rows(billing, "lots"))
    charged = billing.charge("c", Usage(product="voice", units=1_000), key="calls")  # 500×160 + 500×158
    assert allocations_of(billing, charged.transaction_id) == {old: 100_000, new: 59_000}
    clock.advance(days=170)  # the old lot (365 days) expires on day 365: now day 370
    billing.expire_lots()
    refund = billing.refund("c", charged.transaction_id, actor="support", reason="carrier outage", key="r")
    assert refund.credits == 159_000
    back = allocations_of(billing, refund.refund_id)
    assert back[new] == -59_000 and new in back
    grace = next(lot for lot in rows(billing, "lots") if lot.source == "refund")
    assert int(grace.amount) == 100_000 and grace.kind == "paid"  # the expired part, in a new lot
    assert grace.expires_at - clock.now == timedelta(days=7)  # usable for the refund grace period
    assert refund.balance == 100_000 - 59_000 + 159_000
