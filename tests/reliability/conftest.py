"""Wiring for the reliability battery (ledger reference §3, R1–R24).

Every test runs on SQLite (a file, WAL) and on PostgreSQL (a throw-away database of its own), with
a seed printed at the start and replayable (`CREDITBOOK_SEED=<n>`). Workers start behind a barrier.
After every test the global invariants INV a–g are recomputed (storage/reconcile.py) together with
INV c in sequence order: no wallet's running balance, entry by entry, ever went below its limit.

`make test` runs a short form of each test; `make soak` (CREDITBOOK_SOAK=1) the long form.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.billing import Billing, FakeGateway
from engine.pricing.requests import LeadRequest
from storage.database import Database
from storage.schema import accounts, entries
from tests.conftest import IN_V2, START, Clock
from tests.pricebook.book import Book

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


@pytest.fixture(scope="session")
def reliability_pricebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Indian lead pricebook, edited as the pricing team would: tiny lead prices, a preferred
    overdraft of 50 credits, paid credits valid 10 days and bonus credits 5, so that races,
    boundaries and expiry all happen within a test."""
    book = Book(IN_V2)
    book.set_meta("version", 1)
    book.set_meta("supersedes_version", None)
    book.set_meta("change_summary", "Reliability battery: small prices, short validity.")
    book.append("Meta", {"key": "topup_validity_days", "value": 10})
    book.set_meta("topup_min_credits", 1)
    for rule, price in zip(("LP-01", "LP-02", "LP-03", "LP-04", "LP-05", "LP-06"), (1, 3, 7, 40, 5, 2), strict=True):
        book.set("LeadPrices", rule, "lead_price_credits", price)
    book.set("Overdraft", "OD-PREFERRED", "max_negative_credits", 50)
    book.set("TopUpPromos", "IN-BONUS20", "bonus_expiry_days", 5)
    for case, credits in (("T-LEAD-01", 7), ("T-LEAD-02", 1), ("T-LEAD-03", 3), ("T-LEAD-04", 7), ("T-LEAD-05", 2)):
        book.set("Tests", case, "expected_credits", credits)
    book.set("Tests", "T-LEAD-06", "expected_credits", 21 * 40)
    return book.save(tmp_path_factory.mktemp("pricebook") / "in-reliability.xlsx")


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    value = int(os.environ.get("CREDITBOOK_SEED") or random.SystemRandom().randrange(2**31))
    print(f"\n{request.node.nodeid}: seed {value} (replay with CREDITBOOK_SEED={value})")
    request.node.user_properties.append(("seed", value))
    return value


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


@pytest.fixture
def ledger(ledger_url: str, reliability_pricebook: Path) -> Iterator[Ledger]:
    clock = Clock()
    billing = Billing(Database(ledger_url), clock=clock, gateway=FakeGateway())
    billing.publish_pricebook(reliability_pricebook, actor="reliability", key="publish", at=PUBLISHED)
    found = Ledger(ledger_url, clock, billing)
    yield found
    report = billing.reconcile()
    sequence = running_balance_violations(billing)
    for other in [billing, *found.extra]:
        other.db.dispose()
    if found.damaged_on_purpose:
        return
    assert report.ok, "INV a-g broken:\n" + "\n".join(map(str, report.drifts))
    assert not sequence, f"INV c broken in sequence order: {sequence[:5]}"


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


@dataclass
class Raced:
    results: list[Any]
    errors: list[BaseException]


def race(workers: int, work: Callable[[int], list[Any]]) -> Raced:
    """Run `work(worker)` in `workers` threads released together by a barrier."""
    barrier = threading.Barrier(workers)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(worker: int) -> None:
        barrier.wait()
        try:
            done = work(worker)
            with lock:
                results.extend(done)
        except BaseException as exc:  # every failure is a finding of the test, reported by it
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Raced(results, errors)
