"""Refunds and disputes: a charge's credits go back to the lots they came from, once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from engine.billing import support
from engine.billing.base import REFUND_GRACE, BillingBase, Done
from engine.billing.errors import (
    DisputeClosed,
    ForeignDispute,
    InvalidAmount,
    RefundExceeded,
    UnknownCharge,
    UnknownDispute,
)
from engine.billing.results import (
    DisputeResult,
    DisputeView,
    RefundResult,
)
from rules import DisputeFacts
from storage import ledger
from storage.schema import (
    disputes,
    transactions,
)


def _posted_charge(conn: Connection, charge_id: int, clinic_id: str) -> Any:
    """The posted charge `charge_id` of this clinic, or the error that says why not."""
    charge = conn.execute(select(transactions).where(transactions.c.id == charge_id)).first()
    if charge is None or charge.kind != "charge" or charge.status != "posted":
        raise UnknownCharge(f"no posted charge {charge_id}")
    if charge.clinic_id != clinic_id:
        raise ForeignDispute(f"charge {charge_id} belongs to another clinic")
    return charge


class DisputeOperations(BillingBase):
    """Refunds and disputes: a charge's credits go back to the lots they came from, once."""

    def _refund(
        self,
        conn: Connection,
        found: support.Clinic,
        charge_id: int,
        credits: int | None,
        at: datetime,
        actor: str | None,
        reason: str,
    ) -> tuple[int, int]:
        """Give back `credits` (default: all that is left) of a charge, to the lots it came from."""
        charge = _posted_charge(conn, charge_id, found.id)
        wallet = ledger.wallet(conn, found.id, lock=True)
        assert wallet is not None
        left = ledger.refundable(conn, charge_id)
        amount = left if credits is None else credits
        if amount <= 0 or amount > left:
            shown = self._current(conn, found.pricebook_id, at).format_credits
            raise RefundExceeded(f"charge {charge_id} has {shown(left)} left to refund; asked for {shown(amount)}")
        if not ledger.mark_refunded(conn, charge_id, amount):
            raise RefundExceeded(f"charge {charge_id} was refunded meanwhile")
        refund = ledger.insert_transaction(
            conn,
            clinic_id=found.id,
            kind="refund",
            status="posted",
            credits=amount,
            at=at,
            related_id=charge_id,
            product=charge.product,
            actor=actor,
            reason=reason,
            pricebook_id=charge.pricebook_id,
            pricebook_version=charge.pricebook_version,
            pricebook_hash=charge.pricebook_hash,
            rule_ids=charge.rule_ids,
        )
        ledger.restore(conn, charge_id, refund, wallet.id, at, REFUND_GRACE, amount)
        ledger.credit_wallet(conn, wallet.id, amount)
        revenue = ledger.system_account(conn, "usage_revenue", found.market)
        ledger.post_legs(conn, refund, [(wallet.id, amount), (revenue, -amount)])
        return refund, amount

    def refund(
        self,
        clinic_id: str,
        charge_id: int,
        actor: str,
        reason: str,
        key: str,
        credits: int | None = None,
        at: datetime | None = None,
    ) -> RefundResult:
        """An admin refund of a charge, whole or in part; all refunds of a charge never exceed it."""
        when = self._at(at)
        if credits is not None and (not isinstance(credits, int) or isinstance(credits, bool) or credits <= 0):
            raise InvalidAmount(f"a refund is a positive whole number of credits, not {credits!r}")

        def work(conn: Connection, at: datetime) -> Done:
            found = support.clinic(conn, clinic_id)
            refund, amount = self._refund(conn, found, charge_id, credits, at, actor, reason)
            balance = ledger.clinic_balance(conn, clinic_id)
            return Done(
                RefundResult(
                    clinic_id=clinic_id, charge_id=charge_id, refund_id=refund, credits=amount, balance=balance
                ),
                refund,
            )

        request = {"charge": charge_id, "credits": credits, "actor": actor, "reason": reason}
        return self._idempotent(clinic_id, key, "refund", request, work, RefundResult, when)

    def open_dispute(
        self, clinic_id: str, charge_id: int, reason: str, key: str, at: datetime | None = None
    ) -> DisputeResult:
        """A clinic disputes a charge. The pricebook's policy decides: refunded at once (a duplicate
        within its window), to an admin, or rejected (reason not allowed, window passed)."""
        when = self._at(at)

        def work(conn: Connection, at: datetime) -> Done:
            found = support.clinic(conn, clinic_id)
            charge = _posted_charge(conn, charge_id, clinic_id)
            if conn.execute(select(disputes.c.id).where(disputes.c.charge_id == charge_id)).first() is not None:
                raise DisputeClosed(f"charge {charge_id} is already disputed")
            previous = None
            if charge.patient_ref:
                previous = conn.execute(
                    select(func.max(transactions.c.at)).where(
                        transactions.c.clinic_id == clinic_id,
                        transactions.c.patient_ref == charge.patient_ref,
                        transactions.c.kind == "charge",
                        transactions.c.status == "posted",
                        # earlier in ledger order: an earlier time, or the same instant and a lower id
                        or_(
                            transactions.c.at < charge.at,
                            and_(transactions.c.at == charge.at, transactions.c.id < charge_id),
                        ),
                    )
                ).scalar()
            current = self._current(conn, found.pricebook_id, at)
            decision = self._policy(current).dispute(
                DisputeFacts(
                    reason=reason,
                    product=charge.product or "",
                    charged_at=charge.at,
                    opened_at=at,
                    previous_charge_at=previous,
                )
            )
            status = {"auto_approved": "approved", "admin_review": "open", "rejected": "rejected"}[decision.outcome]
            dispute_id = int(
                conn.execute(
                    insert(disputes)
                    .values(
                        clinic_id=clinic_id,
                        charge_id=charge_id,
                        reason=reason,
                        status=status,
                        decision=decision.outcome,
                        decision_reason=decision.reason,
                        opened_at=at,
                        decided_at=at if status != "open" else None,
                        decided_by="policy" if status != "open" else None,
                    )
                    .returning(disputes.c.id)
                ).scalar_one()
            )
            refund_id, refunded = None, 0
            if status == "approved":
                refund_id, refunded = self._refund(
                    conn, found, charge_id, None, at, "policy", f"dispute {dispute_id}: {decision.reason}"
                )
                conn.execute(update(disputes).where(disputes.c.id == dispute_id).values(refund_id=refund_id))
            balance = ledger.clinic_balance(conn, clinic_id)
            return Done(
                DisputeResult(
                    dispute_id=dispute_id,
                    clinic_id=clinic_id,
                    charge_id=charge_id,
                    status=status,
                    decision=decision.outcome,
                    reason=decision.reason,
                    refund_id=refund_id,
                    refunded_credits=refunded,
                    balance=balance,
                ),
                refund_id,
            )

        return self._idempotent(
            clinic_id, key, "dispute", {"charge": charge_id, "reason": reason}, work, DisputeResult, when
        )

    def _decide(
        self, dispute_id: int, approve: bool, actor: str, note: str, key: str, at: datetime, clinic_id: str | None
    ) -> DisputeResult:
        def work(conn: Connection, at: datetime) -> Done:
            row = conn.execute(select(disputes).where(disputes.c.id == dispute_id)).first()
            if row is None:
                raise UnknownDispute(f"no dispute {dispute_id}")
            if clinic_id is not None and row.clinic_id != clinic_id:
                raise ForeignDispute(f"dispute {dispute_id} belongs to another clinic")
            found = support.clinic(conn, row.clinic_id)
            status = "approved" if approve else "rejected"
            if not ledger.decide_dispute(conn, dispute_id, status, at, actor, note):
                raise DisputeClosed(f"dispute {dispute_id} is already {row.status}")
            refund_id, refunded = None, 0
            if approve:
                refund_id, refunded = self._refund(
                    conn, found, row.charge_id, None, at, actor, f"dispute {dispute_id} approved: {note}"
                )
                conn.execute(
                    update(disputes)
                    .where(disputes.c.id == dispute_id, disputes.c.refund_id.is_(None))
                    .values(refund_id=refund_id)
                )
            balance = ledger.clinic_balance(conn, row.clinic_id)
            return Done(
                DisputeResult(
                    dispute_id=dispute_id,
                    clinic_id=row.clinic_id,
                    charge_id=row.charge_id,
                    status=status,
                    decision=row.decision or "admin_review",
                    reason=note or status,
                    refund_id=refund_id,
                    refunded_credits=refunded,
                    balance=balance,
                ),
                refund_id,
            )

        return self._idempotent(
            "admin",
            key,
            "approve" if approve else "reject",
            {"dispute": dispute_id, "actor": actor, "note": note},
            work,
            DisputeResult,
            at,
        )

    def approve_dispute(
        self, dispute_id: int, actor: str, note: str, key: str, at: datetime | None = None, clinic_id: str | None = None
    ) -> DisputeResult:
        """An admin approves: the charge's credits go back to the lots they came from, once."""
        return self._decide(dispute_id, True, actor, note, key, self._at(at), clinic_id)

    def reject_dispute(
        self, dispute_id: int, actor: str, note: str, key: str, at: datetime | None = None, clinic_id: str | None = None
    ) -> DisputeResult:
        return self._decide(dispute_id, False, actor, note, key, self._at(at), clinic_id)

    def disputes(self, status: str | None = "open", clinic_id: str | None = None) -> list[DisputeView]:
        def read(conn: Connection) -> list[DisputeView]:
            query = (
                select(disputes, transactions.c.credits, transactions.c.product)
                .select_from(disputes.join(transactions, transactions.c.id == disputes.c.charge_id))
                .order_by(disputes.c.id)
            )
            if status is not None:
                query = query.where(disputes.c.status == status)
            if clinic_id is not None:
                query = query.where(disputes.c.clinic_id == clinic_id)
            return [DisputeView.model_validate(r._mapping) for r in conn.execute(query)]

        return self.db.read(read)
