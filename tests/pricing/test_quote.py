"""Quotes on the shipped pricebooks: the seed's numbers, every request form, the warnings, the
balance estimate, version selection by date, and one clear error for every bad request."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from engine import LeadRequest, QuoteContext, QuoteError, SmsCampaign, Usage, VoiceCampaign, load_pricebook, quote
from tests.support.paths import IN_V1, IN_V2, US_V1

US = load_pricebook(US_V1)
IN1, IN2 = load_pricebook(IN_V1), load_pricebook(IN_V2)
AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def ctx(**kw: Any) -> QuoteContext:
    return QuoteContext(at=kw.pop("at", AT), **kw)


def test_seed_solo_package_and_tier_crossing() -> None:
    solo = quote(US, Usage(product="sms", units=1000), ctx(plan="SOLO-SMS"))
    assert (solo.credits, solo.rule_ids, solo.lines[0].plan) == (83_000, ("PK-SOLO-SMS",), "SOLO-SMS")
    crossing = quote(US, Usage(product="sms", units=600), ctx(term_usage={"sms": 400}))
    assert crossing.credits == 100 * 85 + 500 * 83 == 50_000
    assert [(s.rule_id, s.units, s.unit_price) for s in crossing.lines[0].slices] == [
        ("SMS-1", 100, 85),
        ("SMS-2", 500, 83),
    ]
    assert any("crosses a tier boundary" in w for w in crossing.warnings)
    assert crossing.money == Decimal("5.0000") and crossing.format() == "50,000 credits ($5.00)"


def test_bundle_takes_ten_percent_off_and_rounds_once_per_line() -> None:
    bundled = quote(US, Usage(product="sms", units=1000), ctx(plan="SOLO-SMS", bundle=True))
    assert bundled.credits == 74_700 and bundled.lines[0].slices[0].unit_price == Decimal("74.7")
    assert "BN-SMS-VOICE" in bundled.rule_ids
    five = quote(US, Usage(product="sms", units=5), ctx(plan="SOLO-SMS", bundle=True))
    assert (five.exact_credits, five.credits) == (Decimal("373.5"), 374)
    payg = quote(US, Usage(product="voice", units=10), ctx(bundle=True))  # 'for any of the plans'
    assert payg.credits == 10 * 144 and payg.lines[0].discount_pct == Decimal("0.1")


def test_package_rate_ignores_term_usage_and_plans_may_list_several_packages() -> None:
    q = quote(
        US, Usage(product="voice", units=100), ctx(plan=("SOLO-SMS", "SMALL-VOICE"), term_usage={"voice": 50_000})
    )
    assert (q.credits, q.lines[0].used_before, q.lines[0].plan) == (15_300, 0, "SMALL-VOICE")
    sms_on_payg = quote(US, Usage(product="sms", units=10), ctx(plan=("SMALL-VOICE",)))
    assert sms_on_payg.lines[0].plan == "PAYG" and sms_on_payg.credits == 850


def test_sms_campaign_forms() -> None:
    body = "Reminder: your appointment at Riverside Hearing is tomorrow at 10:30. Reply C to confirm." * 2
    q = quote(US, SmsCampaign(body=body, recipients=100), ctx())
    assert (q.lines[0].units, q.credits) == (200, 17_000)
    assert "100 recipients × 2 segments (GSM-7" in q.summary
    listed = quote(US, SmsCampaign(bodies=("Hi", "a" * 161, "Hello ’there")), ctx())
    assert listed.lines[0].units == 1 + 2 + 1
    template = quote(
        US,
        SmsCampaign(
            template="Hi {first_name}, see you {day}. {{Reply STOP}}",
            recipient_fields=({"first_name": "Ann", "day": "Tue"}, {"first_name": "Bartholomew-" * 15, "day": "Fri"}),
        ),
        ctx(),
    )
    assert template.lines[0].units == 1 + 2
    with pytest.raises(QuoteError) as caught:
        quote(US, SmsCampaign(template="Hi {first_name}", recipient_fields=({"name": "x"},)), ctx())
    assert caught.value.field == "recipient_fields[0].first_name"


def test_sms_warnings() -> None:
    zero = quote(US, SmsCampaign(body="Hello", recipients=0), ctx())
    assert zero.credits == 0 and "0 recipients" in zero.warnings[0]
    long = quote(US, SmsCampaign(body="x" * 1550, recipients=1), ctx())
    assert any("long message" in w for w in long.warnings) and any("11 segments" in w for w in long.warnings)
    curly = quote(
        US,
        SmsCampaign(
            body="Hi Maria, it’s Riverside Hearing: see you Tue at 10:30, reply C to confirm or R to reschedule.",
            recipients=10,
        ),
        ctx(),
    )
    (warning,) = [w for w in curly.warnings if "Unicode" in w]
    assert "'’' at 13" in warning and "with smart encoding it would be 1 segment instead of 2" in warning
    smart = quote(
        US,
        SmsCampaign(
            body="Hi Maria, it’s Riverside Hearing: see you Tue at 10:30, reply C to confirm or R to reschedule.",
            recipients=10,
            smart_encoding=True,
        ),
        ctx(),
    )
    assert smart.lines[0].units == 10 and curly.lines[0].units == 20


def test_voice_campaign_planned_and_from_call_records() -> None:
    planned = quote(US, VoiceCampaign(recipients=1000, expected_seconds=20), ctx())
    assert planned.lines[0].units == 1000 and planned.credits == 500 * 160 + 500 * 158
    records = quote(
        US,
        VoiceCampaign(
            calls=[
                {"duration_s": 61},
                {"duration_s": 20, "outcome": "voicemail"},
                {"duration_s": 300, "outcome": "busy"},
                {"duration_s": 0, "outcome": "no-answer"},
            ]
        ),
        ctx(),
    )
    assert records.lines[0].units == 3 and "(2 not answered: free)" in records.summary


@pytest.mark.parametrize(
    ("price", "credits", "rule"),
    [
        ("4999.99", 100, "LP-01"),
        ("5000", 180, "LP-02"),
        ("9999.99", 180, "LP-02"),
        ("10000", 250, "LP-03"),
        ("15000", 250, "LP-03"),
        ("49999", 320, "LP-04"),
        ("100000", 500, "LP-06"),
        ("2500000", 500, "LP-06"),
    ],
)
def test_lead_price_ranges_include_their_lower_bound(price: str, credits: int, rule: str) -> None:
    q = quote(
        IN2, LeadRequest(product="lead_chat", specialty="dental", city="Pune", package_price=Decimal(price)), ctx()
    )
    assert (q.credits, q.rule_ids) == (credits, (rule,))


def test_lead_explain_trace_and_quantity() -> None:
    q = quote(
        [IN1, IN2],
        LeadRequest(
            product="lead_call", specialty="dermatology", city="Mumbai", package_price=Decimal(15000), quantity=21
        ),
        ctx(balance=10_000),
    )
    assert q.credits == 21 * 250 and q.version == 2
    assert q.explain().splitlines()[0] == (
        "lead · call · dermatology · Mumbai · package ₹15,000 × 21 → rule LP-03 → 5,250 credits (₹5,250)"
    )
    assert q.remaining is not None and q.remaining.balance_after == 4_750


def test_version_is_chosen_by_date() -> None:
    leads = [IN1, IN2]
    before = quote(
        leads,
        LeadRequest(product="lead_call", package_price=Decimal(15000)),
        ctx(at=datetime(2025, 12, 31, 18, 29, tzinfo=UTC)),
    )  # 23:59 IST on 31 Dec
    after = quote(
        leads,
        LeadRequest(product="lead_call", package_price=Decimal(15000)),
        ctx(at=datetime(2025, 12, 31, 18, 30, tzinfo=UTC)),
    )  # midnight IST
    assert (before.version, before.credits) == (1, 500)
    assert (after.version, after.credits) == (2, 250)
    with pytest.raises(QuoteError) as caught:
        quote(leads, LeadRequest(product="lead_call"), ctx(at=datetime(2025, 6, 30, tzinfo=UTC)))
    assert caught.value.field == "at" and "takes effect 2025-07-01" in str(caught.value)


def test_lead_warnings_and_missing_price() -> None:
    q = quote(
        IN2, LeadRequest(product="lead_chat", specialty="podiatry", city="Mumbay", package_price=Decimal(15000)), ctx()
    )
    assert q.credits == 250
    assert any("city 'Mumbay' is not on the pricebook's list" in w for w in q.warnings)
    assert any("specialty 'podiatry'" in w for w in q.warnings)
    assert quote(IN1, LeadRequest(product="lead_chat"), ctx(at=datetime(2025, 8, 1, tzinfo=UTC))).credits == 300
    with pytest.raises(QuoteError) as caught:
        quote(IN2, LeadRequest(product="lead_chat"), ctx())
    assert caught.value.field == "package_price"


def test_balance_estimate_is_tier_aware() -> None:
    q = quote(US, Usage(product="sms", units=600), ctx(term_usage={"sms": 400}, balance=200_000))
    assert q.remaining is not None
    # 150,000 left after 1,000 segments: 500 more at 83 (41,500), then 108,500 / 81 = 1,339 at 81
    assert q.remaining.sms_segments == 500 + 1339
    # voice has used nothing: 500 at 160 (80,000), then 70,000 / 158 = 443 at 158
    assert q.remaining.voice_minutes == 500 + 443
    broke = quote(US, Usage(product="sms", units=10), ctx(balance=100))
    assert broke.remaining.balance_after == -750 and broke.remaining.sms_segments == 0


BAD = [
    ({"product": "sms", "units": -1}, "units", "cannot be negative"),
    ({"product": "sms", "units": 2.5}, "units", "whole number"),
    ({"product": "fax", "units": 1}, "product", "unknown product"),
    ({"product": "sms", "body": "", "recipients": 3}, "body", "empty SMS"),
    ({"product": "sms", "body": "x" * 1601, "recipients": 1}, "body", "1,601 characters"),
    ({"product": "sms", "body": "hi"}, "request", "go together"),
    ({"product": "voice", "recipients": 3}, "request", "go together"),
    ({"product": "voice", "units": 3, "number_type": "short_code"}, "number_type", "not a voice number type"),
    ({"product": "lead_call", "quantity": 0}, "quantity", "must be at least 1"),
    ({"product": "sms", "units": 1, "color": "red"}, "color", "not a field"),
]


@pytest.mark.parametrize(("request_data", "field", "says"), BAD, ids=[f"{b[1]}-{b[2]}" for b in BAD])
def test_bad_requests_raise_one_error_type_naming_the_field(
    request_data: dict[str, Any], field: str, says: str
) -> None:
    pricebook = IN2 if request_data["product"].startswith("lead") else US
    with pytest.raises(QuoteError) as caught:
        quote(pricebook, request_data, ctx())
    assert caught.value.field == field and says in str(caught.value), str(caught.value)


def test_context_errors() -> None:
    with pytest.raises(QuoteError) as caught:
        quote(US, {"product": "sms", "units": 1}, {"at": AT, "plan": "GOLD"})
    assert caught.value.field == "plan" and "SOLO-SMS" in str(caught.value)
    with pytest.raises(QuoteError) as caught:
        quote(US, {"product": "sms", "units": 1}, {"at": datetime(2026, 1, 1)})
    assert caught.value.field == "at"
    with pytest.raises(QuoteError) as caught:
        quote(IN2, {"product": "sms", "units": 1}, {"at": AT})
    assert caught.value.field == "product" and "does not sell sms" in str(caught.value)
    with pytest.raises(QuoteError) as caught:
        quote([US, IN2], {"product": "sms", "units": 1}, {"at": AT})
    assert caught.value.field == "pricebook"


def test_quote_names_its_pricebook_and_serialises() -> None:
    q = quote(US, Usage(product="sms", units=10), ctx())
    assert (q.pricebook_id, q.version, q.semantic_hash) == ("us-audiology", 1, US.semantic_hash)
    data = json.loads(q.model_dump_json())
    assert data["credits"] == 850 and data["lines"][0]["slices"][0]["rule_id"] == "SMS-1"


def test_quote_is_pure() -> None:
    request, context = Usage(product="voice", units=777), ctx(term_usage={"voice": 1234}, bundle=True)
    assert quote(US, request, context) == quote(US, request, context)
