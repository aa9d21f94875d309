"""The Stripe adapter, on Stripe's official SDK: one PaymentIntent per payment attempt.

- **Create**: a PaymentIntent confirmed at once with the payer's payment method, the amount in the
  currency's minor units, our reference in its metadata and as its idempotency key — so a retry (or
  a process that died after Stripe charged) gets the same intent back, never a second charge, and the
  same key with other parameters is Stripe's 400 idempotency error (GatewayConflict). An auto top-up
  charges the clinic's saved method off-session (`customer` + `payment_method`, `off_session`).
- **Answers**: `succeeded` is paid; a 402 card error is a decline — the intent is cancelled, so it can
  never succeed later behind billing's back; `requires_action` (3-D Secure) is pending, with the
  intent's client secret handed back through the purchase result for Stripe.js to finish;
  `processing` and the other states are pending; `canceled` is failed. Timeouts, 5xx, rate limits and
  refused credentials are GatewayUnavailable: the attempt stays in flight and is read back later.
- **Reading back**: by intent id, or by our reference through Stripe's search on the metadata (the
  sweeper's way back to an intent whose id a crash never recorded).
- **Webhooks**: the `Stripe-Signature` header (t=..., v1=HMAC-SHA256 of "t.body" with the endpoint's
  secret) is verified on the raw body by the SDK, with a 5-minute tolerance measured on billing's
  clock; the event only names the intent, which billing then reads back from Stripe.

Every call has a timeout and no automatic retry of its own: billing decides when to ask again.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import stripe

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
from engine.billing.payments.routing import StripeKeys
from engine.vocabulary import PaymentProvider

TOLERANCE_SECONDS: Final = 300
SIGNATURE_HEADER: Final = "Stripe-Signature"
_REFERENCE = re.compile(r"[A-Za-z0-9_]{1,40}")
_PENDING = {"requires_action", "requires_confirmation", "processing", "requires_capture"}


class StripeGateway:
    """See the module docstring."""

    provider = PaymentProvider.STRIPE.value
    supports_saved_methods = True

    def __init__(self, keys: StripeKeys, timeout: float = 10.0) -> None:
        self.keys = keys
        self.client = stripe.StripeClient(
            keys.secret_key,
            base_addresses={"api": keys.api_base} if keys.api_base else None,
            http_client=stripe.RequestsClient(timeout=timeout),
            max_network_retries=0,
        )

    # -- the protocol -----------------------------------------------------------------------------
    def create_payment(self, request: PaymentRequest) -> Payment:
        params: dict[str, Any] = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "payment_method": request.method,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": {"reference": request.reference, "clinic": request.clinic_id},
            "description": request.description,
        }
        if request.customer:
            params["customer"] = request.customer
        if request.off_session:
            params["off_session"] = True
        try:
            intent = self.client.v1.payment_intents.create(
                # stripe's PaymentIntentCreateParams leaves out payment_method_types, which its API takes
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.reference},
            )
        except stripe.CardError as exc:
            return self._declined(request, exc)
        except stripe.IdempotencyError as exc:
            raise GatewayConflict(f"Stripe holds reference {request.reference} with other parameters") from exc
        except stripe.InvalidRequestError as exc:
            return Payment(
                None,
                request.reference,
                request.amount_minor,
                request.currency,
                PaymentStatus.FAILED,
                f"Stripe refused the payment: {exc.user_message}",
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        return _payment(intent.to_dict())

    def get_payment(self, payment_id: str) -> Payment:
        try:
            return _payment(self.client.v1.payment_intents.retrieve(payment_id).to_dict())
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc

    def find_payment(self, reference: str) -> Payment | None:
        if not _REFERENCE.fullmatch(reference):
            return None
        try:
            found = self.client.v1.payment_intents.search(params={"query": f"metadata['reference']:'{reference}'"})
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        intents = [intent.to_dict() for intent in found.data]
        if not intents:
            return None
        paid = [intent for intent in intents if intent.get("status") == "succeeded"]
        return _payment((paid or intents)[0])

    def abandon(self, payment: Payment) -> Payment:
        """Cancel an intent still waiting on its payer; if it was paid meanwhile, say so."""
        if payment.id is None:
            return payment
        try:
            return _payment(
                self.client.v1.payment_intents.cancel(payment.id, params={"cancellation_reason": "abandoned"}).to_dict()
            )
        except stripe.InvalidRequestError:  # no longer cancellable: succeeded (or cancelled) meanwhile
            return self.get_payment(payment.id)
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], at: datetime) -> WebhookEvent:
        signature = header(headers, SIGNATURE_HEADER)
        try:
            payload = body.decode("utf-8")
            stripe.WebhookSignature.verify_header(payload, signature, self.keys.webhook_secret, tolerance=None)
        except (UnicodeDecodeError, stripe.SignatureVerificationError) as exc:
            raise WebhookRejected(f"the Stripe webhook's signature does not verify: {exc}") from None
        stamp = _timestamp(signature or "")
        if stamp is None or abs(at.timestamp() - stamp) > TOLERANCE_SECONDS:
            raise WebhookRejected("the Stripe webhook's timestamp is outside the 5-minute tolerance (a replay?)")
        try:
            event = json.loads(payload)
            kind, data = str(event["type"]), event["data"]["object"]
            event_id = str(event["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("the Stripe webhook is not an event") from exc
        if not (
            kind.startswith("payment_intent.") and isinstance(data, dict) and data.get("object") == "payment_intent"
        ):
            return WebhookEvent(self.provider, event_id, kind, relevant=False)
        metadata = data.get("metadata") or {}
        reference = metadata.get("reference") if isinstance(metadata, dict) else None
        return WebhookEvent(self.provider, event_id, kind, reference=reference, payment_id=str(data.get("id")))

    def verify_checkout(self, fields: Mapping[str, str]) -> str:
        """After Stripe.js finished 3-D Secure the page reports the intent's id; nothing it says is
        believed: the intent is read back from Stripe with our secret key before anything settles."""
        intent = fields.get("payment_intent", "")
        if not re.fullmatch(r"pi_[A-Za-z0-9]{1,200}", intent):
            raise WebhookRejected("a Stripe confirmation names a PaymentIntent id (pi_...)")
        return intent

    # -- answers ----------------------------------------------------------------------------------
    def _declined(self, request: PaymentRequest, exc: stripe.CardError) -> Payment:
        body = exc.json_body if isinstance(exc.json_body, dict) else {}
        error = body.get("error") or {}
        intent = error.get("payment_intent") or {}
        reason = error.get("decline_code") or error.get("code") or "declined"
        failure = f"{error.get('message') or 'the card was declined'} ({reason})"
        if intent.get("id"):
            # a declined intent could still be confirmed later with another card: close it (if this
            # fails it was cancelled already, or Stripe is unreachable: the sweeper reads it back)
            with contextlib.suppress(stripe.StripeError):
                self.client.v1.payment_intents.cancel(intent["id"])
        return Payment(
            intent.get("id"), request.reference, request.amount_minor, request.currency, PaymentStatus.FAILED, failure
        )


def _payment(intent: dict[str, Any]) -> Payment:
    status, reference = intent.get("status"), (intent.get("metadata") or {}).get("reference", "")
    base = {
        "id": intent.get("id"),
        "reference": reference,
        "amount_minor": int(intent.get("amount") or 0),
        "currency": str(intent.get("currency") or "").upper(),
    }
    error = intent.get("last_payment_error") or {}
    if status == "succeeded":
        return Payment(**base, status=PaymentStatus.SUCCEEDED)
    if status == "canceled":
        why = error.get("message") or intent.get("cancellation_reason") or "cancelled"
        return Payment(**base, status=PaymentStatus.FAILED, failure=f"the payment was cancelled ({why})")
    if status == "requires_payment_method" and error:
        return Payment(**base, status=PaymentStatus.FAILED, failure=error.get("message") or "declined")
    action = None
    if status == "requires_action":
        redirect = ((intent.get("next_action") or {}).get("redirect_to_url") or {}).get("url")
        action = NextAction(kind="stripe_sca", client_secret=intent.get("client_secret"), redirect_url=redirect)
    if status in _PENDING or status == "requires_payment_method":
        return Payment(**base, status=PaymentStatus.PENDING, next_action=action)
    raise GatewayUnavailable(f"Stripe reported an unknown PaymentIntent status {status!r}")


def _unavailable(exc: stripe.StripeError) -> GatewayUnavailable:
    kind = type(exc).__name__
    return GatewayUnavailable(f"Stripe did not answer usefully ({kind}, HTTP {exc.http_status or 'none'})")


def _timestamp(signature: str) -> int | None:
    for item in signature.split(","):
        name, _, value = item.partition("=")
        if name.strip() == "t" and value.strip().isdigit():
            return int(value)
    return None
