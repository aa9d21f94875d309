"""The contract every payment gateway keeps (engine/billing/payments/protocol.py), run against the
fake, Stripe's SDK on the Stripe stub and Razorpay's SDK on the Razorpay stub."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from engine.billing import WebhookRejected
from engine.billing.payments import GatewayConflict, GatewayUnavailable, PaymentStatus
from tests.support.payment_providers import TIMEOUT, Provider
from tests.support.provider_stubs import Fault, StripeStub

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def reference() -> str:
    return "cb_" + uuid.uuid4().hex


def paid(provider: Provider, ref: str) -> None:
    """Create a payment and have its payer finish it, whatever the provider asks of them."""
    payment = provider.gateway.create_payment(provider.request(ref))
    if payment.status is PaymentStatus.PENDING:
        provider.complete(payment)


def test_a_payment_the_payer_completes_is_read_back_paid(provider: Provider) -> None:
    ref = reference()
    created = provider.gateway.create_payment(provider.request(ref, 12_345 if provider.name != "razorpay" else 50_000))
    assert created.id is not None and created.reference == ref
    if created.status is PaymentStatus.PENDING:
        provider.complete(created)
    back = provider.gateway.get_payment(created.id)
    assert (back.status, back.reference, back.currency) == (PaymentStatus.SUCCEEDED, ref, provider.currency)
    assert back.amount_minor == created.amount_minor


def test_the_same_reference_returns_the_same_payment_never_a_second(provider: Provider) -> None:
    ref = reference()
    before = provider.created()
    first = provider.gateway.create_payment(provider.request(ref))
    again = provider.gateway.create_payment(provider.request(ref))
    assert first.id == again.id and provider.created() == before + 1


def test_the_same_reference_with_another_amount_is_a_conflict_not_a_second_charge(provider: Provider) -> None:
    ref = reference()
    provider.gateway.create_payment(provider.request(ref, 10_000))
    before = provider.created()
    with pytest.raises(GatewayConflict):
        provider.gateway.create_payment(provider.request(ref, 20_000))
    assert provider.created() == before


def test_a_decline_is_an_answer_and_never_reads_back_paid(provider: Provider) -> None:
    ref = reference()
    payment = provider.gateway.create_payment(provider.request(ref, method="declined"))
    if payment.status is PaymentStatus.PENDING:  # Razorpay: the payer's attempt fails in Checkout
        provider.complete(payment, succeeded=False)
        payment = provider.gateway.get_payment(payment.id or "")
        assert payment.status is PaymentStatus.PENDING and payment.failure  # the order stays open for another try
        payment = provider.gateway.abandon(payment)
    assert payment.status is PaymentStatus.FAILED and payment.failure
    if payment.id is not None:
        assert provider.gateway.get_payment(payment.id).status is not PaymentStatus.SUCCEEDED


def test_a_step_for_the_payer_comes_back_pending_with_what_the_browser_needs(provider: Provider) -> None:
    payment = provider.gateway.create_payment(provider.request(reference(), method="action"))
    assert payment.status is PaymentStatus.PENDING and payment.next_action is not None
    action = payment.next_action
    if provider.name == "stripe":
        assert (
            action.kind == "stripe_sca" and action.client_secret and action.client_secret.startswith(payment.id or "")
        )
    elif provider.name == "razorpay":
        assert (action.kind, action.order_id, action.key_id) == ("razorpay_checkout", payment.id, "rzp_test_stub")
    else:
        assert action.kind == "fake_confirm"
    provider.complete(payment)
    assert provider.gateway.get_payment(payment.id or "").status is PaymentStatus.SUCCEEDED


def test_abandon_fails_a_payment_still_waiting_and_keeps_a_paid_one(provider: Provider) -> None:
    waiting = provider.gateway.create_payment(provider.request(reference(), method="action"))
    assert provider.gateway.abandon(waiting).status is PaymentStatus.FAILED
    done_ref = reference()
    paid(provider, done_ref)
    done = provider.gateway.find_payment(done_ref)
    assert done is not None and provider.gateway.abandon(done).status is PaymentStatus.SUCCEEDED


def test_find_by_reference_finds_the_payment_and_nothing_else(provider: Provider) -> None:
    ref = reference()
    paid(provider, ref)
    found = provider.gateway.find_payment(ref)
    assert found is not None and found.reference == ref and found.status is PaymentStatus.SUCCEEDED
    assert provider.gateway.find_payment(reference()) is None


@pytest.mark.parametrize("kind", ["5xx", "timeout", "answer lost"])
def test_a_provider_that_does_not_answer_is_unavailable_and_the_reference_finds_what_happened(
    provider: Provider, kind: str
) -> None:
    if provider.name == "fake":
        pytest.skip("the fake's failures are payment methods (card_error, card_timeout): tested in tests/billing")
    ref = reference()
    path = "/v1/payment_intents" if provider.name == "stripe" else "/v1/orders"
    fault = {
        "5xx": Fault(path, status=503),
        "timeout": Fault(path, delay=TIMEOUT * 3),
        "answer lost": Fault(path, status=502, after=True),
    }[kind]
    provider.fail_next(fault)
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable):
        provider.gateway.create_payment(provider.request(ref))
    assert time.monotonic() - started < TIMEOUT * 2.5  # every call has a timeout
    if kind == "timeout":
        time.sleep(TIMEOUT * 3)  # the slow provider processes the request after the client gave up
    taken = provider.gateway.find_payment(ref)
    assert (taken is None) == (kind == "5xx")  # only the refused request created nothing
    again = provider.gateway.create_payment(provider.request(ref))
    assert taken is None or again.id == taken.id  # a retry finds the payment, never pays twice


def test_a_signed_webhook_names_the_payment_it_is_about(provider: Provider) -> None:
    ref = reference()
    payment = provider.gateway.create_payment(provider.request(ref))
    if payment.status is PaymentStatus.PENDING:
        provider.complete(payment)
    body, headers = provider.webhook(payment, NOW, event_id="evt_contract_1")
    event = provider.gateway.parse_webhook(body, headers, NOW)
    assert event.relevant and event.event_id == "evt_contract_1"
    assert event.reference == ref or event.payment_id == payment.id


def test_a_webhook_with_a_bad_signature_or_a_changed_body_is_rejected(provider: Provider) -> None:
    payment = provider.gateway.create_payment(provider.request(reference()))
    body, headers = provider.webhook(payment, NOW)
    tampered = body.replace(b'"', b"'", 1)
    forged = {name: "0" * 64 if "ignature" in name else value for name, value in headers.items()}
    if provider.name == "stripe":
        forged = {"Stripe-Signature": headers["Stripe-Signature"].split(",v1=")[0] + ",v1=" + "0" * 64}
    for bad_body, bad_headers in ((tampered, headers), (body, forged), (body, {}), (b"\xff\xfe", headers)):
        with pytest.raises(WebhookRejected):
            provider.gateway.parse_webhook(bad_body, bad_headers, NOW)


def test_a_stripe_webhook_replayed_after_the_tolerance_is_rejected(provider: Provider) -> None:
    if not isinstance(provider.stub, StripeStub):
        pytest.skip("Stripe signs a timestamp into its webhooks; the others do not")
    payment = provider.gateway.create_payment(provider.request(reference()))
    body, headers = provider.webhook(payment, NOW)
    provider.gateway.parse_webhook(body, headers, NOW + timedelta(minutes=4))
    with pytest.raises(WebhookRejected, match="tolerance"):
        provider.gateway.parse_webhook(body, headers, NOW + timedelta(minutes=6))


def test_a_checkout_callback_is_verified_before_it_is_believed(provider: Provider) -> None:
    payment = provider.gateway.create_payment(provider.request(reference(), method="action"))
    fields = provider.complete(payment)
    assert provider.gateway.verify_checkout(fields) == payment.id
    forged = {**fields, **{name: "0" * 64 for name in fields if "signature" in name}}
    if provider.name == "stripe":
        forged = {"payment_intent": "pi_<script>"}
    with pytest.raises(WebhookRejected):
        provider.gateway.verify_checkout(forged)
    with pytest.raises(WebhookRejected):
        provider.gateway.verify_checkout({})
