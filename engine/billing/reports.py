"""Read-only views: the dashboard balance, transaction history, revenue, clinics and lots."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.billing import state as clinic_state
from engine.billing import wallet
from engine.billing.context import Context
from engine.billing.errors import InvalidAmount, UnknownClinic
from engine.billing.results import BalanceView, RevenueReport, RevenueRow, TransactionPage, TransactionView
from engine.billing.state import ClinicState
from engine.vocabulary import GRANT_KINDS, Product, TransactionKind, TransactionStatus
from rules import PolicyEngine
from storage import clinics, reports, usage
from storage.clinics import Clinic
from storage.database import Connection


def month_start(at: datetime, zone: str) -> datetime:
    """Midnight of the first day of `at`'s month in the pricebook's time zone ("this month")."""
    local = at.astimezone(ZoneInfo(zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def balance(ctx: Context, clinic_id: str, at: datetime) -> BalanceView:
    """The clinic dashboard header: balance, used this month, refunds granted, credits expiring
    soon, leads and messages this month ("this month" in the pricebook's time zone). The month is
    read from the clinic's usage counters (at most 31 rows: storage/usage.py) — or, for a time
    before its latest operation, summed from its transactions as they stood then."""

    def read(conn: Connection) -> BalanceView:
        loaded = clinic_state.load(conn, clinic_id, at)
        found = as_of(conn, loaded, at)
        current = clinic_state.current(ctx.catalog, conn, found, at)
        start = month_start(at, current.meta.timezone)
        window = PolicyEngine.of(current).expiring_window_days
        soon, _ = wallet.expiring(found, at, at + timedelta(days=window))
        zone = found.clinic.timezone
        if found is loaded and current.meta.timezone == zone:  # now: the counters hold the month
            totals = usage.totals(conn, clinic_id, usage.day_of(start, zone), usage.day_of(at, zone))
        else:
            totals = reports.month_totals(conn, clinic_id, start, at)
        leads = [value for product, value in totals.items() if product and Product(product).is_lead]
        held = found.wallet
        return BalanceView(
            clinic_id=clinic_id,
            currency=current.meta.currency,
            money_per_credit=current.meta.money_per_credit,
            balance=held.balance,
            overdraft_limit=held.overdraft_limit,
            used_this_month=sum(value.charged for value in totals.values()),
            refunds_granted_this_month=sum(value.refunded for value in totals.values()),
            expiring_soon=soon,
            expiring_within_days=window,
            leads_this_month=sum(value.units for value in leads),
            lead_credits_this_month=sum(value.charged for value in leads),
            sms_segments_this_month=totals.get(Product.SMS, usage.Totals()).units,
            voice_minutes_this_month=totals.get(Product.VOICE, usage.Totals()).units,
            month_starts=start,
            alerts=wallet.alerts(found, current, held.balance, at),
            remaining=wallet.remaining(found, current, held.balance, at),
        )

    return ctx.db.read(read)


@dataclass(frozen=True)
class HistoryQuery:
    clinic_id: str
    kinds: Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    page: int = 1
    page_size: int = 50
    cursor: str | None = None


def encode_cursor(at: datetime, row_id: int) -> str:
    """An opaque cursor for the row (at, id): where the next page starts."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at_text, id_text = text.split("|")
        at, row_id = datetime.fromisoformat(at_text), int(id_text)
        if at.tzinfo is None or row_id < 1:
            raise ValueError(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidAmount("cursor is not one this ledger gave out", field="cursor") from error
    return at, row_id


def transactions(ctx: Context, asked: HistoryQuery) -> TransactionPage:
    """The clinic's transactions, newest first (practice note: GET /api/credits/transactions/)."""
    numbers = (asked.page, asked.page_size)
    if any(isinstance(n, bool) or not isinstance(n, int) for n in numbers) or not (
        1 <= asked.page <= 1_000_000 and 1 <= asked.page_size <= 1000
    ):
        raise InvalidAmount("page is 1..1,000,000 and page_size is 1..1000", field="page")

    def read(conn: Connection) -> TransactionPage:
        held = clinic_state.wallet_of(conn, asked.clinic_id)
        after = None if asked.cursor is None else decode_cursor(asked.cursor)
        where = reports.HistoryFilter(
            asked.clinic_id, held.id, asked.kinds, asked.since, asked.until, asked.status, after
        )
        total, rows = reports.history(conn, where, asked.page, asked.page_size)
        last = rows[-1] if len(rows) == asked.page_size else None
        return TransactionPage(
            clinic_id=asked.clinic_id,
            total=total,
            page=asked.page,
            page_size=asked.page_size,
            rows=tuple(_view(row) for row in rows),
            next_cursor=None if last is None else encode_cursor(last.at, int(last.id)),
        )

    return ctx.db.read(read)


def _view(r: Any) -> TransactionView:
    return TransactionView(
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
        disputable=r.kind == TransactionKind.CHARGE
        and r.status == TransactionStatus.POSTED
        and r.dispute_id is None
        and r.credits > 0,
    )


def as_of(conn: Connection, found: ClinicState, at: datetime) -> ClinicState:
    """The clinic's state as it stood at `at`: the wallet's cached balance, open lots and usage
    counters when `at` is at or after its latest operation, otherwise recomputed from the rows
    dated up to `at` (so that every figure of a dashboard for an earlier date is that date's)."""
    last = found.wallet.last_at
    if last is None or at >= last:
        return found
    balance = reports.balance_at(conn, found.wallet.id, at)
    zone = found.clinic.timezone
    first, _ = usage.trailing_days(usage.day_of(at, zone))
    since = datetime.combine(first, datetime.min.time(), ZoneInfo(zone))
    return replace(
        found,
        wallet=replace(found.wallet, balance=balance),
        lots=reports.lots_at(conn, found.wallet.id, at),
        charged_30d=reports.charged_between(conn, found.clinic.id, since, at),
    )


_BUCKET = {
    TransactionKind.TOPUP: "paid",
    TransactionKind.EXPIRY: "expired",
    TransactionKind.CHARGE: "charged",
    TransactionKind.REFUND: "refunded",
    **dict.fromkeys(GRANT_KINDS, "bonus"),
}


def revenue(ctx: Context, market: str, since: datetime | None, until: datetime | None, at: datetime) -> RevenueReport:
    """Admin figures: top-up money by month, bonus credits granted, expired credits (breakage),
    charges and refunds, what wallets still hold (liability) and open disputes."""

    def read(conn: Connection) -> RevenueReport:
        current = ctx.catalog.in_force(conn, ctx.catalog.pricebook_for(conn, market), at)
        zone = current.meta.timezone
        figures = reports.market_figures(conn, current.meta.market, current.meta.currency, since, until)
        months: dict[str, dict[str, Any]] = {}
        empty = {"topup_money": Decimal(0), "paid": 0, "bonus": 0, "expired": 0, "charged": 0, "refunded": 0}
        for kind, when, credits in figures.posted:
            bucket = _BUCKET.get(TransactionKind(kind))
            if bucket is not None:
                months.setdefault(month_start(when, zone).strftime("%Y-%m"), dict(empty))[bucket] += credits
        for settled_at, amount in figures.payments:
            months.setdefault(month_start(settled_at, zone).strftime("%Y-%m"), dict(empty))["topup_money"] += amount
        return RevenueReport(
            market=current.meta.market,
            currency=current.meta.currency,
            money_per_credit=current.meta.money_per_credit,
            rows=tuple(
                RevenueRow(
                    period=month,
                    topup_money=bucket["topup_money"],
                    paid_credits=bucket["paid"],
                    bonus_credits=bucket["bonus"],
                    expired_credits=bucket["expired"],
                    charged_credits=bucket["charged"],
                    refunded_credits=bucket["refunded"],
                )
                for month, bucket in sorted(months.items())
            ),
            outstanding_credits=sum(b for b in figures.balances if b > 0),
            overdrawn_credits=-sum(b for b in figures.balances if b < 0),
            open_disputes=figures.open_disputes,
        )

    return ctx.db.read(read)


def all_clinics(ctx: Context) -> list[Clinic]:
    return ctx.db.read(clinics.all_clinics)


def clinic(ctx: Context, clinic_id: str) -> Clinic:
    """One clinic's registration (its name, market, time zone, segment), or UnknownClinic."""
    found = ctx.db.read(lambda conn: clinics.clinic(conn, clinic_id))
    if found is None:
        raise UnknownClinic(f"no clinic {clinic_id!r}", clinic_id=clinic_id)
    return found


def lots(ctx: Context, clinic_id: str) -> list[dict[str, Any]]:
    """A wallet's lots, for the wallet page and for tests."""

    def read(conn: Connection) -> list[dict[str, Any]]:
        return reports.wallet_lots(conn, clinic_state.wallet_of(conn, clinic_id).id)

    return ctx.db.read(read)
