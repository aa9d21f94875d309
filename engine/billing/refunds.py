"""Refunds: a charge's credits go back to the lots they came from, once.

`refund_charge` is the one refund step (an admin's refund, an approved dispute, a dispute the
policy approves at once all go through it): a `Restore` through the ledger's door, which never
gives back more than the charge took, however often it is asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from engine.billing import notices
from engine.billing import state as clinic_state
from engine.billing.context import Context, Done, Keyed
from engine.billing.errors import ForeignDispute, InvalidAmount, RefundExceeded, UnknownCharge
from engine.billing.results import RefundResult
from engine.vocabulary import AccountKind, TransactionKind
from storage import disputes, lots, transfers
from storage.database import Connection
from storage.disputes import ChargeRow

REFUND_GRACE: Final = timedelta(days=7)  # a refund into a lot that expired meanwhile stays usable this long


def posted_charge(conn: Connection, charge_id: int, clinic_id: str) -> ChargeRow:
    """The posted charge `charge_id` of this clinic, or the error that says why not."""
    charge = disputes.posted_charge(conn, charge_id)
    if charge is None:
        raise UnknownCharge(f"no posted charge {charge_id}")
    if charge.clinic_id != clinic_id:
        raise ForeignDispute(f"charge {charge_id} belongs to another clinic")
    return charge


@dataclass(frozen=True)
class RefundAsk:
    charge_id: int
    credits: int | None  # None: all that is left
    actor: str | None
    reason: str


def refund_charge(conn: Connection, ctx: Context, clinic_id: str, ask: RefundAsk, at: datetime) -> tuple[int, int, int]:
    """Give back `ask.credits` (default: all that is left) of a charge: (refund id, credits, balance)."""
    found = clinic_state.load(conn, clinic_id, at, lock=True)
    at = clinic_state.clinic_time(found, at)
    charge = posted_charge(conn, ask.charge_id, clinic_id)
    left = lots.refundable(conn, ask.charge_id)
    amount = left if ask.credits is None else ask.credits
    if amount <= 0 or amount > left:
        shown = clinic_state.current(ctx.catalog, conn, found, at).format_credits
        raise RefundExceeded(f"charge {ask.charge_id} has {shown(left)} left to refund; asked for {shown(amount)}")
    posted = transfers.post(
        conn,
        transfers.Transfer(
            kind=TransactionKind.REFUND,
            wallet=found.wallet,
            credits=amount,
            counter=AccountKind.USAGE_REVENUE,
            effect=transfers.Restore(ask.charge_id, REFUND_GRACE),
            at=at,
            stamp=transfers.Stamp(
                charge.pricebook_id,
                charge.pricebook_version,
                charge.pricebook_hash,
                _rule_ids(charge.rule_ids),
            ),
            details=transfers.Details(
                product=charge.product, related_id=ask.charge_id, actor=ask.actor, reason=ask.reason
            ),
        ),
    )
    if isinstance(posted, transfers.Declined):
        raise RefundExceeded(f"charge {ask.charge_id} was refunded meanwhile")
    notices.balance_changed(conn, found, clinic_state.current(ctx.catalog, conn, found, at), posted.balance, at)
    return posted.transaction_id, amount, posted.balance


def _rule_ids(stored: str | None) -> tuple[str, ...]:
    return tuple(json.loads(stored)) if stored else ()


def refund(ctx: Context, clinic_id: str, ask: RefundAsk, key: str, at: datetime) -> RefundResult:
    """An admin refund of a charge, whole or in part; all refunds of a charge never exceed it."""
    if ask.credits is not None and (
        isinstance(ask.credits, bool) or not isinstance(ask.credits, int) or ask.credits <= 0
    ):
        raise InvalidAmount(f"a refund is a positive whole number of credits, not {ask.credits!r}")

    def work(conn: Connection, at: datetime) -> Done:
        refund_id, amount, balance = refund_charge(conn, ctx, clinic_id, ask, at)
        result = RefundResult(
            clinic_id=clinic_id, charge_id=ask.charge_id, refund_id=refund_id, credits=amount, balance=balance
        )
        return Done(result, refund_id)

    request = {"charge": ask.charge_id, "credits": ask.credits, "actor": ask.actor, "reason": ask.reason}
    return ctx.idempotent(Keyed(clinic_id, key, "refund", request), work, RefundResult, at)
