"""Purchases through Stripe's and Razorpay's SDKs (on the stubs), on SQLite and PostgreSQL: routed by
currency, settled exactly once from the purchase, the Checkout callback, webhooks (duplicated, out of
order, forged, for payments we never made) and the sweeper; reconciliation covers them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from engine.billing import Billing, GatewayRouter, PaymentGatewayError, PaymentSettings, WebhookRejected
from engine.billing.payments import FakeGateway, PaymentGateway
from engine.billing.payments.razorpay import RazorpayGateway
from engine.billing.payments.stripe import StripeGateway
from storage.schema import payment_attempts, transactions
from tests.support import provider_stubs as stubs
from tests.support.clock import Clock
from tests.support.ledger_rows import rows, snapshot
from tests.support.ledgers import shipped_ledger
from tests.support.paths import US_V1
from tests.support.payment_providers import TIMEOUT, razorpay_keys, stripe_keys
from tests.support.provider_stubs import Fault, RazorpayStub, StripeStub
from tests.support.races import start_and_join


@pytest.fixture
def clock() -> Clock:
    return Clock()


def router(stripe_stub: StripeStub, razorpay_stub: RazorpayStub) -> GatewayRouter:
    gateways: dict[str, PaymentGateway] = {
        "fake": FakeGateway(),
        "stripe": StripeGateway(stripe_keys(stripe_stub), timeout=TIMEOUT),
        "razorpay": RazorpayGateway(razorpay_keys(razorpay_stub), timeout=TIMEOUT),
    }
    return GatewayRouter(gateways, {"USD": "stripe", "INR": "razorpay"}, "fake")


@pytest.fixture
def billing(ledger_url: str, clock: Clock, stripe_stub: StripeStub, razorpay_stub: RazorpayStub) -> Iterator[Billing]:
    with shipped_ledger(ledger_url, clock, router(stripe_stub, razorpay_stub)) as service:
        service.register_clinic("us", "Riverside Hearing", "US", key="reg")
        service.register_clinic("in", "Smile Dental", "IN", key="reg")
        yield service


def test_a_us_purchase_is_a_stripe_payment_intent_credited_at_once(billing: Billing, stripe_stub: StripeStub) -> None:
    quote = billing.quote_topup("us", 1_000_000)
    assert (quote.provider, quote.amount_minor) == ("stripe", 10_000)
    bought = billing.purchase("us", 1_000_000, payment_method=stubs.SUCCEEDS, key="buy")
    assert (bought.status, bought.provider, bought.balance) == ("credited", "stripe", 1_000_000)
    intent = stripe_stub.intents[bought.payment_id or ""]
    assert (intent["amount"], intent["currency"], intent["metadata"]["reference"]) == (10_000, "usd", bought.reference)
    again = billing.purchase("us", 1_000_000, payment_method=stubs.SUCCEEDS, key="buy")
    assert again.replayed and again.payment_id == bought.payment_id


def test_a_declined_card_fails_the_attempt_and_cancels_the_intent(billing: Billing, stripe_stub: StripeStub) -> None:
    failed = billing.purchase("us", 1_000_000, payment_method=stubs.DECLINED, key="buy")
    assert failed.status == "failed" and "declined" in failed.message and failed.balance == 0
    assert stripe_stub.intents[failed.payment_id or ""]["status"] == "canceled"
    assert rows(billing, "payment_attempts")[0].status == "failed"


def test_3d_secure_hands_back_the_client_secret_and_a_webhook_storm_credits_once(
    billing: Billing, stripe_stub: StripeStub, clock: Clock
) -> None:
    pending = billing.purchase("us", 2_000_000, payment_method=stubs.NEEDS_3DS, key="buy")
    assert pending.status == "pending" and pending.next_action is not None
    assert pending.next_action.kind == "stripe_sca" and pending.next_action.client_secret
    intent_id = pending.payment_id or ""
    early = stripe_stub.event(intent_id, "payment_intent.requires_action", clock.now.timestamp(), "evt_early")
    stripe_stub.complete(intent_id)  # the payer passed 3-D Secure in the browser
    succeeded = stripe_stub.event(intent_id, "payment_intent.succeeded", clock.now.timestamp(), "evt_done")
    barrier, answers = threading.Barrier(4), []

    def deliver(body: bytes, headers: dict[str, str]) -> None:
        barrier.wait()
        answers.append(billing.payment_webhook("stripe", body, headers))

    deliveries = [succeeded, succeeded, succeeded, early]  # duplicated, and the stale one last
    start_and_join(threading.Thread(target=deliver, args=d) for d in deliveries)
    assert billing.balance("us").balance == 2_000_000 + 100_000  # paid + the 5% bonus, once
    assert len(rows(billing, "transactions", kind="topup", status="posted")) == 1
    assert {a.status for a in answers} <= {"settled", "duplicate"}
    events = rows(billing, "payment_events")
    assert sorted(e.event_id for e in events) == ["evt_done", "evt_early"]  # each event recorded once
    confirmed = billing.confirm_checkout("stripe", {"payment_intent": intent_id})  # the page reports back too
    assert confirmed.status == "credited" and confirmed.replayed


def test_a_forged_webhook_is_refused_and_records_nothing(
    billing: Billing, stripe_stub: StripeStub, clock: Clock
) -> None:
    bought = billing.purchase("us", 1_000_000, payment_method=stubs.NEEDS_3DS, key="buy")
    stripe_stub.complete(bought.payment_id or "")
    body, _ = stripe_stub.event(bought.payment_id or "", "payment_intent.succeeded", clock.now.timestamp())
    forged = stripe_stub.event(bought.payment_id or "", "payment_intent.succeeded", clock.now.timestamp(), secret="x")
    before = snapshot(billing)
    for headers in (forged[1], {}, {"Stripe-Signature": "t=1,v1=00"}):
        with pytest.raises(WebhookRejected) as refused:
            billing.payment_webhook("stripe", body, headers)
        assert refused.value.problem()["status"] == 400
    with pytest.raises(WebhookRejected):
        billing.payment_webhook("stripe", b"x" * (256 * 1024 + 1), forged[1])
    assert snapshot(billing) == before


def test_a_webhook_for_a_payment_we_never_made_is_kept_for_review(
    billing: Billing, stripe_stub: StripeStub, clock: Clock
) -> None:
    stranger = StripeGateway(stripe_keys(stripe_stub)).create_payment(
        stubs_request("cb_" + "f" * 32, stubs.SUCCEEDS)
    )  # someone else's intent on the same account
    body, headers = stripe_stub.event(stranger.id or "", "payment_intent.succeeded", clock.now.timestamp(), "evt_x")
    answer = billing.payment_webhook("stripe", body, headers)
    assert answer.status == "unknown"
    (event,) = rows(billing, "payment_events")
    assert (event.status, event.provider_id, event.reference) == ("unknown", stranger.id, "cb_" + "f" * 32)
    assert billing.payment_webhook("stripe", body, headers).status == "duplicate"
    assert billing.balance("us").balance == 0


def stubs_request(reference: str, method: str) -> Any:
    from engine.billing.payments import PaymentRequest

    return PaymentRequest(reference, "someone-else", 5_000, "USD", method)


def test_an_indian_purchase_is_a_razorpay_order_paid_in_checkout(billing: Billing, razorpay_stub: RazorpayStub) -> None:
    pending = billing.purchase("in", 10_000, payment_method="upi", key="buy")
    assert (pending.status, pending.provider) == ("pending", "razorpay")
    assert pending.next_action is not None and pending.next_action.kind == "razorpay_checkout"
    order = razorpay_stub.orders[pending.next_action.order_id or ""]
    assert (order["amount"], order["currency"], order["receipt"]) == (1_000_000, "INR", pending.reference)
    fields = razorpay_stub.pay(order["id"])  # the payer pays in Checkout; the page posts these back
    forged = {**fields, "razorpay_signature": "0" * 64}
    with pytest.raises(WebhookRejected):
        billing.confirm_checkout("razorpay", forged)
    done = billing.confirm_checkout("razorpay", fields)
    assert (done.status, done.balance, done.bonus_credits) == ("credited", 12_000, 2_000)
    for kind in ("payment.captured", "order.paid", "payment.captured"):
        body, headers = razorpay_stub.webhook(order["id"], kind)
        assert billing.payment_webhook("razorpay", body, headers).status == "settled"
    assert billing.balance("in").balance == 12_000 and len(rows(billing, "transactions", kind="topup")) == 1


def test_a_razorpay_webhook_settles_even_when_the_order_id_was_never_recorded(
    billing: Billing, razorpay_stub: RazorpayStub
) -> None:
    """The process died after Razorpay created the order and before it was recorded: the webhook's
    order is read back, its receipt is our reference, and the attempt is credited."""
    razorpay_stub.faults.append(Fault("/v1/orders", status=502, after=True))
    with pytest.raises(PaymentGatewayError):
        billing.purchase("in", 5_000, payment_method="upi", key="buy")
    (attempt,) = rows(billing, "payment_attempts")
    assert attempt.provider_id is None and attempt.status == "created"
    (order,) = [o for o in razorpay_stub.orders.values() if o["receipt"] == attempt.reference]
    razorpay_stub.pay(order["id"])
    body, headers = razorpay_stub.webhook(order["id"], "payment.captured")
    assert billing.payment_webhook("razorpay", body, headers).status == "settled"
    assert billing.balance("in").balance == 5_000


def test_the_sweeper_settles_what_a_lost_answer_left_in_flight_and_fails_what_never_arrived(
    billing: Billing, stripe_stub: StripeStub, clock: Clock
) -> None:
    stripe_stub.faults.append(Fault("/v1/payment_intents", status=502, after=True))  # charged, answer lost
    with pytest.raises(PaymentGatewayError, match="retry with the same key"):
        billing.purchase("us", 1_000_000, payment_method=stubs.SUCCEEDS, key="lost")
    stripe_stub.faults.append(Fault("/v1/payment_intents", status=503))  # refused: nothing charged
    with pytest.raises(PaymentGatewayError):
        billing.purchase("us", 500_000, payment_method=stubs.SUCCEEDS, key="refused")
    assert billing.sweep_payments().examined == 0  # younger than 15 minutes: left to the purchase's retry
    report = billing.reconcile()
    assert sorted(f.credits for f in report.in_flight) == [500_000, 1_000_000] and report.ok
    clock.advance(minutes=16)
    assert {f.age_seconds for f in billing.reconcile().in_flight} == {16 * 60}
    swept = billing.sweep_payments()
    assert (swept.examined, len(swept.credited), len(swept.failed), swept.errors) == (2, 1, 1, ())
    assert billing.balance("us").balance == 1_000_000
    (failed,) = rows(billing, "payment_attempts", status="failed")
    assert failed.failure == "the payment never reached the provider"
    assert billing.sweep_payments().examined == 0 and billing.reconcile().in_flight == []
    retried = billing.purchase("us", 1_000_000, payment_method=stubs.SUCCEEDS, key="lost")
    assert retried.replayed and retried.status == "credited"


def test_a_payment_left_waiting_a_day_is_abandoned_unless_it_was_paid(
    billing: Billing, stripe_stub: StripeStub, razorpay_stub: RazorpayStub, clock: Clock
) -> None:
    waiting = billing.purchase("us", 1_000_000, payment_method=stubs.NEEDS_3DS, key="waiting")
    paid_late = billing.purchase("us", 2_000_000, payment_method=stubs.NEEDS_3DS, key="paid")
    stripe_stub.complete(paid_late.payment_id or "")  # paid; its webhook never came
    order = billing.purchase("in", 5_000, payment_method="upi", key="order")
    clock.advance(hours=25)
    swept = billing.sweep_payments()
    assert set(swept.failed) == {waiting.reference, order.reference} and swept.credited == (paid_late.reference,)
    assert stripe_stub.intents[waiting.payment_id or ""]["status"] == "canceled"
    razorpay_stub.pay(order.payment_id or "")  # a late payment of the abandoned order: still credited
    body, headers = razorpay_stub.webhook(order.payment_id or "", "order.paid")
    late = billing.payment_webhook("razorpay", body, headers)
    assert late.status == "settled" and late.purchase is not None and late.purchase.status == "credited"
    assert billing.balance("in").balance == 5_000


def test_reconcile_names_a_payment_credited_twice_and_a_credit_without_a_payment(billing: Billing) -> None:
    first = billing.purchase("us", 1_000_000, payment_method=stubs.SUCCEEDS, key="one")
    second = billing.purchase("us", 1_000_000, payment_method=stubs.SUCCEEDS, key="two")

    def corrupt(conn: Any) -> None:  # the second top-up claims the first payment; the second has none
        conn.execute(
            update(transactions)
            .where(transactions.c.id == second.transaction_ids[0])
            .values(payment_id=first.reference)
        )
        conn.execute(
            update(payment_attempts).where(payment_attempts.c.reference == second.reference).values(status="pending")
        )

    billing.db.run(corrupt)
    drifts = {(d.check, d.subject) for d in billing.reconcile().drifts}
    assert drifts == {("h", f"payment {first.reference}")}
    billing.db.run(
        lambda conn: conn.execute(
            update(transactions).where(transactions.c.id == second.transaction_ids[0]).values(payment_id="cb_nobody")
        )
    )
    drifts = {(d.check, d.subject.split(" (")[0]) for d in billing.reconcile().drifts}
    assert drifts == {("i", f"transaction {second.transaction_ids[0]}")}
    billing.db.run(  # put it back, for the fixture's final reconcile
        lambda conn: (
            conn.execute(
                update(transactions)
                .where(transactions.c.id == second.transaction_ids[0])
                .values(payment_id=second.reference)
            ),
            conn.execute(
                update(payment_attempts)
                .where(payment_attempts.c.reference == second.reference)
                .values(status="credited")
            ),
        )
    )


def test_routes_and_keys_come_from_the_environment(stripe_stub: StripeStub, razorpay_stub: RazorpayStub) -> None:
    env = {
        "CREDITBOOK_STRIPE_SECRET_KEY": stubs.STRIPE_SECRET,
        "CREDITBOOK_STRIPE_WEBHOOK_SECRET": stubs.STRIPE_WEBHOOK_SECRET,
        "CREDITBOOK_STRIPE_API_BASE": stripe_stub.url,
        "CREDITBOOK_RAZORPAY_KEY_ID": stubs.RAZORPAY_KEY_ID,
        "CREDITBOOK_RAZORPAY_KEY_SECRET": stubs.RAZORPAY_KEY_SECRET,
        "CREDITBOOK_RAZORPAY_WEBHOOK_SECRET": stubs.RAZORPAY_WEBHOOK_SECRET,
        "CREDITBOOK_RAZORPAY_API_BASE": razorpay_stub.url,
        "CREDITBOOK_PAYMENT_TIMEOUT": "2",
    }
    settings = PaymentSettings.from_env(env)
    secrets = (
        stubs.STRIPE_SECRET,
        stubs.STRIPE_WEBHOOK_SECRET,
        stubs.RAZORPAY_KEY_SECRET,
        stubs.RAZORPAY_WEBHOOK_SECRET,
    )
    assert not any(secret in repr(settings) for secret in secrets)  # keys never reach a log through a repr
    routed = GatewayRouter.from_settings(settings)
    assert (routed.for_currency("usd").provider, routed.for_currency("INR").provider) == ("stripe", "razorpay")
    assert routed.for_currency("EUR").provider == "fake"
    assert GatewayRouter.from_settings(PaymentSettings.from_env({})).for_currency("USD").provider == "fake"
    swapped = PaymentSettings.from_env({**env, "CREDITBOOK_PAYMENT_ROUTES": "USD=razorpay, INR=stripe"})
    assert GatewayRouter.from_settings(swapped).for_currency("INR").provider == "stripe"
    for broken in (
        {"CREDITBOOK_STRIPE_SECRET_KEY": "sk_test_x"},  # a key without its webhook secret
        {"CREDITBOOK_PAYMENT_ROUTES": "USD=paypal"},
        {"CREDITBOOK_PAYMENT_TIMEOUT": "0"},
    ):
        with pytest.raises(ValueError, match=r"CREDITBOOK_|provider must be"):
            PaymentSettings.from_env(broken)


def test_billing_reads_its_providers_from_the_environment(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, stripe_stub: StripeStub
) -> None:
    monkeypatch.setenv("CREDITBOOK_STRIPE_SECRET_KEY", stubs.STRIPE_SECRET)
    monkeypatch.setenv("CREDITBOOK_STRIPE_WEBHOOK_SECRET", stubs.STRIPE_WEBHOOK_SECRET)
    monkeypatch.setenv("CREDITBOOK_STRIPE_API_BASE", stripe_stub.url)
    billing = Billing(f"sqlite:///{tmp_path / 'env.db'}", clock=Clock())
    billing.publish_pricebook(US_V1, actor="pricing", key="publish", at=datetime(2025, 6, 1, tzinfo=UTC))
    billing.register_clinic("us", "Riverside", "US", key="reg")
    bought = billing.purchase("us", 1_000_000, payment_method=stubs.SUCCEEDS, key="buy")
    assert bought.provider == "stripe" and bought.payment_id in stripe_stub.intents
    billing.db.dispose()
