"""Auto top-up: opt in with a saved method, a threshold and a fixed amount (in capped multiples) or a
target balance; triggered after a charge committed, at most one in flight per clinic, a failure
recorded, paused and raised as the charge's alert. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from engine.billing import AutoTopUpRefused, Billing, FakeGateway, GatewayRouter, IdempotencyConflict
from engine.billing.autotopup import ENABLED
from engine.billing.payments import PaymentRequest
from engine.billing.payments.razorpay import RazorpayGateway
from engine.errors import InvalidInput
from engine.pricing.requests import LeadRequest, Usage
from engine.vocabulary import Product
from storage.database import Database
from tests.support.clock import Clock
from tests.support.ledger_rows import rows
from tests.support.ledgers import shipped_ledger
from tests.support.paths import IN_V1, IN_V2
from tests.support.payment_providers import razorpay_keys
from tests.support.provider_stubs import RazorpayStub


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def billing(ledger_url: str, gateway: FakeGateway) -> Iterator[Billing]:
    with shipped_ledger(ledger_url, Clock(), gateway) as service:
        service.register_clinic("us", "Riverside Hearing", "US", key="reg")
        service.purchase("us", 1_000_000, payment_method="card_ok", key="fund")
        yield service


def sms(units: int) -> Usage:
    """SMS usage the US pricebook prices at 85 credits a segment (the first tier)."""
    return Usage(product=Product.SMS, units=units)


def test_a_charge_below_the_threshold_buys_as_many_fixed_multiples_as_it_needs_up_to_the_cap(billing: Billing) -> None:
    saved = billing.set_auto_topup(
        "us", method="card_ok", threshold=2_500_000, amount=1_000_000, cap=2_000_000, key="auto"
    )
    assert (saved.mode, saved.amount, saved.cap, saved.currency) == ("fixed", 1_000_000, 2_000_000, "USD")
    charged = billing.charge("us", sms(100), key="c1")  # 8,500 credits: the balance is 991,500
    assert charged.approved and charged.auto_topup is not None
    bought = charged.auto_topup
    assert (bought.status, bought.paid_credits, bought.money) == ("credited", 2_000_000, Decimal(200))  # 2 of 3, capped
    assert bought.bonus_credits == 0  # promotions do not apply to auto top-ups
    assert billing.balance("us").balance == 991_500 + 2_000_000
    (attempt,) = rows(billing, "payment_attempts", origin="auto_topup")
    assert (attempt.status, attempt.method, attempt.idempotency_key) == ("credited", "card_ok", None)
    assert billing.auto_topup("us").in_flight is None  # type: ignore[union-attr]
    quiet = billing.charge("us", sms(100), key="c2")  # 2,983,000 is above the threshold: nothing to buy
    assert quiet.auto_topup is None and len(rows(billing, "payment_attempts", origin="auto_topup")) == 1
    assert billing.charge("us", sms(100), key="c1").auto_topup is None  # a replayed charge starts nothing


def test_a_target_balance_buys_the_gap_and_at_least_the_minimum_top_up(billing: Billing) -> None:
    billing.set_auto_topup("us", method="card_ok", threshold=995_000, target=1_040_000, key="auto")
    gap = billing.charge("us", sms(100), key="c1").auto_topup  # 991,500 → buy 48,500, less than $10: buy 100,000
    assert gap is not None and gap.paid_credits == 100_000 and gap.money == Decimal(10)
    billing.set_auto_topup("us", method="card_ok", threshold=1_100_000, target=2_000_000, key="auto-2")
    exact = billing.charge("us", sms(100), key="c2").auto_topup  # 1,083,000 → the gap of 917,000
    assert exact is not None and exact.paid_credits == 917_000
    assert billing.balance("us").balance == 2_000_000


def test_a_failed_auto_top_up_is_recorded_raised_as_an_alert_and_paused_until_saved_again(
    billing: Billing, gateway: FakeGateway
) -> None:
    billing.set_auto_topup("us", method="card_declined", threshold=995_000, amount=1_000_000, key="auto")
    charged = billing.charge("us", sms(100), key="c1")
    assert charged.approved and charged.auto_topup is not None and charged.auto_topup.status == "failed"
    assert any("auto top-up failed" in alert and "card declined" in alert for alert in charged.alerts)
    setting = billing.auto_topup("us")
    assert setting is not None and setting.paused and setting.last_failure == "card declined"
    (told,) = [e for e in rows(billing, "events") if e.kind == "auto_topup_failed"]
    assert "auto top-up is paused" in json.loads(told.payload)["message"]
    assert setting.last_failure_at is not None and setting.in_flight is None
    calls = gateway.calls
    again = billing.charge("us", sms(100), key="c2")  # still below the threshold: a declined card is not retried
    assert again.auto_topup is None and gateway.calls == calls
    billing.set_auto_topup("us", method="card_ok", threshold=995_000, amount=1_000_000, key="auto-fixed")
    fixed = billing.charge("us", sms(100), key="c3")
    assert fixed.auto_topup is not None and fixed.auto_topup.status == "credited"


def test_the_provider_not_answering_leaves_the_charge_committed_and_one_attempt_in_flight(
    billing: Billing, gateway: FakeGateway
) -> None:
    billing.set_auto_topup("us", method="card_error", threshold=995_000, amount=1_000_000, key="auto")
    charged = billing.charge("us", sms(100), key="c1")  # the provider times out (nothing taken)
    assert charged.approved and charged.auto_topup is None
    assert any("in flight" in alert for alert in charged.alerts)
    assert billing.balance("us").balance == 991_500  # the charge stands
    assert billing.charge("us", sms(100), key="c2").auto_topup is None  # one in flight: no second one
    assert len(rows(billing, "payment_attempts", origin="auto_topup")) == 1
    swept = billing.sweep_payments(at=datetime(2026, 3, 2, 15, 20, tzinfo=UTC))
    assert len(swept.failed) == 1  # the fake never saw it: "never reached the provider"
    assert billing.auto_topup("us").paused  # type: ignore[union-attr]


def test_settings_are_checked_and_saved_idempotently(billing: Billing) -> None:
    bad: list[tuple[dict[str, object], str]] = [
        ({"amount": 100_001}, "not a whole amount"),  # $10.0001
        ({"amount": 50_000}, "between 100,000"),  # below the minimum top-up
        ({"amount": 1_000_000, "cap": 500_000}, "below one top-up"),
        ({"amount": 1_000_000, "target": 2_000_000}, "either a fixed amount or a target"),
        ({}, "either a fixed amount or a target"),
        ({"target": 100}, "above the threshold"),
        ({"amount": 1_000_000, "threshold": -1}, "between 0"),
        ({"amount": True}, "whole number"),
    ]
    for change, words in bad:
        asked = {"method": "card_ok", "threshold": 500_000, **change}
        with pytest.raises(AutoTopUpRefused, match=words):
            billing.set_auto_topup("us", key=f"bad-{words}", **asked)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="control character"):  # text is checked by the facade
        billing.set_auto_topup("us", method="card\x00ok", threshold=1, amount=1_000_000, key="bad-text")
    assert billing.auto_topup("us") is None
    first = billing.set_auto_topup("us", method="card_ok", threshold=500_000, amount=1_000_000, key="auto")
    assert billing.set_auto_topup("us", method="card_ok", threshold=500_000, amount=1_000_000, key="auto").replayed
    with pytest.raises(IdempotencyConflict):
        billing.set_auto_topup("us", method="card_ok", threshold=600_000, amount=1_000_000, key="auto")
    off = billing.set_auto_topup("us", method="card_ok", threshold=500_000, amount=1_000_000, enabled=False, key="off")
    assert first.enabled and not off.enabled
    billing.set_auto_topup("us", method="card_ok", threshold=2_000_000, amount=1_000_000, enabled=False, key="off-2")
    assert billing.charge("us", sms(100), key="c1").auto_topup is None  # switched off


def test_a_provider_that_cannot_charge_a_saved_method_is_refused_and_says_so(
    ledger_url: str, razorpay_stub: RazorpayStub
) -> None:
    fake = FakeGateway()
    routed = GatewayRouter(
        {"fake": fake, "razorpay": RazorpayGateway(razorpay_keys(razorpay_stub))}, {"INR": "razorpay"}, "fake"
    )
    billing = Billing(Database(ledger_url), clock=Clock(), gateway=routed)
    for path in (IN_V1, IN_V2):
        billing.publish_pricebook(
            path, actor="pricing", key=f"publish-{path.name}", at=datetime(2025, 6, 1, tzinfo=UTC)
        )
    billing.register_clinic("in", "Smile Dental", "IN", key="reg")
    with pytest.raises(AutoTopUpRefused, match="razorpay"):
        billing.set_auto_topup("in", method="token_x", customer="cust_x", threshold=500, amount=1_000, key="auto")
    billing.db.dispose()


def test_a_charge_storm_starts_exactly_one_auto_top_up_and_never_two_in_flight(
    billing: Billing, gateway: FakeGateway
) -> None:
    """16 threads charge one clinic at once while its auto top-up is held at the provider: the first
    charge that leaves the balance below the threshold starts the one auto top-up; every charge
    meanwhile (approved, or declined once the balance is gone) finds it in flight."""
    billing.register_clinic("in", "Smile Dental", "IN", key="reg")
    billing.purchase("in", 10_000, payment_method="upi_ok", key="fund")  # 12,000 with the bonus
    billing.set_auto_topup("in", method="card_ok", threshold=9_000, amount=100_000, cap=100_000, key="auto")
    release, lock = threading.Event(), threading.Lock()
    held = {"calls": 0, "in_flight": 0, "most": 0, "overlapped": 0}

    def hold(request: PaymentRequest) -> None:
        with lock:
            held["calls"] += 1
            held["in_flight"] += 1
            held["most"] = max(held["most"], held["in_flight"])
        release.wait(timeout=60)
        with lock:
            held["in_flight"] -= 1

    gateway.before_answer = hold
    barrier, results = threading.Barrier(16), []

    def storm(worker: int) -> None:
        barrier.wait()
        for n in range(4):
            lead = LeadRequest(product=Product.LEAD_CHAT, package_price=Decimal(15_000))  # 250 credits
            results.append(billing.charge("in", lead, key=f"w{worker}-{n}"))
            with lock:
                if held["in_flight"]:
                    held["overlapped"] += 1
                if held["overlapped"] >= 12:
                    release.set()  # the provider answers while the storm goes on

    threads = [threading.Thread(target=storm, args=(worker,)) for worker in range(16)]
    for thread in threads:
        thread.start()
    release.wait(timeout=60)
    release.set()
    for thread in threads:
        thread.join()
    gateway.before_answer = None
    assert held["overlapped"] >= 12, "the storm never overlapped the auto top-up in flight: this test did not test"
    assert (held["calls"], held["most"]) == (1, 1)  # exactly one auto top-up, never two in flight
    started = [r.auto_topup for r in results if r.auto_topup is not None]
    assert len(started) == 1 and started[0].status == "credited" and started[0].paid_credits == 100_000
    (attempt,) = rows(billing, "payment_attempts", origin="auto_topup")
    assert attempt.status == "credited"
    approved = sum(r.approved for r in results)
    assert billing.balance("in").balance == 12_000 + 100_000 - 250 * approved


def test_a_setting_saved_in_another_process_is_seen_within_the_cache_time(billing: Billing) -> None:
    assert billing.charge("us", sms(1), key="warm").auto_topup is None  # caches "no clinic has auto top-up"
    elsewhere = Billing(Database(billing.db.url), clock=billing.clock, gateway=billing.gateway, migrate=False)
    elsewhere.set_auto_topup("us", method="card_ok", threshold=2_000_000, amount=1_000_000, key="auto")
    assert billing.charge("us", sms(1), key="stale").auto_topup is None  # not seen yet: the cache is fresh
    ENABLED._clinics.clear()  # what CACHE_SECONDS later looks like
    assert billing.charge("us", sms(1), key="after").auto_topup is not None
    elsewhere.db.dispose()
