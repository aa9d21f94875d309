"""The policies of the shipped pricebooks, decided by durable-rules: every seed example as written,
windows at their first and last second in the pricebook's time zone, limits reached exactly,
stacking against best single, referrals paid once per pair, overdraft at exactly -limit, dispute
windows and duplicates, alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine import load_pricebook
from rules import (
    AlertFacts,
    ChargeFacts,
    DisputeFacts,
    PolicyEngine,
    PolicyError,
    ReferralFacts,
    TopUpFacts,
)
from tests.support.paths import IN_V1, IN_V2, US_V1

IST, NY = ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")
INDIA = PolicyEngine.of(load_pricebook(IN_V2))
INDIA_V1 = PolicyEngine.of(load_pricebook(IN_V1))
US = PolicyEngine.of(load_pricebook(US_V1))
NOV = datetime(2026, 11, 20, 12, 0, tzinfo=IST)  # inside every 2026 India promotion


def topup(engine: PolicyEngine, paid: int, code: str | None = None, at: datetime = NOV, **kw: object):
    return engine.topup(TopUpFacts(clinic_id="clinic-1", paid_credits=paid, at=at, promo_code=code, **kw))


# -- the seed's examples, as written ------------------------------------------------------------


def test_pay_5000_get_10000_credits() -> None:
    decision = topup(INDIA, 5000, "DOUBLE5K")
    assert decision.paid_credits + decision.bonus_credits == 10_000
    assert decision.rule_ids == ("IN-DOUBLE5K",) and decision.code_status == "applied"
    (bonus,) = decision.bonuses
    assert bonus.beneficiary == "payer" and bonus.expires_at == NOV + timedelta(days=90)
    v1 = topup(INDIA_V1, 5000, "double5k", at=datetime(2025, 8, 15, tzinfo=IST))
    assert v1.paid_credits + v1.bonus_credits == 10_000


def test_pay_5000_get_2000_extra() -> None:
    decision = topup(INDIA, 5000, "extra2k")  # codes are case-insensitive
    assert (decision.bonus_credits, decision.rule_ids, decision.promo_code) == (2000, ("IN-EXTRA2K",), "EXTRA2K")


def test_pay_10000_get_20_percent_and_featured_placement() -> None:
    decision = topup(INDIA, 10_000)
    assert decision.bonus_credits == 2_000 and decision.rule_ids == ("IN-BONUS20",)
    (perk,) = decision.perks
    assert (perk.perk, perk.until) == ("featured_placement", NOV + timedelta(days=30))
    assert topup(INDIA, 250_000).bonus_credits == 20_000  # 20% capped at 20,000 credits


def test_referral_gives_both_clinics_500_on_the_first_paid_topup() -> None:
    facts = ReferralFacts(
        referrer_id="clinic-a", referred_id="clinic-b", paid_credits=1000, at=NOV, first_paid_topup=True
    )
    decision = INDIA.referral(facts)
    assert {(b.beneficiary, b.clinic_id, b.credits) for b in decision.bonuses} == {
        ("referrer", "clinic-a", 500),
        ("referred", "clinic-b", 500),
    }
    assert decision.idempotency_key == "referral:clinic-a:clinic-b"
    # the settlement delivered twice: the same decision, the same key, so the ledger applies it once
    assert INDIA.referral(facts) == decision
    # once the ledger has the reward, a late duplicate pays nothing
    again = INDIA.referral(facts.model_copy(update={"already_rewarded": True}))
    assert not again.rewarded and "already rewarded" in again.reason
    later = INDIA.referral(facts.model_copy(update={"first_paid_topup": False}))
    assert not later.rewarded and "first paid top-up" in later.reason
    small = INDIA.referral(facts.model_copy(update={"paid_credits": 999}))
    assert not small.rewarded
    own = INDIA.referral(facts.model_copy(update={"referred_id": "clinic-a"}))
    assert not own.rewarded


def test_us_bonus_on_high_value_topups() -> None:
    at = datetime(2026, 3, 1, tzinfo=NY)
    assert topup(US, 1_999_999, at=at).bonus_credits == 0
    assert topup(US, 2_000_000, at=at).bonus_credits == 100_000  # 5% of $200
    assert topup(US, 4_999_999, at=at).bonus_credits == 100_000  # capped at $10
    assert topup(US, 5_000_000, at=at).bonus_credits == 500_000  # 10% of $500
    assert topup(US, 20_000_000, at=at).bonus_credits == 1_000_000  # capped at $100


# -- windows, limits, stacking -----------------------------------------------------------------


def test_promo_window_first_and_last_second_in_the_pricebooks_time_zone() -> None:
    first = datetime(2026, 11, 1, 0, 0, 0, tzinfo=IST)
    last = datetime(2026, 12, 31, 23, 59, 59, tzinfo=IST)
    assert topup(INDIA, 5000, "DOUBLE5K", at=first).bonus_credits == 5000
    assert topup(INDIA, 5000, "DOUBLE5K", at=first - timedelta(seconds=1)).bonus_credits == 0
    assert topup(INDIA, 5000, "DOUBLE5K", at=last).bonus_credits == 5000
    after = topup(INDIA, 5000, "DOUBLE5K", at=last + timedelta(seconds=1))
    assert after.bonus_credits == 0 and "not valid on 2027-01-01 00:00" in after.notes[0]
    # the same instant seen from New York: 2026-10-31 14:30 EDT is 2026-11-01 00:00 IST
    assert topup(INDIA, 5000, "DOUBLE5K", at=datetime(2026, 10, 31, 14, 30, tzinfo=NY)).bonus_credits == 5000
    assert topup(INDIA, 5000, "DOUBLE5K", at=datetime(2026, 10, 31, 14, 29, 59, tzinfo=NY)).bonus_credits == 0


def test_minimum_and_maximum_paid_amounts() -> None:
    assert topup(INDIA, 4999, "DOUBLE5K").notes == (
        "promo code DOUBLE5K needs a top-up of at least 5,000 credits (₹5,000)",
    )
    assert topup(INDIA, 9999, "DOUBLE5K").bonus_credits == 5000
    assert topup(INDIA, 10_000, "DOUBLE5K").rule_ids == ("IN-BONUS20",)  # DOUBLE5K ends below 10,000


def test_limits_per_clinic_and_in_total_reached_exactly() -> None:
    assert topup(INDIA, 5000, "DOUBLE5K", clinic_uses={"IN-DOUBLE5K": 0}).bonus_credits == 5000
    used = topup(INDIA, 5000, "DOUBLE5K", clinic_uses={"IN-DOUBLE5K": 1})
    assert used.bonus_credits == 0 and "already received it 1 time(s)" in used.notes[0]
    assert topup(INDIA, 5000, "DOUBLE5K", total_uses={"IN-DOUBLE5K": 999}).bonus_credits == 5000
    gone = topup(INDIA, 5000, "DOUBLE5K", total_uses={"IN-DOUBLE5K": 1000})
    assert gone.bonus_credits == 0 and "all 1000 have been given" in gone.notes[0]
    facts = {"referrer_id": "a", "referred_id": "b", "paid_credits": 1000, "at": NOV, "first_paid_topup": True}
    assert INDIA.referral(ReferralFacts(**facts, referrer_rewards=9)).rewarded
    assert not INDIA.referral(ReferralFacts(**facts, referrer_rewards=10)).rewarded


def test_best_single_versus_stacking() -> None:
    # 10,000 with EXTRA2K typed: 2,000 either way; the automatic 20% also brings featured placement
    decision = topup(INDIA, 10_000, "EXTRA2K")
    assert decision.rule_ids == ("IN-BONUS20",) and decision.bonus_credits == 2_000
    assert decision.code_status == "not_applied" and any("best single" in n for n in decision.notes)
    # 20,000 with EXTRA2K: 20% = 4,000 beats 2,000
    assert topup(INDIA, 20_000, "EXTRA2K").bonus_credits == 4_000
    # a stackable promotion adds to the best single one
    stackable = PolicyEngine(_with_stackable_extra())
    stacked = stackable.topup(TopUpFacts(clinic_id="c", paid_credits=20_000, at=NOV, promo_code="EXTRA2K"))
    assert stacked.rule_ids == ("IN-BONUS20", "IN-EXTRA2K") and stacked.bonus_credits == 6_000


def _with_stackable_extra():
    pb = load_pricebook(IN_V2)
    promos = tuple(
        p.model_copy(update={"stackable": True}) if p.rule_id == "IN-EXTRA2K" else p for p in pb.topup_promos
    )
    from engine.pricebook.model import semantic_hash_of

    changed = pb.model_copy(update={"topup_promos": promos, "semantic_hash": ""})
    return changed.model_copy(update={"semantic_hash": semantic_hash_of(changed)})


def test_unknown_and_blank_codes() -> None:
    unknown = topup(INDIA, 7000, "NOPE")
    assert (unknown.code_status, unknown.bonus_credits, unknown.notes) == (
        "unknown",
        0,
        ("promo code NOPE is not known",),
    )
    assert topup(INDIA, 7000, "   ").code_status == "none"


# -- overdraft ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "balance", "amount", "approved", "after"),
    [
        ("standard", 100, 100, True, 0),
        ("standard", 100, 101, False, 100),
        ("standard", -5, 0, True, -5),
        ("preferred", 100, 500_100, True, -500_000),  # exactly -limit is allowed
        ("preferred", 100, 500_101, False, 100),
        ("preferred", -500_000, 1, False, -500_000),
    ],
)
def test_overdraft_at_exactly_minus_the_limit(
    segment: str, balance: int, amount: int, approved: bool, after: int
) -> None:
    decision = US.overdraft(ChargeFacts(segment=segment, balance=balance, amount=amount))
    assert (decision.approved, decision.balance_after) == (approved, after)
    assert decision.rule_ids == ((f"OD-{segment.upper()}",) if amount else ())
    assert decision.reason.startswith("declined") != approved
    assert US.overdraft_limit(segment) == (500_000 if segment == "preferred" else 0)


def test_india_has_no_overdraft_for_anyone() -> None:
    assert not INDIA.overdraft(ChargeFacts(segment="preferred", balance=10, amount=11)).approved


# -- disputes ----------------------------------------------------------------------------------


def test_dispute_window_at_the_boundary() -> None:
    charged = datetime(2026, 11, 20, 9, 0, tzinfo=IST)
    inside = INDIA.dispute(
        DisputeFacts(reason="invalid", product="lead_call", charged_at=charged, opened_at=charged + timedelta(days=7))
    )
    late = INDIA.dispute(
        DisputeFacts(
            reason="invalid", product="lead_call", charged_at=charged, opened_at=charged + timedelta(days=7, seconds=1)
        )
    )
    assert (inside.outcome, inside.rule_ids) == ("admin_review", ("DS-INVALID",))
    assert late.outcome == "rejected" and "within 7 days" in late.reason
    assert inside.window_ends_at == charged + timedelta(days=7)


def test_duplicate_lead_is_approved_automatically_only_within_the_duplicate_window() -> None:
    charged = datetime(2026, 11, 20, 9, 0, tzinfo=IST)

    def duplicate(previous_days: float | None):
        previous = None if previous_days is None else charged - timedelta(days=previous_days)
        return INDIA.dispute(
            DisputeFacts(
                reason="duplicate",
                product="lead_chat",
                charged_at=charged,
                opened_at=charged + timedelta(hours=3),
                previous_charge_at=previous,
            )
        )

    assert duplicate(30).outcome == "auto_approved"
    assert duplicate(30.0001).outcome == "admin_review"
    assert duplicate(None).outcome == "admin_review"
    us_duplicate = US.dispute(
        DisputeFacts(
            reason="duplicate",
            product="sms",
            charged_at=charged,
            opened_at=charged + timedelta(days=1),
            previous_charge_at=charged - timedelta(days=1),
        )
    )
    assert us_duplicate.outcome == "admin_review"  # the US pricebook reviews every dispute


def test_reasons_not_allowed_are_rejected_with_the_allowed_ones() -> None:
    decision = US.dispute(DisputeFacts(reason="invalid", product="sms", charged_at=NOV, opened_at=NOV))
    assert decision.outcome == "rejected" and "allowed: duplicate, mistakenly_charged" in decision.reason
    backwards = INDIA.dispute(
        DisputeFacts(reason="invalid", product="lead_call", charged_at=NOV, opened_at=NOV - timedelta(seconds=1))
    )
    assert backwards.outcome == "rejected"


# -- alerts ------------------------------------------------------------------------------------


def test_alerts() -> None:
    quiet = INDIA.alerts(AlertFacts(balance=5000, trailing_daily_credits=100))
    assert quiet.alerts == () and quiet.runway_days == 50
    low = INDIA.alerts(AlertFacts(balance=999))
    assert low.kinds == ("low_balance_credits",) and "below 1,000 credits (₹1,000)" in low.alerts[0].message
    assert INDIA.alerts(AlertFacts(balance=1000)).alerts == ()
    runway = INDIA.alerts(AlertFacts(balance=6_000, trailing_daily_credits=1_000))
    assert runway.kinds == ("low_balance_runway_days",) and runway.runway_days == 6
    assert INDIA.alerts(AlertFacts(balance=7_000, trailing_daily_credits=1_000)).alerts == ()
    expiring = INDIA.alerts(
        AlertFacts(balance=50_000, expiring_credits=2_000, earliest_expiry=NOV + timedelta(days=12))
    )
    assert expiring.kinds == ("expiring_credits_days",) and "expire within 30 days" in expiring.alerts[0].message
    assert INDIA.expiring_window_days == 30
    us = US.alerts(AlertFacts(balance=49_999))
    assert "below 50,000 credits ($5.00)" in us.alerts[0].message


def test_bad_facts_raise_one_error_naming_the_field() -> None:
    with pytest.raises(PolicyError) as caught:
        TopUpFacts(clinic_id="c", paid_credits=0, at=NOV)
    assert caught.value.field == "paid_credits"
    with pytest.raises(PolicyError) as caught:
        ChargeFacts(segment="gold", balance=1, amount=1)
    assert caught.value.field == "segment"
    with pytest.raises(PolicyError) as caught:
        TopUpFacts(clinic_id="c", paid_credits=10, at=datetime(2026, 1, 1))
    assert caught.value.field == "at"
