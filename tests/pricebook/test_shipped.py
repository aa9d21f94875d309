"""The shipped pricebooks carry the seed notes faithfully, compile cleanly, and their canonical
JSON and semantic hash depend on prices only: not on row order, notes, or which program saved
the file."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine import CompiledPricebook, PricebookError, load_pricebook, validate_pricebook
from engine.pricebook.findings import Severity
from engine.pricebook.model import load_compiled_json
from tests.support.paths import FIXTURES, IN_V1, IN_V2, US_V1
from tests.support.workbooks import Book


@pytest.mark.parametrize("path", [US_V1, IN_V1, IN_V2], ids=lambda p: p.name)
def test_shipped_pricebook_has_no_errors_or_warnings(path: Path) -> None:
    report = validate_pricebook(path)
    assert report.exit_code == 0
    assert [f for f in report.findings if f.severity is not Severity.INFO] == []
    assert report.pricebook is not None and len(report.pricebook.semantic_hash) == 64
    assert report.tests, "every shipped pricebook carries worked examples"


def test_us_pricebook_matches_the_practice_credit_note() -> None:
    pb = load_pricebook(US_V1)
    assert (pb.meta.market, pb.meta.currency, pb.meta.money_per_credit) == ("US", "USD", Decimal("0.0001"))
    sms = [(t.up_to, t.unit_price_credits) for t in pb.usage_tiers if t.product == "sms"]
    voice = [(t.up_to, t.unit_price_credits) for t in pb.usage_tiers if t.product == "voice"]
    assert sorted(sms, key=lambda t: t[0] or 10**9) == [
        (500, 85),
        (1500, 83),
        (3500, 81),
        (6500, 79),
        (11500, 77),
        (None, 74),
    ]
    assert sorted(voice, key=lambda t: t[0] or 10**9) == [
        (500, 160),
        (1500, 158),
        (3500, 156),
        (8500, 154),
        (18500, 152),
        (None, 149),
    ]
    packages = {(p.package_code, p.included_units, p.unit_price_credits, p.total_credits) for p in pb.packages}
    assert ("SOLO-SMS", 1000, 83, 83_000) in packages
    assert ("SMALL-VOICE", 5500, 153, 841_500) in packages
    assert ("LARGE-VOICE", 20000, 147, 2_940_000) in packages
    assert {p.clinic_size for p in pb.packages} == {"solo", "small", "medium", "large"}
    (bundle,) = pb.bundles
    assert (set(bundle.components), bundle.discount_pct, bundle.applies_to) == (
        {"sms", "voice"},
        Decimal("0.1"),
        "both",
    )
    limits = {o.segment: o.max_negative_credits for o in pb.overdraft}
    assert limits["standard"] == 0 and limits["preferred"] > 0
    assert {p.product: p.term_days for p in pb.products} == {"sms": 365, "voice": 365}
    assert pb.product("voice").billing_increment_s == 60
    assert {a.alert for a in pb.alerts} >= {"low_balance_credits"}


def test_india_versions_match_the_lead_note() -> None:
    v1, v2 = load_pricebook(IN_V1), load_pricebook(IN_V2)
    assert v1.pricebook_id == v2.pricebook_id == "in-clinic-leads"
    assert v2.meta.effective_from > v1.meta.effective_from
    assert {(r.channel, r.lead_price_credits) for r in v1.lead_prices} == {("chat", 300), ("call", 500)}
    tiers = sorted((r.pkg_price_from, r.pkg_price_to, r.lead_price_credits) for r in v2.lead_prices)
    assert tiers == [
        (0, 5000, 100),
        (5000, 10000, 180),
        (10000, 20000, 250),
        (20000, 50000, 320),
        (50000, 100000, 400),
        (100000, None, 500),
    ]
    promos = {p.rule_id: p for p in v2.topup_promos}
    assert promos["IN-DOUBLE5K"].paid_from + promos["IN-DOUBLE5K"].bonus_credits == 10_000
    assert (promos["IN-BONUS20"].bonus_pct, promos["IN-BONUS20"].perk) == (Decimal("0.2"), "featured_placement")
    assert (promos["IN-REFERRAL"].bonus_credits, promos["IN-REFERRAL"].beneficiary) == (500, "both")
    assert {d.reason for d in v2.disputes} == {"duplicate", "invalid", "not_reachable", "mistakenly_charged"}
    assert v1.meta.money_per_credit == 1 and v1.meta.currency == "INR"


def test_promo_window_ends_after_its_last_day_in_the_pricebook_time_zone() -> None:
    promo = next(p for p in load_pricebook(IN_V2).topup_promos if p.rule_id == "IN-EXTRA2K")
    # valid_to 2026-12-31 (inclusive) in Asia/Kolkata = 2027-01-01 00:00 IST = 2026-12-31 18:30 UTC
    assert promo.valid_to is not None and promo.valid_to.isoformat() == "2026-12-31T18:30:00+00:00"
    assert promo.valid_from.isoformat() == "2025-12-31T18:30:00+00:00"


def test_canonical_json_round_trips_and_checks_its_hash() -> None:
    pb = load_pricebook(US_V1)
    text = pb.canonical_json()
    again = load_compiled_json(text)
    assert again == pb and again.canonical_json() == text
    tampered = json.loads(text)
    tampered["content"]["usage_tiers"][0]["unit_price_credits"] = "84"
    with pytest.raises(ValueError, match="hash mismatch"):
        load_compiled_json(json.dumps(tampered))


def test_compiled_pricebook_is_immutable() -> None:
    pb = load_pricebook(US_V1)
    with pytest.raises(Exception, match="frozen"):
        pb.meta.version = 2  # type: ignore[misc]
    assert isinstance(pb.usage_tiers, tuple)


def test_hash_ignores_resaving_row_order_and_notes(tmp_path: Path) -> None:
    original = load_pricebook(US_V1)
    resaved = load_pricebook(FIXTURES / "us-audiology-v1.resaved-by-libreoffice.xlsx")
    assert resaved.semantic_hash == original.semantic_hash
    assert resaved.canonical_json() == original.canonical_json()
    book = Book(US_V1)
    ws = book.wb["UsageTiers"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2, max_row=13)]
    for offset, values in enumerate(reversed(rows)):
        for col, value in enumerate(values, start=1):
            ws.cell(row=2 + offset, column=col).value = value
    book.set("Packages", "PK-SOLO-SMS", "notes", "a different note")
    book.set_meta("author", "Someone else")
    shuffled = load_pricebook(book.save(tmp_path / "shuffled.xlsx"))
    assert shuffled.semantic_hash == original.semantic_hash
    assert shuffled.content() == original.content()
    assert shuffled.meta.author == "Someone else"


def test_hash_changes_when_a_price_changes_but_not_with_the_version_number(tmp_path: Path) -> None:
    original = load_pricebook(US_V1)
    book = Book(US_V1)
    book.set_meta("version", 2)
    renumbered = load_pricebook(book.save(tmp_path / "v2.xlsx"))
    assert renumbered.semantic_hash == original.semantic_hash and renumbered.version == 2
    book.set("UsageTiers", "VOICE-6", "unit_price_credits", 148)
    repriced = load_pricebook(book.save(tmp_path / "v2b.xlsx"))
    assert repriced.semantic_hash != original.semantic_hash


def test_load_pricebook_raises_with_every_finding(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("UsageTiers", "SMS-2", "unit_price_credits", "x")
    book.set("Bundles", "BN-SMS-VOICE", "discount_pct", 10)
    with pytest.raises(PricebookError) as caught:
        load_pricebook(book.save(tmp_path / "bad.xlsx"))
    codes = {f.code for f in caught.value.findings}
    assert {"C02", "C05"} <= codes
    assert "UsageTiers!G3" in str(caught.value)
    assert isinstance(load_pricebook(US_V1), CompiledPricebook)
