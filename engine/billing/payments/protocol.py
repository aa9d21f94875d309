"""The payment gateway protocol: what billing asks of a provider, and what a provider answers.

Billing records a payment attempt (a reference of its own, the money in whole minor units) in a
committed transaction, then asks a gateway — outside any database transaction — to take the money
for that reference. Every gateway promises the same things, whichever provider is behind it (the
contract suite in tests/payments/ holds each one to them):

- `create_payment` is idempotent by reference: asked again for the same reference it returns the
  same payment, never a second one; asked for the same reference with another amount it raises
  `GatewayConflict` instead of charging again.
- a decline is an answer (`Payment` with status FAILED), not an exception; a timeout, a 5xx or a
  dropped connection is `GatewayUnavailable`: the money may or may not have been taken, so the
  attempt stays in flight until a retry, a webhook or the sweeper reads the payment back.
- `get_payment` reads a payment back by the provider's id; `find_payment` by our reference (the
  sweeper's way back to a payment whose id a crash never recorded). What they answer is the truth
  billing settles on; a webhook is only a signal to read it back.
- `parse_webhook` and `verify_checkout` check the provider's signature over the raw bytes before
  anything is believed, and raise `WebhookRejected` otherwise.
- `abandon` stops a payment that can still be stopped (the sweeper's last word on a stale attempt)
  and answers its final state — SUCCEEDED if the payer paid meanwhile: money is never lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from engine.errors import CreditbookError
from engine.vocabulary import PaymentOrigin

#: a reference must fit Razorpay's order receipt (40 characters), the tightest of the providers
REFERENCE_PREFIX = "cb_"
REFERENCE_LENGTH = len(REFERENCE_PREFIX) + 32


class PaymentStatus(StrEnum):
    """What the provider says about a payment now."""

    SUCCEEDED = "succeeded"  # the money is ours (Stripe: succeeded; Razorpay: captured / order paid)
    FAILED = "failed"  # it will not be paid (declined, cancelled, abandoned)
    PENDING = "pending"  # not decided: the payer must act (3-D Secure, Checkout) or the bank must answer


@dataclass(frozen=True)
class NextAction:
    """The step the payer's browser must take to finish a payment, handed back through the purchase
    result: Stripe's 3-D Secure (`client_secret` for Stripe.js handleNextAction), Razorpay Checkout
    (the `order_id` and the public `key_id` Checkout opens with)."""

    kind: str  # "stripe_sca", "razorpay_checkout", "fake_confirm"
    client_secret: str | None = None
    redirect_url: str | None = None
    order_id: str | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class PaymentRequest:
    """One payment to take: `amount_minor` whole minor units (cents, paise) of `currency`."""

    reference: str
    clinic_id: str
    amount_minor: int
    currency: str
    method: str
    customer: str | None = None  # a saved method's customer (Stripe cus_...): an off-session charge
    off_session: bool = False  # no payer present (auto top-up): authentication cannot be asked for
    description: str = ""


@dataclass(frozen=True)
class Payment:
    """A payment as the provider sees it. `id` is the provider's (Stripe pi_..., Razorpay order_...);
    None when the provider refused the request before creating anything."""

    id: str | None
    reference: str
    amount_minor: int
    currency: str
    status: PaymentStatus
    failure: str | None = None
    next_action: NextAction | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook, reduced to what settles: which payment it is about. The event says that
    something happened; billing reads the payment back before it believes what."""

    provider: str
    event_id: str
    kind: str  # the provider's event type (payment_intent.succeeded, payment.captured, ...)
    reference: str | None = None  # ours, when the event carries it (Stripe metadata, Razorpay receipt)
    payment_id: str | None = None  # the provider's id of the payment (intent, order)
    relevant: bool = True  # False for event types that settle nothing
    extra: Mapping[str, str] = field(default_factory=dict)


class GatewayUnavailable(CreditbookError):
    """The provider did not answer (timeout, 5xx, dropped connection, refused credentials): the money
    may or may not have been taken. The attempt stays in flight; the same reference finds it."""

    code = "gateway_unavailable"
    status = 502


class GatewayConflict(GatewayUnavailable):
    """The provider already holds this reference with other parameters (an idempotency mismatch):
    nothing new was charged, and the payment it holds is settled by reading it back."""

    code = "gateway_conflict"
    status = 409


class PaymentGateway(Protocol):
    """One payment provider (see the module docstring for the promises every gateway keeps)."""

    provider: str
    #: can charge a saved payment method with no payer present (auto top-up)
    supports_saved_methods: bool

    def create_payment(self, request: PaymentRequest) -> Payment: ...

    def get_payment(self, payment_id: str) -> Payment: ...

    def find_payment(self, reference: str) -> Payment | None: ...

    def abandon(self, payment: Payment) -> Payment: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], at: datetime) -> WebhookEvent: ...

    def verify_checkout(self, fields: Mapping[str, str]) -> str:
        """Verify a Checkout callback's signature; the provider's id of the payment to read back."""
        ...


def payment_reference(namespace: str, origin: PaymentOrigin, clinic_id: str, key: str) -> str:
    """Our reference for a payment attempt: a hash of the ledger's namespace, the origin, the clinic
    and the key, each length-prefixed, so no two (clinic, key) pairs can ever share one ("ab" +
    "c:d" and "ab:c" + "d" hash apart) and two ledgers sharing a provider account never do either.
    32 hex digits (128 bits) keep it inside Razorpay's 40-character receipt."""
    digest = hashlib.sha256()
    for part in (namespace, origin.value, clinic_id, key):
        data = part.encode()
        digest.update(len(data).to_bytes(4, "big") + data)
    return REFERENCE_PREFIX + digest.hexdigest()[:32]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever case the web framework kept it in."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


__all__ = [
    "REFERENCE_LENGTH",
    "GatewayConflict",
    "GatewayUnavailable",
    "NextAction",
    "Payment",
    "PaymentGateway",
    "PaymentRequest",
    "PaymentStatus",
    "WebhookEvent",
    "header",
    "payment_reference",
]
