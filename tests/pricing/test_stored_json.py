"""The quote a charge stores (`stored_json`) is the quote's own JSON, byte for byte, whether it was
built now or put together from an earlier quote of the same shape: every request form, plans,
term usage, times with and without microseconds, and equal prices written apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine import LeadRequest, QuoteContext, SmsCampaign, Usage, VoiceCampaign, load_pricebook, quote
from engine.pricing import quote as quoting
from engine.pricing.quote import Quote, stored_json
from engine.pricing.requests import Request
from tests.support.paths import IN_V1, IN_V2, US_V1

US = load_pricebook(US_V1)
IN1, IN2 = load_pricebook(IN_V1), load_pricebook(IN_V2)
AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TIMES = (AT, AT + timedelta(seconds=1), AT + timedelta(days=3, microseconds=120_500))


def fresh(request: Request, pricebook: object = US, **context: object) -> list[Quote]:
    """The request quoted at each of TIMES (a new Quote each: nothing read from it yet)."""
    return [quote(pricebook, request, QuoteContext(at=at, **context)) for at in TIMES]  # type: ignore[arg-type]


CASES = [
    (LeadRequest(product="lead_call", package_price=Decimal(15_000)), IN2, {}),
    (LeadRequest(product="lead_call", package_price=Decimal("15000.00")), IN2, {}),  # equal, written apart
    (LeadRequest(product="lead_chat", package_price=Decimal(3_000), quantity=3), IN1, {}),
    (  # with warnings
        LeadRequest(product="lead_chat", specialty="nowhere-ology", city="Atlantis", package_price=Decimal(9_000)),
        IN2,
        {},
    ),
    (Usage(product="sms", units=600), US, {"term_usage": {"sms": 400}}),
    (Usage(product="voice", units=100), US, {"plan": ("SOLO-SMS", "SMALL-VOICE"), "bundle": True}),
    (SmsCampaign(body="Your appointment is tomorrow at 10:30.", recipients=250), US, {}),
    (VoiceCampaign(recipients=40, expected_seconds=75), US, {}),
]


@pytest.mark.parametrize(("request_", "pricebook", "context"), CASES)
def test_stored_json_is_the_quotes_own_json(request_: Request, pricebook: object, context: dict[str, object]) -> None:
    quoting._stored.clear()
    for first, again in zip(fresh(request_, pricebook, **context), fresh(request_, pricebook, **context), strict=True):
        stored = stored_json(first)  # the first of its shape builds the entry, the others reuse it
        assert stored == again.model_dump_json()
        assert f'"at":"{first.at.isoformat().replace("+00:00", "Z")}"' in stored


def test_quotes_priced_alike_share_one_entry_and_others_do_not() -> None:
    quoting._stored.clear()
    for case in CASES:
        for priced in fresh(case[0], case[1], **case[2]):
            assert stored_json(priced) == priced.model_copy().model_dump_json()
    assert len(quoting._stored) == len(CASES)  # one shape per case, whatever its time; 15000 ≠ 15000.00


def test_a_quote_with_a_balance_estimate_is_built_every_time() -> None:
    quoting._stored.clear()
    priced = quote(US, Usage(product="sms", units=10), QuoteContext(at=AT, balance=1_000_000))
    assert priced.remaining is not None
    assert stored_json(priced) == priced.model_dump_json() and not quoting._stored
