"""What creditbook accepts and can store, declared once and checked where input enters.

The ledger stores credits in 64-bit integers, money in NUMERIC(18, 4), text in columns of fixed
length, and dates as UTC instants whose canonical form is ISO 8601 with a four-digit year. Every
value that reaches it must fit, on SQLite exactly as on PostgreSQL (SQLite would otherwise store an
over-long text, or turn an overflowing integer into a float). So the limits live here, and each
boundary checks them before anything is written:

- workbook validation turns any number that would overflow a later date or credit computation
  into a finding at its cell (engine/pricebook);
- a quote whose result passes a bound is a QuoteError naming the field (engine/pricing);
- every Billing argument (ids, keys, names, references, notes, amounts, times) is checked with the
  functions below before a transaction starts, and the ledger's guarded statements refuse a
  balance past BALANCE_MAX (storage).

The bounds are generous for the business (a single operation of ten trillion credits is ₹10
trillion, or $1 billion) and leave head-room so that sums over many rows stay inside int64.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from engine.errors import InvalidInput

INT64_MAX: Final = 2**63 - 1
#: the most credits one operation (a charge, a top-up, a refund, an adjustment, a quote) may move
OPERATION_CREDITS_MAX: Final = 10**13
#: the most credits a wallet may hold, or owe (checked by the ledger's guarded statements)
BALANCE_MAX: Final = 10**15
#: the most units (segments, minutes, leads) one request may count
UNITS_MAX: Final = 10**12
#: the largest amount of money one payment may carry, in the currency's units (NUMERIC(18, 4))
MONEY_MAX: Final = Decimal(10**13)
#: the most days a duration (validity, term, window, period) may last: 100 years
DAYS_MAX: Final = 36_525
#: business dates (effective_from, promotion windows, times of operations) lie in these years, so
#: that any date plus DAYS_MAX still has a four-digit year in every time zone
YEAR_MIN: Final = 1970
YEAR_MAX: Final = 2199
DATE_MIN: Final = datetime(YEAR_MIN, 1, 1, tzinfo=UTC)
DATE_MAX: Final = datetime(YEAR_MAX, 12, 31, 23, 59, 59, tzinfo=UTC)

#: text column lengths, by what the text is (the schema's String(n) columns use these)
ID_MAX: Final = 64  # clinic ids, pricebook ids, rule ids
NAME_MAX: Final = 200  # clinic names, file names
KEY_MAX: Final = 200  # idempotency keys
ACTOR_MAX: Final = 100  # who did it (an admin's login, "policy", "api:<client>")
PATIENT_REF_MAX: Final = 128  # who a lead was for (a hashed phone)
CODE_MAX: Final = 64  # promo codes, package codes, payment methods
REFERENCE_MAX: Final = 100  # payment ids and references from a provider
NOTE_MAX: Final = 2_000  # reasons and notes people type
LABEL_MAX: Final = 32  # a short word from a list: a clinic size, a dispute reason
URL_MAX: Final = 2_000  # a webhook URL, an e-mail address

#: identifiers (clinic ids, rule ids): ASCII letters and digits, then also . _ -; no look-alikes,
#: no separators a composite reference could confuse (':' '/' '|'), nothing a URL must escape
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: names creditbook uses for itself or that read as a role, refused as clinic ids (case-insensitive)
RESERVED_IDS: Final = frozenset({"admin", "all", "api", "none", "null", "policy", "staff", "system"})


def check_identifier(field: str, value: object, *, reserved: frozenset[str] = RESERVED_IDS) -> str:
    """An id in the safe alphabet, at most ID_MAX characters, not a reserved name."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be text, not {type(value).__name__}")
    if not IDENTIFIER.fullmatch(value):
        raise InvalidInput(
            field,
            f"{_shown(value)} is not an identifier: use 1 to {ID_MAX} ASCII letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    if value.casefold() in reserved:
        raise InvalidInput(field, f"{value!r} is a reserved name")
    return value


def check_text(field: str, value: object, limit: int, *, required: bool = True, multiline: bool = False) -> str:
    """Text a person or a client typed: not empty (when required), at most `limit` characters, no NUL,
    no other control characters (newlines and tabs only where `multiline`), no lone surrogates and
    no bidirectional controls (which make text read differently from what it holds)."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise InvalidInput(field, "cannot be empty")
    if len(value) > limit:
        raise InvalidInput(field, f"is {len(value):,} characters long; at most {limit:,} are allowed")
    for char in value:
        category = unicodedata.category(char)
        if char in "\n\t" and multiline:
            continue
        if category == "Cc":
            raise InvalidInput(field, f"contains the control character U+{ord(char):04X}")
        if category == "Cs":
            raise InvalidInput(field, "contains a lone surrogate (not valid Unicode text)")
        if unicodedata.bidirectional(char) in _BIDI_CONTROLS:
            raise InvalidInput(field, f"contains the bidirectional control U+{ord(char):04X}")
    return value


def check_optional_text(field: str, value: object, limit: int, *, multiline: bool = False) -> str | None:
    return None if value is None else check_text(field, value, limit, required=False, multiline=multiline)


def check_credits(field: str, value: object, *, minimum: int = 1, maximum: int = OPERATION_CREDITS_MAX) -> int:
    """A whole number of credits within [minimum, maximum] (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be a whole number of credits, not {_shown(value)}")
    if not minimum <= value <= maximum:
        raise InvalidInput(field, f"must be between {minimum:,} and {maximum:,} credits; got {value:,}")
    return value


def check_money(field: str, value: object) -> Decimal:
    """A finite, non-negative amount of money that NUMERIC(18, 4) stores exactly."""
    try:
        amount = Decimal(value) if isinstance(value, int | str | Decimal) and not isinstance(value, bool) else None
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite():
        raise InvalidInput(field, f"must be a finite amount of money, not {_shown(value)}")
    if not 0 <= amount <= MONEY_MAX or amount != amount.quantize(Decimal("0.0001")):
        raise InvalidInput(field, f"must be between 0 and {MONEY_MAX:,} with at most 4 decimals; got {amount}")
    return amount


def check_time(field: str, value: object) -> datetime:
    """An aware datetime inside [DATE_MIN, DATE_MAX]."""
    if not isinstance(value, datetime):
        raise InvalidInput(field, f"must be a date-time, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must be timezone-aware (UTC is fine)")
    if not DATE_MIN <= value <= DATE_MAX:
        raise InvalidInput(field, f"must lie between {YEAR_MIN} and {YEAR_MAX}; got {value.isoformat()}")
    return value


def check_days(field: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= DAYS_MAX:
        raise InvalidInput(field, f"must be a whole number of days between {minimum} and {DAYS_MAX:,}")
    return value


def finite_number(value: float | Decimal) -> bool:
    """True for a number that is neither NaN nor infinite."""
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


_BIDI_CONTROLS = frozenset({"LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI"})


def _shown(value: object) -> str:
    """A value as an error message may quote it: repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = [
    "ACTOR_MAX",
    "BALANCE_MAX",
    "CODE_MAX",
    "DATE_MAX",
    "DATE_MIN",
    "DAYS_MAX",
    "IDENTIFIER",
    "ID_MAX",
    "INT64_MAX",
    "KEY_MAX",
    "LABEL_MAX",
    "MONEY_MAX",
    "NAME_MAX",
    "NOTE_MAX",
    "OPERATION_CREDITS_MAX",
    "PATIENT_REF_MAX",
    "REFERENCE_MAX",
    "RESERVED_IDS",
    "UNITS_MAX",
    "URL_MAX",
    "YEAR_MAX",
    "YEAR_MIN",
    "check_credits",
    "check_days",
    "check_identifier",
    "check_money",
    "check_optional_text",
    "check_text",
    "check_time",
    "finite_number",
]
