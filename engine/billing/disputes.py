"""Disputes: a clinic disputes a charge; the pricebook's policy refunds it at once (a duplicate within
its window), sends it to an admin, or rejects it; an admin approves or rejects an open one, once.
An approval refunds exactly what the charge took, through engine/billing/refunds.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.billing import notices
from engine.billing import state as clinic_state
from engine.billing.context import Context, Done, Keyed
from engine.billing.errors import DisputeClosed, ForeignDispute, UnknownDispute
from engine.billing.refunds import RefundAsk, posted_charge, refund_charge
from engine.billing.results import DisputeResult, DisputeView
from engine.pricebook.model import CompiledPricebook
from engine.vocabulary import DisputeOutcome, DisputeStatus, EventKind
from rules import DisputeFacts, PolicyEngine
from storage import accounts, disputes
from storage.database import Connection
from storage.idempotency import ADMIN_SCOPE

_STATUS = {
    DisputeOutcome.AUTO_APPROVED: DisputeStatus.APPROVED,
    DisputeOutcome.ADMIN_REVIEW: DisputeStatus.OPEN,
    DisputeOutcome.REJECTED: DisputeStatus.REJECTED,
}


def open_dispute(ctx: Context, clinic_id: str, charge_id: int, reason: str, key: str, at: datetime) -> DisputeResult:
    """A clinic disputes one of its charges (see the module docstring)."""

    def work(conn: Connection, at: datetime) -> Done:
        found = clinic_state.load(conn, clinic_id, at)
        charge = posted_charge(conn, charge_id, clinic_id)
        if disputes.is_disputed(conn, charge_id):
            raise DisputeClosed(f"charge {charge_id} is already disputed")
        current = clinic_state.current(ctx.catalog, conn, found, at)
        decision = PolicyEngine.of(current).dispute(
            DisputeFacts(
                reason=reason,
                product=charge.product or "",
                charged_at=charge.at,
                opened_at=at,
                previous_charge_at=disputes.previous_charge_at(conn, charge),
            )
        )
        status = _STATUS[decision.outcome]
        decided = status is not DisputeStatus.OPEN
        dispute_id = disputes.open_dispute(
            conn,
            disputes.NewDispute(
                clinic_id=clinic_id,
                charge_id=charge_id,
                reason=reason,
                status=status,
                decision=decision.outcome.value,
                decision_reason=decision.reason,
                opened_at=at,
                decided_at=at if decided else None,
                decided_by="policy" if decided else None,
            ),
        )
        refund_id, refunded, balance = None, 0, found.wallet.balance
        if status is DisputeStatus.APPROVED:
            ask = RefundAsk(charge_id, None, "policy", f"dispute {dispute_id}: {decision.reason}")
            refund_id, refunded, balance = refund_charge(conn, ctx, clinic_id, ask, at)
            disputes.set_refund(conn, dispute_id, refund_id)
        result = DisputeResult(
            dispute_id=dispute_id,
            clinic_id=clinic_id,
            charge_id=charge_id,
            status=status.value,
            decision=decision.outcome.value,
            reason=decision.reason,
            refund_id=refund_id,
            refunded_credits=refunded,
            balance=balance,
        )
        if decided:
            _tell(conn, result, current, at)
        return Done(result, refund_id)

    keyed = Keyed(clinic_id, key, "dispute", {"charge": charge_id, "reason": reason})
    return ctx.idempotent(keyed, work, DisputeResult, at)


@dataclass(frozen=True)
class Verdict:
    """An admin's decision on an open dispute."""

    dispute_id: int
    approve: bool
    actor: str
    note: str
    clinic_id: str | None = None  # when given, the dispute must be this clinic's


def decide(ctx: Context, verdict: Verdict, key: str, at: datetime) -> DisputeResult:
    """Approve (refund exactly what the charge took, once) or reject an open dispute."""

    def work(conn: Connection, at: datetime) -> Done:
        row = disputes.dispute(conn, verdict.dispute_id)
        if row is None:
            raise UnknownDispute(f"no dispute {verdict.dispute_id}")
        if verdict.clinic_id is not None and row.clinic_id != verdict.clinic_id:
            raise ForeignDispute(f"dispute {verdict.dispute_id} belongs to another clinic")
        status = DisputeStatus.APPROVED if verdict.approve else DisputeStatus.REJECTED
        if not disputes.decide(conn, verdict.dispute_id, disputes.Decision(status, at, verdict.actor, verdict.note)):
            raise DisputeClosed(f"dispute {verdict.dispute_id} is already {row.status}")
        refund_id, refunded, balance = None, 0, None
        if verdict.approve:
            ask = RefundAsk(
                row.charge_id, None, verdict.actor, f"dispute {verdict.dispute_id} approved: {verdict.note}"
            )
            refund_id, refunded, balance = refund_charge(conn, ctx, row.clinic_id, ask, at)
            disputes.set_refund(conn, verdict.dispute_id, refund_id)
        else:
            held = accounts.wallet(conn, row.clinic_id)
            balance = None if held is None else held.balance
        result = DisputeResult(
            dispute_id=verdict.dispute_id,
            clinic_id=row.clinic_id,
            charge_id=row.charge_id,
            status=status.value,
            decision=row.decision or DisputeOutcome.ADMIN_REVIEW.value,
            reason=verdict.note or status.value,
            refund_id=refund_id,
            refunded_credits=refunded,
            balance=balance,
        )
        found = clinic_state.load(conn, row.clinic_id, at)
        _tell(conn, result, clinic_state.current(ctx.catalog, conn, found, at), at)
        return Done(result, refund_id)

    operation = "approve" if verdict.approve else "reject"
    request = {"dispute": verdict.dispute_id, "actor": verdict.actor, "note": verdict.note}
    return ctx.idempotent(Keyed(ADMIN_SCOPE, key, operation, request), work, DisputeResult, at)


def _tell(conn: Connection, result: DisputeResult, current: CompiledPricebook, at: datetime) -> None:
    """The clinic hears how its dispute was decided (docs/domain.md §13)."""
    if result.status == DisputeStatus.APPROVED:
        outcome = f"approved: {current.format_credits(result.refunded_credits)} refunded"
    else:
        outcome = f"rejected: {result.reason}"
    notices.tell(
        conn,
        EventKind.DISPUTE_DECIDED,
        result.clinic_id,
        {
            "subject": f"Dispute {result.dispute_id} {result.status}",
            "message": f"Your dispute of charge {result.charge_id} was {outcome}.",
            "dispute_id": result.dispute_id,
            "charge_id": result.charge_id,
            "status": result.status,
            "refunded_credits": result.refunded_credits,
        },
        at,
    )


def listed(ctx: Context, status: str | None, clinic_id: str | None) -> list[DisputeView]:
    rows = ctx.db.read(lambda conn: disputes.listed(conn, status, clinic_id))
    return [DisputeView.model_validate(row) for row in rows]
