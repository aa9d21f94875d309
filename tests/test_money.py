"""Money written the way each market's readers write it (engine.money on babel), and hostile values
written without raising."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.money import (
    MISSING,
    credit_noun,
    currency_symbol,
    d3_number_locale,
    format_column,
    format_credit_count,
    format_credits,
    format_money,
    format_money_compact,
    format_number,
    format_percent,
    locale_for,
    with_unit,
)

US = Decimal("0.0001")
IN = Decimal(1)


def test_indian_amounts_use_lakh_and_crore_grouping() -> None:
    assert format_money(Decimal("1234567.50"), "INR") == "₹12,34,567.50"
    assert format_credits(1_234_567, IN, "INR") == "12,34,567 credits (₹12,34,567)"
    assert format_credits(2_500_000, IN, "INR") == "25,00,000 credits (₹25,00,000)"
    assert format_number(123_456_789, "INR") == "12,34,56,789"
    assert format_credit_count(100_000, "INR") == "1,00,000 credits"


def test_us_amounts_use_western_grouping_and_sub_cent_digits_only_where_they_matter() -> None:
    assert format_credits(85, US, "USD") == "85 credits ($0.0085)"  # a unit price keeps 4 decimals
    assert format_credits(12_345_000, US, "USD") == "12,345,000 credits ($1,234.50)"  # a balance: cents
    assert format_credits(160, US, "USD") == "160 credits ($0.0160)"  # lines up with other US prices
    assert format_money(Decimal("-5"), "USD") == "-$5.00"
    assert format_money(Decimal("1234.5000"), "USD", US) == "$1,234.50"
    assert format_number(1_234_567, "USD") == "1,234,567"


def test_floats_from_aggregates_never_show_their_binary_noise() -> None:
    assert format_money(0.224999999999964, "USD") == "$0.22"
    assert format_money(0.224999999999964, "USD", US) == "$0.2250"
    assert format_money(1234.5678, "INR", places=0) == "₹1,235"
    assert format_money(np.float64(-0.0001), "USD", places=2) == "$0.00"  # no negative zero


def test_percentages_are_written_as_percentages() -> None:
    assert format_percent(-0.52) == "-52%"
    assert format_percent(0.1234, places=1, sign=True) == "+12.3%"
    assert format_percent(Decimal("-0.523"), "INR", places=1) == "-52.3%"


def test_compact_money_for_headline_figures() -> None:
    assert format_money_compact(123_456_789, "INR") == "₹12.35Cr"
    assert format_money_compact(1_234_567, "INR") == "₹12.35L"
    assert format_money_compact(123_456_789.3, "USD") == "$123.46M"
    assert format_money_compact(54_321.2, "USD") == "$54,321"
    assert format_money_compact(12.5, "USD") == "$12.50"


def test_the_locale_follows_the_currency() -> None:
    assert locale_for("INR") == "en_IN" and locale_for("usd") == "en_US" and locale_for("XYZ") == "en_US"
    assert currency_symbol("INR") == "₹" and currency_symbol("USD") == "$"
    assert d3_number_locale("INR")["grouping"] == [3, 2] and d3_number_locale("USD")["grouping"] == [3, 3]
    assert d3_number_locale("INR")["currency"] == ["₹", ""]


def test_columns_and_headers_for_tables() -> None:
    assert format_column([1_234_567, None], "credits", "INR") == ["12,34,567", MISSING]
    assert format_column([1.5, float("nan")], "money", "USD", places=2) == ["$1.50", MISSING]
    assert format_column([-0.52, 0.1], "percent") == ["-52%", "10%"]
    assert with_unit("p50", "₹") == "p50 (₹)"
    assert credit_noun(1) == "credit" and credit_noun(2) == "credits"
    with pytest.raises(ValueError, match="currency"):
        format_column([1], "money")


@pytest.mark.parametrize(
    "value",
    [None, float("nan"), float("inf"), -math.inf, Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), "abc", True],
)
def test_missing_and_non_finite_values_are_a_dash(value: object) -> None:
    assert format_money(value, "USD") == MISSING  # type: ignore[arg-type]
    assert format_number(value) == MISSING  # type: ignore[arg-type]
    assert format_percent(value) == MISSING  # type: ignore[arg-type]
    assert format_credits(value, US, "USD") == f"{MISSING} credits"  # type: ignore[arg-type]


def test_enormous_and_tiny_values_stay_short() -> None:
    assert format_money(Decimal("1e40"), "INR") == "₹1.000E+40"
    assert format_money(Decimal("-1e999999"), "USD") == "-$1.000E+999999"
    assert len(format_money(Decimal("1e-999999"), "USD")) < 20
    assert format_money(1e308, "USD") == "$1.000E+308"
    assert format_credits(2**63 - 1, IN, "INR").startswith("92,23,37,20,36,85,47,75,807 credits")


@given(
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**40), max_value=10**40),
    ),
    st.sampled_from(["INR", "USD", "EUR"]),
)
def test_any_number_formats_without_raising(value: object, currency: str) -> None:
    for text in (
        format_money(value, currency, US),  # type: ignore[arg-type]
        format_money_compact(value, currency),  # type: ignore[arg-type]
        format_number(value, currency),  # type: ignore[arg-type]
        format_percent(value, currency, places=1),  # type: ignore[arg-type]
    ):
        assert 0 < len(text) < 80
