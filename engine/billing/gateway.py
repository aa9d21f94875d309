"""The payment gateway names billing has always exported, now defined in engine/billing/payments/
(the protocol, the fake, the Stripe and Razorpay adapters, routing by currency)."""

from engine.billing.payments import (
    FakeGateway,
    GatewayConflict,
    GatewayRouter,
    GatewayUnavailable,
    NextAction,
    Payment,
    PaymentGateway,
    PaymentRequest,
    PaymentSettings,
    PaymentStatus,
)

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
]
