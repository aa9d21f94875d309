"""R1, R2, R3, R14, R20, R22: charges racing on hot wallets, with their negative controls."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, text

from engine.billing import AdjustmentRefused, Billing
from storage.schema import accounts, transactions
from tests.reliability.broken import VARIANTS, broken
from tests.support.races import race
from tests.support.reliability import Ledger, findings, lead, scale


def _charges(billing: Billing, clinic: str, status: str) -> list[Any]:
    def read(conn: Any) -> list[Any]:
        return list(
            conn.execute(
                select(transactions.c.id, transactions.c.credits, transactions.c.reason)
                .where(
                    transactions.c.clinic_id == clinic,
                    transactions.c.kind == "charge",
                    transactions.c.status == status,
                )
                .order_by(transactions.c.id)
            )
        )

    return billing.db.read(read)


def _only_where_it_breaks(ledger: Ledger, variant: str) -> None:
    if variant == "unchecked_state" and ledger.billing.db.dialect == "sqlite":
        pytest.skip(
            "on SQLite one process's charges are decided inside the write transaction, on the state the "
            "previous one kept: what stales a kept state is another process, and without the one call's "
            "checks that is found by tests/billing/test_fast_path.py's negative control"
        )


def _outcome(ledger: Ledger, variant: str, problems: list[str]) -> None:
    """Sound: nothing found. Broken: the same checks must find the damage."""
    if variant == "sound":
        assert not problems, "\n".join(problems[:10])
    else:
        ledger.damaged_on_purpose = True
        assert problems, f"the {variant} variant went unnoticed: this test cannot fail"


@pytest.mark.parametrize("variant", VARIANTS)
def test_r1_hot_wallet_charge_race(ledger: Ledger, variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _only_where_it_breaks(ledger, variant)
    credits, workers, each = scale(200, 1_000), scale(16, 32), scale(30, 500)
    clinic = ledger.wallet("hot", credits)
    billing = ledger.billing
    started = time.perf_counter()
    with broken(variant, monkeypatch, billing.db):
        raced = race(
            workers, lambda w: [billing.charge(clinic, lead(1), key=f"c-{w}-{i}").approved for i in range(each)]
        )
    elapsed = time.perf_counter() - started
    accepted, declined = _charges(billing, clinic, "posted"), _charges(billing, clinic, "declined")
    problems = [f"{type(e).__name__}: {e}" for e in raced.errors[:5]] + findings(billing)
    if len(accepted) != credits:
        problems.append(f"accepted {len(accepted)} one-credit charges on {credits} credits")
    if len(declined) != workers * each - credits:
        problems.append(f"declined {len(declined)}, expected {workers * each - credits}")
    if any(not row.reason for row in declined):
        problems.append("a declined charge was recorded without its reason")
    print(
        f"R1 {variant}: accepted {len(accepted)}, declined {len(declined)}, errors {len(raced.errors)}, "
        f"{workers * each / elapsed:,.0f} attempts/s, retries {billing.db.retries}"
    )
    _outcome(ledger, variant, problems)


@pytest.mark.parametrize("variant", VARIANTS)
def test_r2_overdraft_boundary(ledger: Ledger, seed: int, variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    workers, each = scale(16, 32), scale(40, 500)
    clinic = ledger.wallet("preferred", 1_000, segment="preferred")
    billing = ledger.billing
    rng = random.Random(seed)
    amounts = [[rng.choice((1, 2, 3, 5, 7)) for _ in range(each)] for _ in range(workers)]
    with broken(variant, monkeypatch, billing.db):
        raced = race(
            workers, lambda w: [billing.charge(clinic, lead(a), key=f"c-{w}-{i}") for i, a in enumerate(amounts[w])]
        )
    problems = [f"{type(e).__name__}: {e}" for e in raced.errors[:5]] + findings(billing)
    # replay in sequence order: every acceptance kept the balance >= -50, every decline would not have
    ordered = sorted(_charges(billing, clinic, "posted") + _charges(billing, clinic, "declined"), key=lambda r: r.id)
    posted = {row.id for row in _charges(billing, clinic, "posted")}
    balance, lowest = 1_000, 1_000
    for row in ordered:
        if row.id in posted:
            balance -= int(row.credits)
            lowest = min(lowest, balance)
        elif balance - int(row.credits) >= -50:
            problems.append(f"charge {row.id} of {row.credits} declined at balance {balance}: it fitted")
    if lowest < -50:
        problems.append(f"the running balance reached {lowest}, below -50")
    final = billing.balance(clinic).balance
    if final != balance:
        problems.append(f"final balance {final} differs from the replay's {balance}")
    print(f"R2 {variant}: final balance {final}, accepted {len(posted)}, seed {seed}")
    _outcome(ledger, variant, problems)


def test_r3_exact_count_for_each_amount(ledger: Ledger) -> None:
    credits, workers, each = 200, scale(8, 16), scale(15, 200)
    billing = ledger.billing
    wallets = {amount: ledger.wallet(f"w{amount}", credits) for amount in (3, 7, 40)}

    def work(worker: int) -> list[Any]:
        return [
            billing.charge(wallets[amount], lead(amount), key=f"c-{worker}-{amount}-{i}").approved
            for i in range(each)
            for amount in wallets
        ]

    raced = race(workers, work)
    assert not raced.errors, raced.errors[:3]
    for amount, clinic in wallets.items():
        assert len(_charges(billing, clinic, "posted")) == credits // amount, f"a = {amount}"
        assert billing.balance(clinic).balance == credits % amount


def test_r14_admin_adjustments_during_a_charge_race(ledger: Ledger, seed: int) -> None:
    clinic = ledger.wallet("hot", 5_000)
    billing = ledger.billing
    rng = random.Random(seed)
    deltas = [rng.choice((-1, 1)) * rng.randint(1, 300) for _ in range(scale(100, 100))]
    applied: list[int] = []

    def work(worker: int) -> list[Any]:
        if worker == 0:  # the admin
            for n, delta in enumerate(deltas):
                try:
                    billing.adjust(clinic, delta, actor="ops@antidote", reason=f"correction {n}", key=f"adj-{n}")
                    applied.append(delta)
                except AdjustmentRefused:
                    pass
            return []
        return [billing.charge(clinic, lead(7), key=f"c-{worker}-{i}").approved for i in range(scale(25, 200))]

    raced = race(scale(8, 16), work)
    assert not raced.errors, raced.errors[:3]
    charged = sum(int(row.credits) for row in _charges(billing, clinic, "posted"))
    assert billing.balance(clinic).balance == 5_000 + sum(applied) - charged
    adjustments = billing.transactions(clinic, kinds=["adjustment"], page_size=1000).rows
    assert len(adjustments) == len(applied) and all(r.actor == "ops@antidote" and r.reason for r in adjustments)
    assert sum(r.signed_credits for r in adjustments) == sum(applied)  # entries, not overwrites


ISOLATION = {
    "row lock + guard": ("READ COMMITTED", True, "sound"),
    "guard only": ("READ COMMITTED", False, "sound"),
    "serializable + retry": ("SERIALIZABLE", False, "sound"),
    "naive read-modify-write": ("READ COMMITTED", False, "read_modify_write"),
}


@pytest.mark.parametrize("mode", list(ISOLATION))
def test_r20_isolation_matrix(
    ledger: Ledger, mode: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if "postgres" not in request.node.callspec.id:
        pytest.skip("the isolation matrix is PostgreSQL's (SQLite's is R21)")
    isolation, locked, variant = ISOLATION[mode]
    credits, workers, each = scale(150, 1_000), scale(16, 32), scale(20, 500)
    clinic = ledger.wallet("hot", credits)
    billing = ledger.another(isolation=isolation, attempts=500)  # SERIALIZABLE on a hot row retries a lot
    from storage import clinics

    original = clinics.load_state
    if not locked:
        monkeypatch.setattr(clinics, "load_state", lambda conn, c, at, lock=False: original(conn, c, at))
    started = time.perf_counter()
    with broken(variant, monkeypatch, billing.db):
        raced = race(
            workers, lambda w: [billing.charge(clinic, lead(1), key=f"c-{w}-{i}").approved for i in range(each)]
        )
    rate = workers * each / (time.perf_counter() - started)
    problems = [f"{type(e).__name__}: {e}" for e in raced.errors[:5]] + findings(ledger.billing)
    accepted = len(_charges(ledger.billing, clinic, "posted"))
    if accepted != credits:
        problems.append(f"accepted {accepted} on {credits} credits")
    print(f"R20 {mode}: {rate:,.0f} tx/s, retries {billing.db.retries}, accepted {accepted}")
    _outcome(ledger, variant, problems)


def test_r22_no_deadlock_reaches_the_client(ledger: Ledger) -> None:
    """Two transactions locking two wallets in opposite orders: the database breaks the deadlock
    (PostgreSQL 40P01, SQLite's single writer cannot deadlock) and the loser is retried."""
    billing = ledger.billing
    ledger.wallet("a", 1_000)
    ledger.wallet("b", 1_000, at=None)
    ids = billing.db.read(
        lambda conn: dict(
            conn.execute(select(accounts.c.clinic_id, accounts.c.id).where(accounts.c.kind == "wallet")).all()
        )
    )
    both = threading.Barrier(2)

    def lock_in_order(first: str, second: str) -> None:
        passes = []

        def work(conn: Any) -> None:
            conn.execute(text("update accounts set version = version + 1 where id = :i"), {"i": ids[first]})
            if not passes and billing.db.dialect == "postgresql":  # SQLite: one writer, no interleaving
                passes.append(1)
                both.wait(timeout=10)  # both hold their first lock before asking for the second
            conn.execute(text("update accounts set version = version + 1 where id = :i"), {"i": ids[second]})

        billing.db.run(work)

    raced = race(2, lambda w: [lock_in_order(*(("a", "b") if w == 0 else ("b", "a")))])
    assert not raced.errors, raced.errors
    if billing.db.dialect == "postgresql":
        assert billing.db.retries >= 1  # the deadlock happened, and was retried, not reported
    # and a referral top-up (the one operation that touches two wallets) racing the referrer's charges
    billing.register_clinic("referred", "referred", "IN", key="register", referred_by="a")
    raced = race(
        8,
        lambda w: (
            [billing.purchase("referred", 1_000, payment_method="upi_ok", key=f"buy-{w}")]
            if w < 2
            else [billing.charge("a", lead(3), key=f"c-{w}-{i}") for i in range(10)]
        ),
    )
    assert not raced.errors, raced.errors[:3]
