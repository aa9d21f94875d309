"""Credits, money and rounding: the one place where they meet, and where they are written for people.

A credit is an integer. A pricebook says what one credit is worth (`money_per_credit`) and in which
currency. Prices per unit are exact ``Decimal`` credits and may be fractional (10% off 83 = 74.7);
a charge is rounded exactly once, here, to whole credits.

Every amount shown to a person says both credits and money ("85 credits ($0.0085)"), written the
way that market's readers write numbers: the locale follows the currency (INR → en_IN, with lakh
and crore grouping: ₹12,34,567.50 and 12,34,567 credits; USD → en_US: $1,234.50). Babel (CLDR data)
does the grouping and the symbols, so the CLI, the validator's messages, exports and the app never
disagree and nobody hand-writes a lakh separator. Money keeps sub-cent digits only where they carry
information: a US unit price of $0.0085 keeps four decimals (as many as one credit has), a balance
of $1,234.50 shows cents. Percentages are written as percentages (-52%), never as fractions.

Values arrive from people and from floating-point aggregates, so every formatter accepts None,
NaN, ±infinity and Decimals of any size without raising: missing and non-finite values are written
as "—" (an em dash), and huge ones in full.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    InvalidOperation,
    localcontext,
)
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, SupportsFloat

if TYPE_CHECKING:
    from babel import Locale
    from babel.numbers import NumberPattern

RoundingMode = Literal["half_up", "half_even", "up", "down", "ceiling", "floor"]

ROUNDING_MODES: dict[str, str] = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}

# Kept for callers that want a bare symbol; formatting itself takes symbols from babel's CLDR data.
CURRENCY_SYMBOLS: dict[str, str] = {"USD": "$", "INR": "₹", "EUR": "€", "GBP": "£"}

# The locale whose conventions a currency's amounts are written in (its market's); others read as en_US.
LOCALES: dict[str, str] = {"INR": "en_IN", "USD": "en_US"}
DEFAULT_LOCALE = "en_US"
MISSING = "—"  # what None, NaN and infinities are written as
HUGE = 30  # numbers of more digits than this (far past int64 credits) are written in E notation
MOST_PLACES = 12  # no amount is written with more decimals than this, however many it has

Number = int | float | Decimal


def round_credits(amount: Decimal, mode: str = "half_up") -> int:
    """Round an exact credit amount to whole credits with the pricebook's rounding mode."""
    if mode not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {mode!r}; expected one of {', '.join(ROUNDING_MODES)}")
    return int(amount.quantize(Decimal(1), rounding=ROUNDING_MODES[mode]))


def credits_to_money(credits: int | Decimal, money_per_credit: Decimal) -> Decimal:
    """The exact money value of a number of credits (no rounding: 85 × 0.0001 = 0.0085)."""
    return Decimal(credits) * money_per_credit


def money_to_credits(money: Decimal, money_per_credit: Decimal) -> Decimal:
    """The exact number of credits a sum of money buys (may be fractional; callers round)."""
    return money / money_per_credit


def decimal_text(value: Decimal | int, *, grouping: bool = False) -> str:
    """A Decimal as plain positional text without exponent or trailing zeros (74.70 → 74.7).
    `grouping` uses Western thousands separators: for messages that name no market (a workbook
    cell's value); amounts in a market go through format_credits / format_number."""
    d = Decimal(value)
    d = d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()
    return f"{d:,f}" if grouping else f"{d:f}"


# -- the locale and its patterns ------------------------------------------------------------------------------


def locale_for(currency: str | None) -> str:
    """The locale a currency's market writes numbers in: INR → en_IN, USD → en_US (others en_US)."""
    return LOCALES.get((currency or "").upper(), DEFAULT_LOCALE)


@cache
def _locale(name: str) -> Locale:
    from babel import Locale

    return Locale.parse(name)


@cache
def _pattern(locale: str, places: int, kind: Literal["decimal", "currency", "percent"]) -> NumberPattern:
    """The locale's own grouping (#,##,##0 in en_IN) with exactly `places` decimals."""
    from babel.numbers import parse_pattern

    grouping = _locale(locale).decimal_formats[None].pattern.split(";")[0].split(".")[0]
    fraction = "." + "0" * places if places else ""
    text = {"decimal": "", "currency": "¤", "percent": ""}[kind] + grouping + fraction
    return parse_pattern(text + ("%" if kind == "percent" else ""))


