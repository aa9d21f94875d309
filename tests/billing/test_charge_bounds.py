"""A charge too large for the ledger to record is refused before anything is written.

engine/bounds.py's OPERATION_CREDITS_MAX is the most credits one operation moves, UNITS_MAX the most
units one request counts. A charge priced above the one (10^12 SMS segments is 74 × 10^12 credits)
or counting more than the other (2^63 segments overflowed SQLite's INTEGER and escaped as a raw
OverflowError; 10^30 passed Decimal's precision) is refused with one QuoteError naming the count
field, on both paths, alone and in a batch, and leaves nothing behind."""

from __future__ import annotations

import pytest

from engine.billing import Billing
from engine.pricing.requests import QuoteError
from tests.support.ledger_rows import snapshot


@pytest.mark.parametrize("units", [10**12, 2**63])
def test_a_charge_past_what_one_operation_moves_is_refused_and_leaves_nothing(billing: Billing, units: int) -> None:
    billing.register_clinic("us", "us", "US", key="reg")
    billing.purchase("us", 1_000_000, payment_method="card_ok", key="buy")
    for n in range(2):  # the clinic's state kept: the refusal comes the same on the fast path
        billing.charge("us", {"product": "sms", "units": 10}, key=f"warm-{n}")
    before = snapshot(billing)
    with pytest.raises(QuoteError) as refused:
        billing.charge("us", {"product": "sms", "units": units}, key="huge")
    assert refused.value.field == "units"
    (answer,) = billing.charge_batch([{"clinic_id": "us", "request": {"product": "sms", "units": units}, "key": "h"}])
    assert isinstance(answer, QuoteError) and answer.field == "units"
    assert snapshot(billing) == before
    assert billing.charge("us", {"product": "sms", "units": 10}, key="after").approved


def test_a_request_too_large_to_price_is_refused_and_leaves_nothing(billing: Billing) -> None:
    billing.register_clinic("us", "us", "US", key="reg")
    billing.purchase("us", 1_000_000, payment_method="card_ok", key="buy")
    before = snapshot(billing)
    with pytest.raises(QuoteError, match="units"):  # 10^30 segments: past Decimal's precision
        billing.charge("us", {"product": "sms", "units": 10**30}, key="huge")
    assert snapshot(billing) == before
