"""Reading single cells: what is tidied (with a warning), what is refused (with a hint)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.money import decimal_text, format_credits, format_money, round_credits
from engine.pricebook.cells import INVALID, CellReader, Domain, Loc, MoneyContext, tidy_text
from engine.pricebook.conditions import ANY_CONDITION, Condition, condition_from_text, parse_condition
from engine.pricebook.findings import Collector
from engine.pricebook.meta_lists import fixed_domains
from engine.pricebook.schema import LEAD_PRICES, PACKAGES, TOPUP_PROMOS, USAGE_TIERS, Column, Kind

US_MONEY = MoneyContext(Decimal("0.0001"), "USD")


def reader(money: MoneyContext | None = US_MONEY) -> CellReader:
    domains = fixed_domains()
    domains["city"] = Domain("city", ("Mumbai", "Pune", "Delhi"), closed=False)
    domains["clinic_size"] = Domain("clinic_size", ("solo", "small"), closed=False)
    domains["specialty"] = Domain("specialty", ("dermatology", "dental"), closed=False)
    domains["perk"] = Domain("perk", ("featured_placement",), closed=False)
    return CellReader(Collector(), domains, money)


def read(column: Column, raw: Any, r: CellReader | None = None) -> tuple[Any, list[tuple[str, str]]]:
    r = r or reader()
    value = r.read(column, raw, Loc("Sheet", 2, 3, column.name))
    return value, [(f.code, f.message + " " + f.hint) for f in r.collector.findings]


PRICE = USAGE_TIERS.column("unit_price_credits")
UP_TO = USAGE_TIERS.column("up_to")
PCT = Column("discount_pct", Kind.PCT, "", required=True, max_decimals=6)
STATED = USAGE_TIERS.column("stated_tier_credits")
CITY = LEAD_PRICES.column("city")
CHANNEL = LEAD_PRICES.column("channel")
VALID_FROM = TOPUP_PROMOS.column("valid_from")
STACKABLE = TOPUP_PROMOS.column("stackable")
CODE = PACKAGES.column("package_code")
PKG_FROM = LEAD_PRICES.column("pkg_price_from")


@pytest.mark.parametrize(
    ("raw", "value"), [(85.0, Decimal(85)), (74.7, Decimal("74.7")), (0.0001, Decimal("0.0001")), (85, Decimal(85))]
)
def test_numbers_are_exact_decimals(raw: Any, value: Decimal) -> None:
    assert read(PRICE, raw) == (value, [])


def test_float_noise_from_a_formula_is_refused_with_the_clean_value() -> None:
    value, findings = read(PRICE, 0.1 + 0.2)
    assert value is INVALID and findings[0][0] == "C03" and "0.3000" in findings[0][1]


@pytest.mark.parametrize(
    ("raw", "code", "says"),
    [
        ("85 credits", "C02", "Type just the number: 85"),
        ("$0.0085", "C02", "$0.0085 is 85 credits ($0.0085); type 85"),
        ("0.0085 USD", "C02", "type 85"),
        ("1.000,50", "C02", "comma for decimals"),
        ("10%", "C02", "not a percentage column"),
        ("eighty", "C02", "must be a number"),
        (True, "C02", "TRUE/FALSE"),
        (-1, "C04", "cannot be negative"),
    ],
)
def test_bad_numbers_say_what_to_type(raw: Any, code: str, says: str) -> None:
    value, findings = read(PRICE, raw)
    assert value is INVALID
    assert findings[0][0] == code and says in findings[0][1]


def test_number_stored_as_text_is_read_with_a_warning() -> None:
    assert read(PRICE, "1,250") == (Decimal(1250), [("C08", read(PRICE, "1,250")[1][0][1])])
    assert read(PRICE, "1,250")[1][0][0] == "C08"


def test_whole_numbers() -> None:
    assert read(UP_TO, 500.0) == (500, [])
    assert read(UP_TO, 500.5)[1][0][0] == "C03"
    assert read(UP_TO, 0)[1][0][0] == "C04"  # up_to must be above zero


@pytest.mark.parametrize(
    ("raw", "value", "code"),
    [
        (0.1, Decimal("0.1"), None),
        (1, Decimal(1), None),
        (0, Decimal(0), None),
        ("10%", Decimal("0.1"), "C08"),
        ("12.5%", Decimal("0.125"), "C08"),
        (10, INVALID, "C05"),
        (100, INVALID, "C05"),
        (250, INVALID, "C05"),
        (-0.1, INVALID, "C04"),
    ],
)
def test_percentages(raw: Any, value: Any, code: str | None) -> None:
    got, findings = read(PCT, raw)
    assert got == value if value is not INVALID else got is INVALID
    assert (findings[0][0] if findings else None) == code


def test_percentage_typed_as_ten_suggests_both_spellings() -> None:
    _, findings = read(PCT, 10)
    assert "type 10% (or 0.1)" in findings[0][1]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("42.5K", 42500),
        ("2.7K credits", 2700),
        ("1.250M credits", 1250000),
        ("283.5K", 283500),
        ("237,000", 237000),
        (162000.0, 162000),
    ],
)
def test_stated_totals_understand_k_and_m(raw: Any, value: int) -> None:
    assert read(STATED, raw) == (Decimal(value), [])


def test_conditions() -> None:
    assert read(CHANNEL, "-")[0] is ANY_CONDITION
    assert read(CHANNEL, "chat")[0] == Condition(frozenset({"chat"}))
    assert read(CHANNEL, "chat, call")[0].text == "call,chat"
    assert read(CITY, "not(Mumbai, Pune)")[0].text == "not(Mumbai,Pune)"
    star, findings = read(CITY, "*")
    assert star is ANY_CONDITION and findings[0][0] == "C08"
    dash, findings = read(CITY, "\u2013")  # an en dash typed by Excel's autocorrect
    assert dash is ANY_CONDITION and findings
    for broken in ("not(chat", "chat,,call", "- , chat", "[0..5000)", ">= 5"):
        value, findings = read(CHANNEL, broken)
        assert value is INVALID and findings[0][0] == "C07", broken


def test_list_values_are_matched_forgivingly_and_suggested() -> None:
    value, findings = read(CITY, " mumbai ")
    assert value.text == "Mumbai" and findings[0][0] == "C08"
    value, findings = read(CITY, "Mumbay")
    assert value is INVALID and findings[0][0] == "C06" and "Did you mean 'Mumbai'" in findings[0][1]
    value, findings = read(CHANNEL, "sms")
    assert value is INVALID and "chat, call" in findings[0][1]  # fixed list: the allowed values are listed


def test_text_is_tidied_and_formula_like_text_flagged() -> None:
    assert tidy_text("\u201cSOLO\u00a0 SMS\u201d ") == '"SOLO SMS"'
    value, findings = read(CODE, "solo-sms")
    assert value == "SOLO-SMS" and findings == []
    value, findings = read(CODE, "SOLO SMS")
    assert value is INVALID and "SOLO-SMS" in findings[0][1]
    value, findings = read(Column("notes", Kind.TEXT, ""), '=HYPERLINK("x")')
    assert findings[0][0] == "C09"


def test_dates_are_local_wall_time_and_offsets_are_converted() -> None:
    assert read(VALID_FROM, datetime(2026, 1, 1)) == (datetime(2026, 1, 1), [])
    value, findings = read(VALID_FROM, "2026-01-31")
    assert value == datetime(2026, 1, 31) and findings[0][0] == "C08"
    r = reader()
    r.zone = ZoneInfo("Asia/Kolkata")
    value, _ = read(VALID_FROM, "2026-01-01T00:00:00+00:00", r)
    assert value == datetime(2026, 1, 1, 5, 30)
    value, findings = read(VALID_FROM, "31/01/2026")
    assert value is INVALID and "2026-01-31" in findings[0][1]
    value, findings = read(VALID_FROM, 46023.0)
    assert value is INVALID and "2026-01-01" in findings[0][1]


def test_booleans() -> None:
    assert read(STACKABLE, "yes") == (True, [])
    assert read(STACKABLE, True) == (True, [])
    assert read(STACKABLE, "N")[0] is False and read(STACKABLE, "N")[1][0][0] == "C08"
    assert read(STACKABLE, "maybe")[0] is INVALID


def test_blank_cells() -> None:
    value, findings = read(PRICE, None)
    assert value is INVALID and findings[0][0] == "C01"
    value, findings = read(CITY, "  ")
    assert value is INVALID and "Type - if this row applies to any value" in findings[0][1]
    assert read(USAGE_TIERS.column("flat_fee_credits"), None) == (Decimal(0), [])
    assert read(PKG_FROM, "₹5,000") == (Decimal(5000), read(PKG_FROM, "₹5,000")[1])
    assert read(PKG_FROM, "₹5,000")[1][0][0] == "C08"


def test_parse_condition_and_canonical_text_round_trip() -> None:
    for text in ("-", "chat", "call,chat", "not(Mumbai,Pune)"):
        assert condition_from_text(text).text == text
    assert parse_condition("ANY") == ([], True)
    closed = frozenset({"chat", "call"})
    not_chat, not_call = condition_from_text("not(chat)"), condition_from_text("not(call)")
    assert not not_chat.intersects(not_call, closed, closed=True)  # nothing is neither chat nor call
    assert not_chat.intersects(not_call, closed, closed=False)  # a third city exists in an open list


def test_money_is_always_shown_with_credits() -> None:
    assert format_credits(85, Decimal("0.0001"), "USD") == "85 credits ($0.0085)"
    assert format_credits(237_000, Decimal("0.0001"), "USD") == "237,000 credits ($23.70)"
    assert format_credits(160, Decimal("0.0001"), "USD") == "160 credits ($0.0160)"
    assert format_credits(1, Decimal(1), "INR") == "1 credit (₹1)"
    assert format_credits(Decimal("74.7"), Decimal(1), "INR") == "74.7 credits (₹74.70)"
    assert format_money(Decimal("-5"), "USD") == "-$5.00"
    assert decimal_text(Decimal("74.70")) == "74.7" and decimal_text(Decimal("1E+2")) == "100"


@pytest.mark.parametrize(
    ("amount", "mode", "credits"),
    [
        ("74.5", "half_up", 75),
        ("74.5", "half_even", 74),
        ("75.5", "half_even", 76),
        ("74.1", "up", 75),
        ("74.9", "down", 74),
        ("-0.5", "half_up", -1),
        ("74.7", "half_up", 75),
    ],
)
def test_rounding_is_explicit(amount: str, mode: str, credits: int) -> None:
    assert round_credits(Decimal(amount), mode) == credits


def test_unknown_rounding_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="half_up"):
        round_credits(Decimal(1), "bankers")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from engine.pricebook.cells import SLOW  # noqa: E402
from engine.pricebook.schema import SHEETS  # noqa: E402

ALL_COLUMNS = [column for spec in SHEETS for column in spec.columns]


@settings(max_examples=2000, deadline=None)
@given(
    st.sampled_from(ALL_COLUMNS),
    st.one_of(
        st.none(),
        st.text(max_size=8),
        st.sampled_from(["-", "chat", "Mumbai", "sms", "SMS-1", " x", "=1", "a,b", ""]),
        st.integers(-3, 10**6).map(float),
        st.floats(-1e3, 1e7, allow_nan=False),
        st.booleans(),
    ),
)
def test_fast_path_agrees_with_the_careful_path(column: Column, raw: Any) -> None:
    """The fast readers used for large tables either step aside (SLOW) or give exactly what the
    careful reader gives, with no finding to report."""
    fast_value = reader().fast(column)(raw)
    if fast_value is SLOW:
        return
    careful = reader()
    value = careful.read(column, raw, Loc("S", 2, 2, column.name))
    assert value == fast_value and type(value) is type(fast_value)
    assert careful.collector.findings == []
