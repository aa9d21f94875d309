"""The usage counters behind "this month" and the runway alert's trailing 30 days (storage/usage.py).

A clinic's posted charges and refunds are counted per day of its own time zone and per product, in
the transaction that posts them, so the dashboard reads at most 31 rows instead of the clinic's
history. These tests pin what the counters must hold: the month's first instant in the clinic's
zone, a refund counted on its own day and against its charge's day, the same figures as summing
the transactions, a migration that fills them from an existing ledger, and a reconcile that finds
a counter changed behind the ledger's back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from alembic import command
from alembic.config import Config
from sqlalchemy import select, update

from engine.billing import Billing
from engine.pricing.requests import LeadRequest, Usage
from storage import usage
from storage.database import MIGRATIONS
from storage.schema import transactions, usage_days
from tests.support.clock import Clock
from tests.support.ledger_rows import rows

LEAD = LeadRequest(product="lead_call", package_price=Decimal(15_000))  # 250 credits
IST_APRIL = datetime(2026, 3, 31, 18, 30, tzinfo=UTC)  # 1 April 2026, 00:00 in Kolkata


def test_a_month_starts_at_midnight_in_the_clinics_own_time_zone(billing: Billing, clock: Clock) -> None:
    clock.now = datetime(2026, 3, 20, tzinfo=UTC)
    billing.register_clinic("c", "c", "IN", key="reg")
    billing.purchase("c", 10_000, payment_method="upi_ok", key="buy")
    billing.charge("c", LEAD, key="march", at=IST_APRIL - timedelta(microseconds=1))
    billing.charge("c", LEAD, key="april", at=IST_APRIL)
    billing.charge("c", LeadRequest(product="lead_chat", package_price=Decimal(3_000)), key="chat", at=IST_APRIL)
    april = billing.balance("c", at=IST_APRIL + timedelta(hours=1))
    assert april.month_starts == IST_APRIL
    assert (april.used_this_month, april.leads_this_month, april.lead_credits_this_month) == (350, 2, 350)
    march = billing.balance("c", at=IST_APRIL - timedelta(microseconds=1))  # an earlier instant: summed
    assert (march.used_this_month, march.leads_this_month) == (250, 1)
    days = {(row.day, row.product): int(row.charged) for row in rows(billing, "usage_days")}
    assert days == {(date(2026, 3, 31), "lead_call"): 250, (date(2026, 4, 1), "lead_call"): 250,
                    (date(2026, 4, 1), "lead_chat"): 100}  # fmt: skip


def test_a_refund_counts_on_its_own_day_and_against_its_charges_day(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "c", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    charge = billing.charge("c", Usage(product="sms", units=1_000), key="sms")  # 500 × 85 + 500 × 83
    clock.advance(days=3)
    billing.refund("c", charge.transaction_id, actor="ops", reason="outage", key="r1", credits=10_000)
    view = billing.balance("c")
    assert (view.used_this_month, view.refunds_granted_this_month, view.sms_segments_this_month) == (
        84_000,
        10_000,
        1_000,
    )
    counted = {
        row.day: (int(row.charged), int(row.refunded), int(row.charge_refunded)) for row in rows(billing, "usage_days")
    }
    charged_on, refunded_on = charge_day(billing, charge.transaction_id), (clock.now - timedelta(hours=5)).date()
    assert counted == {charged_on: (84_000, 0, 10_000), refunded_on: (0, 10_000, 0)}


def charge_day(billing: Billing, transaction_id: int) -> date:
    (row,) = rows(billing, "transactions", id=transaction_id)
    return usage.day_of(row.at, "America/New_York")


def test_the_counters_hold_what_the_transactions_add_up_to(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "c", "US", key="reg")
    billing.register_clinic("i", "i", "IN", key="reg")
    billing.purchase("c", 2_000_000, payment_method="card_ok", key="buy")
    billing.purchase("i", 20_000, payment_method="upi_ok", key="buy")
    charged = []
    for n in range(40):
        clock.advance(hours=9)
        charged.append(billing.charge("c", Usage(product=("sms", "voice")[n % 2], units=37 * n), key=f"u{n}"))
        billing.charge("i", LEAD, key=f"l{n}")
        if n % 7 == 3:
            billing.refund("c", charged[n // 2].transaction_id, actor="ops", reason="r", key=f"r{n}", credits=n + 1)
    assert billing.reconcile(full=True).ok
    summed = billing.db.read(usage.recount)
    assert summed == billing.db.read(usage.stored) and len(summed) > 20
    for at in (clock.now, clock.now - timedelta(days=5)):  # the counters, and the rows as of an earlier time
        view = billing.balance("c", at=at)
        posted = [
            row
            for row in rows(billing, "transactions", clinic_id="c", status="posted")
            if row.at >= view.month_starts and row.at <= at
        ]
        assert view.used_this_month == sum(int(r.credits) for r in posted if r.kind == "charge")
        assert view.refunds_granted_this_month == sum(int(r.credits) for r in posted if r.kind == "refund")


def test_reconcile_finds_a_counter_changed_behind_the_ledgers_back(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("i", "i", "IN", key="reg")
    billing.purchase("i", 20_000, payment_method="upi_ok", key="buy")
    for n in range(4):
        billing.charge("i", LEAD, key=f"l{n}")
        clock.advance(days=1)
    first, second = sorted(row.day for row in rows(billing, "usage_days"))[:2]

    def shift(day: date, credits: int) -> None:
        billing.db.run(
            lambda conn: conn.execute(
                update(usage_days).where(usage_days.c.day == day).values(charged=usage_days.c.charged + credits)
            )
        )

    shift(first, 250)
    shift(second, -250)  # the clinic's total is unchanged: only the day-by-day check sees it
    assert billing.reconcile().ok
    assert {(d.check, d.subject) for d in billing.reconcile(full=True).drifts} == {
        ("j", f"usage of clinic i on {first} (lead_call)"),
        ("j", f"usage of clinic i on {second} (lead_call)"),
    }
    shift(first, -1)
    assert {(d.check, d.subject) for d in billing.reconcile().drifts} == {("j", "usage of clinic i (lead_call)")}
    shift(first, -249)
    shift(second, 250)
    assert billing.reconcile(full=True).ok


def test_the_migration_fills_the_counters_from_an_existing_ledger(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "c", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    for n in range(12):
        clock.advance(hours=13)
        charge = billing.charge("c", Usage(product="voice", units=n + 1), key=f"v{n}")
    billing.refund("c", charge.transaction_id, actor="ops", reason="r", key="r")
    before = billing.db.read(usage.stored)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", billing.db.url.replace("%", "%%"))
    with billing.db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")  # the ledger as it was: no counters, no function
    billing.db.dispose()
    billing.db.upgrade()
    assert billing.db.read(usage.stored) == before
    assert billing.db.read(lambda conn: conn.execute(select(transactions.c.id)).all())  # the history is still there
    assert billing.charge("c", Usage(product="voice", units=1), key="after").approved
    assert billing.reconcile(full=True).ok
