"""Payment gateways: the one true outside boundary of billing, behind one protocol.

- protocol.py: what billing asks of a provider and what it answers (PaymentGateway, Payment, ...)
- amounts.py: money in whole minor units, as providers count it
- fake.py: the deterministic provider of the demo and the tests
- stripe.py, razorpay.py: the adapters on the providers' official SDKs (imported only when configured)
- routing.py: one gateway per currency, keys from the environment or a settings object
"""

from engine.billing.payments.fake import FakeGateway
from engine.billing.payments.protocol import (
    GatewayConflict,
    GatewayUnavailable,
    NextAction,
    Payment,
    PaymentGateway,
    PaymentRequest,
    PaymentStatus,
    WebhookEvent,
    payment_reference,
)
from engine.billing.payments.routing import GatewayRouter, PaymentSettings, RazorpayKeys, StripeKeys

__all__ = [
    "FakeGateway",
    "GatewayConflict",
    "GatewayRouter",
    "GatewayUnavailable",
    "NextAction",
    "Payment",
    "PaymentGateway",
    "PaymentRequest",
    "PaymentSettings",
    "PaymentStatus",
    "RazorpayKeys",
    "StripeKeys",
    "WebhookEvent",
    "payment_reference",
]
