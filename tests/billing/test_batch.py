"""Billing.charge_batch: many charges in one database transaction, each answered on its own.

TigerBeetle's batches: each charge is approved or declined by itself (a decline is recorded), a key
already used answers its stored outcome, a charge that is refused — a bad argument, an unknown
clinic, a request that cannot be priced, a key reused for another request — is answered with its
error while the others are posted, and the answers come back in the order asked. A batch posts what
the same charges one by one post, in one transaction: a database failure leaves none of it.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from engine.billing import Billing, FakeGateway, IdempotencyConflict, InvalidAmount, InvalidKey, UnknownClinic
from engine.billing.charges import BATCH_MAX
from engine.billing.results import ChargeResult
from engine.errors import CreditbookError, StorageError
from engine.pricing.requests import QuoteError
from storage import fast, fast_sqlite
from storage.database import Database
from tests.billing.test_fast_path import PUBLISHED
from tests.support.clock import Clock
from tests.support.ledger_rows import assert_same_rows, charged, rows, snapshot, tables
from tests.support.paths import IN_V1, IN_V2, US_V1

LEAD = {"product": "lead_call", "package_price": 15_000}  # 250 credits
CHAT = {"product": "lead_chat", "package_price": 3_000}  # 100 credits


def _clinics(billing: Billing, funded: dict[str, int]) -> None:
    for clinic, credits in funded.items():
        billing.register_clinic(clinic, clinic, "IN", key="reg")
        if credits:
            billing.purchase(clinic, credits, payment_method="upi_ok", key="buy")


def test_each_charge_of_a_batch_is_answered_on_its_own_in_the_order_asked(billing: Billing) -> None:
    _clinics(billing, {"a": 1_000, "b": 1_000})
    billing.adjust("a", -400, actor="ops", reason="test", key="adj")
    balance_a = billing.balance("a").balance
    assert balance_a == 600
    items: list[Any] = [
        {"clinic_id": "a", "request": LEAD, "key": "k1"},
        {"clinic_id": "b", "request": LEAD, "key": "k1", "patient_ref": "patient-9"},
        {"clinic_id": "a", "request": LEAD, "key": "k2"},
        {"clinic_id": "a", "request": LEAD, "key": "k3"},  # past a's balance: declined, recorded
        {"clinic_id": "nowhere", "request": LEAD, "key": "k4"},
        {"clinic_id": "b", "request": {"product": "lead_call", "package_price": -1}, "key": "k5"},
        {"clinic_id": "a", "request": LEAD, "key": "k1"},  # the same key and request: replayed
        {"clinic_id": "a", "request": CHAT, "key": "k2"},  # the same key, another request
        {"clinic_id": "b", "request": CHAT, "key": "k\x00"},
        "not a charge",
        {"clinic_id": "b", "request": CHAT},
        {"clinic_id": "b", "request": CHAT, "key": "k6", "colour": "blue"},
        {"clinic_id": "b", "request": CHAT, "key": "k7"},
    ]
    answers = billing.charge_batch(items)
    assert len(answers) == len(items)
    first, other, second, declined, unknown, unpriced, replayed, conflict, bad_key, junk, short, extra, chat = answers
    assert isinstance(first, ChargeResult) and first.approved and first.balance == balance_a - 250
    assert isinstance(second, ChargeResult) and second.approved and second.balance == balance_a - 500
    assert isinstance(declined, ChargeResult) and not declined.approved and declined.transaction_id
    assert isinstance(other, ChargeResult) and other.approved and other.balance == 750
    assert isinstance(chat, ChargeResult) and chat.approved and chat.balance == 650  # b's in order
    assert isinstance(replayed, ChargeResult) and replayed.replayed
    assert replayed.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    assert isinstance(unknown, UnknownClinic)
    assert isinstance(unpriced, QuoteError)
    assert isinstance(conflict, IdempotencyConflict)
    assert isinstance(bad_key, InvalidKey)
    assert all(isinstance(error, InvalidAmount) for error in (junk, short, extra))
    assert "missing key" in str(short) and "'colour'" in str(extra)
    recorded = rows(billing, "transactions", kind="charge")
    assert Counter(row.status for row in recorded) == {"posted": 4, "declined": 1}
    (decline,) = [row for row in recorded if row.status == "declined"]
    assert decline.id == declined.transaction_id and decline.reason and int(decline.credits) == 250
    assert [r.patient_ref for r in recorded if r.clinic_id == "b"] == ["patient-9", None]


def test_a_batch_posts_what_the_same_charges_posted_one_by_one_post(twin_urls: tuple[str, str]) -> None:
    items = [
        {"clinic_id": clinic, "request": LEAD if n % 3 else CHAT, "key": f"k{n}", "patient_ref": f"p{n % 4}"}
        for clinic in ("a", "b", "c")  # in the order a batch posts them: by clinic, then as given
        for n in range(8)
    ]
    items.insert(5, dict(items[2]))  # a resend within the batch
    found = []
    for url, batched in zip(twin_urls, (False, True), strict=True):
        billing = Billing(Database(url), clock=Clock(), gateway=FakeGateway())
        for path in (US_V1, IN_V1, IN_V2):
            billing.publish_pricebook(path, actor="pricing", key=f"publish-{path.name}", at=PUBLISHED)
        _clinics(billing, {"a": 1_000, "b": 5_000, "c": 0})
        answers = charged(billing, items, batched)
        assert billing.reconcile(full=True).ok
        found.append(([a.model_dump(mode="json") for a in answers], tables(billing)))
        billing.db.dispose()
    assert found[0][0] == found[1][0]
    assert_same_rows(found[0][1], found[1][1])


def test_a_batch_is_one_transaction_retried_whole_or_not_written_at_all(billing: Billing) -> None:
    _clinics(billing, {"a": 10_000, "b": 10_000})
    items = [{"clinic_id": clinic, "request": LEAD, "key": f"k{n}"} for n in range(5) for clinic in ("a", "b")]
    runs = []
    run = billing.db.run

    def counted(work: Any, readonly: bool = False) -> Any:
        runs.append(readonly)
        return run(work, readonly)

    billing.db.run = counted  # type: ignore[method-assign]
    lost = []

    def lose_twice(conn: Any) -> None:
        if len(lost) < 2:
            lost.append(1)
            raise OperationalError("UPDATE", {}, Exception("database is locked"))

    billing.db.fault = lose_twice
    answers = billing.charge_batch(items)
    assert runs == [False] and len(lost) == 2  # one transaction, retried whole twice
    assert all(isinstance(a, ChargeResult) and a.approved and not a.replayed for a in answers)
    assert len(rows(billing, "transactions", kind="charge")) == 10

    before = snapshot(billing)
    billing.db.fault = lambda conn: (_ for _ in ()).throw(OperationalError("UPDATE", {}, Exception("disk I/O error")))
    with pytest.raises(StorageError):
        billing.charge_batch([{"clinic_id": "a", "request": LEAD, "key": "new"}, *items])
    billing.db.fault = None
    assert snapshot(billing) == before


def test_a_batch_that_is_not_a_list_or_too_long_is_refused_whole(billing: Billing) -> None:
    _clinics(billing, {"a": 1_000})
    before = snapshot(billing)
    for refused in ("abc", {"clinic_id": "a"}, 7, None):
        with pytest.raises(InvalidAmount, match="items"):
            billing.charge_batch(refused)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount, match=f"at most {BATCH_MAX:,}"):
        billing.charge_batch([{"clinic_id": "a", "request": LEAD, "key": f"k{n}"} for n in range(BATCH_MAX + 1)])
    assert snapshot(billing) == before
    assert billing.charge_batch([]) == []


def test_a_batch_is_one_round_of_one_calls(billing: Billing, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the function's calls pipelined in one round trip; on SQLite its steps, charge
    after charge on one cursor: either way one call of `post_charges` for the whole batch."""
    _clinics(billing, {f"c{n}": 5_000 for n in range(4)})
    for n in range(4):  # each clinic's state is now kept, and the market's revenue account known
        billing.charge(f"c{n}", LEAD, key="warm")
    rounds: list[int] = []
    module: Any = fast if billing.db.dialect == "postgresql" else fast_sqlite
    pipelined = module.post_charges

    def counted(conn: Any, charges: Any) -> Any:
        rounds.append(len(charges))
        return pipelined(conn, charges)

    monkeypatch.setattr(module, "post_charges", counted)
    monkeypatch.setattr(module, "post_charge", lambda *args: pytest.fail("a batch posts its charges together"))
    answers = billing.charge_batch([{"clinic_id": f"c{n % 4}", "request": CHAT, "key": f"k{n}"} for n in range(40)])
    assert rounds == [40]
    assert all(isinstance(a, ChargeResult) and a.approved for a in answers)
    assert [a.balance for a in answers if isinstance(a, ChargeResult) and a.clinic_id == "c0"] == [
        4_750 - 100 * n for n in range(1, 11)
    ]


