"""Money as payment providers count it: whole minor units of a currency (cents, paise).

A pricebook prices credits in exact Decimal money (1 US credit is $0.0001), but a card can only be
charged whole cents: 100,001 US credits are $10.0001, which no provider can take. So every amount
billing sends a provider is converted here, exactly, or refused: nothing is ever rounded silently.
The preview (engine/billing/topups.py) rounds a number of credits *up* to the next payable amount
and says so; a purchase refuses one that is not payable and names the two nearest that are.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Final

from engine.billing.errors import InvalidAmount

#: ISO 4217 minor-unit digits of the currencies creditbook's markets and providers use
MINOR_DIGITS: Final = {"USD": 2, "INR": 2, "EUR": 2, "GBP": 2, "AUD": 2, "CAD": 2, "SGD": 2, "JPY": 0}


def minor_digits(currency: str) -> int:
    digits = MINOR_DIGITS.get(currency.upper())
    if digits is None:
        raise InvalidAmount(f"no payment provider is set up for {currency!r} (known: {', '.join(MINOR_DIGITS)})")
    return digits


def to_minor(amount: Decimal, currency: str) -> int | None:
    """`amount` in whole minor units, or None when it is not a whole number of them."""
    scaled = amount.scaleb(minor_digits(currency))
    return int(scaled) if scaled == scaled.to_integral_value() else None


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_digits(currency))


def credits_step(money_per_credit: Decimal, currency: str) -> int:
    """The smallest number of credits that is a whole number of minor units: 100 US credits are one
    cent; a ₹1 credit is 100 paise, so every whole credit is payable (1); a credit of ₹0.015 makes
    2 credits 3 paise (2). Any number of credits is payable iff it is a multiple of this."""
    return Fraction(money_per_credit.scaleb(minor_digits(currency))).denominator


def payable_credits(credits: int, money_per_credit: Decimal, currency: str) -> tuple[int, int]:
    """The nearest payable numbers of credits at or below and at or above `credits` (equal when
    `credits` is payable itself)."""
    step = credits_step(money_per_credit, currency)
    below = credits - credits % step
    return below, below if below == credits else below + step


__all__ = ["MINOR_DIGITS", "credits_step", "from_minor", "minor_digits", "payable_credits", "to_minor"]
