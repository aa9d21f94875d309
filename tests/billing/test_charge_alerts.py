"""Charges tell their alerts: a charge that makes a low balance (or credits expiring) start to hold
writes one event to the outbox, in the same database transaction as the charge, on every path — the
reference (`Database(fast=False)`), SQLite's kept state, PostgreSQL's one round trip and
`charge_batch`. One event per crossing, not per charge: further charges while the balance is low
write none, a top-up above the threshold re-arms it, the next crossing by a charge writes again. A
declined charge changes no balance and raises no alert; a charge rolled back leaves no event. And
the fast paths stay fast: only the charge that crosses leaves them for the door."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from engine.billing import Billing, FakeGateway, notices
from engine.billing.results import ChargeResult
from engine.pricing.requests import LeadRequest, Usage
from storage import fast
from storage.database import Database
from storage.schema import alert_states, events, lots
from tests.support.clock import Clock
from tests.support.ledger_rows import assert_same_rows, charged, snapshot, tables
from tests.support.paths import IN_V1, IN_V2, US_V1

PUBLISHED = datetime(2025, 6, 1, tzinfo=UTC)
LEAD = LeadRequest(product="lead_call", package_price=Decimal(150_000))  # 500 credits
CHAT = LeadRequest(product="lead_chat", package_price=Decimal(3_000))  # 100 credits
LOW = "low_balance"
EXPIRING = "credits_expiring"


def _service(url: str, clock: Clock, fast_path: bool, migrate: bool = True) -> Billing:
    billing = Billing(Database(url, fast=fast_path), clock=clock, gateway=FakeGateway(), migrate=migrate)
    for path in (US_V1, IN_V1, IN_V2):
        billing.publish_pricebook(path, actor="pricing", key=f"publish-{path.name}", at=PUBLISHED)
    return billing


@pytest.fixture(params=[True, False], ids=["fast", "reference"])
def charging(request: pytest.FixtureRequest, ledger_url: str, clock: Clock) -> Iterator[Billing]:
    """A ledger on each database, charged by the fast paths and by the reference."""
    billing = _service(ledger_url, clock, fast_path=request.param)
    yield billing
    report = billing.reconcile(full=True)
    billing.db.dispose()
    assert report.ok, "ledger invariants broken:\n" + "\n".join(map(str, report.drifts))


def _events(billing: Billing, clinic_id: str, kind: str = LOW) -> list[Any]:
    query = select(events).where(events.c.clinic_id == clinic_id, events.c.kind == kind).order_by(events.c.created_at)
    return billing.db.read(lambda conn: list(conn.execute(query)))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _told(alerts: tuple[str, ...]) -> set[str]:
    """The events a result's alert messages stand for (rules/engine.py words them)."""
    kinds = set()
    for message in alerts:
        if message.startswith("low balance") or "credits left" in message:
            kinds.add(LOW)
        elif "expire within" in message:
            kinds.add(EXPIRING)
    return kinds


def _charge_until_low(billing: Billing, clinic: str, prefix: str, tally: Counter[str], held: set[str]) -> list[str]:
    """Charge leads until the balance is low, checking after each charge that it wrote an event for
    each alert that started to hold with it (`tally` counts them; `held` is what held before). The
    keys charged, the crossing one last."""
    keys = []
    for n in range(60):
        key = f"{prefix}-{n}"
        result = billing.charge(clinic, LEAD, key=key)
        assert isinstance(result, ChargeResult) and result.approved
        keys.append(key)
        told = _told(result.alerts)
        tally.update(told - held)
        held.clear()
        held.update(told)
        for kind in (LOW, EXPIRING):
            assert len(_events(billing, clinic, kind)) == tally[kind], f"after {key}: {result.alerts}"
        if LOW in told:
            return keys
    pytest.fail("the balance never fell low")


