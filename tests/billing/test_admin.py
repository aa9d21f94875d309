"""What the admin console and the pricing team do: decide disputes, adjust, publish new versions,
pin clinics, and read revenue and history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.billing import (
    AdjustmentRefused,
    Billing,
    InvalidAmount,
    PricebookRejected,
    RefundExceeded,
    UnknownClinic,
)
from engine.errors import InvalidInput
from engine.pricing.requests import LeadRequest, Usage
from tests.support.clock import Clock
from tests.support.ledger_rows import allocations_of, rows
from tests.support.workbooks import us_version_2


def _lead_clinic(billing: Billing, clinic: str = "c") -> None:
    billing.register_clinic(clinic, "Clinic", "IN", key="reg")
    billing.purchase(clinic, 5_000, payment_method="upi_ok", key="buy")


def test_disputes_for_review_wait_for_an_admin_who_approves_or_rejects_with_a_note(
    billing: Billing, clock: Clock
) -> None:
    _lead_clinic(billing)
    one = billing.charge("c", LeadRequest(product="lead_call", package_price=60_000), key="l1")
    two = billing.charge("c", LeadRequest(product="lead_chat", package_price=60_000), key="l2")
    assert (one.credits, two.credits) == (400, 400)
    first = billing.open_dispute("c", one.transaction_id, reason="invalid", key="d1")
    second = billing.open_dispute("c", two.transaction_id, reason="not_reachable", key="d2")
    assert (first.status, first.refunded_credits) == ("open", 0)
    assert [d.id for d in billing.disputes()] == [first.dispute_id, second.dispute_id]
    clock.advance(hours=2)
    approved = billing.approve_dispute(first.dispute_id, actor="ops@antidote", note="spam number", key="a1")
    assert approved.status == "approved" and approved.refunded_credits == 400
    assert approved.balance == 5_000 - 800 + 400
    rejected = billing.reject_dispute(second.dispute_id, actor="ops@antidote", note="patient answered", key="a2")
    assert rejected.status == "rejected" and rejected.refund_id is None and rejected.balance == 4_600
    assert billing.disputes() == []
    decided = billing.disputes(status=None, clinic_id="c")
    assert [(d.status, d.decided_by, d.note) for d in decided] == [
        ("approved", "ops@antidote", "spam number"),
        ("rejected", "ops@antidote", "patient answered"),
    ]
    history = billing.transactions("c", kinds=["charge"]).rows
    assert {r.id: (r.dispute_status, r.refunded, r.disputable) for r in history} == {
        one.transaction_id: ("approved", 400, False),
        two.transaction_id: ("rejected", 0, False),
    }


def test_a_dispute_after_its_window_or_for_a_reason_not_allowed_is_rejected_by_policy(
    billing: Billing, clock: Clock
) -> None:
    _lead_clinic(billing)
    late = billing.charge("c", LeadRequest(product="lead_call", package_price=3_000), key="l1")
    odd = billing.charge("c", LeadRequest(product="lead_call", package_price=3_000), key="l2")
    clock.advance(days=7, seconds=1)
    refused = billing.open_dispute("c", late.transaction_id, reason="invalid", key="d1")
    assert refused.status == "rejected" and "7 days" in refused.reason and refused.refunded_credits == 0
    assert billing.open_dispute("c", odd.transaction_id, reason="too expensive", key="d2").status == "rejected"


def test_a_duplicate_is_refunded_automatically_only_when_the_same_patient_was_charged_before(
    billing: Billing,
) -> None:
    _lead_clinic(billing)
    original = billing.charge("c", LeadRequest(product="lead_chat", package_price=3_000), key="l1", patient_ref="p-1")
    other = billing.charge("c", LeadRequest(product="lead_chat", package_price=3_000), key="l2", patient_ref="p-2")
    repeat = billing.charge("c", LeadRequest(product="lead_chat", package_price=3_000), key="l3", patient_ref="p-1")
    not_a_duplicate = billing.open_dispute("c", other.transaction_id, reason="duplicate", key="d1")
    assert not_a_duplicate.status == "open"  # no earlier lead from p-2: an admin looks
    assert billing.open_dispute("c", repeat.transaction_id, reason="duplicate", key="d2").status == "approved"
    first_of_its_kind = billing.open_dispute("c", original.transaction_id, reason="duplicate", key="d3")
    assert first_of_its_kind.status == "open"  # the first lead of a patient is never its own duplicate


def test_partial_refunds_never_exceed_the_charge(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    charge = billing.charge("c", Usage(product="sms", units=100), key="sms")
    billing.refund("c", charge.transaction_id, actor="support", reason="10 failed", key="r1", credits=850)
    billing.refund("c", charge.transaction_id, actor="support", reason="rest", key="r2")
    with pytest.raises(RefundExceeded):
        billing.refund("c", charge.transaction_id, actor="support", reason="again", key="r3", credits=1)
    assert sum(int(t.credits) for t in rows(billing, "transactions", kind="refund")) == 8_500
    assert billing.balance("c").balance == 1_000_000


def test_adjustments_are_entries_with_an_actor_and_reason(billing: Billing) -> None:
    _lead_clinic(billing)
    plus = billing.adjust("c", 750, actor="finance@antidote", reason="onboarding credit", key="a1")
    minus = billing.adjust("c", -250, actor="finance@antidote", reason="duplicate onboarding", key="a2")
    assert (plus.balance, minus.balance) == (5_750, 5_500)
    lot = next(lot for lot in rows(billing, "lots") if lot.source == "adjustment")
    assert lot.kind == "granted" and lot.expires_at is None and int(lot.amount) == 750
    recorded = rows(billing, "transactions", kind="adjustment")
    assert [(t.actor, t.reason, int(t.credits)) for t in recorded] == [
        ("finance@antidote", "onboarding credit", 750),
        ("finance@antidote", "duplicate onboarding", 250),
    ]
    assert [r.signed_credits for r in billing.transactions("c", kinds=["adjustment"]).rows] == [-250, 750]


def test_moving_a_clinic_to_preferred_lets_it_overdraw_and_back_only_when_it_owes_nothing(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    assert not billing.charge("c", Usage(product="sms", units=10), key="s1").approved
    moved = billing.set_segment("c", "preferred", actor="sales", key="seg-1")
    assert moved.overdraft_limit == 500_000
    assert billing.charge("c", Usage(product="sms", units=10), key="s2").approved
    with pytest.raises(AdjustmentRefused, match="owes 850 credits"):
        billing.set_segment("c", "standard", actor="sales", key="seg-2")
    billing.purchase("c", 100_000, payment_method="card_ok", key="buy")
    assert billing.set_segment("c", "standard", actor="sales", key="seg-3").overdraft_limit == 0


def test_a_new_version_reaches_new_clinics_at_once_running_terms_at_their_next_term_and_pins_never(
    billing: Billing, clock: Clock, tmp_path: Path
) -> None:
    for clinic in ("early", "pinned"):
        billing.register_clinic(clinic, clinic, "US", key="reg")
        billing.purchase(clinic, 1_000_000, payment_method="card_ok", key="buy")
    published = billing.publish_pricebook(us_version_2(tmp_path), actor="pricing", key="publish-us-v2")
    assert published.version == 2
    billing.pin("pinned", "us-audiology", 1, actor="sales", reason="retention", key="pin")
    clock.now = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)  # v2 in force since April 1st (New York)
    billing.register_clinic("late", "late", "US", key="reg")
    billing.purchase("late", 1_000_000, payment_method="card_ok", key="buy")
    prices = {c: billing.charge(c, Usage(product="voice", units=10), key="v").credits for c in ("early", "late")}
    assert prices == {"early": 1_600, "late": 1_650}  # early's term started on v1
    clock.now += timedelta(days=365)  # early's term is over: its next term starts on v2
    billing.purchase("early", 1_000_000, payment_method="card_ok", key="buy-2")
    billing.purchase("pinned", 1_000_000, payment_method="card_ok", key="buy-2")
    assert billing.charge("early", Usage(product="voice", units=10), key="v2").credits == 1_650
    pinned = billing.charge("pinned", Usage(product="voice", units=10), key="v2")
    assert pinned.credits == 1_600 and pinned.pricebook == "us-audiology v1"
    charge = rows(billing, "transactions", id=pinned.transaction_id)[0]
    assert (charge.pricebook_version, charge.pricebook_hash[:12]) == (1, "20221d9bb442")


def test_existing_customers_move_at_the_date_the_pricing_team_set(
    billing: Billing, clock: Clock, tmp_path: Path
) -> None:
    billing.register_clinic("c", "c", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    v2 = us_version_2(tmp_path, existing_customers_from=datetime(2026, 5, 1))
    billing.publish_pricebook(v2, actor="pricing", key="publish-us-v2")
    clock.now = datetime(2026, 4, 15, tzinfo=UTC)
    assert billing.charge("c", Usage(product="voice", units=1), key="v1").credits == 160
    clock.now = datetime(2026, 5, 1, 5, tzinfo=UTC)
    assert billing.charge("c", Usage(product="voice", units=1), key="v2").credits == 165
    assert [int(t.units) for t in rows(billing, "terms", clinic_id="c", product="voice")] == [2]


def test_publishing_refuses_a_version_that_is_not_later(billing: Billing, tmp_path: Path) -> None:
    same_day = us_version_2(tmp_path, effective_from=datetime(2025, 8, 1))
    with pytest.raises(PricebookRejected, match="not after us-audiology v1"):
        billing.publish_pricebook(same_day, actor="pricing", key="p")
    assert [v.version for v in billing.pricebook_versions("us-audiology")] == [1]
    original = rows(billing, "pricebook_versions", pricebook_id="us-audiology")[0]
    assert original.file_name == "us-audiology-v1.xlsx" and len(original.original) > 10_000


def test_revenue_report_by_month(billing: Billing, clock: Clock) -> None:
    _lead_clinic(billing, "a")
    billing.purchase("a", 10_000, payment_method="upi_ok", key="buy-2")  # + 2,000 bonus
    billing.charge("a", LeadRequest(product="lead_call", package_price=15_000), key="l1")
    clock.now = datetime(2026, 4, 10, tzinfo=UTC)
    _lead_clinic(billing, "b")
    billing.purchase("b", 1_000, payment_method="card_declined", key="failed")  # not revenue
    report = billing.revenue_report("IN")
    march, april = report.rows
    assert (march.period, march.topup_money, march.paid_credits, march.bonus_credits) == (
        "2026-03",
        Decimal(15_000),
        15_000,
        2_000,
    )
    assert march.charged_credits == 250
    assert (april.period, april.topup_money, april.paid_credits) == ("2026-04", Decimal(5_000), 5_000)
    assert report.outstanding_credits == 15_000 + 2_000 - 250 + 5_000
    assert report.currency == "INR" and report.open_disputes == 0


def test_transactions_page_newest_first_with_filters(billing: Billing, clock: Clock) -> None:
    _lead_clinic(billing)
    ids = []
    for n in range(7):
        clock.advance(minutes=1)
        ids.append(
            billing.charge("c", LeadRequest(product="lead_chat", package_price=3_000), key=f"l{n}").transaction_id
        )
    page = billing.transactions("c", kinds=["charge"], page=1, page_size=3)
    assert page.total == 7 and [r.id for r in page.rows] == ids[::-1][:3]
    last = billing.transactions("c", kinds=["charge"], page=3, page_size=3)
    assert [r.id for r in last.rows] == [ids[0]]
    everything = billing.transactions("c")
    assert everything.total == 8 and everything.rows[-1].kind == "topup"
    assert sum(r.signed_credits for r in everything.rows) == billing.balance("c").balance
    window = billing.transactions("c", since=clock.now - timedelta(minutes=2, seconds=30))
    assert [r.id for r in window.rows] == ids[::-1][:3]
    assert allocations_of(billing, ids[0])  # each charge is traced to its lots


def test_a_new_version_that_changes_an_overdraft_limit_reaches_every_wallet_of_the_segment(
    billing: Billing, clock: Clock, tmp_path: Path
) -> None:
    billing.register_clinic("p", "Preferred", "US", key="reg", segment="preferred")
    assert billing.charge("p", Usage(product="voice", units=3_000), key="v1").balance == -472_000
    assert not billing.charge("p", Usage(product="voice", units=200), key="v2").approved  # past -500,000
    billing.publish_pricebook(us_version_2(tmp_path, preferred_limit=600_000), actor="pricing", key="v2")
    clock.now = datetime(2026, 4, 2, tzinfo=UTC)
    deeper = billing.charge("p", Usage(product="voice", units=200), key="v3")  # 200 × 156 = 31,200
    assert deeper.approved and deeper.balance == -503_200
    assert rows(billing, "accounts", clinic_id="p")[0].overdraft_limit == 600_000
    refused = billing.charge("p", Usage(product="voice", units=700), key="v4")  # 109,200 more: past -600,000
    assert not refused.approved and "600,000" in (refused.decline_reason or "")


def test_history_cursors_are_stable_while_new_rows_arrive(billing: Billing, clock: Clock) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    for n in range(7):
        clock.advance(minutes=1)
        billing.charge("c", Usage(product="sms", units=1), key=f"sms-{n}")
    first = billing.transactions("c", kinds=["charge"], page_size=3)
    assert first.total == 7 and first.next_cursor is not None
    clock.advance(minutes=1)
    billing.charge("c", Usage(product="sms", units=1), key="new")  # arrives between two pages
    second = billing.transactions("c", kinds=["charge"], page_size=3, cursor=first.next_cursor)
    third = billing.transactions("c", kinds=["charge"], page_size=3, cursor=second.next_cursor)
    seen = [r.id for page in (first, second, third) for r in page.rows]
    assert len(seen) == len(set(seen)) == 7  # none twice, none skipped, the newcomer not mixed in
    assert second.total is None and third.next_cursor is None
    with pytest.raises(InvalidAmount, match="cursor"):
        billing.transactions("c", cursor="bm90LWEtY3Vyc29y")


def test_one_clinic_is_read_by_its_id_and_an_unknown_or_malformed_id_is_refused(billing: Billing) -> None:
    billing.register_clinic("glow", "Glow Skin Clinic, Mumbai", "IN", key="reg")
    billing.register_clinic("river", "Riverside Hearing", "US", key="reg")
    glow = billing.clinic("glow")
    assert (glow.id, glow.name, glow.market) == ("glow", "Glow Skin Clinic, Mumbai", "IN")
    assert glow.timezone == "Asia/Kolkata"
    assert billing.clinic("river").timezone != glow.timezone
    with pytest.raises(UnknownClinic):
        billing.clinic("nobody")
    for malformed in ("", "a" * 65, "glow\x00", "glоw"):  # the last with a Cyrillic о
        with pytest.raises(InvalidInput):
            billing.clinic(malformed)
