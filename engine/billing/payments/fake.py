"""A deterministic payment provider for the demo and the tests, keeping every promise of the
protocol (engine/billing/payments/protocol.py) in memory, signed webhooks included.

The payment method decides what happens:

- "card_ok", "upi_ok": paid at once;          - "card_declined": declined ("card declined");
- "card_error": the provider times out once per reference before taking anything, then pays;
- "card_timeout": the provider takes the money, then the answer is lost (GatewayUnavailable)
  once: only the reference, a webhook or the sweeper can find the payment again;
- "card_pending": pending until `settle(payment_id)` (paid, or failed with `succeeded=False`);
- "card_action": pending with a next action (3-D Secure) until `settle`;
- anything else: declined ("unknown payment method").

It remembers nothing across processes: a sweep from another process finds no payment for a
reference and fails the attempt ("never reached the provider") — true of the fake, where no money
ever moved.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Final

from engine.billing.errors import WebhookRejected
from engine.billing.payments.protocol import (
    GatewayConflict,
    GatewayUnavailable,
    NextAction,
    Payment,
    PaymentRequest,
    PaymentStatus,
    WebhookEvent,
    header,
)
from engine.vocabulary import PaymentProvider

SIGNATURE_HEADER: Final = "X-Fake-Signature"
OUTCOMES: Final = {
    "card_ok": (PaymentStatus.SUCCEEDED, None),
    "upi_ok": (PaymentStatus.SUCCEEDED, None),
    "card_error": (PaymentStatus.SUCCEEDED, None),
    "card_timeout": (PaymentStatus.SUCCEEDED, None),
    "card_pending": (PaymentStatus.PENDING, None),
    "card_action": (PaymentStatus.PENDING, None),
    "card_declined": (PaymentStatus.FAILED, "card declined"),
}


def _sign(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


class FakeGateway:
    """See the module docstring. `calls` counts create_payment calls; `before_answer`, when set, runs
    for every create_payment outside the gateway's lock (tests hold a payment in flight there)."""

    provider = PaymentProvider.FAKE.value
    supports_saved_methods = True

    def __init__(self, webhook_secret: str = "whsec_fake_for_tests") -> None:
        self.webhook_secret = webhook_secret
        self._by_reference: dict[str, Payment] = {}
        self._by_id: dict[str, Payment] = {}
        self._errored: set[str] = set()
        self._lock = threading.Lock()
        self.calls = 0
        self.before_answer: Callable[[PaymentRequest], None] | None = None

    # -- the protocol -----------------------------------------------------------------------------
    def create_payment(self, request: PaymentRequest) -> Payment:
        with self._lock:
            self.calls += 1
        if self.before_answer is not None:
            self.before_answer(request)
        with self._lock:
            found = self._by_reference.get(request.reference)
            if found is not None:
                if (found.amount_minor, found.currency) != (request.amount_minor, request.currency):
                    raise GatewayConflict(f"reference {request.reference} was already used for another amount")
                return found
            if request.method == "card_error" and request.reference not in self._errored:
                self._errored.add(request.reference)
                raise GatewayUnavailable("the payment provider timed out")
            status, failure = OUTCOMES.get(request.method, (PaymentStatus.FAILED, "unknown payment method"))
            payment_id = "pay_" + hashlib.sha256(request.reference.encode()).hexdigest()[:16]
            action = None
            if request.method == "card_action":
                action = NextAction(kind="fake_confirm", client_secret=f"{payment_id}_secret")
            payment = Payment(
                payment_id, request.reference, request.amount_minor, request.currency, status, failure, action
            )
            self._by_reference[request.reference] = self._by_id[payment_id] = payment
            if request.method == "card_timeout" and request.reference not in self._errored:
                self._errored.add(request.reference)
                raise GatewayUnavailable("the payment provider took the payment, then the answer was lost")
            return payment

    def get_payment(self, payment_id: str) -> Payment:
        with self._lock:
            found = self._by_id.get(payment_id)
        if found is None:
            raise GatewayUnavailable(f"the provider has no payment {payment_id}")
        return found

    def find_payment(self, reference: str) -> Payment | None:
        with self._lock:
            return self._by_reference.get(reference)

    def abandon(self, payment: Payment) -> Payment:
        with self._lock:
            current = self._by_id.get(payment.id or "", payment)
            if current.status is not PaymentStatus.PENDING:
                return current
        return self._settle(current, PaymentStatus.FAILED, "abandoned: the payer never finished")

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], at: datetime) -> WebhookEvent:
        signature = header(headers, SIGNATURE_HEADER)
        if not signature or not hmac.compare_digest(signature, _sign(self.webhook_secret, body)):
            raise WebhookRejected("the fake provider's webhook signature does not match its body")
        try:
            event = json.loads(body)
            return WebhookEvent(
                provider=self.provider,
                event_id=str(event["id"]),
                kind=str(event["type"]),
                reference=event.get("reference"),
                payment_id=event.get("payment_id"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("the fake provider's webhook is not an event") from exc

    def verify_checkout(self, fields: Mapping[str, str]) -> str:
        payment_id, signature = fields.get("payment_id", ""), fields.get("signature", "")
        if not payment_id or not hmac.compare_digest(signature, _sign(self.webhook_secret, payment_id.encode())):
            raise WebhookRejected("the fake checkout's signature does not match")
        return payment_id

    # -- what the provider does later, and what it sends ----------------------------------------
    def settle(self, payment_id: str, succeeded: bool = True) -> Payment:
        """The provider's later answer to a pending payment (the payer finished, or gave up)."""
        payment = self.get_payment(payment_id)
        if succeeded:
            return self._settle(payment, PaymentStatus.SUCCEEDED, None)
        return self._settle(payment, PaymentStatus.FAILED, "payment failed after authorisation")

    def _settle(self, payment: Payment, status: PaymentStatus, failure: str | None) -> Payment:
        settled = replace(payment, status=status, failure=failure, next_action=None)
        with self._lock:
            self._by_id[settled.id or ""] = self._by_reference[settled.reference] = settled
        return settled

    def webhook(
        self, payment_id: str, event_id: str | None = None, kind: str = "payment.updated"
    ) -> tuple[bytes, dict[str, str]]:
        """The signed webhook the provider sends about a payment: (raw body, headers)."""
        payment = self.get_payment(payment_id)
        body = json.dumps(
            {
                "id": event_id or f"evt_{payment_id}_{payment.status.value}",
                "type": kind,
                "payment_id": payment_id,
                "reference": payment.reference,
            },
            sort_keys=True,
        ).encode()
        return body, {SIGNATURE_HEADER: _sign(self.webhook_secret, body)}

    def checkout_fields(self, payment_id: str) -> dict[str, str]:
        """What the payer's browser posts back after finishing the payment."""
        return {"payment_id": payment_id, "signature": _sign(self.webhook_secret, payment_id.encode())}
