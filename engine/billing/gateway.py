"""Payments: the one true outside boundary of billing, behind a protocol.

Real providers (Stripe, Razorpay) are adapters implementing PaymentGateway; the repository ships a
deterministic fake for the demo and the tests. Billing calls a gateway only between database
transactions, never inside one, and passes a reference derived from the idempotency key so that a
retried purchase finds the same payment instead of charging twice.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"


@dataclass(frozen=True)
class Payment:
    id: str
    reference: str
    amount: Decimal
    currency: str
    status: PaymentStatus
    failure: str | None = None


class GatewayUnavailable(Exception):
    """A transient provider failure: nothing was charged, or the reference will find the payment."""


class PaymentGateway(Protocol):
    def create_payment(self, reference: str, amount: Decimal, currency: str, method: str) -> Payment:
        """Charge `amount` to `method`. The same `reference` must return the same payment."""
        ...

    def get_payment(self, payment_id: str) -> Payment:
        """The payment as the provider sees it now (a pending payment may have settled)."""
        ...


class FakeGateway:
    """Deterministic by payment method:

    - "card_ok": succeeds at once;          - "card_declined": fails ("card declined");
    - "card_error": raises GatewayUnavailable once per reference, then succeeds on the retry;
    - "card_pending": pending until `settle(payment_id)` (or `fail(payment_id)`);
    - "upi_ok": succeeds (India);           - anything else: fails ("unknown payment method").

    Webhook events can be delivered any number of times with `events()`: billing credits once.
    """

    def __init__(self) -> None:
        self._by_reference: dict[str, Payment] = {}
        self._by_id: dict[str, Payment] = {}
        self._errored: set[str] = set()
        self._lock = threading.Lock()
        self.calls = 0

    def create_payment(self, reference: str, amount: Decimal, currency: str, method: str) -> Payment:
        with self._lock:
            self.calls += 1
            found = self._by_reference.get(reference)
            if found is not None:
                return found
            if method == "card_error" and reference not in self._errored:
                self._errored.add(reference)
                raise GatewayUnavailable("payment provider timed out")
            status, failure = {
                "card_ok": (PaymentStatus.SUCCEEDED, None),
                "upi_ok": (PaymentStatus.SUCCEEDED, None),
                "card_error": (PaymentStatus.SUCCEEDED, None),
                "card_pending": (PaymentStatus.PENDING, None),
                "card_declined": (PaymentStatus.FAILED, "card declined"),
            }.get(method, (PaymentStatus.FAILED, "unknown payment method"))
            payment_id = "pay_" + hashlib.sha256(reference.encode()).hexdigest()[:16]  # unique per reference
            payment = Payment(payment_id, reference, amount, currency, status, failure)
            self._by_reference[reference] = payment
            self._by_id[payment.id] = payment
            return payment

    def get_payment(self, payment_id: str) -> Payment:
        with self._lock:
            return self._by_id[payment_id]

    def settle(self, payment_id: str, succeeded: bool = True) -> Payment:
        """The provider's later answer to a pending payment."""
        with self._lock:
            payment = self._by_id[payment_id]
            settled = replace(
                payment,
                status=PaymentStatus.SUCCEEDED if succeeded else PaymentStatus.FAILED,
                failure=None if succeeded else "payment failed after authorisation",
            )
            self._by_id[payment_id] = self._by_reference[payment.reference] = settled
            return settled
