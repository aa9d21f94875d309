"""Admin adjustments, lot expiry and reconciliation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from engine.billing import support
from engine.billing.base import BillingBase, Done
from engine.billing.errors import (
    AdjustmentRefused,
    InvalidAmount,
)
from engine.billing.results import (
    AdjustmentResult,
    ExpiryResult,
)
from storage import ledger
from storage.reconcile import Reconciliation, reconcile
from storage.schema import (
    transactions,
)


class MaintenanceOperations(BillingBase):
    """Admin adjustments, lot expiry and reconciliation."""

    def adjust(
        self, clinic_id: str, credits: int, actor: str, reason: str, key: str, at: datetime | None = None
    ) -> AdjustmentResult:
        """An admin correction: an entry with an actor and a reason, never a balance overwrite.
        Positive: a granted lot; negative: taken like a charge, within the overdraft limit."""
        when = self._at(at)
        if isinstance(credits, bool) or not isinstance(credits, int) or credits == 0:
            raise InvalidAmount(f"an adjustment is a non-zero whole number of credits, not {credits!r}")
        if not actor or not reason:
            raise InvalidAmount("an adjustment needs an actor and a reason")

        def work(conn: Connection, at: datetime) -> Done:
            found = support.clinic(conn, clinic_id)
            wallet = ledger.wallet(conn, clinic_id, lock=True)
            assert wallet is not None
            if credits < 0:  # what expired is gone before anything is taken (usable iff now < expires_at)
                self._expire_wallet(conn, found, wallet.id, at)
                wallet = ledger.wallet(conn, clinic_id)
                assert wallet is not None
            txn = ledger.insert_transaction(
                conn,
                clinic_id=clinic_id,
                kind="adjustment",
                status="posted",
                credits=abs(credits),
                at=at,
                actor=actor,
                reason=reason,
            )
            if credits > 0:
                self._add_credits(
                    conn, wallet, credits, "granted", "adjustment", at, None, txn, ("adjustments", found.market)
                )
            else:
                if ledger.debit_wallet(conn, wallet.id, -credits) is None:
                    shown = self._current(conn, found.pricebook_id, at).format_credits
                    raise AdjustmentRefused(
                        f"taking {shown(-credits)} would put clinic {clinic_id} (balance {shown(wallet.balance)}) "
                        f"past its overdraft limit of {shown(wallet.overdraft_limit)}"
                    )
                taken = ledger.take(conn, wallet.id, -credits, txn, at, kind="adjust")
                if taken.unfunded:
                    conn.execute(update(transactions).where(transactions.c.id == txn).values(unfunded=taken.unfunded))
                system = ledger.system_account(conn, "adjustments", found.market)
                ledger.post_legs(conn, txn, [(wallet.id, credits), (system, -credits)])
            balance = ledger.balance_of(conn, wallet.id)
            return Done(
                AdjustmentResult(clinic_id=clinic_id, transaction_id=txn, credits=credits, balance=balance), txn
            )

        request = {"clinic": clinic_id, "credits": credits, "actor": actor, "reason": reason}
        return self._idempotent(clinic_id, key, "adjust", request, work, AdjustmentResult, when)

    def _expire_wallet(
        self, conn: Connection, found: support.Clinic, wallet_id: int, at: datetime
    ) -> tuple[int, int, int]:
        """Expire this wallet's lots whose time is up (the caller holds the wallet lock)."""
        due = ledger.due_lots(conn, at, wallet_id)
        if not due:
            return 0, 0, 0
        txn = ledger.insert_transaction(conn, clinic_id=found.id, kind="expiry", status="posted", credits=0, at=at)
        total = count = 0
        for lot in due:
            taken = ledger.expire_lot(conn, int(lot.id), txn)
            total += taken
            count += taken > 0 or lot.remaining == 0
        if total:
            if ledger.debit_wallet(conn, wallet_id, total) is None:
                raise ledger.LedgerError(f"expiring {total} credits would break wallet {wallet_id}'s limit")
            expired = ledger.system_account(conn, "expired", found.market)
            ledger.post_legs(conn, txn, [(wallet_id, -total), (expired, total)])
        conn.execute(update(transactions).where(transactions.c.id == txn).values(credits=total))
        return txn, count, total

    def expire_lots(self, now: datetime | None = None) -> ExpiryResult:
        """Expire every lot whose time is up. Safe to run twice and alongside charges: each wallet is
        swept under its lock, and a lot expires at most once (compare-and-set)."""
        when = self._at(now)
        pending = self.db.read(lambda conn: sorted({int(lot.wallet_id) for lot in ledger.due_lots(conn, when)}))
        lots_done = credits = 0
        wallets = 0
        ids: list[int] = []
        for wallet_id in pending:

            def sweep(conn: Connection, wallet_id: int = wallet_id) -> tuple[int, int, int]:
                clinic_id = conn.execute(
                    select(ledger.accounts.c.clinic_id).where(ledger.accounts.c.id == wallet_id)
                ).scalar_one()
                found = support.clinic(conn, clinic_id)
                ledger.wallet(conn, clinic_id, lock=True)
                return self._expire_wallet(conn, found, wallet_id, when)

            txn, count, total = self.db.run(sweep)
            if txn:
                ids.append(txn)
                wallets += 1
                lots_done += count
                credits += total
        return ExpiryResult(lots=lots_done, credits=credits, wallets=wallets, transaction_ids=tuple(ids))

    def reconcile(self) -> Reconciliation:
        """Recompute every ledger invariant and report any drift (see storage/reconcile.py)."""
        return self.db.read(reconcile)
