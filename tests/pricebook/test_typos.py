"""The typo finder: when cross-checks disagree, the error sits at the mistyped cell, with the value
that makes its table agree, and the correct cells around it stay quiet.

Measured on one-typo mutations of the shipped workbooks (tests/pricebook/mutations.py: a digit
left out, an extra digit, two digits swapped, a digit typed twice, a number typed as text) and on
the cases the issue names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import validate_pricebook
from engine.pricebook.checks.typos import keystroke_typo, slips, typo_between, untyped
from engine.pricebook.findings import CODES, Finding
from engine.pricebook.schema import SHEETS
from engine.pricebook.validate import Report
from tests.pricebook import mutations
from tests.support.paths import IN_V1, IN_V2, US_V1
from tests.support.workbooks import Book

WORKBOOKS = mutations.shipped()
SAMPLE = mutations.sample(WORKBOOKS, 240, seed=15)
TYPE_A_NUMBER = re.compile(r"\bType [0-9]")


def errors(report: Report) -> list[Finding]:
    return list(report.errors)


def validated(book: Book, tmp_path: Path) -> Report:
    return validate_pricebook(book.save(tmp_path / book.source.name))


# -- keystrokes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["0", "7", "85", "500", "1500", "11500", "223500", "2940000", "74.7"])
def test_the_finder_reads_back_every_typo_the_generator_makes(number: str) -> None:
    """Both directions agree: each typo of a number names its kind, and the number is among the
    values the finder tries for what was typed."""
    made = mutations.keystroke_typos(number) if "." not in number else None
    if made is not None:
        assert {kind: set(slips(number)[kind]) for kind in made} == made
    for kind, typos in slips(number).items():
        for typo in typos:
            assert keystroke_typo(number, typo) == kind
            assert number in untyped(typo)


def test_a_scaled_stated_total_is_compared_as_it_was_written() -> None:
    slip = typo_between(1_520_000, "1.250M credits")
    assert slip is not None and (slip.kind, str(slip)) == ("swapped", "1.520M")
    assert typo_between(237_000, "2.7K credits") is None
    assert typo_between(3500, 400.0) is None
    assert typo_between(11500, 1150.0) is not None


# -- the goal, on a fixed sample of one-typo mutations --------------------------------------------------------


def test_the_mistyped_cell_is_blamed_and_its_neighbours_stay_quiet() -> None:
    score = mutations.Score()
    locking: list[str] = []
    for mutation in SAMPLE:
        report = mutations.validate_in_memory(mutations.apply(WORKBOOKS[mutation.workbook], mutation))
        score.add(mutation, report)
        for finding in report.findings:
            if finding.location != mutation.location and TYPE_A_NUMBER.search(finding.hint):
                locking.append(f"{mutation.describe()}: {finding.location} {finding.hint}")
    assert score.caught_pct >= 85, f"caught {score.caught_pct:.1f}%"
    assert score.blamed_right_pct >= 95, "\n".join(m.describe() for m, _ in score.misses)
    assert score.errors_elsewhere_per_typo <= 0.15, "\n".join(m.describe() for m, _ in score.noisy)
    assert not locking, "hints that would lock a typo in:\n" + "\n".join(locking)


# -- the cases ----------------------------------------------------------------------------------------


def test_a_tier_bound_that_breaks_the_sequence_is_blamed_with_the_value_that_fits(tmp_path: Path) -> None:
    book = Book(US_V1)
    where = book.set("UsageTiers", "SMS-3", "up_to", 400)
    report = validated(book, tmp_path)
    (error,) = errors(report)
    assert (error.code, error.location, error.value) == ("T13", where, 400)
    ref = where.split("!")[1]
    stated = [book.address("UsageTiers", rule, "stated_tier_credits").split("!")[1] for rule in ("SMS-3", "SMS-4")]
    assert error.message.startswith(f"{ref} = 400 (up_to of SMS-3) breaks the tier sequence")
    assert "3,500 would make" in error.message and all(cell in error.message for cell in stated)
    assert "the Tests examples agree" in error.message
    assert error.hint == "Type 3,500."
    assert not report.warnings, "the tiers out of order and the prices that seemed to rise are folded in"


BLAMED = [
    pytest.param(
        US_V1,
        "UsageTiers",
        "SMS-2",
        "up_to",
        150,
        "Type 1,500 (150 looks like 1500 with a digit left out).",
        id="bound",
    ),
    pytest.param(
        IN_V2,
        "LeadPrices",
        "LP-04",
        "lead_price_credits",
        32,
        "Type 320 (32 looks like 320 with a digit left out).",
        id="price only the Tests sheet checks",
    ),
    pytest.param(
        US_V1,
        "UsageTiers",
        "VOICE-1",
        "unit_price_credits",
        60,
        "Type 160 (60 looks like 160 with a digit left out).",
        id="price beside its stated total",
    ),
    pytest.param(
        IN_V2,
        "LeadPrices",
        "LP-02",
        "pkg_price_to",
        100000,
        "Type 10,000 (100000 looks like 10000 with a digit typed twice).",
        id="range end overlapping the next ranges",
    ),
    pytest.param(
        IN_V2,
        "Tests",
        "T-LEAD-06",
        "quantity",
        2,
        "Type 21 (2 looks like 21 with a digit left out).",
        id="an example's input, not its expected credits",
    ),
]


@pytest.mark.parametrize(("source", "sheet", "rule", "column", "typed", "hint"), BLAMED)
def test_the_mistyped_cell_is_the_one_error(
    source: Path, sheet: str, rule: str, column: str, typed: int, hint: str, tmp_path: Path
) -> None:
    """One error, at the mistyped cell, whatever check noticed: no finding at the stated totals,
    the neighbouring ranges or the Tests rows that disagreed because of it."""
    book = Book(source)
    where = book.set(sheet, rule, column, typed)
    report = validated(book, tmp_path)
    assert [(f.code, f.location, f.value) for f in report.errors] == [("T13", where, typed)]
    assert report.errors[0].hint == hint
    assert not report.warnings


def test_a_stated_total_that_is_itself_the_typo_keeps_its_finding(tmp_path: Path) -> None:
    book = Book(US_V1)
    where = book.set("Packages", "PK-SMALL-VOICE", "stated_total_credits", 814500)
    (error,) = errors(validated(book, tmp_path))
    assert (error.code, error.location) == ("T11", where)
    assert error.hint == (
        "Type 841,500: that makes package PK-SMALL-VOICE consistent (814500 looks like 841500 with two digits swapped)."
    )


def test_a_text_price_in_the_last_tier_is_one_error_at_its_cell(tmp_path: Path) -> None:
    """It used to close the tiers at the row above ('Leave up_to empty on the last tier'), with a
    value of 11501 for a cell that holds 11500."""
    book = Book(US_V1)
    where = book.set("UsageTiers", "SMS-6", "unit_price_credits", "74 credits", as_text=True)
    report = validated(book, tmp_path)
    assert [(f.code, f.location) for f in report.errors] == [("C02", where)]


def test_an_unreadable_bound_does_not_blame_the_stated_totals(tmp_path: Path) -> None:
    book = Book(US_V1)
    where = book.set("UsageTiers", "SMS-3", "up_to", "3500 segments", as_text=True)
    report = validated(book, tmp_path)
    assert [(f.code, f.location) for f in report.errors] == [("C02", where)]


def test_every_finding_shows_the_value_its_cell_holds(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("UsageTiers", "SMS-6", "up_to", 20000)
    book.set("UsageTiers", "SMS-5", "unit_price_credits", 7)
    book.set("Packages", "PK-SOLO-SMS", "included_units", 100)
    path = book.save(tmp_path / "many.xlsx")
    report = validate_pricebook(path)
    reread = Book(path)
    for finding in report.findings:
        if finding.cell and finding.value not in (None, ""):
            held = reread.wb[finding.sheet][finding.cell].value
            assert finding.value == held or str(finding.value) == str(held), finding


def test_two_equally_likely_cells_are_both_named_and_neither_is_typed_over(tmp_path: Path) -> None:
    """1,000 units × 83 = 83,000: a zero dropped from the units or added to the total are one
    keystroke each, and nothing else in the workbook tells them apart."""
    book = Book(US_V1)
    units = book.set("Packages", "PK-SOLO-SMS", "included_units", 100)
    total = book.address("Packages", "PK-SOLO-SMS", "stated_total_credits")
    found = errors(validated(book, tmp_path))
    assert {f.location for f in found} == {units, total}
    for finding in found:
        assert finding.hint.startswith("Either this cell should be")
        assert "check which one was mistyped" in finding.hint
        assert not TYPE_A_NUMBER.search(finding.hint)


def test_two_typos_in_one_table_keep_their_findings_and_name_no_value(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("UsageTiers", "SMS-2", "unit_price_credits", 8)
    where = book.set("UsageTiers", "SMS-2", "stated_tier_credits", 8300)
    report = validated(book, tmp_path)
    assert [(f.code, f.location) for f in report.errors] == [("T11", where)]
    assert not TYPE_A_NUMBER.search(report.errors[0].hint)
    assert "mistyped" in report.errors[0].hint


def test_the_seed_slips_are_still_the_stated_totals() -> None:
    """'1.250M' for 10,000 minutes at 152 could be a price of 125 with its digits swapped, but
    then the voice price would rise from 125 to 149 in the next tier: the total is the typo."""
    from tests.support.paths import FIXTURES

    report = validate_pricebook(FIXTURES / "us-seed-tiers-as-written.xlsx")
    assert [(f.code, f.location) for f in report.errors] == [("T11", "UsageTiers!I5"), ("T11", "UsageTiers!I12")]
    assert report.errors[1].hint.startswith("Type 1,520,000")
    assert "two digits swapped" in report.errors[1].hint


def test_shipped_workbooks_are_untouched_by_the_finder() -> None:
    for path in (US_V1, IN_V1, IN_V2):
        assert validate_pricebook(path).exit_code == 0


# -- words --------------------------------------------------------------------------------------------------


def test_the_registry_and_column_help_hold_no_template_fields() -> None:
    texts = list(CODES.values()) + [column.help for spec in SHEETS for column in spec.columns]
    assert not [t for t in texts if "{" in t or "}" in t]


def test_typos_in_different_tables_are_each_blamed(tmp_path: Path) -> None:
    book = Book(US_V1)
    price = book.set("UsageTiers", "VOICE-2", "unit_price_credits", 185)  # 158 with two digits swapped
    units = book.set("Packages", "PK-MEDIUM-SMS", "included_units", 750)  # 7,500 with a 0 left out
    report = validated(book, tmp_path)
    assert {f.location for f in report.errors} >= {price, units}
    assert {f.location for f in report.errors} <= {
        price,
        units,
        book.address("Packages", "PK-MEDIUM-SMS", "stated_total_credits"),
    }


def test_a_workbook_of_disagreements_is_left_as_reported(tmp_path: Path) -> None:
    """Every stated total wrong at once is no typo: each table keeps its own finding, at the
    stated cell, and nothing else is blamed."""
    book = Book(US_V1)
    stated = [
        book.set("UsageTiers", rule, "stated_tier_credits", 1)
        for rule in ("SMS-1", "SMS-2", "SMS-3", "SMS-4", "SMS-5", "VOICE-1", "VOICE-2", "VOICE-3", "VOICE-4", "VOICE-5")
    ]
    report = validated(book, tmp_path)
    assert {f.location for f in report.errors} == set(stated)
    assert all(not TYPE_A_NUMBER.search(f.hint) for f in report.errors)
