"""What the pages share: the ledger, the shipped pricebooks, cached simulations, the admin gate,
idempotency keys for forms, and how amounts are shown (always credits and money). No business
logic: everything here calls engine.billing, engine.pricing or simulator."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import streamlit as st

from engine.billing import Billing
from engine.loader import load_pricebook, validate_pricebook
from engine.money import format_credits
from engine.pricebook.model import CompiledPricebook
from engine.pricebook.validate import Report
from simulator import Results, Scenario, simulate

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {
    "US": sorted((ROOT / "pricebooks" / "us").glob("*.xlsx")),
    "IN": sorted((ROOT / "pricebooks" / "in").glob("*.xlsx")),
}


@st.cache_resource(show_spinner=False)
def _billing(url: str | None) -> Billing:
    return Billing(url)


def billing() -> Billing:
    """The ledger the wallet and admin pages work on (CREDITBOOK_DATABASE_URL, else creditbook.db);
    one Billing per URL, so a changed environment (the tests') gets its own."""
    return _billing(os.environ.get("CREDITBOOK_DATABASE_URL"))


@st.cache_resource(show_spinner=False)
def shipped(path: str) -> CompiledPricebook:
    return load_pricebook(path)


@st.cache_resource(show_spinner=False, max_entries=32)
def _simulated(scenario_json: str) -> Results:
    return simulate(Scenario.model_validate_json(scenario_json))


def simulated(scenario: Scenario) -> Results:
    """A simulation, cached on the whole scenario (same inputs, same draws, same answer)."""
    return _simulated(scenario.model_dump_json())


@st.cache_resource(show_spinner=False, max_entries=16)
def _validated(digest: str, data: bytes, name: str) -> Report:
    folder = Path(tempfile.mkdtemp(prefix="creditbook-upload-"))
    path = folder / Path(name).name
    path.write_bytes(data)
    return validate_pricebook(path)


def validated(data: bytes, name: str) -> Report:
    """Validation of an uploaded workbook (kept on disk for the annotated copy)."""
    return _validated(hashlib.sha256(data).hexdigest(), data, name)


def admin_password() -> str | None:
    """The admin password from Streamlit secrets or CREDITBOOK_ADMIN_PASSWORD; None: read-only admin."""
    try:
        configured = st.secrets.get("admin_password")
    except (FileNotFoundError, KeyError, OSError, RuntimeError):
        configured = None
    except Exception:  # no secrets file at all: Streamlit raises its own error type
        configured = None
    return configured or os.environ.get("CREDITBOOK_ADMIN_PASSWORD") or None


def is_admin() -> bool:
    return bool(st.session_state.get("admin_ok"))


def form_key(name: str) -> str:
    """The idempotency key of a form: the same across reruns of one submission, new after it succeeds."""
    slot = f"key:{name}"
    if slot not in st.session_state:
        st.session_state[slot] = f"app-{name}-{uuid.uuid4().hex}"
    return str(st.session_state[slot])


def form_done(name: str) -> None:
    st.session_state.pop(f"key:{name}", None)


def shown(credits: int | float, money_per_credit: object, currency: str) -> str:
    return format_credits(int(credits), money_per_credit, currency)  # type: ignore[arg-type]


def money(value: float, currency: str) -> str:
    symbol = {"USD": "$", "INR": "₹"}.get(currency, currency + " ")
    return f"{'-' if value < 0 else ''}{symbol}{abs(value):,.2f}"


def compact(credits: float) -> str:
    """2,607,434,897 → '2.61 billion credits' (for labels; tables keep every digit)."""
    for size, word in ((1e9, "billion"), (1e6, "million")):
        if abs(credits) >= size:
            return f"{credits / size:,.2f} {word} credits"
    return f"{credits:,.0f} credits"


def credit_metric(column: object, label: str, credits: int, money_per_credit: object, currency: str) -> None:
    """A metric that says credits and money: the money in the label, the credits as the value."""
    text = shown(credits, money_per_credit, currency)
    amount, _, value = text.partition(" (")
    column.metric(f"{label} · {value.rstrip(')')}", amount)  # type: ignore[attr-defined]


def submit(name: str, call: Callable[[str], T]) -> T | None:
    """Run a form's operation with the form's idempotency key; show a refusal as an error (None)."""
    from engine.billing import BillingError
    from engine.pricing.requests import QuoteError

    try:
        result = call(form_key(name))
    except (BillingError, QuoteError) as exc:
        st.error(f"{type(exc).__name__}: {exc}")
        return None
    form_done(name)
    return result