def _finite(value: object) -> Decimal | None:
    """A Decimal for a finite number (floats through their shortest repr), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, float) or (type(value).__module__ == "numpy" and isinstance(value, SupportsFloat)):
            number = float(value)
            return Decimal(repr(number)) if math.isfinite(number) else None
        if not isinstance(value, Decimal | int | str):
            return None  # what Decimal() refuses, or a number type money is never given
        d = value if isinstance(value, Decimal) else Decimal(value)
    except (TypeError, ValueError, InvalidOperation, OverflowError):
        return None
    return d if d.is_finite() else None


def _places(value: Decimal) -> int:
    """The decimals a value needs (0.0160 → 3), at most MOST_PLACES."""
    exponent = value.normalize().as_tuple().exponent
    return min(MOST_PLACES, max(0, -exponent)) if isinstance(exponent, int) else 0


def _rounded(value: Decimal, places: int) -> Decimal:
    """`value` to `places` decimals, half-even (how babel rounds for display too)."""
    if value.adjusted() >= HUGE:
        return value
    with localcontext() as context:
        context.prec = 28 + HUGE + places
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _apply(pattern: NumberPattern, value: Decimal, locale: str, currency: str | None = None) -> str:
    if value and value.adjusted() >= HUGE:  # hostile or broken input: never a page of digits
        prefix = "-" if value < 0 else ""
        symbol = currency_symbol(currency) if currency else ""
        return f"{prefix}{symbol}{abs(value):.3E}"
    value = _rounded(value, pattern.frac_prec[1] + pattern.scale)  # scale: 2 for a percentage
    if not value:
        value = abs(value)  # -0.001 at cents is $0.00, not -$0.00
    with localcontext() as context:  # enough precision for babel's quantize of any such Decimal
        context.prec = 28 + HUGE + pattern.frac_prec[1]
        return pattern.apply(value, _locale(locale), currency=currency, currency_digits=False)


# -- numbers, money, credits, percentages --------------------------------------------------------------------


def format_number(value: Number | None, currency: str | None = None, *, places: int | None = None) -> str:
    """A plain number in the market's grouping: 12,34,567 (INR) / 1,234,567 (USD). `places` fixes
    the decimals (rounded half-even, as babel does); by default whole numbers show none and others
    show their own digits."""
    d = _finite(value)
    if d is None:
        return MISSING
    if places is None:
        places = _places(d)
    return _apply(_pattern(locale_for(currency), places, "decimal"), d, locale_for(currency))


def money_places(amount: Decimal, money_per_credit: Decimal | None = None) -> int:
    """Decimals an amount of money is written with: none for whole amounts in a market whose credit
    is worth whole units (₹250), cents for anything cent-exact ($23.70, $1,234.50), and at least as
    many as one credit has when the amount has sub-cent precision ($0.0085, $0.0160)."""
    places = _places(amount)
    if places == 0 and (money_per_credit is None or money_per_credit >= 1):
        return 0 if money_per_credit is not None else 2
    if places <= 2:
        return 2
    return max(places, _places(money_per_credit) if money_per_credit else 0)


def format_money(
    amount: Number | None, currency: str, money_per_credit: Decimal | None = None, *, places: int | None = None
) -> str:
    """Money as its market writes it: ₹250, ₹12,34,567.50, $23.70, and $0.0160 when the amount has
    sub-cent precision (then with as many decimals as one credit has, so US amounts line up at 4).
    `places` fixes the decimals (for aggregates such as a simulated total: cents). A float is an
    estimate: it is first rounded to one credit's precision (cents without a pricebook), so
    0.224999999999964 never reaches a person."""
    d = _finite(amount)
    if d is None:
        return MISSING
    if places is None:
        if not isinstance(amount, Decimal | int):
            d = _rounded(d, max(2, _places(money_per_credit) if money_per_credit else 2))
        places = money_places(d, money_per_credit)
    locale = locale_for(currency)
    return _apply(_pattern(locale, places, "currency"), d, locale, currency.upper())


def format_money_compact(amount: Number | None, currency: str) -> str:
    """Money short enough for a headline figure: ₹12.35L, ₹4.2Cr, $123.46M (amounts under 100,000
    whole units are written in full, without decimals when they are large)."""
    d = _finite(amount)
    if d is None:
        return MISSING
    if abs(d) < 100_000:
        return format_money(d, currency, places=0 if abs(d) >= 1_000 else 2)
    from babel.numbers import format_compact_currency

    if d.adjusted() >= HUGE:
        return format_money(d, currency)
    with localcontext() as context:
        context.prec = 28 + HUGE
        return format_compact_currency(d, currency.upper(), locale=locale_for(currency), fraction_digits=2)


def credit_noun(credits: Number) -> str:
    return "credit" if credits == 1 else "credits"


def format_credit_count(credits: Number | None, currency: str | None = None) -> str:
    """'12,34,567 credits' in the market's grouping (no money: for where the money is beside it)."""
    d = _finite(credits)
    if d is None:
        return f"{MISSING} credits"
    return f"{format_number(d, currency)} {credit_noun(d)}"


