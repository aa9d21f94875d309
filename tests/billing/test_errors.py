"""Every way a request can be wrong has one error type, a message that says what to fix, and leaves
the ledger exactly as it was: no row, no balance change, no idempotency key."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.billing import (
    AdjustmentRefused,
    Billing,
    ClinicExists,
    DisputeClosed,
    ForeignDispute,
    InvalidAmount,
    NoPricebook,
    PricebookRejected,
    RefundExceeded,
    UnknownCharge,
    UnknownClinic,
    UnknownDispute,
    UnknownPackage,
)
from engine.pricing.requests import LeadRequest, QuoteError, Usage
from tests.support.ledger_rows import snapshot
from tests.support.paths import US_V1
from tests.support.workbooks import Book


@dataclass
class World:
    billing: Billing
    us_charge: int
    in_charge: int
    dispute: int
    folder: Path


@pytest.fixture
def world(billing: Billing, tmp_path: Path) -> World:
    billing.register_clinic("us", "US clinic", "US", key="reg")
    billing.register_clinic("in", "IN clinic", "IN", key="reg")
    billing.register_clinic("other", "Another IN clinic", "IN", key="reg")
    billing.purchase("us", 1_000_000, payment_method="card_ok", key="buy")
    billing.purchase("in", 2_000, payment_method="upi_ok", key="buy")
    us_charge = billing.charge("us", Usage(product="sms", units=100), key="sms").transaction_id
    in_charge = billing.charge("in", LeadRequest(product="lead_call", package_price=8_000), key="lead").transaction_id
    dispute = billing.open_dispute("in", in_charge, reason="invalid", key="dispute").dispute_id
    return World(billing, us_charge, in_charge, dispute, tmp_path)


def _broken_workbook(world: World) -> Path:
    book = Book(US_V1)
    book.set("UsageTiers", "SMS-2", "unit_price_credits", -83)
    return book.save(world.folder / "broken.xlsx")


CASES: dict[str, tuple[type[Exception], str, Callable[[World], Any]]] = {
    "charge an unknown clinic": (
        UnknownClinic,
        "no clinic 'nobody'",
        lambda w: w.billing.charge("nobody", Usage(product="sms", units=1), key="k"),
    ),
    "buy for an unknown clinic": (
        UnknownClinic,
        "nobody",
        lambda w: w.billing.purchase("nobody", 100_000, payment_method="card_ok", key="k"),
    ),
    "balance of an unknown clinic": (UnknownClinic, "nobody", lambda w: w.billing.balance("nobody")),
    "register twice": (ClinicExists, "already exists", lambda w: w.billing.register_clinic("us", "x", "US", key="k")),
    "register in a market without a pricebook": (
        NoPricebook,
        "'FR'",
        lambda w: w.billing.register_clinic("fr", "Paris", "FR", key="k"),
    ),
    "buy a negative amount": (
        InvalidAmount,
        "smallest top-up",
        lambda w: w.billing.purchase("us", -5, payment_method="card_ok", key="k"),
    ),
    "buy below the minimum": (
        InvalidAmount,
        "100,000 credits ($10.00)",
        lambda w: w.billing.purchase("us", 99_999, payment_method="card_ok", key="k"),
    ),
    "buy a fraction": (
        InvalidAmount,
        "whole number",
        lambda w: w.billing.purchase("us", 150_000.5, payment_method="card_ok", key="k"),  # type: ignore[arg-type]
    ),
    "buy an unknown package": (
        UnknownPackage,
        "SOLO-SMS",
        lambda w: w.billing.purchase("us", "gold", payment_method="card_ok", key="k"),
    ),
    "charge a negative quantity": (
        QuoteError,
        "quantity",
        lambda w: w.billing.charge("in", {"product": "lead_call", "quantity": -2}, key="k"),
    ),
    "charge a negative number of units": (
        QuoteError,
        "units",
        lambda w: w.billing.charge("us", {"product": "sms", "units": -1}, key="k"),
    ),
    "adjust by zero": (
        InvalidAmount,
        "non-zero",
        lambda w: w.billing.adjust("us", 0, actor="a", reason="r", key="k"),
    ),
    "adjust without a reason": (
        InvalidAmount,
        "reason",
        lambda w: w.billing.adjust("us", 10, actor="a", reason="", key="k"),
    ),
    "take more than the overdraft allows": (
        AdjustmentRefused,
        "taking 5,000 credits (₹5,000) would put clinic in (balance 1,820 credits (₹1,820)) past its overdraft limit",
        lambda w: w.billing.adjust("in", -5_000, actor="a", reason="r", key="k"),
    ),
    "dispute an unknown charge": (
        UnknownCharge,
        "no posted charge 999",
        lambda w: w.billing.open_dispute("in", 999, reason="invalid", key="k"),
    ),
    "dispute another clinic's charge": (
        ForeignDispute,
        "another clinic",
        lambda w: w.billing.open_dispute("other", w.in_charge, reason="invalid", key="k"),
    ),
    "dispute a charge twice": (
        DisputeClosed,
        "already disputed",
        lambda w: w.billing.open_dispute("in", w.in_charge, reason="duplicate", key="k"),
    ),
    "decide an unknown dispute": (
        UnknownDispute,
        "no dispute 999",
        lambda w: w.billing.approve_dispute(999, actor="admin", note="n", key="k"),
    ),
    "decide a dispute as another clinic": (
        ForeignDispute,
        "another clinic",
        lambda w: w.billing.approve_dispute(w.dispute, actor="admin", note="n", key="k", clinic_id="other"),
    ),
    "refund more than was charged": (
        RefundExceeded,
        "8,500 credits ($0.85) left to refund; asked for 8,501 credits ($0.8501)",
        lambda w: w.billing.refund("us", w.us_charge, actor="a", reason="r", key="k", credits=8_501),
    ),
    "refund a negative amount": (
        InvalidAmount,
        "positive",
        lambda w: w.billing.refund("us", w.us_charge, actor="a", reason="r", key="k", credits=-1),
    ),
    "publish an unchanged pricebook": (
        PricebookRejected,
        "same semantic hash",
        lambda w: w.billing.publish_pricebook(US_V1, actor="pricing", key="k"),
    ),
    "publish a workbook with errors": (
        PricebookRejected,
        "UsageTiers!",
        lambda w: w.billing.publish_pricebook(_broken_workbook(w), actor="pricing", key="k"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_refusal_has_its_type_and_message_and_leaves_nothing(world: World, case: str) -> None:
    error, message, attempt = CASES[case]
    before = snapshot(world.billing)
    with pytest.raises(error, match=re.escape(message)):
        attempt(world)
    assert snapshot(world.billing) == before


def test_a_decided_dispute_cannot_be_decided_again(world: World) -> None:
    world.billing.reject_dispute(world.dispute, actor="admin", note="lead was reachable", key="no")
    before = snapshot(world.billing)
    with pytest.raises(DisputeClosed, match="already rejected"):
        world.billing.approve_dispute(world.dispute, actor="admin", note="changed my mind", key="yes")
    assert snapshot(world.billing) == before


def test_a_damaged_published_version_stops_its_own_market_only(billing: Billing) -> None:
    """A stored version whose canonical JSON cannot be read back is reported where it would price;
    clinics of the other markets register and charge as before."""
    from sqlalchemy import update

    from engine.pricebook.model import CompiledPricebookError
    from storage.schema import pricebook_versions

    billing.db.run(
        lambda conn: conn.execute(
            update(pricebook_versions)
            .where(pricebook_versions.c.pricebook_id == "us-audiology")
            .values(canonical_json='{"identity": {"effective_from": "1-01-01T00:00:00Z"}}')
        )
    )
    fresh = Billing(billing.db, clock=billing.clock, gateway=billing.gateway)  # nothing compiled yet
    assert fresh.register_clinic("in-1", "Pune clinic", "IN", key="reg").market == "IN"
    with pytest.raises((CompiledPricebookError, NoPricebook)):
        fresh.register_clinic("us-1", "Ohio clinic", "US", key="reg")
    assert ("us-audiology", 1) in fresh.catalog.unloadable
