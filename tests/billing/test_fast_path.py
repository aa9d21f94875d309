"""The fast charge path against the reference, row for row.

The reference posts every charge through storage's door statement by statement, on the clinic read
under its wallet lock (`Database(fast=False)`). The fast path prices a charge from the state the
clinic was left in by its previous one and posts it in one call — on PostgreSQL of storage/fast.py's
function, on SQLite of the same steps over the driver's cursor (storage/fast_sqlite.py). The same operations, in
the same order, on two ledgers (one per path) must leave the same rows in every table and answer
the same results: transactions, lots, allocations, entries, terms, counters, keys and their stored
outcomes (the only thing allowed to differ is the keys' own row ids: the reference path tries to
claim a replayed key, the function only looks it up, and an attempt that finds the key taken still
uses up a sequence number). And the fast ledger must have taken the fast path for most of its
charges, or the comparison proves nothing.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.billing import Billing, FakeGateway
from engine.errors import CreditbookError
from engine.pricing.requests import LeadRequest, SmsCampaign, Usage, VoiceCampaign
from storage import clinics, fast, fast_sqlite
from storage.database import Database
from tests.reliability.broken import broken
from tests.support.clock import START, Clock
from tests.support.ledger_rows import assert_same_rows, tables
from tests.support.paths import IN_V1, IN_V2, US_V1
from tests.support.workbooks import us_version_2

PUBLISHED = datetime(2025, 6, 1, tzinfo=UTC)
REMINDER = "Hi, a reminder of your hearing check tomorrow at 10:00. Reply C to confirm."


def _lead(price: int, product: str = "lead_call") -> LeadRequest:
    return LeadRequest(product=product, package_price=Decimal(price))  # type: ignore[arg-type]


def script(billing: Billing, clock: Clock, version_2: Path) -> Iterator[Callable[[], Any]]:
    """A day in the life of five clinics: every kind of charge the fast path posts (approved,
    declined, free, into the overdraft, on a package, across a tier, replayed) and everything that
    changes what the next one must read (top-ups, refunds, disputes, expiry, a pin, a new segment,
    a new version coming into force, a clock a little behind, a clock far behind)."""
    seen: dict[str, Any] = {}

    def kept(name: str, result: Any) -> Any:
        seen[name] = result
        return result

    yield lambda: billing.register_clinic("us", "Riverside", "US", key="reg")
    yield lambda: billing.register_clinic("pref", "Preferred", "US", key="reg", segment="preferred")
    yield lambda: billing.register_clinic("small", "Small", "US", key="reg", clinic_size="small")
    yield lambda: billing.register_clinic("in", "Smile", "IN", key="reg")
    yield lambda: billing.purchase("us", 1_000_000, payment_method="card_ok", key="buy")
    yield lambda: billing.purchase("small", "small-sms", payment_method="card_ok", key="buy")
    yield lambda: billing.purchase("in", 10_000, payment_method="upi_ok", key="buy")  # and a 20% bonus lot
    for n in range(6):
        yield lambda n=n: kept(
            f"sms-{n}", billing.charge("us", SmsCampaign(body=REMINDER, recipients=150 + 40 * n), key=f"sms-{n}")
        )
        yield lambda n=n: kept(
            f"lead-{n}", billing.charge("in", _lead((3_000, 15_000, 75_000)[n % 3]), key=f"lead-{n}", patient_ref="p")
        )
        yield lambda n=n: billing.charge("small", Usage(product="sms", units=300), key=f"pkg-{n}")
        clock.advance(minutes=7)
    yield lambda: billing.charge("us", SmsCampaign(body=REMINDER, recipients=150), key="sms-0")  # replayed
    yield lambda: billing.charge("us", Usage(product="sms", units=1), key="sms-0")  # the key, another request
    yield lambda: billing.charge("pref", Usage(product="voice", units=1_000), key="overdraft")  # -160,000
    yield lambda: billing.charge("pref", Usage(product="voice", units=3_000), key="past-limit")  # declined
    yield lambda: billing.purchase("pref", 500_000, payment_method="card_ok", key="repay")  # repays it first
    yield lambda: billing.charge("pref", VoiceCampaign(calls=({"duration_s": 20, "outcome": "busy"},)), key="free")
    yield lambda: billing.charge("in", _lead(150_000), key="lead-big")  # past what is left: declined
    yield lambda: billing.refund(
        "us", seen["sms-2"].transaction_id, actor="ops", reason="carrier outage", key="refund-1", credits=2_000
    )
    yield lambda: billing.charge("us", Usage(product="voice", units=30), key="after-refund")
    yield lambda: billing.open_dispute("in", seen["lead-3"].transaction_id, reason="duplicate", key="dispute")
    yield lambda: billing.charge("in", _lead(3_000, "lead_chat"), key="after-dispute")
    clock.advance(seconds=30)
    voice = Usage(product="voice", units=2)
    yield lambda: billing.charge("us", voice, key="behind", at=clock.now - timedelta(seconds=3))  # at its time
    yield lambda: billing.charge("us", voice, key="far", at=clock.now - timedelta(days=2))  # refused
    yield lambda: billing.set_segment("us", "preferred", actor="sales", key="segment")
    yield lambda: billing.charge("us", Usage(product="sms", units=50), key="after-segment")
    yield lambda: billing.publish_pricebook(version_2, actor="pricing", key="v2")
    yield lambda: billing.pin("small", "us-audiology", 1, actor="sales", reason="retention", key="pin")
    clock.now = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)  # v2 comes into force, the bonus lot is past due
    yield lambda: billing.register_clinic("late", "Late", "US", key="reg")
    yield lambda: billing.purchase("late", 200_000, payment_method="card_ok", key="buy")
    for n in range(3):
        yield lambda n=n: billing.charge("late", Usage(product="voice", units=10), key=f"v2-{n}")
        yield lambda n=n: billing.charge("us", Usage(product="voice", units=10), key=f"v1-term-{n}")
        yield lambda n=n: billing.charge("in", _lead(7_500), key=f"expired-{n}")
        yield lambda n=n: billing.charge("small", Usage(product="sms", units=10), key=f"pinned-{n}")
        clock.advance(hours=1)
    yield billing.expire_lots
    yield lambda: billing.charge("in", _lead(3_000), key="after-sweep")


def run(url: str, version_2: Path, fast_path: bool) -> tuple[list[Any], dict[str, list[Any]], Billing]:
    clock = Clock(START)
    billing = Billing(Database(url, fast=fast_path), clock=clock, gateway=FakeGateway())
    for path in (US_V1, IN_V1, IN_V2):
        billing.publish_pricebook(path, actor="pricing", key=f"publish-{path.name}", at=PUBLISHED)
    answers: list[Any] = []
    for step in script(billing, clock, version_2):
        try:
            answers.append(step().model_dump(mode="json"))
        except CreditbookError as error:
            answers.append(f"{type(error).__name__}: {error}")
    return answers, tables(billing), billing


def test_the_fast_path_leaves_the_rows_the_reference_leaves(
    twin_urls: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version_2 = us_version_2(tmp_path)  # one file: its bytes are part of the publishing request
    reference_answers, reference_rows, reference = run(twin_urls[0], version_2, fast_path=False)
    taken: Counter[str] = Counter()
    verify = clinics.verify

    def counted(post: Callable[[Any, fast.FastCharge], fast.Answer]) -> Callable[[Any, fast.FastCharge], fast.Answer]:
        def counted_post(conn: Any, charge: fast.FastCharge) -> fast.Answer:
            answer = post(conn, charge)
            taken[answer.status] += 1
            return answer

        return counted_post

    def counted_verify(conn: Any, state: Any, at: datetime) -> bool:
        agreed = verify(conn, state, at)
        taken["kept" if agreed else "stale"] += 1
        return agreed

    monkeypatch.setattr(fast, "post_charge", counted(fast.post_charge))
    monkeypatch.setattr(fast_sqlite, "post_charge", counted(fast_sqlite.post_charge))
    monkeypatch.setattr(clinics, "verify", counted_verify)
    fast_answers, fast_rows, fast_billing = run(twin_urls[1], version_2, fast_path=True)
    for billing in (reference, fast_billing):
        assert billing.reconcile(full=True).ok
        billing.db.dispose()

    assert fast_answers == reference_answers
    assert_same_rows(reference_rows, fast_rows)
    charges = sum(1 for answer in reference_answers if isinstance(answer, dict) and "approved" in answer)
    fast_posts = taken["posted"] + taken["declined"] + taken["replay"] + taken["kept"]
    print(f"{charges} charges; fast path: {dict(taken)}")
    assert fast_posts >= charges * 0.6, f"the fast path posted only {dict(taken)} of {charges} charges"
    assert taken["stale"] >= 1  # and it found states stale (a top-up, a refund, a new segment...)
    assert any("declined" in str(a) or (isinstance(a, dict) and not a.get("approved", True)) for a in fast_answers)


def test_a_kept_state_is_never_charged_from_once_another_process_changed_the_clinic(
    ledger_url: str, tmp_path: Path
) -> None:
    """Billing A keeps each clinic's state after charging it; Billing B (another process: its own
    kept states) changes the clinic in every way a charge reads. A's next charge must price and
    post from the clinic as it is now — exactly what the reference path (C) charges."""
    clock = Clock(START)
    a, b, c = (
        Billing(Database(ledger_url, fast=fast_path), clock=clock, gateway=FakeGateway(), migrate=n == 0)
        for n, fast_path in enumerate((True, True, False))
    )
    for path in (US_V1, IN_V1, IN_V2):
        a.publish_pricebook(path, actor="pricing", key=f"publish-{path.name}", at=PUBLISHED)
    version_2 = us_version_2(tmp_path, voice_1=170, effective_from=datetime(2026, 3, 10))
    for clinic in ("x", "y", "warm"):  # x is charged by A, y (its twin) by the reference, after the same changes
        a.register_clinic(clinic, clinic, "US", key="reg")
        a.purchase(clinic, 1_000_000, payment_method="card_ok", key="buy")
    for n in range(2):  # A finds the market's revenue account: its charges take the fast path from now on
        a.charge("warm", Usage(product="sms", units=1), key=f"warm-{n}")
    changes: list[tuple[str, Callable[[str], Any]]] = [
        ("B charges the same term", lambda clinic: b.charge(clinic, Usage(product="sms", units=450), key="b-sms")),
        ("B tops up", lambda clinic: b.purchase(clinic, 200_000, payment_method="card_ok", key="b-buy")),
        ("B takes credits back", lambda clinic: b.adjust(clinic, -5_000, actor="ops", reason="fix", key="b-adj")),
        ("B moves it to preferred", lambda clinic: b.set_segment(clinic, "preferred", actor="ops", key="b-seg")),
        ("B publishes v2", lambda clinic: b.publish_pricebook(version_2, actor="pricing", key="b-v2")),
        ("B pins it to v1", lambda clinic: b.pin(clinic, "us-audiology", 1, actor="ops", reason="r", key="b-pin")),
    ]
    for n, (what, change) in enumerate(changes):
        for clinic, charger in (("x", a), ("y", c)):
            charger.charge(clinic, Usage(product="sms", units=30), key=f"before-{n}")  # A keeps x's state
            with contextlib.suppress(CreditbookError):  # publishing once is enough for both twins
                change(clinic)
        if n == len(changes) - 2:
            clock.now = datetime(2026, 3, 11, tzinfo=UTC)  # v2 in force (x and y on their v1 terms still)
        found = {
            (clinic, product): _seen(
                charger.charge(clinic, Usage(product=product, units=300), key=f"after-{n}-{product}")
            )
            for clinic, charger in (("x", a), ("y", c))
            for product in ("sms", "voice")
        }
        for product in ("sms", "voice"):
            assert found[("x", product)] == found[("y", product)], f"after '{what}': {found}"
    for billing in (a, b, c):
        billing.db.dispose()


def _seen(result: Any) -> tuple[Any, ...]:
    return result.approved, result.credits, result.balance, result.rule_ids, result.pricebook


@pytest.mark.parametrize("checked", [True, False], ids=["checked", "unchecked"])
def test_without_its_checks_the_one_call_charges_from_a_state_another_process_changed(
    ledger_url: str, checked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The negative control of the test above, on both databases: A keeps a clinic's state, B
    (another process) spends from it, and A charges again. With the one call's checks A's charge is
    priced on the clinic as it is now and answers the balance the ledger holds; without them
    (tests/reliability/broken.py `unchecked_state`) it is posted from A's stale state and the
    damage shows — an answer that is not the ledger, or the database refusing the write."""
    clock = Clock(START)
    a, b = (Billing(Database(ledger_url), clock=clock, gateway=FakeGateway(), migrate=n == 0) for n in range(2))
    a.publish_pricebook(IN_V2, actor="pricing", key="publish", at=PUBLISHED)
    a.register_clinic("x", "x", "IN", key="reg")
    a.purchase("x", 1_000, payment_method="upi_ok", key="buy")
    for n in range(2):  # A keeps x's state, and knows the market's revenue account
        a.charge("x", _lead(3_000), key=f"a-{n}")
    b.charge("x", _lead(75_000), key="b")  # B spends what A's state says x still has
    with broken("sound" if checked else "unchecked_state", monkeypatch, a.db):
        try:
            answered = a.charge("x", _lead(75_000), key="a-after")
        except CreditbookError as error:  # the database refused what the stale state predicted
            answered = error
    truth = a.balance("x").balance
    for billing in (a, b):
        billing.db.dispose()
    agrees = not isinstance(answered, CreditbookError) and answered.balance == truth
    assert agrees is checked, f"{'checked' if checked else 'unchecked'}: answered {answered!r}, ledger {truth}"
