"""What billing does with a clinic's wallet around every operation: expire what is due before
spending, estimate what the balance still buys, and raise the alerts the policy asks for.

Each is a function of the clinic's state and the pricebook, called from one place by every
operation that needs it (charges, purchases, adjustments, the dashboard).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from engine.billing import state as clinic_state
from engine.billing.results import Remaining
from engine.billing.state import ClinicState
from engine.pricebook.model import CompiledPricebook
from engine.pricing.quote import quote
from engine.pricing.requests import QuoteContext, Usage
from engine.vocabulary import AccountKind, Product, TransactionKind
from rules import AlertDecision, AlertFacts, PolicyEngine
from storage import lots as storage_lots
from storage import transfers
from storage.database import Connection
from storage.lots import Lot, Taken, after_take
from storage.usage import TRAILING_DAYS


class Locked(NamedTuple):
    """A clinic's state under its wallet lock, the time the operation is posted at, and whether
    lots were expired first (a posted balance change of its own, whose alerts the caller tells)."""

    found: ClinicState
    at: datetime
    expired: bool


def locked(conn: Connection, clinic_id: str, at: datetime) -> Locked:
    """The clinic's state under its wallet lock at the time the operation is posted at (a clinic's
    time only moves forward: engine/billing/state.py clinic_time), with the lots whose time is up
    expired first (a lot is usable iff now < expires_at, so nothing may be spent from one that is due)."""
    found = clinic_state.load(conn, clinic_id, at, lock=True)
    posted_at = clinic_state.clinic_time(found, at)
    expired = expire_due(conn, found, posted_at) is not None
    if not expired and posted_at == at:
        return Locked(found, at, expired=False)
    return Locked(clinic_state.load(conn, clinic_id, posted_at), posted_at, expired)


def due(found: ClinicState, at: datetime) -> list[Lot]:
    return [lot for lot in found.lots if lot.expires_at is not None and lot.expires_at <= at]


def expire_due(conn: Connection, found: ClinicState, at: datetime, sweep: bool = False) -> transfers.Posted | None:
    """Expire the wallet's due lots through the ledger's door: the expiry transaction, or None when
    nothing was due. A charge expires only when a due lot still holds credits; the sweep
    (`sweep=True`) also marks emptied ones. The caller holds the wallet lock."""
    if not sweep and not due(found, at):
        return None
    lots = storage_lots.due_lots(conn, at, found.wallet.id)
    if not lots:
        return None
    posted = transfers.post(
        conn,
        transfers.Transfer(
            kind=TransactionKind.EXPIRY,
            wallet=found.wallet,
            credits=0,
            counter=AccountKind.EXPIRED,
            effect=transfers.Expire(lots),
            at=at,
        ),
    )
    assert isinstance(posted, transfers.Posted)  # an expiry is never declined
    return posted


def spent(found: ClinicState, taken: Taken, credits: int, balance: int, at: datetime) -> ClinicState:
    """The clinic's state after a posted spend of `credits` (what `taken` took from its lots) left
    the wallet at `balance` at `at`: a new state (a kept one is never changed in place)."""
    return replace(
        found,
        wallet=replace(found.wallet, balance=balance, version=found.wallet.version + 1, last_at=at),
        lots=after_take(found.lots, taken),
        charged_30d=found.charged_30d + credits,
        at=at,
    )


def expiring(found: ClinicState, at: datetime, until: datetime) -> tuple[int, datetime | None]:
    """Credits of usable lots that expire in (at, until], and the earliest such expiry."""
    soon = [lot for lot in found.lots if lot.expires_at is not None and at < lot.expires_at <= until]
    earliest = min((lot.expires_at for lot in soon if lot.expires_at is not None), default=None)
    return sum(lot.remaining for lot in soon), earliest


def remaining(found: ClinicState, current: CompiledPricebook, balance: int, at: datetime) -> Remaining | None:
    """How many more SMS segments and voice minutes the balance buys at the clinic's rates."""
    products = current.derived("billing.messaging", _messaging)
    if not products:  # a market that sells no messaging (leads only): nothing to estimate
        return None
    context = QuoteContext(
        at=at,
        plan=clinic_state.plan(found),
        bundle=found.clinic.bundle,
        term_usage={product: found.terms[product].units if product in found.terms else 0 for product in products},
        balance=balance,
    )
    estimate = quote(current, Usage(product=products[0], units=0), context).remaining
    if estimate is None:
        return None
    return Remaining(sms_segments=estimate.sms_segments, voice_minutes=estimate.voice_minutes)


def _messaging(pricebook: CompiledPricebook) -> tuple[str, ...]:
    """The messaging products a version sells (SMS, voice): what the balance estimate counts."""
    return tuple(p.product for p in pricebook.products if Product(p.product).is_messaging)


def alert_decision(found: ClinicState, current: CompiledPricebook, balance: int, at: datetime) -> AlertDecision:
    """The alerts the pricebook's policy raises for this balance, recent usage and expiring credits."""
    policy = PolicyEngine.of(current)
    soon, earliest = expiring(found, at, at + timedelta(days=policy.expiring_window_days))
    return policy.alerts(
        AlertFacts(
            balance=balance,
            trailing_daily_credits=Decimal(found.charged_30d) / TRAILING_DAYS,
            expiring_credits=soon,
            earliest_expiry=earliest,
        )
    )


def alerts(found: ClinicState, current: CompiledPricebook, balance: int, at: datetime) -> tuple[str, ...]:
    """The alerts' messages (what a charge's result and the dashboard show)."""
    return tuple(alert.message for alert in alert_decision(found, current, balance, at).alerts)
