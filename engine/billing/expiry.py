"""The expiry sweep: every lot whose time is up loses what it holds, through the ledger's door.

Safe to run twice and alongside charges: each wallet is swept in its own transaction under its
lock, and a lot expires at most once (compare-and-set). Charges expire a wallet's due lots
themselves before spending (engine/billing/wallet.py), so the sweep is bookkeeping, never a
condition of correctness.

The sweep is also when alerts that start to hold with time alone are told: credits entering the
pricebook's expiring window change no balance, so no operation would notice them. Each wallet with
credits expiring within the widest window of the versions in force is looked at under its lock;
when the alerts that hold differ from those recorded, they are recorded (and the wallet's version
bumped: what a kept state holds has changed, storage/accounts.py `bump`) and those that start to
hold are told, once (engine/billing/notices.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.billing import notices, wallet
from engine.billing import state as clinic_state
from engine.billing.context import Context
from engine.billing.results import ExpiryResult
from rules import PolicyEngine
from storage import accounts, lots
from storage.database import Connection


def expire_lots(ctx: Context, at: datetime) -> ExpiryResult:
    pending = ctx.db.read(lambda conn: lots.wallets_with_due_lots(conn, at))
    swept = expired_lots = credits = 0
    ids: list[int] = []
    told = 0
    for wallet_id in pending:

        def sweep(conn: Connection, wallet_id: int = wallet_id) -> tuple[int, int, int, int] | None:
            found = clinic_state.load(conn, accounts.clinic_of(conn, wallet_id), at, lock=True)
            swept_at = max(at, found.wallet.last_at or at)  # a sweep that lags a clinic's time sweeps at it
            due = lots.due_lots(conn, swept_at, wallet_id)
            posted = wallet.expire_due(conn, found, swept_at, sweep=True)
            if posted is None:
                return None
            events = []
            if posted.credits:
                current = clinic_state.current(ctx.catalog, conn, found, swept_at)
                events = notices.balance_changed(conn, found, current, posted.balance, swept_at)
            return posted.transaction_id, len(due), posted.credits, len(events)

        done = ctx.db.run(sweep)
        if done is not None:
            ids.append(done[0])
            swept += 1
            expired_lots += done[1]
            credits += done[2]
            told += done[3]
    told += tell_expiring(ctx, at)
    return ExpiryResult(lots=expired_lots, credits=credits, wallets=swept, transaction_ids=tuple(ids), alerts=told)


def _widest_window(ctx: Context, conn: Connection, at: datetime) -> int:
    """Days of the widest expiring-credits window among the versions in force (30 when none)."""
    windows = [
        PolicyEngine.of(ctx.catalog.in_force(conn, pricebook_id, at)).expiring_window_days
        for pricebook_id in set(ctx.catalog.markets(conn).values())
    ]
    return max(windows, default=30)


def tell_expiring(ctx: Context, at: datetime) -> int:
    """Record and tell the alerts that hold now for wallets with credits about to expire (see the
    module docstring); the number of events written."""

    def pending(conn: Connection) -> list[int]:
        return lots.wallets_with_lots_expiring(conn, at, at + timedelta(days=_widest_window(ctx, conn, at)))

    told = 0
    for wallet_id in ctx.db.read(pending):

        def check(conn: Connection, wallet_id: int = wallet_id) -> int:
            found = clinic_state.load(conn, accounts.clinic_of(conn, wallet_id), at, lock=True)
            checked_at = max(at, found.wallet.last_at or at)
            current = clinic_state.current(ctx.catalog, conn, found, checked_at)
            decision = wallet.alert_decision(found, current, found.wallet.balance, checked_at)
            if notices.holding(decision) == found.alerts:
                return 0
            accounts.bump(conn, found.clinic.id)
            return len(notices.balance_changed(conn, found, current, found.wallet.balance, checked_at, decision))

        told += ctx.db.run(check)
    return told