def test_charges_write_one_low_balance_event_per_crossing(
    charging: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, str]] = []  # (key, status) of what the one-round-trip function posted
    post = fast.post_charge

    def counted(conn: Any, charge: fast.FastCharge) -> fast.Answer:
        answer = post(conn, charge)
        sent.append((charge.key, answer.status))
        return answer

    monkeypatch.setattr(fast, "post_charge", counted)
    billing = charging
    billing.register_clinic("warm", "Warm", "IN", key="reg")  # its charges find the market's revenue account
    billing.purchase("warm", 50_000, payment_method="upi_ok", key="fund")
    for n in range(2):
        billing.charge("warm", LEAD, key=f"warm-{n}")
    billing.register_clinic("c", "Smile Dental", "IN", key="reg")
    billing.purchase("c", 5_000, payment_method="upi_ok", key="fund")
    tally: Counter[str] = Counter()
    held = _told(billing.balance("c").alerts)
    assert LOW not in held and not _events(billing, "c")

    keys = _charge_until_low(billing, "c", "first", tally, held)
    assert tally[LOW] == 1 and len(keys) > 3  # the crossing took a few charges, and told once
    (event,) = _events(billing, "c")
    crossing = billing.charge("c", LEAD, key=keys[-1])  # replayed: its answer, no second event
    assert crossing.replayed and len(_events(billing, "c")) == 1
    payload = json.loads(event.payload)
    assert payload["balance"] == crossing.balance and payload["currency"] == "INR"
    assert payload["message"] in crossing.alerts and "Smile Dental" in payload["subject"]
    assert _utc(event.created_at) == clock.now

    for n in range(3):  # still low: no event
        clock.advance(minutes=5)
        result = billing.charge("c", CHAT, key=f"low-{n}")
        assert result.approved and LOW in _told(result.alerts)
    assert len(_events(billing, "c")) == 1

    billing.purchase("c", 8_000, payment_method="upi_ok", key="top-up")  # back above: re-armed
    held = _told(billing.balance("c").alerts)
    assert LOW not in held and len(_events(billing, "c")) == 1
    again = _charge_until_low(billing, "c", "second", tally, held)
    assert tally[LOW] == 2 and len(_events(billing, "c")) == 2

    if billing.db.fast and billing.db.dialect == "postgresql":  # the common case stays one round trip
        posted = {key for key, status in sent if status == "posted"}
        assert {keys[-1], again[-1]}.isdisjoint(key for key, status in sent if status != "replay")
        charged = {*keys, *(f"low-{n}" for n in range(3)), *again}
        assert charged - posted == {keys[-1], again[-1]}, "only a crossing leaves the one round trip"
    elif not billing.db.fast:
        assert not sent


