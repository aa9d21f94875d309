"""Read-only views: the dashboard balance, transaction history, revenue, clinics and lots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from engine.billing import support
from engine.billing.base import BillingBase
from engine.billing.errors import (
    InvalidAmount,
    NoPricebook,
)
from engine.billing.results import (
    BalanceView,
    RevenueReport,
    RevenueRow,
    TransactionPage,
    TransactionView,
)
from engine.billing.state import current_pricebook, load_state
from storage import ledger
from storage.schema import (
    clinics,
    disputes,
    lots,
    payments,
    transactions,
)


class ReportOperations(BillingBase):
    """Read-only views: the dashboard balance, transaction history, revenue, clinics and lots."""

    def balance(self, clinic_id: str, at: datetime | None = None) -> BalanceView:
        """The clinic dashboard header: balance, used this month, refunds granted, credits expiring
        soon, leads and messages this month (\"this month\" in the pricebook's time zone)."""
        when = self._at(at)

        def read(conn: Connection) -> BalanceView:
            state = load_state(conn, clinic_id, when)
            wallet = state.wallet
            current = current_pricebook(self.catalog, conn, state, when)
            start = support.month_start(when, current.meta.timezone)
            window = self._policy(current).expiring_window_days
            soon, _ = state.expiring(when, when + timedelta(days=window))
            month = (
                transactions.c.clinic_id == clinic_id,
                transactions.c.at >= start,
                transactions.c.at <= when,
                transactions.c.status == "posted",
            )
            rows = conn.execute(
                select(
                    transactions.c.kind,
                    transactions.c.product,
                    func.coalesce(func.sum(transactions.c.credits), 0),
                    func.coalesce(func.sum(transactions.c.units), 0),
                )
                .where(*month)
                .group_by(transactions.c.kind, transactions.c.product)
            ).all()
            charged = {(kind, product): (int(credits), int(units)) for kind, product, credits, units in rows}
            lead_credits = sum(c for (k, p), (c, _) in charged.items() if k == "charge" and p and p.startswith("lead"))
            return BalanceView(
                clinic_id=clinic_id,
                currency=current.meta.currency,
                money_per_credit=current.meta.money_per_credit,
                balance=wallet.balance,
                overdraft_limit=wallet.overdraft_limit,
                used_this_month=sum(c for (k, _), (c, _) in charged.items() if k == "charge"),
                refunds_granted_this_month=sum(c for (k, _), (c, _) in charged.items() if k == "refund"),
                expiring_soon=soon,
                expiring_within_days=window,
                leads_this_month=sum(
                    u for (k, p), (_, u) in charged.items() if k == "charge" and p and p.startswith("lead")
                ),
                lead_credits_this_month=lead_credits,
                sms_segments_this_month=charged.get(("charge", "sms"), (0, 0))[1],
                voice_minutes_this_month=charged.get(("charge", "voice"), (0, 0))[1],
                month_starts=start,
                alerts=self._alerts(conn, state, current, wallet.balance, when),
                remaining=self._remaining(state, current, wallet.balance, when),
            )

        return self.db.run(read)

    def transactions(
        self,
        clinic_id: str,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> TransactionPage:
        """The clinic's transactions, newest first (practice note: GET /api/credits/transactions/)."""
        if page < 1 or not 1 <= page_size <= 1000:
            raise InvalidAmount("page starts at 1 and page_size is 1..1000")

        def read(conn: Connection) -> TransactionPage:
            support.clinic(conn, clinic_id)
            wallet = ledger.wallet(conn, clinic_id)
            assert wallet is not None
            where = [transactions.c.clinic_id == clinic_id]
            if kinds:
                where.append(transactions.c.kind.in_(list(kinds)))
            if since is not None:
                where.append(transactions.c.at >= since)
            if until is not None:
                where.append(transactions.c.at < until)
            if status is not None:
                where.append(transactions.c.status == status)
            total = conn.execute(select(func.count()).select_from(transactions).where(*where)).scalar_one()
            signed = (
                select(func.coalesce(func.sum(ledger.entries.c.amount), 0))
                .where(ledger.entries.c.transaction_id == transactions.c.id, ledger.entries.c.account_id == wallet.id)
                .scalar_subquery()
            )
            query = (
                select(
                    transactions,
                    signed.label("signed"),
                    disputes.c.id.label("dispute_id"),
                    disputes.c.status.label("dispute_status"),
                )
                .select_from(transactions.outerjoin(disputes, disputes.c.charge_id == transactions.c.id))
                .where(*where)
                .order_by(transactions.c.at.desc(), transactions.c.id.desc())
                .limit(page_size)
                .offset((page - 1) * page_size)
            )
            rows = tuple(
                TransactionView(
                    id=r.id,
                    at=r.at,
                    kind=r.kind,
                    status=r.status,
                    credits=int(r.credits),
                    signed_credits=int(r.signed),
                    product=r.product,
                    units=r.units,
                    rule_ids=tuple(json.loads(r.rule_ids)) if r.rule_ids else (),
                    pricebook=f"{r.pricebook_id} v{r.pricebook_version}" if r.pricebook_id else None,
                    reason=r.reason,
                    note=r.note,
                    actor=r.actor,
                    related_id=r.related_id,
                    dispute_id=r.dispute_id,
                    dispute_status=r.dispute_status,
                    refunded=int(r.refunded),
                    disputable=r.kind == "charge" and r.status == "posted" and r.dispute_id is None and r.credits > 0,
                )
                for r in conn.execute(query)
            )
            return TransactionPage(clinic_id=clinic_id, total=int(total), page=page, page_size=page_size, rows=rows)

        return self.db.read(read)

    def revenue_report(
        self, market: str, since: datetime | None = None, until: datetime | None = None, at: datetime | None = None
    ) -> RevenueReport:
        """Admin figures: top-up money by month, bonus credits granted, expired credits (breakage),
        charges and refunds, what wallets still hold (liability) and open disputes."""
        when = self._at(at)

        def read(conn: Connection) -> RevenueReport:
            pricebook_id = self.catalog.markets(conn).get(market.upper())
            if pricebook_id is None:
                raise NoPricebook(f"no pricebook is published for market {market!r}")
            current = self._current(conn, pricebook_id, when)
            zone = current.meta.timezone
            where = [
                transactions.c.status == "posted",
                transactions.c.clinic_id.in_(select(clinics.c.id).where(clinics.c.market == current.meta.market)),
            ]
            if since is not None:
                where.append(transactions.c.at >= since)
            if until is not None:
                where.append(transactions.c.at < until)
            months: dict[str, dict[str, Any]] = {}
            empty = {"topup_money": Decimal(0), "paid": 0, "bonus": 0, "expired": 0, "charged": 0, "refunded": 0}
            for row in conn.execute(
                select(transactions.c.kind, transactions.c.at, transactions.c.credits).where(*where)
            ):
                month = support.month_start(row.at, zone).strftime("%Y-%m")
                bucket = months.setdefault(month, dict(empty))
                credits = int(row.credits)
                if row.kind == "topup":
                    bucket["paid"] += credits
                elif row.kind in ("bonus", "referral"):
                    bucket["bonus"] += credits
                elif row.kind == "expiry":
                    bucket["expired"] += credits
                elif row.kind == "charge":
                    bucket["charged"] += credits
                elif row.kind == "refund":
                    bucket["refunded"] += credits
            paid = [payments.c.status == "credited", payments.c.currency == current.meta.currency]
            if since is not None:
                paid.append(payments.c.settled_at >= since)
            if until is not None:
                paid.append(payments.c.settled_at < until)
            for settled_at, amount in conn.execute(select(payments.c.settled_at, payments.c.amount).where(*paid)):
                month = support.month_start(settled_at, zone).strftime("%Y-%m")
                bucket = months.setdefault(month, dict(empty))
                bucket["topup_money"] += Decimal(amount)  # what the gateway took, not credits × rate
            wallets = select(ledger.accounts.c.balance).where(
                ledger.accounts.c.kind == "wallet", ledger.accounts.c.market == current.meta.market
            )
            balances = [int(b) for (b,) in conn.execute(wallets)]
            open_count = conn.execute(
                select(func.count())
                .select_from(disputes)
                .where(
                    disputes.c.status == "open",
                    disputes.c.clinic_id.in_(select(clinics.c.id).where(clinics.c.market == current.meta.market)),
                )
            ).scalar_one()
            return RevenueReport(
                market=current.meta.market,
                currency=current.meta.currency,
                money_per_credit=current.meta.money_per_credit,
                rows=tuple(
                    RevenueRow(
                        period=m,
                        topup_money=b["topup_money"],
                        paid_credits=b["paid"],
                        bonus_credits=b["bonus"],
                        expired_credits=b["expired"],
                        charged_credits=b["charged"],
                        refunded_credits=b["refunded"],
                    )
                    for m, b in sorted(months.items())
                ),
                outstanding_credits=sum(b for b in balances if b > 0),
                overdrawn_credits=-sum(b for b in balances if b < 0),
                open_disputes=int(open_count),
            )

        return self.db.read(read)

    def clinics(self) -> list[support.Clinic]:
        return self.db.read(
            lambda conn: [
                support.clinic(conn, row.id) for row in conn.execute(select(clinics.c.id).order_by(clinics.c.id))
            ]
        )

    def lots(self, clinic_id: str) -> list[dict[str, Any]]:
        """A wallet's lots, for the wallet page and for tests."""

        def read(conn: Connection) -> list[dict[str, Any]]:
            wallet = ledger.wallet(conn, clinic_id)
            if wallet is None:
                support.clinic(conn, clinic_id)
            return [
                dict(row._mapping)
                for row in conn.execute(select(lots).where(lots.c.wallet_id == wallet.id).order_by(lots.c.id))
            ]  # type: ignore[union-attr]

        return self.db.read(read)