def test_errors_in_a_batch_are_the_ones_charge_raises(billing: Billing) -> None:
    _clinics(billing, {"a": 1_000})
    asked = [
        ("nowhere", LEAD, "k1"),
        ("a", {"product": "fax"}, "k2"),
        ("a", LEAD, ""),
        ("a" * 500, LEAD, "k3"),
    ]
    answers = billing.charge_batch([{"clinic_id": c, "request": r, "key": k} for c, r, k in asked])
    for (clinic, request, key), answer in zip(asked, answers, strict=True):
        with pytest.raises(CreditbookError) as raised:
            billing.charge(clinic, request, key=key)
        assert isinstance(answer, CreditbookError)
        assert (type(answer), str(answer)) == (type(raised.value), str(raised.value))


def test_a_batch_across_the_clinics_midnight_posts_every_charge_as_one_by_one(
    twin_urls: tuple[str, str], clock: Clock
) -> None:
    """Charges of one clinic before and after its midnight: the state a batch keeps between them
    stops being true at midnight (the trailing window moves), so the later ones are priced on
    the clinic as the earlier ones of the same batch left it — never on the database's state from
    before the batch, whose version the earlier ones pass through (a regression: that mix once
    posted a charge on a balance 190 credits off, refused by the function's own check)."""
    midnight = datetime(2026, 3, 2, 18, 30, tzinfo=UTC)  # 3 March, 00:00 in Kolkata
    items = [
        {"clinic_id": "h", "request": (LEAD, CHAT)[n % 2], "key": f"k{n}", "at": midnight + timedelta(minutes=n - 10)}
        for n in range(80)
    ]
    found = []
    for url, batched in zip(twin_urls, (False, True), strict=True):
        billing = Billing(Database(url), clock=Clock(midnight - timedelta(hours=2)), gateway=FakeGateway())
        for path in (US_V1, IN_V1, IN_V2):
            billing.publish_pricebook(path, actor="pricing", key=f"publish-{path.name}", at=PUBLISHED)
        _clinics(billing, {"h": 100_000})
        for n in range(2):  # the clinic's state kept, the market's revenue account known: the fast path
            billing.charge("h", CHAT, key=f"warm-{n}", at=midnight - timedelta(hours=1))
        answers = charged(billing, items, batched)
        assert billing.reconcile(full=True).ok
        found.append(([a.model_dump(mode="json") for a in answers], tables(billing)))
        billing.db.dispose()
    assert found[0] == found[1]