def format_credits(credits: int | Decimal, money_per_credit: Decimal, currency: str) -> str:
    """'85 credits ($0.0085)', '12,34,567 credits (₹12,34,567)': credits always with their money."""
    d = _finite(credits)
    if d is None:
        return f"{MISSING} credits"
    money = format_money(credits_to_money(d, money_per_credit), currency, money_per_credit)
    return f"{format_credit_count(d, currency)} ({money})"


def format_percent(fraction: Number | None, currency: str | None = None, *, places: int = 0, sign: bool = False) -> str:
    """A fraction as a percentage: -0.52 → '-52%', 0.1234 with places=1 → '12.3%'; `sign` adds '+'
    to positive changes."""
    d = _finite(fraction)
    if d is None:
        return MISSING
    text = _apply(_pattern(locale_for(currency), places, "percent"), d, locale_for(currency))
    return f"+{text}" if sign and d > 0 and any(c in "123456789" for c in text) else text


def currency_symbol(currency: str) -> str:
    """'₹' for INR, '$' for USD (CLDR's symbol in the market's locale)."""
    from babel.numbers import get_currency_symbol

    return get_currency_symbol(currency.upper(), locale=locale_for(currency))


def with_unit(name: str, unit: str) -> str:
    """A column header that says its unit: with_unit('p50', '₹') → 'p50 (₹)'."""
    return f"{name} ({unit})"


ColumnKind = Literal["credits", "money", "percent", "number"]


def format_column(
    values: Iterable[Any],
    kind: ColumnKind,
    currency: str | None = None,
    *,
    money_per_credit: Decimal | None = None,
    places: int | None = None,
) -> list[str]:
    """One column of a table written for people (pandas-free, so importing this module stays cheap):
    credits and numbers grouped for the market, money with its symbol (fixed `places` when given),
    percentages from fractions. Missing values become "—"."""
    if kind == "credits":
        return [format_number(v, currency, places=0 if places is None else places) for v in values]
    if kind == "number":
        return [format_number(v, currency, places=places) for v in values]
    if kind == "percent":
        return [format_percent(v, currency, places=places or 0) for v in values]
    if currency is None:
        raise ValueError("a money column needs its currency")
    return [format_money(v, currency, money_per_credit, places=places) for v in values]


def d3_number_locale(currency: str) -> dict[str, Any]:
    """The market's number conventions as a d3-format locale, for chart axes (Vega's config.locale):
    en_IN groups [3, 2] so an axis reads ₹12,34,567 like every table beside it."""
    locale = _locale(locale_for(currency))
    pattern = _pattern(locale_for(currency), 0, "decimal")
    primary, secondary = pattern.grouping
    symbols = locale.number_symbols["latn"]
    return {
        "decimal": symbols["decimal"],
        "thousands": symbols["group"],
        "grouping": [primary, secondary],
        "currency": [currency_symbol(currency), ""],
        "minus": "-",
    }
