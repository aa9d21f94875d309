"""What a clinic is offered now (packages, promotions and how often it may still use each) and what a
request would cost it, on a real ledger: read-only, and priced exactly as the charge prices it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from engine import LeadRequest, SmsCampaign, UnknownClinic
from engine.billing import Billing
from tests.support.clock import Clock
from tests.support.ledger_rows import snapshot

NOVEMBER = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def smile(billing: Billing, clock: Clock) -> str:
    clock.now = NOVEMBER
    billing.register_clinic("smile", "Smile Dental", "IN", key="register")
    return "smile"


def test_offers_list_the_promotions_in_force_with_how_often_the_clinic_may_still_use_them(
    billing: Billing, smile: str
) -> None:
    before = billing.offers(smile)
    by_rule = {p.rule_id: p for p in before.promotions}
    assert (before.pricebook_id, before.version, before.currency, before.topup_min_credits) == (
        "in-clinic-leads",
        2,
        "INR",
        1000,
    )
    assert set(by_rule) == {"IN-BONUS20", "IN-DOUBLE5K", "IN-EXTRA2K", "IN-REFERRAL"}
    extra = by_rule["IN-EXTRA2K"]
    assert (extra.promo_code, extra.bonus_credits, extra.min_topup_credits, extra.uses_left, extra.used_up) == (
        "EXTRA2K",
        2000,
        5000,
        1,
        False,
    )
    assert by_rule["IN-BONUS20"].bonus_pct == Decimal("0.2") and by_rule["IN-BONUS20"].uses_left is None

    billing.purchase(smile, 5000, payment_method="upi_ok", key="topup", promo_code="extra2k")
    after = {p.rule_id: p for p in billing.offers(smile).promotions}
    assert (after["IN-EXTRA2K"].uses_left, after["IN-EXTRA2K"].used_up) == (0, True)
    assert after["IN-DOUBLE5K"].used_up is False


def test_a_promotion_outside_its_window_is_not_offered(billing: Billing, smile: str, clock: Clock) -> None:
    # DOUBLE5K runs from 2026-11-01 (IST); a month earlier it is not in force yet
    october = billing.offers(smile, at=datetime(2026, 10, 20, tzinfo=UTC))
    assert "IN-DOUBLE5K" not in {p.rule_id for p in october.promotions}
    # every promotion of v2 but the referral ends with 2026
    clock.now = datetime(2027, 1, 5, tzinfo=UTC)
    assert {p.rule_id for p in billing.offers(smile).promotions} == {"IN-REFERRAL"}


def test_us_offers_carry_the_packages_on_sale(billing: Billing, clock: Clock) -> None:
    clock.now = NOVEMBER
    billing.register_clinic("riverside", "Riverside Hearing", "US", key="register")
    offered = billing.offers("riverside")
    assert {p.package_code for p in offered.packages} >= {"SOLO-SMS", "LARGE-VOICE"}
    assert offered.money_per_credit == Decimal("0.0001")


def test_an_estimate_prices_like_the_charge_and_writes_nothing(billing: Billing, smile: str) -> None:
    billing.purchase(smile, 1000, payment_method="upi_ok", key="topup")
    lead = LeadRequest(product="lead_call", package_price=Decimal(15_000))
    before = snapshot(billing)
    estimate = billing.estimate(smile, lead)
    assert snapshot(billing) == before
    assert (estimate.quote.credits, estimate.balance, estimate.balance_after, estimate.approved) == (
        250,
        1000,
        750,
        True,
    )
    charged = billing.charge(smile, lead, key="lead-1")
    assert (charged.credits, charged.balance) == (estimate.quote.credits, estimate.balance_after)


def test_an_estimate_past_the_overdraft_limit_says_it_would_be_declined(billing: Billing, smile: str) -> None:
    estimate = billing.estimate(smile, {"product": "lead_chat", "package_price": "60000"})
    assert estimate.approved is False and estimate.balance_after == 0 and "declined" in (estimate.decline_reason or "")


def test_an_estimate_counts_the_term_used_so_far(billing: Billing, clock: Clock) -> None:
    clock.now = NOVEMBER
    billing.register_clinic("riverside", "Riverside Hearing", "US", key="register")
    billing.purchase("riverside", 1_000_000, payment_method="card_ok", key="topup")
    campaign = SmsCampaign(body="Your hearing check is tomorrow at 10:00.", recipients=600)
    first = billing.estimate("riverside", campaign)
    assert first.quote.credits == billing.charge("riverside", campaign, key="c1").credits == 50_800
    second = billing.estimate("riverside", campaign)
    assert second.quote.credits == billing.charge("riverside", campaign, key="c2").credits


def test_offers_and_estimates_of_an_unknown_clinic_are_refused(billing: Billing) -> None:
    with pytest.raises(UnknownClinic):
        billing.offers("nobody")
    with pytest.raises(UnknownClinic):
        billing.estimate("nobody", {"product": "lead_chat"})
