"""What people read instead of internal codes: one mapping for every code the app shows (dispute
reasons, transaction kinds and statuses, products, specialties, cities, clinic sizes, plans), and
refusals worded without Python class names. Codes not listed read as words ('hair_transplant' →
'Hair transplant'), so a new code in a pricebook never shows as an identifier."""

from __future__ import annotations

import re

from engine.money import format_number

LABELS: dict[str, str] = {
    # dispute reasons
    "duplicate": "Duplicate lead",
    "invalid": "Invalid (spam or wrong number)",
    "not_reachable": "Patient not reachable",
    "mistakenly_charged": "Charged by mistake",
    # transaction kinds
    "topup": "Top-up",
    "bonus": "Bonus",
    "referral": "Referral bonus",
    "charge": "Charge",
    "refund": "Refund",
    "adjustment": "Adjustment",
    "expiry": "Expired credits",
    # statuses
    "posted": "Posted",
    "declined": "Declined",
    "failed": "Failed",
    "pending": "Pending",
    "credited": "Credited",
    "open": "Open",
    "approved": "Approved (refunded)",
    "rejected": "Rejected",
    "any": "Any",
    # products
    "sms": "SMS",
    "voice": "Voice",
    "lead_chat": "Chat lead",
    "lead_call": "Call lead",
    "-": "Any",
    # specialties and cities
    "ent": "ENT",
    "ivf": "IVF",
    # clinic segments
    "standard": "Standard",
    "preferred": "Preferred",
}

UNITS: dict[str, tuple[str, str]] = {  # product → (one, many)
    "sms": ("SMS segment", "SMS segments"),
    "voice": ("minute", "minutes"),
    "lead_chat": ("chat lead", "chat leads"),
    "lead_call": ("call lead", "call leads"),
}

MARKETS: dict[str, str] = {"US": "US ($)", "IN": "India (₹)"}  # as market pickers show them


def market_label(market: str) -> str:
    return MARKETS.get(market, market)


def label(code: object) -> str:
    """The words for a code: 'mistakenly_charged' → 'Charged by mistake', 'hair_transplant' →
    'Hair transplant'; None and '' stay empty."""
    if code is None or code == "":
        return ""
    text = str(code)
    found = LABELS.get(text) or LABELS.get(text.lower())
    if found is not None:
        return found
    words = re.sub(r"[_\s]+", " ", text).strip()
    return words[:1].upper() + words[1:]


def quantity(product: str | None, units: int | None, currency: str | None = None) -> str:
    """'3 SMS segments', '1 call lead', '' when there is nothing to count (grouped for the market)."""
    if product is None:
        return ""
    one, many = UNITS.get(product, (label(product).lower(), label(product).lower()))
    count = units if units is not None else 0
    return f"{format_number(count, currency)} {one if count == 1 else many}"


def refusal(error: BaseException) -> str:
    """A refusal in words: the error's own message, never its class name, with a first capital."""
    text = str(error).strip() or "The request was refused."
    return text[:1].upper() + text[1:]
