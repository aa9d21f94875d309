"""The Razorpay adapter, on Razorpay's official SDK: one order per payment attempt, paid in Checkout.

- **Create**: an order for the amount in paise, with our reference as its receipt (and in its
  notes). Orders take no idempotency key, so an order with this receipt is looked up first and only
  created when there is none: a retry, or a process that died after the order was created, finds the
  same order; the same receipt with another amount is a GatewayConflict. A new order is pending: the
  purchase result carries the order id and the public key id that Razorpay Checkout opens with.
- **Checkout callback**: the browser posts `razorpay_order_id`, `razorpay_payment_id` and
  `razorpay_signature` = HMAC-SHA256("order_id|payment_id", key secret); the SDK verifies it before
  the order is read back.
- **Reading back**: an order is paid when Razorpay says `paid`, or when one of its payments is
  captured; an authorised payment is captured here (the money is only ours once captured). A failed
  payment does not fail the order — the payer may try again in Checkout — so an order stays pending
  until paid or abandoned by the sweeper; a payment of an abandoned order is still credited later.
- **Webhooks**: `X-Razorpay-Signature` = HMAC-SHA256 of the raw body with the webhook secret,
  verified by the SDK; `payment.captured` and `order.paid` name the order, which is read back.
- **Saved methods**: Razorpay charges saved cards and mandates through recurring payments that need
  the payer's e-mail and phone and settle a day or more later (RBI's pre-debit notification), so
  creditbook does not offer auto top-up through Razorpay: `supports_saved_methods` is False and an
  INR clinic's auto top-up setting is refused with that reason (engine/billing/autotopup.py).

Every SDK call carries a timeout; the SDK's own retries stay off.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError, SignatureVerificationError

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
from engine.billing.payments.routing import RazorpayKeys
from engine.vocabulary import PaymentProvider

SIGNATURE_HEADER: Final = "X-Razorpay-Signature"
EVENT_ID_HEADER: Final = "X-Razorpay-Event-Id"
SETTLING_EVENTS: Final = frozenset({"payment.captured", "order.paid", "payment.authorized", "payment.failed"})


class RazorpayGateway:
    """See the module docstring."""

    provider = PaymentProvider.RAZORPAY.value
    supports_saved_methods = False

    def __init__(self, keys: RazorpayKeys, timeout: float = 10.0) -> None:
        self.keys = keys
        self.timeout = timeout
        options = {"base_url": keys.api_base} if keys.api_base else {}
        self.client = razorpay.Client(auth=(keys.key_id, keys.key_secret), **options)

    def _call(self, call: Callable[..., Any], *args: Any) -> Any:
        """One SDK call with a timeout; what does not answer usefully is GatewayUnavailable."""
        try:
            return call(*args, timeout=self.timeout)
        except (ServerError, GatewayError, requests.RequestException, ValueError) as exc:
            raise GatewayUnavailable(f"Razorpay did not answer usefully ({type(exc).__name__})") from exc

    # -- the protocol -----------------------------------------------------------------------------
    def create_payment(self, request: PaymentRequest) -> Payment:
        order = self._order_by_receipt(request.reference)
        if order is not None:
            if (int(order["amount"]), str(order["currency"]).upper()) != (
                request.amount_minor,
                request.currency.upper(),
            ):
                raise GatewayConflict(f"Razorpay holds receipt {request.reference} for another amount")
            return self.get_payment(str(order["id"]))
        data = {
            "amount": request.amount_minor,
            "currency": request.currency.upper(),
            "receipt": request.reference,
            "notes": {"reference": request.reference, "clinic": request.clinic_id},
        }
        try:
            order = self._call(self.client.order.create, data)
        except BadRequestError as exc:
            return Payment(
                None,
                request.reference,
                request.amount_minor,
                request.currency,
                PaymentStatus.FAILED,
                f"Razorpay refused the order: {exc}",
            )
        return self._from_order(order, [])

    def get_payment(self, payment_id: str) -> Payment:
        try:
            order = self._call(self.client.order.fetch, payment_id)
            if order.get("status") == "paid":
                return self._from_order(order, [])
            payments = self._call(self.client.order.payments, payment_id).get("items", [])
        except BadRequestError as exc:
            raise GatewayUnavailable(f"Razorpay has no order {payment_id}: {exc}") from exc
        for payment in payments:
            if payment.get("status") == "authorized":
                self._capture(payment)
        payments = [p if p.get("status") != "authorized" else {**p, "status": "captured"} for p in payments]
        return self._from_order(order, payments)

    def find_payment(self, reference: str) -> Payment | None:
        order = self._order_by_receipt(reference)
        return None if order is None else self.get_payment(str(order["id"]))

    def abandon(self, payment: Payment) -> Payment:
        """Razorpay orders cannot be cancelled: read it back, and give up on it unless it was paid."""
        if payment.id is None:
            return payment
        current = self.get_payment(payment.id)
        if current.status is not PaymentStatus.PENDING:
            return current
        return Payment(
            current.id,
            current.reference,
            current.amount_minor,
            current.currency,
            PaymentStatus.FAILED,
            "abandoned: the payer never finished Checkout (a later payment of this order is still credited)",
        )

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], at: datetime) -> WebhookEvent:
        signature = header(headers, SIGNATURE_HEADER) or ""
        try:
            payload = body.decode("utf-8")
            self.client.utility.verify_webhook_signature(payload, signature, self.keys.webhook_secret)
            event = json.loads(payload)
            kind = str(event["event"])
        except (UnicodeDecodeError, SignatureVerificationError, ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected(f"the Razorpay webhook does not verify ({type(exc).__name__})") from None
        event_id = header(headers, EVENT_ID_HEADER) or "sha256:" + hashlib.sha256(body).hexdigest()[:40]
        if kind not in SETTLING_EVENTS:
            return WebhookEvent(self.provider, event_id, kind, relevant=False)
        payload_of = event.get("payload") or {}
        order = ((payload_of.get("order") or {}).get("entity")) or {}
        payment = ((payload_of.get("payment") or {}).get("entity")) or {}
        order_id = order.get("id") or payment.get("order_id")
        return WebhookEvent(
            self.provider, event_id, kind, reference=order.get("receipt") or None, payment_id=order_id or None
        )

    def verify_checkout(self, fields: Mapping[str, str]) -> str:
        wanted = ("razorpay_order_id", "razorpay_payment_id", "razorpay_signature")
        if not all(isinstance(fields.get(name), str) and fields.get(name) for name in wanted):
            raise WebhookRejected("a Razorpay Checkout callback carries the order id, payment id and signature")
        try:
            self.client.utility.verify_payment_signature({name: fields[name] for name in wanted})
        except SignatureVerificationError:
            raise WebhookRejected("the Razorpay Checkout signature does not verify") from None
        return fields["razorpay_order_id"]

    # -- helpers ----------------------------------------------------------------------------------
    def _order_by_receipt(self, reference: str) -> dict[str, Any] | None:
        try:
            items = self._call(self.client.order.all, {"receipt": reference}).get("items", [])
        except BadRequestError as exc:
            raise GatewayUnavailable(f"Razorpay refused to list orders: {exc}") from exc
        mine = [order for order in items if order.get("receipt") == reference]
        paid = [order for order in mine if order.get("status") == "paid"]
        return (paid or mine or [None])[0]

    def _capture(self, payment: dict[str, Any]) -> None:
        try:
            self._call(self.client.payment.capture, payment["id"], payment["amount"], {"currency": payment["currency"]})
        except BadRequestError as exc:  # captured already (by Razorpay's auto-capture, or a racing call)
            current = self._call(self.client.payment.fetch, payment["id"])
            if current.get("status") != "captured":
                raise GatewayUnavailable(f"Razorpay did not capture payment {payment['id']}: {exc}") from exc

    def _from_order(self, order: dict[str, Any], payments: list[dict[str, Any]]) -> Payment:
        order_id, reference = str(order["id"]), str(order.get("receipt") or "")
        amount, currency = int(order["amount"]), str(order["currency"]).upper()
        if order.get("status") == "paid" or any(p.get("status") == "captured" for p in payments):
            return Payment(order_id, reference, amount, currency, PaymentStatus.SUCCEEDED)
        failed = [p for p in payments if p.get("status") == "failed"]
        failure = (failed[-1].get("error_description") or "a payment failed") if failed else None
        action = NextAction(kind="razorpay_checkout", order_id=order_id, key_id=self.keys.key_id)
        return Payment(order_id, reference, amount, currency, PaymentStatus.PENDING, failure, action)
