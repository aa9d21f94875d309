"""R4: a seeded mixed workload on 20 wallets from 16 threads, with an expiry sweeper racing them,
compared wallet by wallet with the single-threaded reference model (tests/reliability/model.py)
replayed in the ledger's commit order. Zero divergences."""

from __future__ import annotations

import copy
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.billing import AdjustmentRefused, Billing
from engine.errors import OutOfOrder
from engine.pricebook.model import CompiledPricebook
from engine.pricing.quote import quote
from engine.pricing.requests import QuoteContext, Usage
from rules import PolicyEngine, TopUpFacts
from storage.schema import accounts, transactions
from tests.reliability.broken import broken
from tests.reliability.model import Wallet, lot_order
from tests.support.clock import START
from tests.support.paths import US_V1
from tests.support.races import start_and_join
from tests.support.reliability import PUBLISHED, Ledger, findings, lead, scale

SPAN = timedelta(days=15)  # long enough for 10-day paid and 5-day bonus lots to expire mid-run


@dataclass
class Op:
    wallet: str
    kind: str  # topup | charge | refund | dispute | adjust
    at: datetime
    request: Any
    key: str
    txn: int | None = None
    approved: bool | None = None
    credits: int | None = None
    refused: str | None = None
    charge: int | None = None  # a refund's or dispute's charge


