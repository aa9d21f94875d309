"""The payment sweeper: no attempt stays in flight forever, and none is settled on a guess.

`creditbook payments sweep` (and `Billing.sweep_payments`) takes the attempts still `created` or
`pending` after `older_than` — a purchase that died after recording its attempt, a webhook that never
came — and asks each one's provider about it: by the provider's payment id when it was recorded,
else by our reference (the provider's search, or Razorpay's orders by receipt). Then it settles
what the provider says (engine/billing/settlement.py): paid is credited (once: a purchase's retry or
a webhook racing the sweeper changes nothing), declined is failed, and a payment the provider has
never heard of failed as "never reached the provider". A payment still pending on its payer after
`abandon_after` is abandoned at the provider where it can be (a Stripe intent is cancelled) and
failed — unless the provider reports it paid after all, in which case it is credited.

Safe to run twice, concurrently, and alongside purchases and webhooks. A provider that cannot be
asked leaves the attempt in flight for the next sweep and is reported.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.billing import settlement
from engine.billing.context import Context
from engine.billing.errors import BillingError
from engine.billing.payments.protocol import GatewayUnavailable, PaymentStatus
from engine.billing.results import SweepResult, SweptAttempt
from engine.money import format_money
from storage import payments

OLDER_THAN = timedelta(minutes=15)
ABANDON_AFTER = timedelta(hours=24)


def sweep(
    ctx: Context,
    at: datetime,
    older_than: timedelta = OLDER_THAN,
    abandon_after: timedelta = ABANDON_AFTER,
    limit: int = 500,
) -> SweepResult:
    """Settle or fail the attempts in flight for longer than `older_than` (module docstring)."""
    if older_than < timedelta(0) or abandon_after < older_than:
        raise ValueError("sweep: older_than must be >= 0 and abandon_after >= older_than")
    due = ctx.db.read(lambda conn: payments.in_flight(conn, at - older_than, limit))
    outcome: dict[str, list[str]] = {"credited": [], "failed": [], "pending": [], "errors": []}
    swept: list[SweptAttempt] = []
    for attempt in due:
        try:
            gateway = ctx.gateway.for_provider(attempt.provider)
            if attempt.provider_id is not None:
                payment = gateway.get_payment(attempt.provider_id)
            else:
                payment = gateway.find_payment(attempt.reference) or settlement.unreached(attempt)
            if payment.status is PaymentStatus.PENDING and at - attempt.created_at >= abandon_after:
                payment = gateway.abandon(payment)
            settled = settlement.settle(ctx, attempt, payment, at)
        except (GatewayUnavailable, BillingError) as exc:
            outcome["errors"].append(f"{attempt.reference}: {exc}")
            continue
        outcome[settled.status].append(attempt.reference)
        money = format_money(attempt.amount, attempt.currency)
        swept.append(
            SweptAttempt(
                reference=attempt.reference,
                clinic_id=attempt.clinic_id,
                settled_as=settled.status,
                credits=attempt.credits,
                money=attempt.amount,
                currency=attempt.currency,
                shown=f"{attempt.credits:,} credits ({money})",
            )
        )
    return SweepResult(
        examined=len(due),
        attempts=tuple(swept),
        credited=tuple(outcome["credited"]),
        failed=tuple(outcome["failed"]),
        pending=tuple(outcome["pending"]),
        errors=tuple(outcome["errors"]),
    )


__all__ = ["ABANDON_AFTER", "OLDER_THAN", "sweep"]
