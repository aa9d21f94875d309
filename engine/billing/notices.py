"""What billing tells people, written to the outbox in the same transaction as the change.

Each function is called by an operation, inside its database transaction, after the change it
reports: the event exists iff the change does (storage/outbox.py), and a worker delivers it later
(engine/notify). Alerts about a condition (a low balance, credits about to expire) are sent once per
crossing: when the condition starts to hold, not at every charge while it holds; once it stops
holding (a top-up), the next crossing is told again. Which conditions hold is recorded with the
clinic (storage/outbox.py `alert_changed`), always in a transaction that changes its wallet, so a
state read with them (ClinicState.alerts) stays true while the wallet's version does: a charge
whose alerts are the ones already recorded (`holding`) has nothing to tell nor to record, and the
fast charge paths post it without asking (engine/billing/charges.py).

Every payload carries `subject` and `message` in words (credits with their money, in the market's
conventions) for e-mail, and the figures as data for webhooks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.billing import wallet
from engine.billing.state import ClinicState
from engine.pricebook.model import CompiledPricebook
from engine.vocabulary import AlertKind, EventKind
from rules import Alert, AlertDecision
from storage import outbox
from storage.database import Connection

#: which policy alerts raise which event (a low balance is low by credits or by runway)
_ALERT_EVENTS: dict[AlertKind, EventKind] = {
    AlertKind.LOW_BALANCE_CREDITS: EventKind.LOW_BALANCE,
    AlertKind.LOW_BALANCE_RUNWAY_DAYS: EventKind.LOW_BALANCE,
    AlertKind.EXPIRING_CREDITS_DAYS: EventKind.CREDITS_EXPIRING,
}


def raised(decision: AlertDecision) -> dict[EventKind, Alert]:
    """The events the policy's alerts stand for, by kind (low by credits and by runway are one)."""
    return {_ALERT_EVENTS[alert.kind]: alert for alert in decision.alerts}


def holding(decision: AlertDecision) -> frozenset[str]:
    """The alert events whose condition holds: what `balance_changed` records for the clinic, and
    compared with a state's `alerts`, whether it has anything to record or tell."""
    return frozenset(kind.value for kind in raised(decision))


def balance_changed(
    conn: Connection,
    found: ClinicState,
    current: CompiledPricebook,
    balance: int,
    at: datetime,
    decision: AlertDecision | None = None,
) -> list[str]:
    """After a balance change posted in this transaction: record which alert conditions hold now at
    `balance` (judged on `found`'s lots and recent usage; `decision` is the policy's answer when the
    caller needs it too), and write an event for each that starts to hold (their ids returned)."""
    now = raised(decision or wallet.alert_decision(found, current, balance, at))
    ids = []
    for kind in dict.fromkeys(_ALERT_EVENTS.values()):
        alert = now.get(kind)
        if not outbox.alert_changed(conn, found.clinic.id, kind, alert is not None, at) or alert is None:
            continue
        payload = {
            "subject": f"{found.clinic.name}: {kind.replace('_', ' ')}",
            "message": alert.message,
            "balance": balance,
            "currency": current.meta.currency,
            "money_per_credit": current.meta.money_per_credit,
            "rule_id": alert.rule_id,
            "threshold": alert.threshold,
        }
        ids.append(outbox.add_event(conn, outbox.NewEvent(kind, found.clinic.id, payload, at)))
    return ids


def tell(conn: Connection, kind: EventKind, clinic_id: str | None, payload: dict[str, Any], at: datetime) -> str:
    """One event about something that happened (a settled top-up, a decided dispute, a version)."""
    return outbox.add_event(conn, outbox.NewEvent(kind, clinic_id, payload, at))
