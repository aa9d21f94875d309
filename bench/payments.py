"""Payments benchmark: purchases per second through `Billing.purchase`, end to end on a SQLite file
(record the attempt, call the provider outside the transaction, settle), through the fake and
through each provider's official SDK on our stub server, beside baselines measured in the same run:

- a bare HTTP round trip to the same stub (a `requests.Session` GET, keep-alive): the floor any SDK
  call stands on;
- the SDK's own call alone (Stripe: PaymentIntent create; Razorpay: order list by receipt + create),
  with no ledger around it.

A Razorpay purchase is only paid once the payer finishes Checkout, so its row is the purchase (order
created, pending) plus the Checkout callback that settles it: two ledger transactions and five
provider calls. The stub runs in this process on 127.0.0.1: the figures are creditbook's and the
SDKs' overhead, not a provider's latency (which is ~0.3-1 s in production, and dominates).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import ROOT, table

PURCHASES = 200
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _rate(run: Callable[[int], object], count: int, repeat: int = 3) -> tuple[float, float]:
    """(operations per second, p50 latency in ms), median of `repeat` runs of `count` operations."""
    rates, latencies = [], []
    for attempt in range(repeat):
        started = time.perf_counter()
        for n in range(count):
            begun = time.perf_counter()
            run(attempt * count + n)
            latencies.append(time.perf_counter() - begun)
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates), statistics.median(latencies) * 1000


def run() -> None:
    import requests

    from engine.billing import Billing, GatewayRouter
    from engine.billing.payments import FakeGateway, PaymentGateway, PaymentRequest, RazorpayKeys, StripeKeys
    from engine.billing.payments.razorpay import RazorpayGateway
    from engine.billing.payments.stripe import StripeGateway
    from tests.support import provider_stubs as stubs
    from tests.support.provider_stubs import RazorpayStub, StripeStub

    print("== payments: purchases per second end to end (SQLite file), beside a bare stub round trip ==")
    stripe_stub, razorpay_stub = StripeStub(), RazorpayStub()
    stripe = StripeGateway(StripeKeys(stubs.STRIPE_SECRET, stubs.STRIPE_WEBHOOK_SECRET, stripe_stub.url))
    razorpay = RazorpayGateway(
        RazorpayKeys(stubs.RAZORPAY_KEY_ID, stubs.RAZORPAY_KEY_SECRET, stubs.RAZORPAY_WEBHOOK_SECRET, razorpay_stub.url)
    )
    folder = Path(tempfile.mkdtemp(prefix="creditbook-bench-payments-"))
    rows: list[list[object]] = []
    session = requests.Session()
    bare, bare_ms = _rate(lambda n: session.get(f"{stripe_stub.url}/ping", timeout=5).raise_for_status(), PURCHASES)
    rows.append(["bare stub round trip (requests, keep-alive)", f"{bare:,.0f}", f"{bare_ms:.2f}", "1.00×"])

    def sdk_only(gateway: object, currency: str, method: str) -> tuple[float, float]:
        create = gateway.create_payment  # type: ignore[attr-defined]
        return _rate(
            lambda n: create(PaymentRequest(f"cb_{uuid.uuid4().hex}", "c", 100_000, currency, method)), PURCHASES
        )

    for label, gateway, currency, method in (
        ("Stripe SDK alone: PaymentIntent create", stripe, "USD", stubs.SUCCEEDS),
        ("Razorpay SDK alone: order by receipt + create", razorpay, "INR", "upi"),
    ):
        rate, p50 = sdk_only(gateway, currency, method)
        rows.append([label, f"{rate:,.0f}", f"{p50:.2f}", f"{rate / bare:.2f}×"])

    def billing_for(name: str, routes: dict[str, str]) -> Billing:
        gateways: dict[str, PaymentGateway] = {"fake": FakeGateway(), "stripe": stripe, "razorpay": razorpay}
        clock = _Clock()
        billing = Billing(f"sqlite:///{folder / name}.db", clock=clock, gateway=GatewayRouter(gateways, routes, "fake"))
        for path in ("us/us-audiology-v1.xlsx", "in/in-clinic-leads-v1.xlsx", "in/in-clinic-leads-v2.xlsx"):
            billing.publish_pricebook(
                ROOT / "pricebooks" / path, actor="bench", key=path, at=START - timedelta(days=400)
            )
        for n in range(10):
            billing.register_clinic(f"us-{n}", f"US {n}", "US", key="reg")
            billing.register_clinic(f"in-{n}", f"IN {n}", "IN", key="reg")
        return billing

    fake_billing = billing_for("fake", {})
    rate, p50 = _rate(
        lambda n: fake_billing.purchase(f"us-{n % 10}", 1_000_000, payment_method="card_ok", key=f"f{n}"), PURCHASES
    )
    rows.append(["purchase through the fake", f"{rate:,.0f}", f"{p50:.2f}", f"{rate / bare:.2f}×"])
    stripe_billing = billing_for("stripe", {"USD": "stripe"})
    rate, p50 = _rate(
        lambda n: stripe_billing.purchase(f"us-{n % 10}", 1_000_000, payment_method=stubs.SUCCEEDS, key=f"s{n}"),
        PURCHASES,
    )
    rows.append(["purchase through Stripe's SDK on the stub", f"{rate:,.0f}", f"{p50:.2f}", f"{rate / bare:.2f}×"])
    razorpay_billing = billing_for("razorpay", {"INR": "razorpay"})

    def razorpay_purchase(n: int) -> None:
        pending = razorpay_billing.purchase(f"in-{n % 10}", 10_000, payment_method="upi", key=f"r{n}")
        fields = razorpay_stub.pay(pending.payment_id or "")  # the payer, in Checkout (in-process: ~0 cost)
        assert razorpay_billing.confirm_checkout("razorpay", fields).status == "credited"

    rate, p50 = _rate(razorpay_purchase, PURCHASES)
    rows.append(
        ["purchase + Checkout callback through Razorpay's SDK", f"{rate:,.0f}", f"{p50:.2f}", f"{rate / bare:.2f}×"]
    )
    for billing in (fake_billing, stripe_billing, razorpay_billing):
        assert billing.reconcile().ok
        billing.db.dispose()
    stripe_stub.close()
    razorpay_stub.close()
    print(table(["path", "per second", "p50 ms", "vs bare round trip"], rows))
    print(f"({PURCHASES} operations × 3 runs each, median; shared 2-core machine: noisy, re-measure on a quiet one)")


class _Clock:
    """Each purchase a second after the last: a clinic's time only moves forward."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


if __name__ == "__main__":
    run()
