"""Admin adjustments: an entry with an actor and a reason, never a balance overwrite.

A positive adjustment is a granted lot (paid for by the adjustments account); a negative one is
taken like a charge, within the overdraft limit, and refused (nothing written) past it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.billing import notices, wallet
from engine.billing import state as clinic_state
from engine.billing.context import Context, Done, Keyed
from engine.billing.errors import AdjustmentRefused, InvalidAmount
from engine.billing.results import AdjustmentResult
from engine.vocabulary import AccountKind, AllocationKind, LotKind, LotSource, TransactionKind
from storage import transfers
from storage.database import Connection
from storage.lots import NewLot, spending_order


@dataclass(frozen=True)
class Adjustment:
    clinic_id: str
    credits: int
    actor: str
    reason: str


def adjust(ctx: Context, asked: Adjustment, key: str, at: datetime) -> AdjustmentResult:
    if isinstance(asked.credits, bool) or not isinstance(asked.credits, int) or asked.credits == 0:
        raise InvalidAmount(f"an adjustment is a non-zero whole number of credits, not {asked.credits!r}")
    if not asked.actor or not asked.reason:
        raise InvalidAmount("an adjustment needs an actor and a reason")

    def work(conn: Connection, asked_at: datetime) -> Done:
        found, at, _ = wallet.locked(conn, asked.clinic_id, asked_at)
        if asked.credits > 0:
            effect: transfers.Effect = transfers.Fund(NewLot(LotKind.GRANTED, LotSource.ADJUSTMENT, None))
        else:
            effect = transfers.Spend(spending_order(found.lots, at), transfers.OnDecline.REFUSE, AllocationKind.ADJUST)
        posted = transfers.post(
            conn,
            transfers.Transfer(
                kind=TransactionKind.ADJUSTMENT,
                wallet=found.wallet,
                credits=abs(asked.credits),
                counter=AccountKind.ADJUSTMENTS,
                effect=effect,
                at=at,
                details=transfers.Details(actor=asked.actor, reason=asked.reason),
            ),
        )
        if isinstance(posted, transfers.Declined):
            shown = clinic_state.current(ctx.catalog, conn, found, at).format_credits
            raise AdjustmentRefused(
                f"taking {shown(-asked.credits)} would put clinic {asked.clinic_id} (balance "
                f"{shown(found.wallet.balance)}) past its overdraft limit of {shown(found.wallet.overdraft_limit)}"
            )
        notices.balance_changed(conn, found, clinic_state.current(ctx.catalog, conn, found, at), posted.balance, at)
        result = AdjustmentResult(
            clinic_id=asked.clinic_id,
            transaction_id=posted.transaction_id,
            credits=asked.credits,
            balance=posted.balance,
        )
        return Done(result, posted.transaction_id)

    request = {"clinic": asked.clinic_id, "credits": asked.credits, "actor": asked.actor, "reason": asked.reason}
    return ctx.idempotent(Keyed(asked.clinic_id, key, "adjust", request), work, AdjustmentResult, at)
