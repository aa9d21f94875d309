"""The Tests sheet is priced at every validation: a wrong expectation or an example nothing can
price is reported at its cell, with both numbers and the rules, and the pricebook does not load."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import PricebookError, load_pricebook, validate_pricebook
from tests.support.paths import IN_V2, US_V1
from tests.support.workbooks import Book


def test_every_shipped_example_is_priced_as_expected() -> None:
    for path in (US_V1, IN_V2):
        report = validate_pricebook(path)
        assert report.ok and report.tests and not [f for f in report.findings if f.code.startswith("E")]


def test_wrong_expected_credits_is_reported_with_both_numbers(tmp_path: Path) -> None:
    book = Book(US_V1)
    where = book.set("Tests", "T-SMS-01", "expected_credits", 48_300)
    report = validate_pricebook(book.save(tmp_path / "wrong.xlsx"))
    (finding,) = [f for f in report.findings if f.code == "E02"]
    assert finding.location == where and finding.rule_id == "T-SMS-01"
    assert "48,300 credits ($4.83)" in finding.message and "50,000 credits ($5.00)" in finding.message
    assert "SMS-1: 100 × 85; SMS-2: 500 × 83" in finding.message and "SMS-1, SMS-2" in finding.hint
    assert report.pricebook is None
    with pytest.raises(PricebookError):
        load_pricebook(tmp_path / "wrong.xlsx")


def test_a_price_change_that_breaks_an_example_is_caught(tmp_path: Path) -> None:
    book = Book(IN_V2)
    book.set("LeadPrices", "LP-03", "lead_price_credits", 260)
    report = validate_pricebook(book.save(tmp_path / "repriced.xlsx"))
    broken = {f.rule_id for f in report.errors if f.code == "E02"}
    assert broken == {"T-LEAD-01", "T-LEAD-04"}


def test_expected_rules_are_checked(tmp_path: Path) -> None:
    book = Book(IN_V2)
    where = book.set("Tests", "T-LEAD-02", "expected_rule_ids", "LP-02")
    report = validate_pricebook(book.save(tmp_path / "rules.xlsx"))
    (finding,) = [f for f in report.findings if f.code == "E02"]
    assert finding.location == where and "priced by LP-01" in finding.message


def test_an_example_that_cannot_be_priced(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("Tests", "T-VOICE-01", "number_type", "short_code")  # voice has no short codes
    report = validate_pricebook(book.save(tmp_path / "unpriceable.xlsx"))
    (finding,) = [f for f in report.findings if f.code == "E01"]
    assert finding.rule_id == "T-VOICE-01" and "short_code" in finding.message
