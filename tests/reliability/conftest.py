"""Wiring for the reliability battery (ledger reference §3, R1–R24).

Every test runs on SQLite (a file, WAL) and on PostgreSQL (a throw-away database of its own), with
a seed printed at the start and replayable (`CREDITBOOK_SEED=<n>`). Workers start behind a barrier.
After every test the global invariants INV a–g are recomputed (storage/reconcile.py) together with
INV c in sequence order: no wallet's running balance, entry by entry, ever went below its limit.

`make test` runs a short form of each test; `make soak` (CREDITBOOK_SOAK=1) the long form.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.billing import Billing, FakeGateway
from storage.database import Database
from tests.support.clock import Clock
from tests.support.paths import IN_V2
from tests.support.reliability import PUBLISHED, Ledger, running_balance_violations
from tests.support.workbooks import Book


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
