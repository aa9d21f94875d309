"""The design notes' flows end to end, on SQLite and PostgreSQL, priced by the shipped pricebooks.

Expected credits are worked out here from the notes' tables (not read back from the engine), so a
wrong tier, rate, bonus or lot order fails the test.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from engine.billing import Billing
from engine.pricing.requests import LeadRequest, SmsCampaign, Usage, VoiceCampaign
from tests.support.ledger_rows import allocations_of, rows

REMINDER = "Hi {first}, a reminder of your hearing check tomorrow at 10:00. Reply C to confirm."


def test_us_pay_as_you_go_purchase_and_a_campaign_that_crosses_a_tier(billing: Billing) -> None:
    billing.register_clinic("riverside", "Riverside Hearing", "US", key="reg")
    bought = billing.purchase("riverside", 1_000_000, payment_method="card_ok", key="buy-1")
    assert bought.status == "credited"
    assert bought.money == Decimal("100.0000") and bought.currency == "USD"
    assert bought.balance == 1_000_000 and bought.bonus_credits == 0  # under the $200 bonus floor

    first = billing.charge("riverside", SmsCampaign(body=REMINDER, recipients=450), key="campaign-1")
    assert first.approved and first.credits == 450 * 85  # SMS-1: segments 1..500 at 85 credits
    second = billing.charge("riverside", SmsCampaign(body=REMINDER, recipients=300), key="campaign-2")
    # the 365-day term has used 450: 50 more at 85, then 250 at SMS-2's 83
    assert second.credits == 50 * 85 + 250 * 83 == 25_000
    assert second.rule_ids == ("SMS-1", "SMS-2")
    assert any("tier" in warning for warning in second.warnings)
    assert second.balance == 1_000_000 - 450 * 85 - 25_000
    assert second.money == Decimal("2.5000")

    term = rows(billing, "terms", clinic_id="riverside", product="sms")
    assert [int(t.units) for t in term] == [750]
    voice = billing.charge(
        "riverside", VoiceCampaign(calls=({"duration_s": 61}, {"duration_s": 30}, {"duration_s": 0})), key="calls"
    )
    assert voice.units == 3 and voice.credits == 3 * 160  # 61 s → 2 minutes, 30 s → 1, 0 s → 0
    view = billing.balance("riverside")
    assert view.balance == voice.balance
    assert view.used_this_month == 450 * 85 + 25_000 + 480
    assert view.sms_segments_this_month == 750 and view.voice_minutes_this_month == 3


def test_a_clinic_on_the_small_package_pays_the_package_rate(billing: Billing) -> None:
    billing.register_clinic("small", "Small Clinic", "US", key="reg", clinic_size="small")
    packages = {p.package_code: p for p in billing.list_packages("US")}
    small = packages["SMALL-SMS"]
    bought = billing.purchase("small", "small-sms", payment_method="card_ok", key="buy")
    assert bought.package_code == "SMALL-SMS"
    assert bought.paid_credits == 3_500 * 81 == small.total_credits
    assert bought.money == Decimal("28.3500")
    charged = billing.charge("small", Usage(product="sms", units=600), key="sms")
    assert charged.credits == 600 * 81  # the package rate, not the pay-as-you-go 85/83 tiers
    assert charged.rule_ids == ("PK-SMALL-SMS",)
    lot = rows(billing, "lots", transaction_id=bought.transaction_ids[0])[0]
    bought_at = rows(billing, "transactions", id=bought.transaction_ids[0])[0].at
    assert lot.expires_at - bought_at == timedelta(days=small.period_days)
    # voice is not in the package: pay-as-you-go from the first minute
    voice = billing.charge("small", Usage(product="voice", units=10), key="voice")
    assert voice.credits == 10 * 160


def test_out_of_credits_standard_is_declined_preferred_overdraws_up_to_its_limit(billing: Billing) -> None:
    billing.register_clinic("std", "Standard", "US", key="reg")
    billing.register_clinic("pref", "Preferred", "US", key="reg", segment="preferred")
    declined = billing.charge("std", Usage(product="sms", units=10), key="c1")
    assert not declined.approved and declined.balance == 0
    assert "overdraft" in (declined.decline_reason or "") or "credits" in (declined.decline_reason or "")
    recorded = rows(billing, "transactions", id=declined.transaction_id)[0]
    assert recorded.status == "declined" and int(recorded.credits) == 850 and recorded.rule_ids
    assert rows(billing, "entries", transaction_id=declined.transaction_id) == []

    # preferred: -500,000 credits ($50) allowed. 3,000 minutes = 500×160 + 1000×158 + 1500×156 = 472,000
    first = billing.charge("pref", Usage(product="voice", units=3_000), key="v1")
    assert first.approved and first.credits == 472_000 and first.balance == -472_000
    over = billing.charge("pref", Usage(product="voice", units=200), key="v2")  # 200×156 = 31,200 > 28,000 left
    assert not over.approved and over.balance == -472_000
    fits = billing.charge("pref", Usage(product="voice", units=179), key="v3")  # 27,924 ≤ 28,000
    assert fits.approved and fits.balance == -499_924
    assert int(rows(billing, "transactions", id=fits.transaction_id)[0].unfunded) == 27_924
    # a top-up repays the overdraft first: the lot holds only what is left after the debt
    topped = billing.purchase("pref", 600_000, payment_method="card_ok", key="buy")
    assert topped.balance == 600_000 - 499_924
    assert [int(lot.remaining) for lot in rows(billing, "lots")] == [100_076]


def test_india_top_up_with_bonus_leads_by_package_price_and_a_duplicate_refunded_exactly(billing: Billing) -> None:
    billing.register_clinic("smile", "Smile Dental, Pune", "IN", key="reg")
    bought = billing.purchase("smile", 10_000, payment_method="upi_ok", key="topup")
    assert bought.money == Decimal("10000") and bought.currency == "INR"
    assert bought.bonus_credits == 2_000 and bought.bonus_rule_ids == ("IN-BONUS20",)
    assert bought.perks == ("featured_placement",) and bought.balance == 12_000
    paid_lot, bonus_lot = rows(billing, "lots")
    assert (paid_lot.kind, int(paid_lot.amount)) == ("paid", 10_000)
    assert (bonus_lot.kind, int(bonus_lot.amount)) == ("granted", 2_000)

    call = billing.charge(
        "smile",
        LeadRequest(product="lead_call", specialty="dental", city="Pune", package_price=Decimal(15_000)),
        key="lead-1",
        patient_ref="+91 98200 00001",
    )
    assert call.credits == 250 and call.rule_ids == ("LP-03",)  # ₹10,000–₹20,000 → 250
    chat = billing.charge(
        "smile", LeadRequest(product="lead_chat", package_price=Decimal(4_999)), key="lead-2", patient_ref="p-2"
    )
    assert chat.credits == 100  # < ₹5,000
    top = billing.charge(
        "smile", LeadRequest(product="lead_call", package_price=Decimal(100_000)), key="lead-3", patient_ref="p-3"
    )
    assert top.credits == 500  # ₹100,000+ starts at exactly 100,000
    again = billing.charge(
        "smile",
        LeadRequest(product="lead_call", specialty="dental", city="Pune", package_price=Decimal(15_000)),
        key="lead-4",
        patient_ref="+91 98200 00001",
    )
    # the bonus lot expires first (180 days; paid credits here never expire), so leads spend it first
    assert allocations_of(billing, again.transaction_id) == {bonus_lot.id: 250}
    before = billing.balance("smile").balance
    assert before == 12_000 - 250 - 100 - 500 - 250

    dispute = billing.open_dispute("smile", again.transaction_id, reason="duplicate", key="dispute-1")
    assert dispute.status == "approved" and dispute.decision == "auto_approved"
    assert dispute.refunded_credits == 250 and dispute.balance == before + 250
    assert allocations_of(billing, dispute.refund_id) == {bonus_lot.id: -250}  # back to the lot it came from
    view = billing.balance("smile")
    assert view.refunds_granted_this_month == 250
    assert view.leads_this_month == 4 and view.lead_credits_this_month == 1_100
    history = billing.transactions("smile", kinds=["refund"])
    assert [(r.related_id, r.signed_credits) for r in history.rows] == [(again.transaction_id, 250)]