@dataclass
class Workload:
    ops: dict[str, list[Op]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


def _run_wallet(
    billing: Billing,
    wallet: tuple[str, bool],
    rng: random.Random,
    count: int,
    log: list[Op],
    prefix: str = "",
    progress: dict[str, datetime] | None = None,
) -> None:
    """`count` seeded operations on one wallet (a clinic, and whether it is American), logged."""
    clinic, us = wallet
    approved: list[Op] = []
    for i in range(count):
        at = START + SPAN * (i + 1) / (count + 1) + timedelta(seconds=rng.randint(0, 59))
        if progress is not None:
            progress[clinic] = at
        kind = rng.choices(("charge", "topup", "refund", "adjust"), weights=(60, 15, 10, 15))[0]
        key = f"{prefix}{clinic}-{i}"
        recent = [c for c in approved if us or at - c.at < timedelta(days=6)]  # disputes have a 7-day window
        if kind == "refund" and not recent:
            kind = "charge"
        if kind == "charge":
            request = (
                Usage(product=rng.choice(("sms", "voice")), units=rng.randint(1, 200))
                if us
                else lead(rng.choice((1, 3, 7, 40, 5, 2)), rng.choice(("lead_chat", "lead_call")))
            )
            op = Op(clinic, "charge", at, request, key)
            result = billing.charge(clinic, request, key=key, at=at)
            op.txn, op.approved, op.credits = result.transaction_id, result.approved, result.credits
            if result.approved and result.credits:
                approved.append(op)
        elif kind == "topup":
            amount = rng.choice((200_000, 2_000_000) if us else (500, 2_000, 10_000))
            op = Op(clinic, "topup", at, amount, key)
            result = billing.purchase(clinic, amount, payment_method="upi_ok", key=key, at=at)
            op.txn, op.approved, op.credits = result.transaction_ids[0], True, result.bonus_credits
        elif kind == "refund":
            charge = recent[rng.randrange(len(recent))]
            approved.remove(charge)
            if us:  # an admin refunds part of a charge
                credits = rng.randint(1, charge.credits or 1)
                op = Op(clinic, "refund", at, credits, key, charge=charge.txn)
                result = billing.refund(clinic, charge.txn, "ops", "carrier outage", key=key, credits=credits, at=at)
                op.txn, op.credits = result.refund_id, result.credits
            else:  # the clinic disputes a lead, an admin approves it a minute later
                opened = billing.open_dispute(clinic, charge.txn, reason="invalid", key=key, at=at)
                log.append(Op(clinic, "dispute", at, None, key, charge=charge.txn, approved=opened.status == "open"))
                at += timedelta(minutes=1)
                op = Op(clinic, "refund", at, charge.credits, f"{key}-approve", charge=charge.txn)
                result = billing.approve_dispute(opened.dispute_id, "ops", "spam", key=op.key, at=at, clinic_id=clinic)
                op.txn, op.credits = result.refund_id, result.refunded_credits
        else:
            delta = rng.choice((-1, 1)) * rng.randint(1, 50_000 if us else 500)
            op = Op(clinic, "adjust", at, delta, key)
            try:
                result = billing.adjust(clinic, delta, actor="ops", reason="model check", key=key, at=at)
                op.txn, op.approved = result.transaction_id, True
            except AdjustmentRefused:
                op.refused = "AdjustmentRefused"
        log.append(op)


def _replay(
    ops: list[Op], expiries: list[tuple[int, datetime]], pricebook: CompiledPricebook, us: bool
) -> tuple[Wallet, list[str]]:
    """The model, replaying `ops` in program order merged with the ledger's expiry records by id."""
    replay = _Replay(pricebook, us, sorted(expiries))
    for n, op in enumerate(ops):
        if op.txn is None:  # no record of its own: refused, or a dispute left open
            if op.kind == "adjust":
                later = next((o.txn for o in ops[n + 1 :] if o.txn is not None), 10**18)
                replay.refused_adjustment(op, later)
            continue
        replay.apply(op, op.txn)
    replay.apply_expiries(10**18)
    return replay.wallet, replay.problems


@dataclass
class _Replay:
    """The reference model's wallet as `_replay` walks the operations, and what disagreed."""

    pricebook: CompiledPricebook
    us: bool
    pending: list[tuple[int, datetime]]  # the ledger's expiry records not yet replayed, by id
    wallet: Wallet = field(default_factory=Wallet)
    problems: list[str] = field(default_factory=list)

    def apply_expiries(self, before: int) -> None:
        while self.pending and self.pending[0][0] < before:
            self.wallet.expire(self.pending.pop(0)[1])

    def refused_adjustment(self, op: Op, later: int) -> None:
        """The ledger refused a take-back: the model must refuse it too, with or without the sweeps
        recorded before the next operation that has a record."""
        refusable = []
        for with_sweeps in (False, True):
            trial = copy.deepcopy(self.wallet)
            if with_sweeps:
                for _, at in (e for e in self.pending if e[0] < later):
                    trial.expire(at)
            refusable.append(not trial.take_back(-op.request, op.at))
        if not any(refusable):
            self.problems.append(f"{op.key}: the ledger refused -{-op.request}, the model would not")

    def apply(self, op: Op, txn: int) -> None:
        """An operation the ledger recorded as transaction `txn`, after the expiries recorded before it."""
        self.apply_expiries(txn)
        takes = op.kind == "charge" or (op.kind == "adjust" and op.request < 0)
        if takes and self.wallet.due_with_credits(op.at):
            self.problems.append(f"{op.key}: lots were due at {op.at} and the ledger recorded no expiry before it")
        if op.kind == "topup":
            self._topup(op)
        elif op.kind == "charge":
            self._charge(op, txn)
        elif op.kind == "refund":
            assert op.charge is not None
            self.wallet.refund(op.charge, op.request, op.at)
            if op.credits != op.request:
                self.problems.append(f"{op.key}: refunded {op.credits}, model {op.request}")
        elif op.kind == "adjust":
            if op.request > 0:
                self.wallet.credit("granted", op.request, None)
            elif not self.wallet.take_back(-op.request, op.at):
                self.problems.append(f"{op.key}: the ledger took {-op.request}, the model would refuse")

    def _topup(self, op: Op) -> None:
        days = self.pricebook.meta.topup_validity_days
        self.wallet.credit("paid", op.request, None if days is None else op.at + timedelta(days=days))
        decision = PolicyEngine.of(self.pricebook).topup(
            TopUpFacts(clinic_id=op.wallet, paid_credits=op.request, at=op.at)
        )
        for bonus in decision.bonuses:
            self.wallet.credit("granted", bonus.credits, bonus.expires_at)
        if decision.bonus_credits != op.credits:
            self.problems.append(f"{op.key}: bonus {op.credits}, model {decision.bonus_credits}")
        for product in ("sms", "voice") if self.us else ():
            self.wallet.terms.setdefault(product, 0)

    def _charge(self, op: Op, txn: int) -> None:
        product = op.request.product
        context = QuoteContext(at=op.at, term_usage={product: self.wallet.terms.get(product, 0)})
        credits = quote(self.pricebook, op.request, context).credits
        approved = self.wallet.charge(txn, credits, op.at)
        if approved and product in self.wallet.terms:
            self.wallet.terms[product] += op.request.units
        if (approved, credits) != (op.approved, op.credits):
            self.problems.append(f"{op.key}: ledger {op.approved, op.credits}, model {approved, credits}")


def _divergences(
    billing: Billing, wallets: list[tuple[str, bool]], logs: dict[str, list[Op]], funded: dict[str, Any]
) -> list[str]:
    """Replay each wallet's operations through the model and list every difference from the ledger."""

    def expiries(conn: Any) -> dict[str, list[tuple[int, datetime]]]:
        found: dict[str, list[tuple[int, datetime]]] = {}
        query = select(transactions.c.clinic_id, transactions.c.id, transactions.c.at).where(
            transactions.c.kind == "expiry"
        )
        for clinic, txn, at in conn.execute(query):
            found.setdefault(clinic, []).append((int(txn), at))
        return found

    recorded = billing.db.read(expiries)
    divergences = []
    for clinic, us in wallets:
        pricebook = billing.pricebook_in_force("US" if us else "IN", START)
        paid = funded[clinic]
        funding = Op(
            clinic,
            "topup",
            START,
            paid.paid_credits,
            f"fund-{clinic}",
            paid.transaction_ids[0],
            True,
            paid.bonus_credits,
        )
        model, problems = _replay([funding, *logs[clinic]], recorded.get(clinic, []), pricebook, us)
        lots = sorted(
            (
                (row["kind"], int(row["amount"]), int(row["remaining"]), row["expires_at"], bool(row["expired"]))
                for row in billing.lots(clinic)
            ),
            key=lot_order,
        )
        if model.snapshot() != (billing.balance(clinic, at=START + SPAN).balance, lots):
            problems.append(f"state: ledger {billing.balance(clinic).balance} {lots}\n model {model.snapshot()}")
        divergences += [f"{clinic}: {p}" for p in problems]
    return divergences


@dataclass
class _Race:
    """R4's threads: 16 workers running the wallets' operations and a sweeper expiring lots between them."""

    billing: Billing
    wallets: list[tuple[str, bool]]
    variant: str  # sound, or a broken ledger's variant (tests/reliability/broken.py)
    seed: int
    count: int  # operations per wallet
    workers: int = 16
    logs: dict[str, list[Op]] = field(default_factory=dict)
    progress: dict[str, datetime] = field(default_factory=dict)  # each wallet's time so far
    errors: list[BaseException] = field(default_factory=list)
    sweeps: list[Any] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    barrier: threading.Barrier = field(init=False)  # the workers and the sweeper start together

    def __post_init__(self) -> None:
        self.logs = {clinic: [] for clinic, _ in self.wallets}
        self.progress = dict.fromkeys((clinic for clinic, _ in self.wallets), START)
        self.barrier = threading.Barrier(self.workers + 1)

    def run(self) -> float:
        """Start every thread at once, wait for them all; the seconds it took."""
        self.threads = [threading.Thread(target=self.worker, args=(k,)) for k in range(self.workers)]
        self.threads.append(threading.Thread(target=self.sweeper))
        started = time.perf_counter()
        start_and_join(self.threads)
        return time.perf_counter() - started

    def worker(self, k: int) -> None:
        # sound: each wallet belongs to one thread (its operations in program order, for the model);
        # broken: three threads share each wallet, so that a missing lock has races to lose
        sound = self.variant == "sound"
        mine = self.wallets[k :: self.workers] if sound else self.wallets[k % 5 :: 5]
        self.barrier.wait()
        try:
            for wallet in mine:
                clinic = wallet[0]
                if sound:
                    rng = random.Random(f"{self.seed}-{clinic}")
                    _run_wallet(self.billing, wallet, rng, self.count, self.logs[clinic], progress=self.progress)
                else:
                    rng = random.Random(f"{self.seed}-{k}")
                    _run_wallet(self.billing, wallet, rng, self.count, [], prefix=f"t{k}-")
        except BaseException as exc:
            self.errors.append(exc)

    def sweeper(self) -> None:
        # Sweeps land between the wallets' operations, dated at the slowest wallet's time (a sweep
        # runs at "now"; a clinic's time only moves forward, so a sweep dated in a wallet's future
        # would refuse its next operation), and once more after the run.
        self.barrier.wait()
        while any(thread.is_alive() for thread in self.threads[: self.workers]):
            try:
                self.sweeps.append(self.billing.expire_lots(min(self.progress.values())))
            except BaseException as exc:
                self.errors.append(exc)
            time.sleep(scale(8, 400) / 100)
        try:
            self.sweeps.append(self.billing.expire_lots(START + SPAN))
        except BaseException as exc:
            self.errors.append(exc)


@pytest.mark.parametrize("variant", ["sound", "read_modify_write"])
def test_r4_mixed_workload_matches_the_reference_model(
    ledger: Ledger, seed: int, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    billing = ledger.billing
    billing.publish_pricebook(US_V1, actor="reliability", key="publish-us", at=PUBLISHED)
    wallets = [(f"in-{n:02d}", False) for n in range(14)] + [(f"us-{n:02d}", True) for n in range(6)]
    funded = {}
    for clinic, us in wallets:
        billing.register_clinic(clinic, clinic, "US" if us else "IN", key=f"register-{clinic}", at=START)
        funded[clinic] = billing.purchase(
            clinic, 2_000_000 if us else 2_000, payment_method="upi_ok", key=f"fund-{clinic}", at=START
        )
    race = _Race(billing, wallets, variant, seed, scale(25, 400))
    with broken(variant, monkeypatch, billing.db):
        elapsed = race.run()
    logs, errors, sweeps = race.logs, race.errors, race.sweeps
    if variant != "sound":
        ledger.damaged_on_purpose = True
        # threads sharing a wallet interleave their times: OutOfOrder refusals are expected there and
        # prove nothing about the broken ledger, so they do not count as the damage it must cause
        damage = [repr(e) for e in errors if not isinstance(e, OutOfOrder)] + findings(billing)
        if not damage:  # the state itself must then disagree with the model
            damage = _divergences(billing, wallets, logs, funded)
        assert damage, "the broken ledger went unnoticed: this test cannot fail"
        return
    assert not errors, f"seed {seed}: {errors[:3]}"

    divergences = _divergences(billing, wallets, logs, funded)
    kinds = Counter(op.kind for log in logs.values() for op in log)
    print(
        f"R4 seed {seed}: {sum(kinds.values())} operations in {elapsed:.1f} s "
        f"({', '.join(f'{k} {n / elapsed:,.0f}/s' for k, n in sorted(kinds.items()))}), "
        f"{len(sweeps)} sweeps expiring {sum(s.credits for s in sweeps):,} credits, {len(divergences)} divergences"
    )
    assert not divergences, f"seed {seed}:\n" + "\n".join(divergences[:10])
    # it exercised them: credits expired — by the sweeper, or by an operation that found its wallet's
    # lots due first (which of the two gets a lot is the race's: a seed may leave the sweeper none)
    expiries = billing.db.read(
        lambda conn: conn.execute(
            select(func.count()).where(transactions.c.kind == "expiry", transactions.c.credits > 0)
        ).scalar_one()
    )
    assert expiries > 0 and kinds["refund"] > 0 and kinds["adjust"] > 0, (expiries, kinds)
    assert len(sweeps) > 1  # and the sweeper ran during the race, not only after it
    wallets_in_db = billing.db.read(
        lambda conn: conn.execute(select(accounts.c.id).where(accounts.c.kind == "wallet")).all()
    )
    assert len(wallets_in_db) == 20
