"""Quotes stay inside what the ledger stores: every count, amount and date of a request is bounded
where it enters, and a result past OPERATION_CREDITS_MAX is a QuoteError naming the field, never
decimal.InvalidOperation or an int64 overflow."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.bounds import OPERATION_CREDITS_MAX, UNITS_MAX
from engine.pricing.requests import QuoteError
from engine.pricing.tiers import Tier, TierTable
from engine.pricing.vector import VectorTierTable
from tests.support.paths import IN_V2, US_V1

US = engine.load_pricebook(US_V1)
INDIA = engine.load_pricebook(IN_V2)
AT = {"at": datetime(2026, 3, 2, tzinfo=UTC)}


def refused(pricebook: engine.CompiledPricebook, request: dict[str, Any], context: dict[str, Any] = AT) -> QuoteError:
    with pytest.raises(QuoteError) as caught:
        engine.quote(pricebook, request, context)
    return caught.value


@pytest.mark.parametrize(
    ("request_", "field", "says"),
    [
        ({"product": "sms", "units": 10**12}, "units", "one operation may move at most"),
        ({"product": "sms", "units": 10**12 + 1}, "units", "at most 1,000,000,000,000"),
        ({"product": "sms", "units": 10**27}, "units", "at most"),
        ({"product": "sms", "units": float("nan")}, "units", "whole number"),
        ({"product": "sms", "units": float("inf")}, "units", "whole number"),
        ({"product": "sms", "units": 1e308}, "units", "whole number"),
        ({"product": "sms", "body": "Hi", "recipients": 10**12}, "recipients", "one operation"),
        ({"product": "sms", "body": "x" * 1600, "recipients": 10**12}, "recipients", "one request may count"),
        ({"product": "sms", "body": "x" * 10**7, "recipients": 1}, "body", "the longest SMS body"),
        ({"product": "voice", "recipients": 10, "expected_seconds": "NaN"}, "expected_seconds", "finite"),
        ({"product": "voice", "recipients": 10, "expected_seconds": "Infinity"}, "expected_seconds", "finite"),
        ({"product": "voice", "recipients": 10, "expected_seconds": 1e308}, "expected_seconds", "at most"),
        ({"product": "voice", "recipients": 10**12, "expected_seconds": 3_600}, "recipients", "one request may count"),
        ({"product": "voice", "calls": [{"duration_s": "-Infinity"}]}, "duration_s", "finite"),
    ],
)
def test_us_requests_past_the_bounds_are_quote_errors_naming_the_field(
    request_: dict[str, Any], field: str, says: str
) -> None:
    error = refused(US, request_)
    assert error.field == field and says in str(error)


@pytest.mark.parametrize(
    ("request_", "field", "says"),
    [
        ({"product": "lead_call", "package_price": "NaN"}, "package_price", "finite"),
        ({"product": "lead_call", "package_price": Decimal("Infinity")}, "package_price", "finite"),
        ({"product": "lead_call", "package_price": "1e308"}, "package_price", "at most 10,000,000,000,000"),
        ({"product": "lead_call", "package_price": 15_000, "quantity": 10**12}, "quantity", "one operation"),
        ({"product": "lead_call", "package_price": 15_000, "quantity": 10**27}, "quantity", "at most"),
    ],
)
def test_lead_requests_past_the_bounds_are_quote_errors_naming_the_field(
    request_: dict[str, Any], field: str, says: str
) -> None:
    error = refused(INDIA, request_)
    assert error.field == field and says in str(error)


def test_the_largest_request_within_the_bounds_is_priced_exactly() -> None:
    units = OPERATION_CREDITS_MAX // 100  # 10^11 segments: about 7.4 * 10^12 credits
    quoted = engine.quote(US, {"product": "sms", "units": units}, {**AT, "term_usage": {"sms": UNITS_MAX}})
    assert quoted.credits == int(quoted.exact_credits) <= OPERATION_CREDITS_MAX
    assert quoted.credits == engine.TierTable("graduated", [Tier(None, Decimal(74))]).charge(0, units)


def test_minus_zero_reads_as_zero() -> None:
    lead = engine.quote(INDIA, {"product": "lead_call", "package_price": "-0"}, AT)
    assert lead.priced.detail.package_price == 0 and str(lead.priced.detail.package_price) == "0"
    call = engine.quote(US, {"product": "voice", "calls": [{"duration_s": "-0", "outcome": "busy"}]}, AT)
    assert call.credits == 0


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"at": datetime(1, 1, 2, tzinfo=UTC)}, "at"),
        ({"at": datetime(9999, 12, 31, tzinfo=UTC)}, "at"),
        ({**AT, "balance": 10**20}, "balance"),
        ({**AT, "term_usage": {"sms": 10**13}}, "term_usage.sms"),
    ],
)
def test_contexts_past_the_bounds_are_quote_errors(context: dict[str, Any], field: str) -> None:
    assert refused(US, {"product": "sms", "units": 1}, context).field == field


HOSTILE_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NaN", "-0", "1e308", "1e-300", "9" * 400, "", "12abc"]),
    st.booleans(),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(
    product=st.sampled_from(["sms", "voice", "lead_chat", "lead_call"]),
    field=st.sampled_from(["units", "recipients", "quantity", "package_price", "expected_seconds"]),
    value=HOSTILE_NUMBERS,
    balance=st.one_of(st.none(), st.integers(min_value=-(10**20), max_value=10**20)),
)
def test_any_number_in_any_field_is_a_quote_or_a_quote_error(
    product: str, field: str, value: Any, balance: int | None
) -> None:
    request: dict[str, Any] = {"product": product, field: value}
    if product == "voice" and field in ("recipients", "expected_seconds"):
        request.setdefault("recipients", 3)
        request.setdefault("expected_seconds", 30)
    if product == "sms" and field == "recipients":
        request["body"] = "Your visit is tomorrow."
    pricebook = INDIA if product.startswith("lead") else US
    try:
        quoted = engine.quote(pricebook, request, {**AT, "balance": balance})
    except QuoteError as error:
        assert error.field and str(error)
    else:
        assert 0 <= quoted.credits <= OPERATION_CREDITS_MAX
        assert quoted.explain()


def test_the_vectorised_path_prices_a_price_at_the_bound_exactly() -> None:
    """A price near OPERATION_CREDITS_MAX scaled by its decimals passes int64: exact Python integers."""
    table = TierTable("graduated", [Tier(10**12, Decimal("9999999999999.9999")), Tier(None, Decimal(85))])
    vector = VectorTierTable.of(table)
    used, units = [0, 5, 10**12], [10**12, 7, 3]
    expected = [table.charge(u, n) for u, n in zip(used, units, strict=True)]
    assert vector.charge(np.array(used), np.array(units)).tolist() == expected
    small = VectorTierTable.of(TierTable("graduated", [Tier(500, Decimal(85)), Tier(None, Decimal(83))]))
    assert small.charge(np.array([0]), np.array([10**6])).dtype == np.int64
