"""SIGKILL a purchasing process at every point between "the attempt is recorded" and "the purchase
answered" — above all between the provider's success and settlement — then let a webhook (and,
separately, the sweeper) settle: every payment the provider took is credited exactly once, nothing
is credited that the provider did not take, and a retry of the purchase replays the outcome. On
SQLite and PostgreSQL, through Stripe's SDK on the stub (the stub runs in this process; the killed
child talks to it over HTTP, as a crashed web worker would have talked to Stripe).

Besides the named crash points, a child buying in a loop is killed at random moments (`KILLS`)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.billing import Billing, GatewayRouter, PaymentGatewayError, settlement
from engine.billing.payments import FakeGateway, StripeKeys
from engine.billing.payments.stripe import StripeGateway
from storage.database import Database
from storage.schema import payment_attempts, transactions
from tests.reliability.test_crashes import _read_lines, _wait_ready
from tests.support import provider_stubs as stubs
from tests.support.clock import START, Clock
from tests.support.paths import US_V1
from tests.support.provider_stubs import Fault, StripeStub
from tests.support.reliability import PUBLISHED, scale

FORK = multiprocessing.get_context("fork")
CLINICS = ("c0", "c1", "c2")
#: where the child dies: each is a moment a real web worker can be killed at
POINTS = (
    "recorded, provider not called",
    "at the provider",
    "provider took the money",
    "inside settlement",
    "settled, not answered",
)
KILLS = scale(12, 100)


def _billing(url: str, stub_url: str, clock: Clock, migrate: bool = True) -> Billing:
    keys = StripeKeys(stubs.STRIPE_SECRET, stubs.STRIPE_WEBHOOK_SECRET, api_base=stub_url)
    router = GatewayRouter({"fake": FakeGateway(), "stripe": StripeGateway(keys, timeout=5)}, {"USD": "stripe"}, "fake")
    return Billing(Database(url), clock=clock, gateway=router, migrate=migrate)


def _signal_then_hang(fd: int, word: str) -> None:
    os.write(fd, f"{word}\n".encode())
    time.sleep(3600)  # killed here


def crashing_purchase(url: str, stub_url: str, fd: int, point: str, key: str) -> None:
    """The child: one purchase that stops dead at `point` (the parent SIGKILLs it there)."""
    billing = _billing(url, stub_url, Clock(START), migrate=False)
    gateway = billing.gateway.for_provider("stripe")
    create, settle = gateway.create_payment, settlement.settle
    if point == "recorded, provider not called":
        gateway.create_payment = lambda request: _signal_then_hang(fd, "at-point")  # type: ignore[method-assign,assignment,return-value]
    elif point == "at the provider":

        def slow(request: Any) -> Any:
            os.write(fd, b"at-point\n")
            return create(request)

        gateway.create_payment = slow  # type: ignore[method-assign]
    elif point == "provider took the money":
        settlement.settle = lambda *args: _signal_then_hang(fd, "at-point")  # type: ignore[assignment,return-value]
    elif point == "inside settlement":  # the wallet locked, the attempt read, nothing committed yet
        settlement._credit = lambda *args: _signal_then_hang(fd, "at-point")  # type: ignore[assignment,return-value]
    else:

        def settled(*args: Any) -> Any:
            result = settle(*args)
            _signal_then_hang(fd, "at-point")
            return result

        settlement.settle = settled  # type: ignore[assignment]
    os.write(fd, b"ready\n")
    billing.purchase(CLINICS[0], 1_000_000, payment_method=stubs.SUCCEEDS, key=key)
    os.write(fd, b"answered\n")
    os._exit(0)


def buying_loop(url: str, stub_url: str, fd: int, prefix: str, seed: int) -> None:
    """The child of the random kills: purchases, one after another, until killed."""
    billing = _billing(url, stub_url, Clock(START), migrate=False)
    rng = random.Random(seed)
    os.write(fd, b"ready\n")
    for n in range(10_000):
        clinic = rng.choice(CLINICS)
        billing.purchase(
            clinic, rng.choice((1_000_000, 2_000_000, 5_000_000)), payment_method=stubs.SUCCEEDS, key=f"{prefix}-{n}"
        )
    os._exit(0)


@pytest.fixture
def world(ledger_url: str, stripe_stub: StripeStub) -> tuple[Clock, str]:
    """A ledger with three US clinics; nothing of it open when the children fork."""
    clock = Clock(START)
    billing = _billing(ledger_url, stripe_stub.url, clock)
    billing.publish_pricebook(US_V1, actor="pricing", key="publish", at=PUBLISHED)
    for clinic in CLINICS:
        billing.register_clinic(clinic, clinic, "US", key=f"reg-{clinic}")
    billing.db.dispose()
    return clock, ledger_url


def _run_child(target: Callable[..., None], *args: Any, kill_after: float | None = None) -> list[str]:
    """Start the child, wait for it to reach its point (or for `kill_after` seconds), SIGKILL it."""
    read_fd, write_fd = os.pipe()
    child = FORK.Process(target=target, args=(*args[:2], write_fd, *args[2:]))
    child.start()
    os.close(write_fd)
    lines = _wait_ready(read_fd)
    if kill_after is None:
        deadline = time.time() + 30
        while not any(line in ("at-point", "answered") for line in lines) and time.time() < deadline:
            lines += _read_lines(read_fd, time.time() + 0.05)
        time.sleep(0.05 if "at-point" in lines else 0)
    else:
        time.sleep(kill_after)
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join()
    os.close(read_fd)
    return lines


def _money_taken(stub: StripeStub, references: set[str]) -> dict[str, int]:
    """reference → the amount the provider took for it (succeeded intents only)."""
    with stub.lock:
        return {
            i["metadata"]["reference"]: int(i["amount"])
            for i in stub.intents.values()
            if i["status"] == "succeeded" and i["metadata"].get("reference") in references
        }


def _verdict(billing: Billing, stub: StripeStub) -> tuple[int, list[str]]:
    """(credits lost, problems): every payment the provider took is credited exactly once, for its
    amount; no attempt is credited that the provider did not take; nothing is left in flight; the
    ledger reconciles."""

    def read(conn: Any) -> tuple[list[Any], list[Any]]:
        topups = select(transactions).where(transactions.c.kind == "topup", transactions.c.status == "posted")
        return list(conn.execute(select(payment_attempts))), list(conn.execute(topups))

    attempts, topups = billing.db.read(read)
    taken = _money_taken(stub, {a.reference for a in attempts})
    problems, lost = [], 0
    for attempt in attempts:
        credited = [t for t in topups if t.payment_id == attempt.reference]
        if attempt.reference in taken:
            if not credited:
                lost += int(attempt.credits)
            if attempt.status != "credited" or len(credited) != 1:
                problems.append(f"{attempt.reference}: paid, but {attempt.status} with {len(credited)} top-ups")
            elif taken[attempt.reference] != int(attempt.amount * 100):
                problems.append(
                    f"{attempt.reference}: paid {taken[attempt.reference]} cents, recorded {attempt.amount}"
                )
        elif credited or attempt.status != "failed":
            problems.append(f"{attempt.reference}: {attempt.status} with {len(credited)} top-ups, and nothing paid")
    report = billing.reconcile()
    problems += [str(drift) for drift in report.drifts] + [f"in flight: {f}" for f in report.in_flight]
    return lost, problems


def _deliver_webhooks(billing: Billing, stub: StripeStub, clock: Clock) -> None:
    """Stripe delivers payment_intent.succeeded for every paid intent, twice each."""
    for intent in list(stub.intents.values()):
        if intent["status"] == "succeeded":
            for _ in range(2):
                body, headers = stub.event(
                    intent["id"], "payment_intent.succeeded", clock.now.timestamp(), f"evt_{intent['id']}"
                )
                billing.payment_webhook("stripe", body, headers)


@pytest.mark.parametrize("settled_by", ["webhook", "sweeper"])
@pytest.mark.parametrize("point", POINTS)
def test_a_purchase_killed_at_any_point_is_settled_exactly_once(
    world: Any, stripe_stub: StripeStub, point: str, settled_by: str
) -> None:
    clock, url = world
    if point == "at the provider":
        stripe_stub.faults.append(Fault("/v1/payment_intents", delay=1.0))  # killed while Stripe works
    key = f"buy-{point}-{settled_by}"
    lines = _run_child(crashing_purchase, url, stripe_stub.url, point, key)
    assert "answered" not in lines, "the child got past its crash point: this test did not test"
    if point == "at the provider":
        time.sleep(1.2)  # Stripe finishes the charge after the client died
    parent = _billing(url, stripe_stub.url, clock, migrate=False)
    if settled_by == "webhook":
        _deliver_webhooks(parent, stripe_stub, clock)
        clock.advance(minutes=16)
        swept = parent.sweep_payments()  # only what never reached Stripe is left to it
        assert swept.credited == () or point == "recorded, provider not called"
    else:
        assert parent.sweep_payments().examined == 0  # not yet: a live purchase may still be answering
        clock.advance(minutes=16)
        parent.sweep_payments()
        assert parent.sweep_payments().examined == 0  # a second sweep finds nothing left
    lost, problems = _verdict(parent, stripe_stub)
    assert lost == 0 and not problems, problems
    retried = parent.purchase(CLINICS[0], 1_000_000, payment_method=stubs.SUCCEEDS, key=key)
    assert retried.replayed and retried.status in ("credited", "failed")
    assert (retried.status == "credited") == (point != "recorded, provider not called")
    print(f"crash point '{point}', settled by {settled_by}: credits lost 0")
    parent.db.dispose()


@pytest.mark.parametrize("settled_by", ["webhook", "sweeper"])
def test_purchases_killed_at_random_moments_lose_nothing(
    world: Any,
    stripe_stub: StripeStub,
    seed: int,
    settled_by: str,
) -> None:
    clock, url = world
    rng = random.Random(seed)
    for kill in range(KILLS):
        _run_child(
            buying_loop, url, stripe_stub.url, f"k{kill}-{settled_by}", rng.random(), kill_after=rng.uniform(0.05, 0.4)
        )
    parent = _billing(url, stripe_stub.url, clock, migrate=False)
    if settled_by == "webhook":
        _deliver_webhooks(parent, stripe_stub, clock)
    clock.advance(minutes=16)
    swept = parent.sweep_payments(limit=10_000)
    lost, problems = _verdict(parent, stripe_stub)
    credited = parent.db.read(lambda conn: conn.execute(select(payment_attempts.c.status)).scalars().all()).count(
        "credited"
    )
    print(
        f"{KILLS} random kills ({settled_by}): {credited} purchases credited, {len(swept.credited)} by the sweeper, "
        f"{len(swept.failed)} never reached the provider; credits lost {lost}"
    )
    assert lost == 0 and not problems, problems[:5]
    parent.db.dispose()


def test_the_verdict_counts_money_taken_and_not_credited(world: Any, stripe_stub: StripeStub) -> None:
    """The negative control: an attempt the provider charged but the ledger gave up on is lost
    money, and the verdict says how much (so the zeros above are measured, not assumed)."""
    clock, url = world
    billing = _billing(url, stripe_stub.url, clock, migrate=False)
    stripe_stub.faults.append(Fault("/v1/payment_intents", status=502, after=True))  # charged, answer lost
    with pytest.raises(PaymentGatewayError):
        billing.purchase(CLINICS[1], 2_000_000, payment_method=stubs.SUCCEEDS, key="given-up")
    billing.db.run(lambda conn: conn.execute(update(payment_attempts).values(status="failed")))  # wrongly
    lost, problems = _verdict(billing, stripe_stub)
    assert lost == 2_000_000 and any("paid, but failed" in problem for problem in problems)
    billing.db.run(lambda conn: conn.execute(update(payment_attempts).values(status="created")))
    clock.advance(minutes=16)
    billing.sweep_payments()
    assert _verdict(billing, stripe_stub) == (0, [])
    billing.db.dispose()
