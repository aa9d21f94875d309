"""Credits, money and rounding: the one place where they meet.

A credit is an integer. A pricebook says what one credit is worth (`money_per_credit`) and in which
currency. Prices per unit are exact ``Decimal`` credits and may be fractional (10% off 83 = 74.7);
a charge is rounded exactly once, here, to whole credits. Every amount shown to a person says both
credits and money ("85 credits ($0.0085)"), and that formatting lives here too so that the CLI,
the validator's messages and the app never disagree.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Literal

RoundingMode = Literal["half_up", "half_even", "up", "down", "ceiling", "floor"]

ROUNDING_MODES: dict[str, str] = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}

CURRENCY_SYMBOLS: dict[str, str] = {"USD": "$", "INR": "₹", "EUR": "€", "GBP": "£"}


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
    """A Decimal as plain positional text without exponent or trailing zeros (74.70 → 74.7)."""
    d = Decimal(value)
    d = d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()
    return f"{d:,f}" if grouping else f"{d:f}"


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def format_money(amount: Decimal, currency: str, money_per_credit: Decimal | None = None) -> str:
    """Money as people read it: ₹250, $23.70, and $0.0160 when the amount has sub-cent precision
    (then with as many decimals as one credit has, so US amounts line up at 4)."""
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    sign = "-" if amount < 0 else ""
    amount = abs(Decimal(amount))
    if amount == amount.to_integral_value() and (money_per_credit is None or money_per_credit >= 1):
        places = 0 if money_per_credit is not None else 2
    elif _places(amount) <= 2:
        places = 2
    else:
        places = max(_places(amount), _places(money_per_credit) if money_per_credit else 0)
    return f"{sign}{symbol}{amount:,.{places}f}"


def format_credits(credits: int | Decimal, money_per_credit: Decimal, currency: str) -> str:
    """'85 credits ($0.0085)': credits always shown with their money value."""
    noun = "credit" if Decimal(credits) == 1 else "credits"
    money = format_money(credits_to_money(credits, money_per_credit), currency, money_per_credit)
    return f"{decimal_text(credits, grouping=True)} {noun} ({money})"
