"""R16–R19: lots, expiry and time. A lot is usable iff now < expires_at; lots are spent by earliest
expiry (granted first on ties, then oldest); a credit is either spent or expired, never both; and
the ledger's order is its sequence, not the clock's."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.billing import Billing
from engine.errors import OutOfOrder
from storage.schema import allocations, lots, transactions
from tests.reliability.broken import broken
from tests.support.clock import START
from tests.support.races import race
from tests.support.reliability import Ledger, findings, lead, scale


def _lots(billing: Billing, clinic: str | None = None) -> list[Any]:
    rows = billing.lots(clinic) if clinic else []
    return sorted(rows, key=lambda r: r["id"])


def _allocated(billing: Billing, transaction_id: int) -> dict[int, int]:
    def read(conn: Any) -> dict[int, int]:
        query = select(allocations.c.lot_id, func.sum(allocations.c.amount)).where(
            allocations.c.transaction_id == transaction_id
        )
        return {int(k): int(v) for k, v in conn.execute(query.group_by(allocations.c.lot_id))}

    return billing.db.read(read)


def test_r16_expiry_boundary(ledger: Ledger) -> None:
    billing = ledger.billing
    clinic = ledger.wallet("c", 100)  # paid credits valid 10 days in the reliability pricebook
    (lot,) = _lots(billing, clinic)
    expires = lot["expires_at"]
    assert expires == START + timedelta(days=10)
    table = {}
    for label, at in (
        ("T-1µs", expires - timedelta(microseconds=1)),
        ("T", expires),
        ("T+1µs", expires + timedelta(microseconds=1)),
    ):
        result = billing.charge(clinic, lead(1), key=label, at=at)
        table[label] = (result.approved, _allocated(billing, result.transaction_id))
    print(f"R16: {table}")
    assert table["T-1µs"] == (True, {lot["id"]: 1})
    assert table["T"] == (False, {}) and table["T+1µs"] == (False, {})
    expired = billing.db.read(lambda conn: conn.execute(select(lots.c.expired, lots.c.remaining)).one())
    assert tuple(expired) == (True, 0)
    spent_after = billing.db.read(
        lambda conn: conn.execute(
            select(func.count())
            .select_from(allocations.join(transactions, transactions.c.id == allocations.c.transaction_id))
            .where(allocations.c.kind == "charge", transactions.c.at >= expires)
        ).scalar_one()
    )
    assert spent_after == 0  # an expired lot is never consumed


def test_r17_lot_order(ledger: Ledger, seed: int) -> None:
    billing = ledger.billing
    clinic = ledger.wallet("c", 0)
    ledger.clock.now = START
    billing.adjust(clinic, 500, actor="ops", reason="goodwill, never expires", key="goodwill")
    billing.purchase(clinic, 10_000, payment_method="upi_ok", key="d2")  # paid, +10 days; bonus 2,000, +5 days
    ledger.clock.now = START + timedelta(days=1)
    billing.purchase(clinic, 300, payment_method="upi_ok", key="d3a")  # paid, +11 days
    billing.purchase(clinic, 200, payment_method="upi_ok", key="d3b")  # a tie with d3a: older first
    goodwill, paid, bonus, d3a, d3b = (row["id"] for row in _lots(billing, clinic))
    order = [bonus, paid, d3a, d3b, goodwill]  # expiry d1 < d2 < d3 = d3, never last
    rng = random.Random(seed)
    remaining = {
        lot: row["amount"]
        for lot, row in zip(order, sorted(_lots(billing, clinic), key=lambda r: order.index(r["id"])), strict=True)
    }
    total = sum(remaining.values())
    n = 0
    while total:
        n += 1
        credits = min(rng.choice((1, 3, 7, 40)), total) if total >= 40 else 1
        result = billing.charge(clinic, lead(credits), key=f"spend-{n}")
        assert result.approved
        expected: dict[int, int] = {}
        left = credits
        for lot in order:  # the documented order, computed here independently
            take = min(left, remaining[lot])
            if take:
                expected[lot] = take
                remaining[lot] -= take
                left -= take
        assert _allocated(billing, result.transaction_id) == expected, f"charge {n} of {credits} (seed {seed})"
        total -= credits
    assert billing.balance(clinic).balance == 0


def test_r18_expiry_sweeps_racing_charges(ledger: Ledger, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _r18(ledger, seed, monkeypatch, "sound")


def test_r18_negative_control_sweeps_without_compare_and_set(
    ledger: Ledger, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _r18(ledger, seed, monkeypatch, ("no_expiry_cas", "unlocked"))


def _r18(ledger: Ledger, seed: int, monkeypatch: pytest.MonkeyPatch, variant: Any) -> None:
    billing = ledger.billing
    wallets = [ledger.wallet(f"w{n}", 50, at=START) for n in range(scale(6, 20))]
    expires = START + timedelta(days=10)
    rng = random.Random(seed)

    def work(worker: int) -> list[Any]:
        done = []
        if worker < 2:  # two sweepers, each running twice around the expiry
            for sweep in range(2):
                done.append(billing.expire_lots(expires + timedelta(seconds=sweep)).lots)
            return done
        for i in range(scale(20, 100)):
            at = expires + timedelta(milliseconds=rng.randint(-50, 50))
            done.append(billing.charge(rng.choice(wallets), lead(1), key=f"c-{worker}-{i}", at=at).approved)
        return done

    with broken(variant, monkeypatch, billing.db):
        raced = race(6, work)
    problems = [f"{type(e).__name__}: {e}" for e in raced.errors[:3]] + findings(billing)

    def double_counted(conn: Any) -> list[Any]:
        taken = (
            select(allocations.c.lot_id, func.sum(allocations.c.amount).label("out"))
            .where(allocations.c.kind.in_(("charge", "expire")))
            .group_by(allocations.c.lot_id)
            .subquery()
        )
        return list(
            conn.execute(select(lots.c.id).join(taken, taken.c.lot_id == lots.c.id).where(taken.c.out > lots.c.amount))
        )

    over = billing.db.read(double_counted)
    if over:
        problems.append(f"lots both spent and expired past their amount: {over}")
    expiries = billing.db.read(
        lambda conn: conn.execute(
            select(allocations.c.lot_id, func.count())
            .where(allocations.c.kind == "expire")
            .group_by(allocations.c.lot_id)
            .having(func.count() > 1)
        ).all()
    )
    if expiries:
        problems.append(f"lots expired more than once: {expiries}")
    if billing.expire_lots(expires + timedelta(minutes=1)).lots:
        problems.append("a third sweep still found lots to expire")
    if variant == "sound":
        assert not problems, problems[:10]
    else:
        ledger.damaged_on_purpose = True
        assert problems, "sweeps without compare-and-set went unnoticed: this test cannot fail"


def test_r19_clock_anomalies(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    billing = ledger.billing
    clinic = ledger.wallet("c", 100, at=START)
    expires = START + timedelta(days=10)
    assert billing.expire_lots(expires).credits == 100
    # the clock jumps back 5 minutes: a clinic's time only moves forward, so the charge is refused
    # (nothing is usable again), and a sweep dated back never expires a lot twice
    with pytest.raises(OutOfOrder):
        billing.charge(clinic, lead(1), key="back", at=expires - timedelta(minutes=5))
    skewed = billing.charge(clinic, lead(1), key="skewed", at=expires - timedelta(seconds=2))
    assert not skewed.approved  # two servers' clocks apart: posted at the clinic's latest time, declined
    assert billing.expire_lots(expires - timedelta(minutes=5)).lots == 0
    # a long transaction holding the wallet while a later-dated charge waits: order is the sequence
    billing.purchase(clinic, 100, payment_method="upi_ok", key="again", at=expires)
    slow_started = threading.Event()
    original_fault = billing.db.fault

    def slow(conn: Any) -> None:
        if threading.current_thread().name == "slow":
            slow_started.set()
            threading.Event().wait(0.3)

    billing.db.fault = slow
    later = datetime(2026, 3, 20, tzinfo=UTC)
    results: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: results.setdefault(
            "slow", billing.charge(clinic, lead(40), key="slow", at=later + timedelta(hours=1))
        ),
        name="slow",
    )
    first.start()
    slow_started.wait(5)
    try:  # an earlier clock, later in sequence: refused if the later-dated charge posted first
        results["fast"] = billing.charge(clinic, lead(40), key="fast", at=later)
    except OutOfOrder as refused:
        results["fast"] = refused
    first.join()
    billing.db.fault = original_fault
    assert results["slow"].approved
    if isinstance(results["fast"], OutOfOrder):
        assert results["slow"].balance == 60  # never back in time
    else:  # the earlier-dated charge took the wallet first (the fault runs before a one-call charge
        # takes the lock, on both databases): both post, in time order
        assert results["fast"].approved and results["fast"].transaction_id < results["slow"].transaction_id
    # all times are stored in UTC and read back aware
    stamps = billing.db.read(lambda conn: conn.execute(select(transactions.c.at)).scalars().all())
    assert all(stamp.utcoffset() == timedelta(0) for stamp in stamps)
    # a month boundary in the pricebook's zone (Asia/Kolkata, UTC+5:30), not UTC's
    near = datetime(2026, 3, 31, 19, 0, tzinfo=UTC)  # already April 1st, 00:30 in Kolkata
    view = billing.balance(clinic, at=near)
    assert view.month_starts.month == 4 and view.used_this_month == 0
