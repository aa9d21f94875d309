"""A ledger wired as the billing tests use it: the shipped pricebooks published, reconciled at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from engine.billing import Billing
from engine.billing.payments import GatewayRouter, PaymentGateway
from storage.database import Database
from tests.support.paths import IN_V1, IN_V2, US_V1

PUBLISHED = datetime(2025, 6, 1, tzinfo=UTC)  # when the shipped pricebooks are published in a test ledger


@contextmanager
def shipped_ledger(
    url: str, clock: Callable[[], datetime], gateway: PaymentGateway | GatewayRouter
) -> Iterator[Billing]:
    """A Billing on the database at `url` with the three shipped pricebooks published; when the
    block ends the ledger's invariants are recomputed and must hold (an AssertionError lists the drifts)."""
    database = Database(url)
    service = Billing(database, clock=clock, gateway=gateway)
    for path in (US_V1, IN_V1, IN_V2):
        service.publish_pricebook(path, actor="pricing", key=f"publish-{path.name}", at=PUBLISHED)
    yield service
    report = service.reconcile()
    database.dispose()
    assert report.ok, "ledger invariants broken:\n" + "\n".join(map(str, report.drifts))


@contextmanager
def two_charged_clinics(url: str) -> Iterator[Billing]:
    """`shipped_ledger` with Indian clinics "a" and "b" funded with ₹100,000 and charged once each
    (their states kept, the market's revenue account known: the next charges take the one call)."""
    from engine.billing import FakeGateway
    from engine.pricing.requests import LeadRequest
    from tests.support.clock import START, Clock

    with shipped_ledger(url, Clock(START), FakeGateway()) as billing:
        for clinic in ("a", "b"):
            billing.register_clinic(clinic, clinic, "IN", key="reg")
            billing.purchase(clinic, 100_000, payment_method="upi_ok", key="buy")
            billing.charge(clinic, LeadRequest(product="lead_call", package_price=3_000), key="warm")  # type: ignore[arg-type]
        yield billing
