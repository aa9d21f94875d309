"""The reliability battery's ledger and checks: its short and long (soak) forms, leads priced by its
pricebook, a ledger on a database of its own, and the invariants recomputed after every test."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.billing import Billing
from engine.pricing.requests import LeadRequest
from storage.database import Database
from storage.schema import accounts, entries
from tests.support.clock import START, Clock

SOAK = os.environ.get("CREDITBOOK_SOAK") == "1"
PUBLISHED = START - timedelta(days=90)
# the reliability pricebook: lead prices small enough for races on a few thousand credits
LEAD_PRICES = {1: 1_000, 3: 7_000, 7: 15_000, 40: 30_000, 5: 60_000, 2: 150_000}  # credits → package price


def scale(short: int, long: int) -> int:
    """The short form under `make test`, the long one under `make soak`."""
    return long if SOAK else short


def lead(credits: int, product: str = "lead_chat") -> LeadRequest:
    """A lead the reliability pricebook prices at exactly `credits`."""
    return LeadRequest(product=product, package_price=Decimal(LEAD_PRICES[credits]))  # type: ignore[arg-type]


@dataclass
class Ledger:
    """A Billing on its own database, the clock it reads, and how to open more of the same."""

    url: str
    clock: Clock
    billing: Billing
    extra: list[Billing] = field(default_factory=list)
    damaged_on_purpose: bool = False  # a negative control ran: its damage is the test's finding

    def another(self, **options: Any) -> Billing:
        """A second Billing on the same database (another process's view), e.g. a broken variant."""
        database = Database(self.url, **options)
        billing = Billing(database, clock=self.clock, gateway=self.billing.gateway, migrate=False)
        self.extra.append(billing)
        return billing

    def wallet(self, clinic: str, credits: int, segment: str = "standard", at: datetime | None = None) -> str:
        self.billing.register_clinic(clinic, clinic, "IN", key=f"register-{clinic}", segment=segment, at=at)
        if credits:
            self.billing.purchase(clinic, credits, payment_method="upi_ok", key=f"fund-{clinic}", at=at)
        return clinic


def findings(billing: Billing) -> list[str]:
    """Every invariant violation the ledger shows now (INV a-g and INV c in sequence order)."""
    return [str(drift) for drift in billing.reconcile().drifts] + running_balance_violations(billing)


def running_balance_violations(billing: Billing) -> list[str]:
    """INV c in sequence order: each wallet's balance after each of its entries, in the order they
    were written (the wallet lock orders them), never below the wallet's overdraft limit."""

    def read(conn: Any) -> list[str]:
        limits = dict(
            conn.execute(select(accounts.c.id, accounts.c.overdraft_limit).where(accounts.c.kind == "wallet")).all()
        )
        rows = conn.execute(
            select(entries.c.account_id, entries.c.id, entries.c.amount)
            .where(entries.c.account_id.in_(list(limits)))
            .order_by(entries.c.account_id, entries.c.id)
        )
        found, running, current = [], 0, None
        for account, entry, amount in rows:
            if account != current:
                current, running = account, 0
            running += int(amount)
            if running < -int(limits[account]):
                found.append(f"wallet {account} at entry {entry}: {running} < -{limits[account]}")
        return found

    return billing.db.read(read)
