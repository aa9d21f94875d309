"""A clinic's time only moves forward: an operation dated before the clinic's latest posted one is
posted at that time when the two are at most a few seconds apart (two servers' clocks), and refused
otherwise — so a charge is never dated before the purchase that funds it, and a pay-as-you-go term
never starts inside another."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.billing import Billing
from engine.billing.state import CLOCK_SKEW
from engine.errors import OutOfOrder
from engine.pricing.requests import Usage
from tests.support.clock import Clock
from tests.support.ledger_rows import rows, snapshot


def test_a_charge_dated_before_the_purchase_that_funds_it_is_refused(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    bought = billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    before = snapshot(billing)
    with pytest.raises(OutOfOrder, match="would go back in time"):
        billing.charge("c", Usage(product="sms", units=10), key="early", at=clock.now - timedelta(hours=1))
    assert snapshot(billing) == before  # nothing written, not even the idempotency key
    assert bought.balance == 1_000_000


def test_an_operation_a_few_seconds_behind_is_posted_at_the_clinics_time(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    late = billing.charge("c", Usage(product="sms", units=10), key="skewed", at=clock.now - CLOCK_SKEW)
    assert late.approved
    (charge,) = rows(billing, "transactions", kind="charge")
    assert charge.at == clock.now  # posted at the clinic's latest time, never before it


def test_a_clock_moved_back_never_starts_a_second_term(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    clock.advance(days=30)
    billing.charge("c", Usage(product="sms", units=600), key="sms-1")
    with pytest.raises(OutOfOrder):
        billing.charge("c", Usage(product="sms", units=600), key="sms-2", at=clock.now - timedelta(days=400))
    terms = rows(billing, "terms", clinic_id="c", product="sms")
    assert len(terms) == 1 and terms[0].units == 600


def test_every_clinic_keeps_its_own_time(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("a", "A", "IN", key="reg")
    billing.register_clinic("b", "B", "IN", key="reg")
    billing.purchase("a", 5_000, payment_method="upi_ok", key="buy", at=clock.now + timedelta(days=3))
    earlier = billing.purchase("b", 5_000, payment_method="upi_ok", key="buy")  # another clinic: its own clock
    assert earlier.status == "credited"


def test_the_balance_as_of_an_earlier_time_is_that_times(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    start = clock.now
    billing.purchase("c", 5_000, payment_method="upi_ok", key="buy")
    clock.advance(days=2)
    billing.adjust("c", -1_000, actor="ops", reason="correction", key="adj")
    assert billing.balance("c").balance == 4_000
    then = billing.balance("c", at=start + timedelta(days=1))
    assert then.balance == 5_000  # before the adjustment
    assert billing.balance("c", at=start - timedelta(days=1)).balance == 0  # before anything
