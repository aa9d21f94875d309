"""R12, R13, R15: the state transitions that move money happen once, however they race."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.billing import DisputeClosed, FakeGateway, RefundExceeded, settlement
from storage.schema import payment_attempts, transactions
from tests.reliability.broken import broken
from tests.support.races import race
from tests.support.reliability import Ledger, findings, lead


def _rows(ledger: Ledger, **where: Any) -> list[Any]:
    return ledger.billing.db.read(
        lambda conn: list(conn.execute(select(transactions).where(*(transactions.c[k] == v for k, v in where.items()))))
    )


def _judge(ledger: Ledger, variant: str, problems: list[str]) -> None:
    if variant == "sound":
        assert not problems, problems[:10]
    else:
        ledger.damaged_on_purpose = True
        assert problems, f"{variant} went unnoticed: this test cannot fail"


R12 = {"sound": (), "no CAS on the dispute": ("no_dispute_cas", "no_refund_cas", "unlocked")}


@pytest.mark.parametrize("variant", list(R12))
def test_r12_a_dispute_is_decided_once(ledger: Ledger, variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clinic = ledger.wallet("c", 1_000)
    billing = ledger.billing
    charge = billing.charge(clinic, lead(40), key="lead")
    dispute = billing.open_dispute(clinic, charge.transaction_id, reason="invalid", key="dispute")
    assert dispute.status == "open"

    def decide(worker: int) -> list[Any]:
        try:
            act = billing.approve_dispute if worker % 4 else billing.reject_dispute  # approve-vs-reject too
            return [act(dispute.dispute_id, actor=f"admin-{worker}", note="checked", key=f"decide-{worker}").status]
        except DisputeClosed:
            return ["closed"]

    with broken(R12[variant], monkeypatch, billing.db):
        raced = race(16, decide)
    decided = [s for s in raced.results if s != "closed"]
    refunds = _rows(ledger, kind="refund", related_id=charge.transaction_id)
    problems = [f"{type(e).__name__}: {e}" for e in raced.errors[:3]] + findings(billing)
    if len(decided) != 1:
        problems.append(f"{len(decided)} decisions took effect: {decided}")
    expected = 40 if decided == ["approved"] else 0
    if sum(int(r.credits) for r in refunds) != expected or len(refunds) > 1:
        problems.append(f"refunds {[int(r.credits) for r in refunds]} after {decided}")
    if billing.balance(clinic).balance != 960 + expected:
        problems.append(f"balance {billing.balance(clinic).balance}")
    print(f"R12 {variant}: decisions {decided}, refunds {len(refunds)}")
    _judge(ledger, variant, problems)


R13 = {"sound": (), "no CAS on the refund": ("no_refund_cas", "unlocked")}


@pytest.mark.parametrize("variant", list(R13))
def test_r13_partial_refunds_never_exceed_the_charge(
    ledger: Ledger, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic = ledger.wallet("c", 1_000)
    billing = ledger.billing
    charge = billing.charge(clinic, lead(40), key="lead")

    def refund(worker: int) -> list[Any]:
        try:
            return [
                billing.refund(clinic, charge.transaction_id, "support", "partial", f"r{worker}", credits=25).credits
            ]
        except RefundExceeded:
            return ["refused"]

    with broken(R13[variant], monkeypatch, billing.db):
        raced = race(2, refund)
    given = sum(int(r.credits) for r in _rows(ledger, kind="refund"))
    problems = [f"{type(e).__name__}: {e}" for e in raced.errors[:3]] + findings(billing)
    if given > 40 or sorted(map(str, raced.results)) != ["25", "refused"]:
        problems.append(f"refunded {given} of 40: {raced.results}")
    print(f"R13 {variant}: refunded {given}")
    _judge(ledger, variant, problems)


R15 = {"sound": (), "no CAS on the payment": ("no_payment_cas", "unlocked")}


@pytest.mark.parametrize("variant", list(R15))
def test_r15_a_top_up_is_all_or_nothing_and_credited_once_per_payment(
    ledger: Ledger, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic = ledger.wallet("c", 0)
    billing = ledger.billing
    gateway = billing.gateway.only
    assert isinstance(gateway, FakeGateway)
    original = settlement._credit

    def killed(*args: Any) -> Any:  # the process dies after the provider took the money, before the lots
        raise KeyboardInterrupt("killed between the provider's answer and the lots")

    monkeypatch.setattr(settlement, "_credit", killed)
    with pytest.raises(KeyboardInterrupt):
        billing.purchase(clinic, 10_000, payment_method="card_ok", key="topup")
    monkeypatch.setattr(settlement, "_credit", original)
    (attempt,) = billing.db.read(lambda conn: list(conn.execute(select(payment_attempts))))
    assert attempt.status == "created"  # recorded before the provider was called, so it can be found
    assert billing.balance(clinic).balance == 0  # and none of {lot, bonus lot}
    retried = billing.purchase(clinic, 10_000, payment_method="card_ok", key="topup")  # the same payment, found
    assert retried.status == "credited" and len(gateway._by_id) == 1  # by its reference: paid once

    pending = billing.purchase(clinic, 10_000, payment_method="card_pending", key="topup-2")
    gateway.settle(pending.payment_id)
    with broken(R15[variant], monkeypatch, billing.db):  # the webhook three times, and the client's retry
        raced = race(
            4,
            lambda w: [
                billing.confirm_payment(pending.payment_id).status
                if w
                else billing.purchase(clinic, 10_000, payment_method="card_pending", key="topup-2").status
            ],
        )
    topups = _rows(ledger, kind="topup", status="posted")
    problems = [f"{type(e).__name__}: {e}" for e in raced.errors[:3]] + findings(billing)
    if len(topups) != 2 or billing.balance(clinic).balance != 24_000:
        problems.append(f"{len(topups)} top-ups, balance {billing.balance(clinic).balance} (expected 2 and 24,000)")
    print(f"R15 {variant}: top-ups {len(topups)}, balance {billing.balance(clinic).balance}")
    _judge(ledger, variant, problems)
