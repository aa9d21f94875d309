"""Buying credits through the fake gateway: declines, pending payments, duplicate webhooks,
promotion codes, bonus tiers and referrals."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from engine.billing import Billing, FakeGateway
from storage.promotions import ALL_CLINICS
from tests.billing.conftest import Clock
from tests.billing.helpers import rows, snapshot


def test_a_declined_card_is_recorded_and_changes_nothing_else(billing: Billing, gateway: FakeGateway) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    failed = billing.purchase("c", 500_000, payment_method="card_declined", key="buy")
    assert failed.status == "failed" and failed.balance == 0 and "card declined" in failed.message
    assert rows(billing, "payments")[0].status == "failed"
    (recorded,) = rows(billing, "transactions")
    assert (recorded.kind, recorded.status, int(recorded.credits)) == ("topup", "failed", 500_000)
    assert rows(billing, "lots") == [] and rows(billing, "entries") == []
    calls = gateway.calls
    again = billing.purchase("c", 500_000, payment_method="card_declined", key="buy")
    assert again.replayed and again.status == "failed" and gateway.calls == calls  # not charged again
    ok = billing.purchase("c", 500_000, payment_method="card_ok", key="buy-2")
    assert ok.status == "credited" and ok.balance == 500_000


def test_a_pending_payment_credits_once_when_it_settles_however_often_the_webhook_comes(
    billing: Billing, gateway: FakeGateway, clock: Clock
) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    pending = billing.purchase("c", 10_000, payment_method="card_pending", key="buy")
    assert pending.status == "pending" and pending.balance == 0 and pending.payment_id
    assert billing.confirm_payment(pending.payment_id).status == "pending"  # nothing settled yet
    gateway.settle(pending.payment_id)
    clock.advance(minutes=5)
    barrier = threading.Barrier(3)
    deliveries = []

    def webhook() -> None:
        barrier.wait()
        deliveries.append(billing.confirm_payment(pending.payment_id))

    threads = [threading.Thread(target=webhook) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {d.status for d in deliveries} == {"credited"}
    assert sum(not d.replayed for d in deliveries) == 1
    assert billing.balance("c").balance == 12_000  # 10,000 + the 20% bonus, once
    assert billing.confirm_payment(pending.payment_id).replayed
    retried = billing.purchase("c", 10_000, payment_method="card_pending", key="buy")
    assert retried.replayed and retried.status == "credited" and retried.balance == 12_000
    assert len(rows(billing, "transactions", kind="topup")) == 1


def test_a_pending_payment_that_fails_credits_nothing(billing: Billing, gateway: FakeGateway) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    pending = billing.purchase("c", 10_000, payment_method="card_pending", key="buy")
    gateway.settle(pending.payment_id, succeeded=False)
    before = snapshot(billing)["balances"]
    settled = billing.confirm_payment(pending.payment_id)
    assert settled.status == "failed" and snapshot(billing)["balances"] == before
    assert billing.confirm_payment(pending.payment_id).status == "failed"
    assert rows(billing, "payments")[0].status == "failed"


def test_us_bonus_tiers_by_amount(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    below = billing.purchase("c", 1_999_999, payment_method="card_ok", key="b1")
    floor = billing.purchase("c", 2_000_000, payment_method="card_ok", key="b2")  # $200: 5%, at most $10
    ten = billing.purchase("c", 5_000_000, payment_method="card_ok", key="b3")  # $500 starts the 10% tier
    capped = billing.purchase("c", 12_000_000, payment_method="card_ok", key="b4")  # 10% capped at $100
    assert [p.bonus_credits for p in (below, floor, ten, capped)] == [0, 100_000, 500_000, 1_000_000]
    assert (floor.bonus_rule_ids, ten.bonus_rule_ids) == (("US-BONUS-200",), ("US-BONUS-500",))
    bonus_lots = [lot for lot in rows(billing, "lots") if lot.kind == "granted"]
    assert [int(lot.amount) for lot in bonus_lots] == [100_000, 500_000, 1_000_000]
    assert "bonus of 1,000,000 credits ($100.00)" in capped.message


def test_promotion_codes_apply_within_their_dates_and_per_clinic_limits(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    early = billing.purchase("c", 5_000, payment_method="upi_ok", key="b1", promo_code="double5k")
    assert early.bonus_credits == 0 and "DOUBLE5K" in early.message  # not on sale in March
    clock.now = datetime(2026, 11, 15, 6, 0, tzinfo=UTC)
    double = billing.purchase("c", 5_000, payment_method="upi_ok", key="b2", promo_code=" double5k ")
    assert double.bonus_credits == 5_000 and double.balance == 5_000 + 10_000  # "₹5,000 → 10,000 credits"
    again = billing.purchase("c", 5_000, payment_method="upi_ok", key="b3", promo_code="DOUBLE5K")
    assert again.bonus_credits == 0  # once per clinic
    extra = billing.purchase("c", 6_000, payment_method="upi_ok", key="b4", promo_code="EXTRA2K")
    assert extra.bonus_credits == 2_000 and extra.bonus_rule_ids == ("IN-EXTRA2K",)
    uses = {(u.rule_id, u.clinic_id): int(u.uses) for u in rows(billing, "promo_uses")}
    assert uses[("IN-DOUBLE5K", "c")] == 1 and uses[("IN-DOUBLE5K", ALL_CLINICS)] == 1


def test_a_referral_rewards_both_clinics_once_on_the_first_paid_top_up(billing: Billing) -> None:
    billing.register_clinic("ref", "Referrer", "IN", key="reg")
    billing.register_clinic("new", "New clinic", "IN", key="reg", referred_by="ref")
    first = billing.purchase("new", 2_000, payment_method="upi_ok", key="b1")
    assert first.balance == 2_000 + 500
    assert billing.balance("ref").balance == 500
    billing.purchase("new", 3_000, payment_method="upi_ok", key="b2")
    assert billing.balance("ref").balance == 500 and billing.balance("new").balance == 5_500
    rewards = rows(billing, "transactions", kind="referral")
    assert sorted((t.clinic_id, int(t.credits)) for t in rewards) == [("new", 500), ("ref", 500)]
    assert len(rows(billing, "referrals")) == 1