def _fail_after_telling(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Make the next crossing fail after its events were written in its transaction (the ids each
    call wrote are listed): what a crash between the event and the commit leaves."""
    told: list[list[str]] = []
    balance_changed = notices.balance_changed

    def then_fail(*args: Any, **kwargs: Any) -> list[str]:
        told.append(balance_changed(*args, **kwargs))
        raise RuntimeError("the process died before the charge committed")

    monkeypatch.setattr(notices, "balance_changed", then_fail)
    return told


def test_a_declined_charge_raises_no_alert_and_a_rolled_back_one_leaves_no_event(
    charging: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    billing = charging
    billing.register_clinic("us", "Riverside", "US", key="reg")
    billing.purchase("us", 150_000, payment_method="card_ok", key="fund")  # above the 50,000 threshold
    billing.charge("us", Usage(product="sms", units=10), key="warm")  # 850 credits: the state is kept
    declined = billing.charge("us", Usage(product="voice", units=1_000), key="too-much")  # 160,000 credits
    assert not declined.approved and not _events(billing, "us")

    before = snapshot(billing)
    told = _fail_after_telling(monkeypatch)
    with pytest.raises(RuntimeError):  # 700 minutes = 112,000 credits: 37,150 left, below 50,000
        billing.charge("us", Usage(product="voice", units=700), key="crossing")
    assert [len(ids) for ids in told] == [1]  # the event was written, in the charge's transaction:
    assert snapshot(billing) == before and not _events(billing, "us")  # rolled back with it
    monkeypatch.undo()

    crossed = billing.charge("us", Usage(product="voice", units=700), key="crossing")
    assert crossed.approved and LOW in _told(crossed.alerts)
    assert len(_events(billing, "us")) == 1
    recorded = billing.db.read(lambda conn: conn.execute(select(alert_states.c.kind, alert_states.c.active)).all())
    assert (LOW, True) in [(kind, bool(active)) for kind, active in recorded]
    assert not billing.charge("us", Usage(product="voice", units=1_000), key="declined-while-low").approved
    assert len(_events(billing, "us")) == 1


def test_a_batch_whose_charges_cross_writes_one_event_as_one_by_one_charges_do(
    twin_urls: tuple[str, str],
) -> None:
    items = [
        {"clinic_id": clinic, "request": LEAD.model_dump(mode="json"), "key": f"k{n}"}
        for clinic in ("a", "b")
        for n in range(8)
    ]
    found = []
    for url, batched in zip(twin_urls, (False, True), strict=True):
        billing = _service(url, Clock(), fast_path=True)
        for clinic, credits in (("a", 5_000), ("b", 20_000)):  # a crosses within the batch, b does not
            billing.register_clinic(clinic, clinic, "IN", key="reg")
            billing.purchase(clinic, credits, payment_method="upi_ok", key="buy")
        billing.charge("a", LEAD, key="before")  # a's state is kept: the batch starts on the fast path
        answers = charged(billing, items, batched)
        assert all(isinstance(a, ChargeResult) and a.approved for a in answers)
        assert len(_events(billing, "a")) == 1 and not _events(billing, "b")
        assert billing.reconcile(full=True).ok
        found.append(([a.model_dump(mode="json") for a in answers], tables(billing)))
        billing.db.dispose()
    assert found[0][0] == found[1][0]
    assert_same_rows(found[0][1], found[1][1])


def test_a_batch_rolled_back_leaves_no_event(charging: Billing, monkeypatch: pytest.MonkeyPatch) -> None:
    billing = charging
    billing.register_clinic("a", "a", "IN", key="reg")
    billing.purchase("a", 5_000, payment_method="upi_ok", key="buy")
    billing.charge("a", LEAD, key="before")
    before = snapshot(billing)
    items = [{"clinic_id": "a", "request": LEAD, "key": f"k{n}"} for n in range(8)]
    told = _fail_after_telling(monkeypatch)
    with pytest.raises(RuntimeError):
        billing.charge_batch(items)
    assert [len(ids) for ids in told] == [1]
    assert snapshot(billing) == before and not _events(billing, "a")
    monkeypatch.undo()
    answers = billing.charge_batch(items)
    assert all(isinstance(a, ChargeResult) and a.approved for a in answers)
    assert len(_events(billing, "a")) == 1


def test_credits_expired_by_a_declined_charge_still_tell_the_low_balance(charging: Billing, clock: Clock) -> None:
    """A charge expires its wallet's due lots first (a balance change of its own); when that leaves
    too little and the charge is declined, the low balance the expiry caused is told all the same —
    otherwise the clinic that most needs the alert (it can no longer be charged) would never get it."""
    billing = charging
    billing.register_clinic("us", "Riverside", "US", key="reg")
    billing.purchase("us", 100_000, payment_method="card_ok", key="fund")  # above the 50,000 threshold
    billing.charge("us", Usage(product="sms", units=10), key="warm")
    assert not _events(billing, "us")
    expires = billing.db.read(lambda conn: conn.execute(select(lots.c.expires_at)).scalar_one())
    clock.now = _utc(expires)  # the lot's last instant has passed: usable iff now < expires_at
    declined = billing.charge("us", Usage(product="voice", units=10), key="after-expiry")
    assert not declined.approved and declined.balance == 0
    assert len(_events(billing, "us")) == 1  # told once, in the declined charge's transaction
    assert not billing.charge("us", Usage(product="voice", units=10), key="again").approved
    assert len(_events(billing, "us")) == 1  # still low: not told again


def test_credits_entering_the_expiring_window_are_told_by_the_sweep_once(charging: Billing, clock: Clock) -> None:
    """Time alone makes credits "expiring soon": no balance changes, so no operation notices. The
    expiry sweep looks at wallets with credits inside the window and tells it, once; a charge after
    it (from a kept state too) does not tell it again."""
    billing = charging
    billing.register_clinic("us", "Riverside", "US", key="reg")
    billing.purchase("us", 150_000, payment_method="card_ok", key="fund")  # above the low threshold
    billing.charge("us", Usage(product="sms", units=10), key="warm")  # a kept state on the fast paths
    expires = billing.db.read(lambda conn: conn.execute(select(lots.c.expires_at)).scalar_one())
    clock.now = _utc(expires) - timedelta(days=10)  # inside the 30-day window, nothing posted since
    assert not _events(billing, "us", EXPIRING)
    swept = billing.expire_lots()
    assert (swept.lots, swept.alerts) == (0, 1)
    (event,) = _events(billing, "us", EXPIRING)
    assert json.loads(event.payload)["subject"].endswith("credits expiring")
    assert billing.expire_lots().alerts == 0  # recorded: not told twice
    charged = billing.charge("us", Usage(product="sms", units=10), key="after")
    assert charged.approved and EXPIRING in _told(charged.alerts)
    assert len(_events(billing, "us", EXPIRING)) == 1 and not _events(billing, "us", LOW)
