"""The payment providers under test: the SDK gateways' keys on the stubs, and a `Provider` that plays
the payer and the provider's side for its gateway (finishing 3-D Secure, paying in Checkout, sending a
signed webhook, failing or slowing a request), so the contract tests read the same for all three."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from engine.billing.payments import FakeGateway, Payment, PaymentGateway, PaymentRequest, RazorpayKeys, StripeKeys
from engine.billing.payments.razorpay import RazorpayGateway
from engine.billing.payments.stripe import StripeGateway
from tests.support import provider_stubs as stubs
from tests.support.provider_stubs import Fault, RazorpayStub, StripeStub

TIMEOUT = 0.5  # seconds: the SDK gateways' timeout in tests (a slow stub answers after 1.5 s)


def stripe_keys(stub: StripeStub) -> StripeKeys:
    return StripeKeys(stubs.STRIPE_SECRET, stubs.STRIPE_WEBHOOK_SECRET, api_base=stub.url)


def razorpay_keys(stub: RazorpayStub) -> RazorpayKeys:
    return RazorpayKeys(
        stubs.RAZORPAY_KEY_ID, stubs.RAZORPAY_KEY_SECRET, stubs.RAZORPAY_WEBHOOK_SECRET, api_base=stub.url
    )


@dataclass
class Provider:
    """One gateway and the means to play its payer and its provider in a test."""

    name: str
    gateway: PaymentGateway
    stub: Any = None
    currency: str = "USD"
    methods: dict[str, str] = field(default_factory=dict)

    def request(self, reference: str, amount_minor: int = 10_000, method: str = "ok") -> PaymentRequest:
        return PaymentRequest(reference, "clinic-1", amount_minor, self.currency, self.methods.get(method, method))

    def complete(self, payment: Payment, succeeded: bool = True) -> dict[str, str]:
        """The payer finishes (or fails) what the provider asked of them; Checkout's callback fields."""
        assert payment.id is not None
        if isinstance(self.gateway, FakeGateway):
            self.gateway.settle(payment.id, succeeded)
            return self.gateway.checkout_fields(payment.id)
        if isinstance(self.stub, StripeStub):
            self.stub.complete(payment.id, succeeded)
            return {"payment_intent": payment.id}
        return self.stub.pay(payment.id, fail=not succeeded)  # type: ignore[no-any-return]

    def webhook(self, payment: Payment, at: datetime, event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        assert payment.id is not None
        if isinstance(self.gateway, FakeGateway):
            return self.gateway.webhook(payment.id, event_id)
        if isinstance(self.stub, StripeStub):
            return self.stub.event(payment.id, "payment_intent.succeeded", at.timestamp(), event_id)
        return self.stub.webhook(payment.id, "payment.captured", event_id)  # type: ignore[no-any-return]

    def fail_next(self, fault: Fault) -> None:
        self.stub.faults.append(fault)

    def created(self) -> int:
        """How many payments the provider holds."""
        if isinstance(self.gateway, FakeGateway):
            return len(self.gateway._by_id)
        if isinstance(self.stub, StripeStub):
            return len(self.stub.intents)
        return len(self.stub.orders)


PROVIDERS = ("fake", "stripe", "razorpay")


def make_provider(name: str, request: pytest.FixtureRequest) -> Provider:
    if name == "fake":
        methods = {"ok": "card_ok", "declined": "card_declined", "action": "card_action"}
        return Provider(name, FakeGateway(), methods=methods)
    if name == "stripe":
        stub = request.getfixturevalue("stripe_stub")
        methods = {"ok": stubs.SUCCEEDS, "declined": stubs.DECLINED, "action": stubs.NEEDS_3DS}
        return Provider(name, StripeGateway(stripe_keys(stub), timeout=TIMEOUT), stub, "USD", methods)
    stub = request.getfixturevalue("razorpay_stub")
    return Provider(name, RazorpayGateway(razorpay_keys(stub), timeout=TIMEOUT), stub, "INR", {})
