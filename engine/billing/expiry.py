"""The expiry sweep: every lot whose time is up loses what it holds, through the ledger's door.

Safe to run twice and alongside charges: each wallet is swept in its own transaction under its
lock, and a lot expires at most once (compare-and-set). Charges expire a wallet's due lots
themselves before spending (engine/billing/wallet.py), so the sweep is bookkeeping, never a
condition of correctness."""

from __future__ import annotations

from datetime import datetime

from engine.billing import notices, wallet
from engine.billing import state as clinic_state
from engine.billing.context import Context
from engine.billing.results import ExpiryResult
from storage import accounts, lots
from storage.database import Connection


def expire_lots(ctx: Context, at: datetime) -> ExpiryResult:
    pending = ctx.db.read(lambda conn: lots.wallets_with_due_lots(conn, at))
    swept = expired_lots = credits = 0
    ids: list[int] = []
    for wallet_id in pending:

        def sweep(conn: Connection, wallet_id: int = wallet_id) -> tuple[int, int, int] | None:
            found = clinic_state.load(conn, accounts.clinic_of(conn, wallet_id), at, lock=True)
            swept_at = max(at, found.wallet.last_at or at)  # a sweep that lags a clinic's time sweeps at it
            due = lots.due_lots(conn, swept_at, wallet_id)
            posted = wallet.expire_due(conn, found, swept_at, sweep=True)
            if posted is None:
                return None
            if posted.credits:
                current = clinic_state.current(ctx.catalog, conn, found, swept_at)
                notices.balance_changed(conn, found, current, posted.balance, swept_at)
            return posted.transaction_id, len(due), posted.credits

        done = ctx.db.run(sweep)
        if done is not None:
            ids.append(done[0])
            swept += 1
            expired_lots += done[1]
            credits += done[2]
    return ExpiryResult(lots=expired_lots, credits=credits, wallets=swept, transaction_ids=tuple(ids))
