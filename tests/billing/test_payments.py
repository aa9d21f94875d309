"""Buying credits through the fake gateway: the preview, promo codes refused before money moves,
whole minor units, declines, pending payments, duplicate webhooks, bonus tiers and referrals."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

import pytest

from engine.billing import (
    Billing,
    FakeGateway,
    InvalidAmount,
    PromoCodeRefused,
    UnknownClinic,
    UnknownPackage,
)
from engine.errors import InvalidInput
from storage.promotions import ALL_CLINICS
from tests.support.clock import Clock
from tests.support.ledger_rows import rows, snapshot
from tests.support.races import start_and_join

NOVEMBER = datetime(2026, 11, 15, 6, 0, tzinfo=UTC)  # DOUBLE5K is on sale (1 Nov - 31 Dec 2026, India)


def test_a_declined_card_is_recorded_and_changes_nothing_else(billing: Billing, gateway: FakeGateway) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    failed = billing.purchase("c", 500_000, payment_method="card_declined", key="buy")
    assert failed.status == "failed" and failed.balance == 0 and "card declined" in failed.message
    (attempt,) = rows(billing, "payment_attempts")
    assert (attempt.status, attempt.failure, attempt.reference) == ("failed", "card declined", failed.reference)
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
    assert rows(billing, "payment_attempts")[0].status == "pending"
    assert billing.confirm_payment(pending.payment_id).status == "pending"  # nothing settled yet
    gateway.settle(pending.payment_id)
    clock.advance(minutes=5)
    barrier = threading.Barrier(3)
    deliveries = []

    def webhook() -> None:
        barrier.wait()
        deliveries.append(billing.confirm_payment(pending.payment_id))

    start_and_join(threading.Thread(target=webhook) for _ in range(3))
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
    assert rows(billing, "payment_attempts")[0].status == "failed"


def test_authentication_required_hands_the_next_step_back_and_settles_when_the_payer_finishes(
    billing: Billing, gateway: FakeGateway
) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    pending = billing.purchase("c", 1_000_000, payment_method="card_action", key="buy")
    assert pending.status == "pending" and pending.next_action is not None
    assert pending.next_action.kind == "fake_confirm" and pending.next_action.client_secret
    assert pending.payment_id is not None
    gateway.settle(pending.payment_id)  # the payer passed 3-D Secure in the browser
    done = billing.confirm_checkout("fake", gateway.checkout_fields(pending.payment_id))
    assert done.status == "credited" and done.balance == 1_000_000 and done.next_action is None


def test_us_bonus_tiers_by_amount(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    below = billing.purchase("c", 1_999_900, payment_method="card_ok", key="b1")  # $199.99
    floor = billing.purchase("c", 2_000_000, payment_method="card_ok", key="b2")  # $200: 5%, at most $10
    ten = billing.purchase("c", 5_000_000, payment_method="card_ok", key="b3")  # $500 starts the 10% tier
    capped = billing.purchase("c", 12_000_000, payment_method="card_ok", key="b4")  # 10% capped at $100
    assert [p.bonus_credits for p in (below, floor, ten, capped)] == [0, 100_000, 500_000, 1_000_000]
    assert (floor.bonus_rule_ids, ten.bonus_rule_ids) == (("US-BONUS-200",), ("US-BONUS-500",))
    bonus_lots = [lot for lot in rows(billing, "lots") if lot.kind == "granted"]
    assert [int(lot.amount) for lot in bonus_lots] == [100_000, 500_000, 1_000_000]
    assert "bonus of 1,000,000 credits ($100.00)" in capped.message


def test_money_that_is_not_whole_cents_never_reaches_the_provider(billing: Billing, gateway: FakeGateway) -> None:
    """100,001 US credits are $10.0001: the preview rounds up to 100,100 ($10.01) and says so; a
    purchase refuses it, naming both payable neighbours, before anything is recorded."""
    billing.register_clinic("c", "Clinic", "US", key="reg")
    preview = billing.quote_topup("c", 100_001)
    assert (preview.paid_credits, preview.rounded_up_from) == (100_100, 100_001)
    assert (preview.amount, preview.amount_minor, preview.currency) == (Decimal("10.01"), 1001, "USD")
    assert "rounded up to 100,100" in preview.message
    before, calls = snapshot(billing), gateway.calls
    with pytest.raises(InvalidAmount, match=r"buy 100,000 or 100,100 credits"):
        billing.purchase("c", 100_001, payment_method="card_ok", key="odd")
    assert snapshot(billing) == before and gateway.calls == calls
    bought = billing.purchase("c", preview.paid_credits, payment_method="card_ok", key="even")
    assert bought.money == Decimal("10.01") and bought.balance == 100_100


def test_the_preview_shows_money_bonus_perks_and_the_provider_before_anything_is_written(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    before = snapshot(billing)
    quote = billing.quote_topup("c", 10_000, payment_method="upi_ok")
    assert (quote.amount, quote.amount_minor, quote.paid_credits) == (Decimal(10_000), 1_000_000, 10_000)
    assert (quote.bonus_credits, quote.bonus_rule_ids, quote.perks) == (2_000, ("IN-BONUS20",), ("featured_placement",))
    assert quote.provider == "fake" and quote.promo_code is None and quote.promo_refusal is None
    assert "pay ₹10,000 for 10,000 credits" in quote.message and "bonus of 2,000 credits" in quote.message
    assert snapshot(billing) == before
    bought = billing.purchase("c", 10_000, payment_method="upi_ok", key="buy")
    assert (bought.bonus_credits, bought.perks, bought.balance) == (2_000, ("featured_placement",), 12_000)


def test_the_preview_refuses_a_package_the_pricebook_does_not_sell_and_an_unknown_clinic(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    package = billing.quote_topup("c", "solo-sms")
    assert (package.package_code, package.paid_credits, package.amount) == ("SOLO-SMS", 83_000, Decimal("8.30"))
    with pytest.raises(UnknownPackage):
        billing.quote_topup("c", "gold")
    with pytest.raises(UnknownClinic):
        billing.quote_topup("nobody", 100_000)
    with pytest.raises(InvalidAmount, match="smallest top-up"):
        billing.quote_topup("c", 99_999)


class RefusedCode(NamedTuple):
    """A promotion code tried when it does not apply: the refusal expected and words of its reason."""

    when: datetime
    code: str
    credits: int
    refusal: str
    words: str


@pytest.mark.parametrize(
    "case",
    [
        RefusedCode(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), "nosuch", 5_000, "unknown", "is not known"),
        RefusedCode(
            datetime(2026, 3, 2, 15, 0, tzinfo=UTC), "double5k", 5_000, "not_yet_valid", "valid from 2026-11-01"
        ),
        RefusedCode(datetime(2027, 1, 5, 15, 0, tzinfo=UTC), "EXTRA2K", 5_000, "expired", "expired after 2026-12-31"),
        RefusedCode(NOVEMBER, "EXTRA2K", 4_000, "not_applicable", "at least 5,000 credits"),
    ],
    ids=lambda case: case.refusal,
)
def test_a_code_that_does_not_apply_is_refused_by_the_preview_and_before_any_money_moves(
    billing: Billing, gateway: FakeGateway, clock: Clock, case: RefusedCode
) -> None:
    when, code, credits, refusal, words = case
    clock.now = when
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    preview = billing.quote_topup("c", credits, promo_code=code)
    assert (preview.promo_refusal, preview.promo_applies, preview.bonus_credits) == (refusal, False, 0)
    assert preview.promo_reason is not None and words in preview.promo_reason
    before, calls = snapshot(billing), gateway.calls
    with pytest.raises(PromoCodeRefused, match=words) as refused:
        billing.purchase("c", credits, payment_method="upi_ok", key="buy", promo_code=code)
    assert refused.value.detail["refusal"] == refusal and refused.value.problem()["status"] == 422
    assert snapshot(billing) == before and gateway.calls == calls  # no key, no attempt, no provider call
    plain = billing.purchase("c", max(credits, 1_000), payment_method="upi_ok", key="buy")  # the key is free
    assert plain.status == "credited"


def test_promotion_codes_apply_within_their_dates_and_per_clinic_limits(
    billing: Billing, clock: Clock, gateway: FakeGateway
) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    with pytest.raises(PromoCodeRefused, match="valid from"):  # not on sale in March: nothing is charged
        billing.purchase("c", 5_000, payment_method="upi_ok", key="b1", promo_code="double5k")
    clock.now = NOVEMBER
    assert billing.quote_topup("c", 5_000, promo_code=" double5k ").promo_applies
    double = billing.purchase("c", 5_000, payment_method="upi_ok", key="b2", promo_code=" double5k ")
    assert double.bonus_credits == 5_000 and double.balance == 10_000  # "₹5,000 → 10,000 credits"
    used = billing.quote_topup("c", 5_000, promo_code="DOUBLE5K")
    assert used.promo_refusal == "used_up" and "already used" in (used.promo_reason or "")
    calls = gateway.calls
    with pytest.raises(PromoCodeRefused, match="already used"):  # once per clinic
        billing.purchase("c", 5_000, payment_method="upi_ok", key="b3", promo_code="DOUBLE5K")
    assert gateway.calls == calls
    extra = billing.purchase("c", 6_000, payment_method="upi_ok", key="b4", promo_code="EXTRA2K")
    assert extra.bonus_credits == 2_000 and extra.bonus_rule_ids == ("IN-EXTRA2K",)
    uses = {(u.rule_id, u.clinic_id): int(u.uses) for u in rows(billing, "promo_uses")}
    assert uses[("IN-DOUBLE5K", "c")] == 1 and uses[("IN-DOUBLE5K", ALL_CLINICS)] == 1


def test_a_failed_payment_gives_back_the_promotion_use_it_reserved(billing: Billing, clock: Clock) -> None:
    clock.now = NOVEMBER
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    failed = billing.purchase("c", 5_000, payment_method="card_declined", key="b1", promo_code="DOUBLE5K")
    assert failed.status == "failed"
    uses = {(u.rule_id, u.clinic_id): int(u.uses) for u in rows(billing, "promo_uses")}
    assert uses[("IN-DOUBLE5K", "c")] == 0 and uses[("IN-DOUBLE5K", ALL_CLINICS)] == 0
    paid = billing.purchase("c", 5_000, payment_method="upi_ok", key="b2", promo_code="DOUBLE5K")
    assert paid.bonus_credits == 5_000


def test_the_last_use_of_a_limited_promotion_goes_to_one_of_two_racing_clinics(billing: Billing, clock: Clock) -> None:
    """DOUBLE5K is limited to 1,000 uses in all; with 999 given, two clinics buy at once: one gets
    the bonus, the other is refused before its money moves (the preview had said yes to both)."""
    clock.now = NOVEMBER
    for clinic in ("a", "b"):
        billing.register_clinic(clinic, clinic, "IN", key="reg")
        assert billing.quote_topup(clinic, 5_000, promo_code="DOUBLE5K").promo_applies

    def give_999(conn: object) -> None:
        from sqlalchemy import insert

        from storage.schema import promo_uses

        conn.execute(  # type: ignore[attr-defined]
            insert(promo_uses).values(
                pricebook_id="in-clinic-leads", rule_id="IN-DOUBLE5K", clinic_id=ALL_CLINICS, uses=999
            )
        )

    billing.db.run(give_999)
    barrier, outcomes = threading.Barrier(2), []

    def buy(clinic: str) -> None:
        barrier.wait()
        try:
            outcomes.append(
                billing.purchase(clinic, 5_000, payment_method="upi_ok", key="b", promo_code="DOUBLE5K").status
            )
        except PromoCodeRefused as refused:
            outcomes.append(refused.detail["refusal"])

    start_and_join(threading.Thread(target=buy, args=(clinic,)) for clinic in ("a", "b"))
    assert sorted(outcomes) == ["credited", "used_up"]
    assert len(rows(billing, "payment_attempts")) == 1


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


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("promo_code", {"promo_code": "X" * 65}),
        ("promo_code", {"promo_code": "DOUBLE\x005K"}),
        ("payment_method", {"payment_method": "card\x00ok"}),
        ("payment_method", {"payment_method": "c" * 65}),
    ],
)
def test_over_long_and_control_character_text_is_refused_before_anything_is_written(
    billing: Billing, gateway: FakeGateway, field: str, kwargs: dict[str, str]
) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    before, calls = snapshot(billing), gateway.calls
    asked = {"payment_method": "upi_ok", **kwargs}
    with pytest.raises(InvalidInput) as refused:  # checked by the facade (engine/billing/arguments.py)
        billing.purchase("c", 5_000, key="buy", **asked)  # type: ignore[arg-type]
    assert refused.value.detail["field"] == field
    assert snapshot(billing) == before and gateway.calls == calls


def test_a_top_up_that_would_overflow_the_wallet_is_refused_before_the_provider(
    billing: Billing, gateway: FakeGateway
) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    for n in range(99):  # one operation moves at most 10^13 credits; a wallet holds at most 10^15
        billing.adjust("c", 10**13, actor="ops", reason="a very rich clinic", key=f"adj-{n}")
    billing.adjust("c", 10**13 - 10_000, actor="ops", reason="a very rich clinic", key="adj-last")
    calls, before = gateway.calls, snapshot(billing)
    with pytest.raises(InvalidAmount, match="more than 1,000,000,000,000,000 credits"):
        billing.purchase("c", 20_000, payment_method="upi_ok", key="buy")
    with pytest.raises(InvalidAmount, match="10,000,000,000,000 credits"):
        billing.purchase("c", 10**13 + 1, payment_method="upi_ok", key="buy")
    assert gateway.calls == calls and snapshot(billing) == before


def test_settled_and_failed_payments_are_told_through_the_outbox(billing: Billing) -> None:
    """The event is written in the settlement's own transaction: it exists iff the settlement does."""
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="ok")
    billing.purchase("c", 500_000, payment_method="card_declined", key="declined")
    told = {(e.kind, json.loads(e.payload)["message"]) for e in rows(billing, "events") if e.kind.startswith("topup")}
    assert told == {
        ("topup_settled", "Credited 1,000,000 credits ($100.00)."),
        ("topup_failed", "Your top-up of 500,000 credits ($50.00) failed: card declined. Nothing was charged."),
    }
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="ok")  # a replay tells nothing new
    assert len([e for e in rows(billing, "events") if e.kind.startswith("topup")]) == 2
