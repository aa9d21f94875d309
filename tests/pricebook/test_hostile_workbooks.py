"""Hostile and careless workbooks, one attack per case: each is a shipped pricebook with one value or
one part changed by XML surgery (tests/pricebook/hostile.py), and the validator must answer with a
finding that says what is wrong and where, and the right exit code: 0 clean or warnings, 1 errors,
2 not a readable workbook. Never a traceback, never a hang, and nothing that validates may break a
later date or credit computation (the compiled pricebook must round-trip)."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from engine import load_compiled_json, validate_pricebook
from engine.pricebook.findings import Severity
from engine.pricebook.safety import DEFAULT_LIMITS, Limits
from engine.pricebook.validate import validate_raw
from engine.pricebook.xlsx import RawWorkbook, read_workbook
from tests.pricebook.hostile import Surgery
from tests.pricebook.test_linear_time import assert_linear, best_of_three
from tests.support.paths import IN_V2, US_V1
from tests.support.workbooks import Book

FAR = "1" + "0" * 20  # 10^20
INDIA_RAW = read_workbook(IN_V2)


@dataclass(frozen=True)
class Case:
    name: str
    source: Path
    make: Callable[[Surgery], str | None]  # returns where the finding must be ('Sheet!A1', 'Sheet' or None)
    code: str
    says: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR
    exit_code: int = 1
    limits: Limits = DEFAULT_LIMITS


def us(name: str, make: Callable[[Surgery], str | None], code: str, *says: str, **kw: object) -> Case:
    return Case(name, US_V1, make, code, says, **kw)  # type: ignore[arg-type]


def india(name: str, make: Callable[[Surgery], str | None], code: str, *says: str, **kw: object) -> Case:
    return Case(name, IN_V2, make, code, says, **kw)  # type: ignore[arg-type]


def _price(value: str) -> Callable[[Surgery], str]:
    return lambda s: s.set_number("UsageTiers", "SMS-2", "unit_price_credits", value)


def _price_text(value: str) -> Callable[[Surgery], str]:
    return lambda s: s.set_text("UsageTiers", "SMS-2", "unit_price_credits", value)


def _far_cell(s: Surgery) -> str:
    s.sheet(
        "UsageTiers",
        lambda d: d.replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'),
    )
    return "UsageTiers"


def _far_cell_without_address(s: Surgery) -> str:
    """A cell written without r sits after the previous cell of its row: 16,384 of them reach XFD."""
    cells = b"<c><v>1</v></c>" * 16_384
    s.sheet("UsageTiers", lambda d: d.replace(b"</sheetData>", b'<row r="1048576">' + cells + b"</row></sheetData>"))
    return "UsageTiers"


def _tiers_part(change: Callable[[bytes], bytes], table: bool = False) -> Callable[[Surgery], str]:
    """A change to the bytes of the UsageTiers sheet part (or its table part); the finding is on the sheet."""
    return lambda s: ((s.table if table else s.sheet)("UsageTiers", change), "UsageTiers")[1]


def _table_ref(ref: bytes) -> Callable[[Surgery], str]:
    return _tiers_part(lambda d: d.replace(b'ref="A1:J13"', b'ref="' + ref + b'"', 1), table=True)


def _duplicate_sheet(s: Surgery) -> str:
    s.replace("xl/workbook.xml", b'<sheet name="Alerts"', b'<sheet name="OVERDRAFT"')
    return "OVERDRAFT"


def _missing_sheet_part(s: Surgery) -> None:
    del s.parts[s.part("Bundles")]


def _comment_tags(s: Surgery) -> str:
    """Unclosed row tags inside a comment, and a hidden row, so that the scan for hidden rows runs
    over all of them (a pattern that looked for hidden="1" up to each tag's '>' took minutes)."""
    noise = b"<!--" + b"<row " * 40_000 + b"-->"
    s.sheet(
        "UsageTiers",
        lambda d: d.replace(b"<sheetData>", noise + b"<sheetData>").replace(b'<row r="3"', b'<row r="3" hidden="1"'),
    )
    return "UsageTiers!A3"


def _lists_city(value: str) -> Callable[[Surgery], str]:
    def make(s: Surgery) -> str:
        book = Book(IN_V2)
        ref = book.wb["Lists"].cell(row=2, column=book.column_index("Lists", "city")).coordinate
        return s.text("Lists", ref, value)

    return make


CASES = [
    # numbers: non-finite, enormous, over-precise, typed as text
    us("NaN price", _price("NaN"), "C10", "NaN"),
    us("infinite price", _price("inf"), "C10", "infinite"),
    us("minus infinite price", _price("-inf"), "C10", "infinite"),
    us("1e308 price", _price("1e308"), "C10", "1.000E+308", "10,000,000,000,000"),
    us("400-digit price typed as text", _price_text("9" * 400), "C10", "400 digits"),
    us("20,000 characters of digits and a letter", _price_text("9" * 20_000 + "x"), "C02", "20,001 characters"),
    us(
        "price with 31 significant digits",
        _price_text("83.00000000000000000000000000001"),
        "C03",
        "more than 4 decimals",
    ),
    us("price of 1e-300", _price("1e-300"), "C03", "more than 4 decimals"),
    us("NaN percentage", lambda s: s.set_number("Bundles", "BN-SMS-VOICE", "discount_pct", "NaN"), "C10"),
    us("1e308 percentage", lambda s: s.set_number("Bundles", "BN-SMS-VOICE", "discount_pct", "1e308"), "C05"),
    us("infinite whole number", lambda s: s.set_number("UsageTiers", "SMS-1", "up_to", "inf"), "C10"),
    us("1e308 tier bound", lambda s: s.set_number("UsageTiers", "SMS-1", "up_to", "1e308"), "C10", "1,000,000,000,000"),
    us(
        "stated total of 10^30 written 1e27K",
        lambda s: s.set_text("UsageTiers", "SMS-1", "stated_tier_credits", "9" * 30 + "K"),
        "C10",
    ),
    india("1e308 package price bound", lambda s: s.set_number("LeadPrices", "LP-01", "pkg_price_to", "1e308"), "C10"),
    us("version 1e308", lambda s: s.meta_number("version", "1e308"), "C10", "2,147,483,647"),
    us("version NaN", lambda s: s.meta_number("version", "NaN"), "C10"),
    # values that validate but would break later
    us("top-up validity of 9,999,999 days", lambda s: s.meta_number("topup_validity_days", "9999999"), "C10", "36,525"),
    us("minimum top-up 1e308", lambda s: s.meta_number("topup_min_credits", "1e308"), "C10"),
    us("version 2^31", lambda s: s.meta_number("version", str(2**31)), "C10"),
    us("term of 1e308 days", lambda s: s.set_number("Products", "PR-SMS", "term_days", "1e308"), "C10"),
    us("overdraft 1e308", lambda s: s.set_number("Overdraft", "OD-PREFERRED", "max_negative_credits", "1e308"), "C10"),
    us(
        "bonus expiry of 40,000 days",
        lambda s: s.set_number("TopUpPromos", "US-BONUS-200", "bonus_expiry_days", "40000"),
        "C10",
    ),
    us(
        "package of 10^12 units at 83 credits",
        lambda s: s.set_number("Packages", "PK-SOLO-SMS", "included_units", "1000000000000"),
        "C10",
        "one purchase",
    ),
    us(
        "alert runway of 40,000 days",
        lambda s: s.set_number("Alerts", "AL-RUNWAY", "threshold", "40000"),
        "C10",
        "36,525 days",
    ),
    india("perk of 9,999,999 days", lambda s: s.set_number("TopUpPromos", "IN-BONUS20", "perk_days", "9999999"), "C10"),
    # dates at the ends of the calendar and time zones
    us("effective_from in year 1", lambda s: s.meta_text("effective_from", "0001-01-01"), "C11", "0001-01-01"),
    us("effective_from 9999-12-31", lambda s: s.meta_text("effective_from", "9999-12-31"), "C11", "9999-12-31"),
    us(
        "9999-12-31 23:00 in America/Los_Angeles",
        lambda s: (s.meta_text("timezone", "America/Los_Angeles"), s.meta_text("effective_from", "9999-12-31 23:00"))[
            1
        ],
        "C11",
    ),
    india("1970-01-01 in Kolkata is 1969 in UTC", lambda s: s.meta_text("effective_from", "1970-01-01"), "C11", "UTC"),
    india(
        "offset that moves into 2200", lambda s: s.meta_text("effective_from", "2199-12-31T23:00-10:00"), "C11", "2200"
    ),
    india(
        "promotion ending in year 9999",
        lambda s: s.set_text("TopUpPromos", "IN-EXTRA2K", "valid_to", "9999-12-31"),
        "C11",
    ),
    us("time zone naming a folder", lambda s: s.meta_text("timezone", "America"), "C06", "America/New_York"),
    us("time zone that is a path", lambda s: s.meta_text("timezone", "../../../etc/passwd"), "C06"),
    us("5,000-character time zone", lambda s: s.meta_text("timezone", "A" * 5000), "C12", "at most 64"),
    us("time zone with a NUL", lambda s: s.meta_text("timezone", "America/New_York\x00"), "C12", "U+0000"),
    # identifiers, codes, currency, list values, text
    us(
        "Cyrillic М in a rule id",
        lambda s: s.set_text("UsageTiers", "SMS-2", "rule_id", "SМS-2"),
        "C12",
        "U+041C CYRILLIC CAPITAL LETTER EM",
        "'M'",
    ),
    us(
        "bidi override in a rule id",
        lambda s: s.set_text("UsageTiers", "SMS-2", "rule_id", "SMS-\u202e2"),
        "C12",
        "U+202E",
    ),
    us("space in a rule id", lambda s: s.set_text("UsageTiers", "SMS-2", "rule_id", "SMS 2"), "C12", "' '"),
    us("65-character rule id", lambda s: s.set_text("UsageTiers", "SMS-2", "rule_id", "S" * 65), "C12", "at most 64"),
    us(
        "Greek Ο in a package code",
        lambda s: s.set_text("Packages", "PK-SOLO-SMS", "package_code", "SΟLO-SMS"),
        "C12",
        "GREEK CAPITAL LETTER OMICRON",
    ),
    us("Cyrillic Ѕ in the currency", lambda s: s.meta_text("currency", "UЅD"), "C12", "CYRILLIC CAPITAL LETTER DZE"),
    us("bidi control in the currency", lambda s: s.meta_text("currency", "U\u202eSD"), "C12", "U+202E"),
    us("currency that is not ISO 4217", lambda s: s.meta_text("currency", "XYZ"), "C06", "ISO 4217"),
    us(
        "pricebook_id with a Cyrillic а",
        lambda s: s.meta_text("pricebook_id", "us-аudiology"),
        "C12",
        "CYRILLIC SMALL LETTER A",
    ),
    india("city mixing Latin and Cyrillic", _lists_city("Мumbai"), "C12", "mixes Latin letters"),
    us("title with a NUL", lambda s: s.meta_text("title", "US\x00 pricebook"), "C12", "U+0000"),
    us("title of 201 characters", lambda s: s.meta_text("title", "T" * 201), "C12", "at most 200"),
    us(
        "note with a control character",
        lambda s: s.set_text("UsageTiers", "SMS-2", "notes", "see\x07 here"),
        "C12",
        "U+0007",
        severity=Severity.WARNING,
        exit_code=0,
    ),
    # structure
    us("table claiming 10^20 rows", _table_ref(b"A1:J" + FAR.encode()), "S03", "not inside Excel's grid"),
    us("table range that is not a range", _table_ref(b"A1:!!"), "S03", "not a cell range"),
    us("table range of four-letter columns", _table_ref(b"A1:ZZZZ13"), "S03"),
    us("table range running backwards", _table_ref(b"J13:A1"), "S03"),
    us(
        "table header row count that is not a number",
        _tiers_part(lambda d: d.replace(b'headerRowCount="1"', b'headerRowCount="x"'), table=True),
        "S03",
        "headerRowCount",
    ),
    us(
        "broken table part",
        _tiers_part(lambda d: d[:50], table=True),
        "F06",
        "table",
        exit_code=2,
    ),
    us(
        "truncated sheet part",
        _tiers_part(lambda d: d[:2000]),
        "F06",
        "UsageTiers",
        exit_code=2,
    ),
    us(
        "mismatched tags in a sheet",
        _tiers_part(lambda d: d.replace(b"<v>85</v></c>", b"<v>85</c>", 1)),
        "F06",
        exit_code=2,
    ),
    us(
        "invalid cell address",
        lambda s: s.cell_xml("UsageTiers", "G3", '<c r="G!3"><v>83</v></c>') and "UsageTiers",
        "F06",
        exit_code=2,
    ),
    us("sheet part missing from the file", _missing_sheet_part, "F06", "no such part", exit_code=2),
    us("one cell at XFD1048576", _far_cell, "F02", "XFD1048576", "Ctrl+End", exit_code=2),
    us("16,384 cells without an address", _far_cell_without_address, "F02", "XFD1048576", exit_code=2),
    us(
        "cell address of 10^20",
        lambda s: s.cell_xml("UsageTiers", "G3", f'<c r="G{FAR}"><v>83</v></c>') and "UsageTiers",
        "F02",
        exit_code=2,
    ),
    us("two sheets with the same name", _duplicate_sheet, "S01", "Two sheets"),
    us(
        "unclosed tags inside a comment",
        _comment_tags,
        "S05",
        "hidden",
        severity=Severity.WARNING,
        exit_code=0,
        limits=Limits(max_ratio=1_000_000),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}-{c.name}" for c in CASES])
def test_each_hostile_value_is_a_finding_at_its_cell(case: Case, tmp_path: Path) -> None:
    surgery = Surgery(case.source)
    where = case.make(surgery)
    path = surgery.save(tmp_path / case.source.name)
    started = time.perf_counter()
    report = validate_pricebook(path, limits=case.limits)
    assert time.perf_counter() - started < 20, "validation must not take long on a small file"
    matching = [f for f in report.findings if f.code == case.code]
    assert matching, f"expected {case.code}, got {[(f.code, f.location, f.message) for f in report.findings]}"
    if where is not None:
        at = [f for f in matching if f.location == where or (f.sheet == where and "!" not in where)]
        assert at, f"{case.code} reported at {[f.location for f in matching]}, expected {where}"
        matching = at
    finding = matching[0]
    assert finding.severity is case.severity
    words = finding.message + " " + finding.hint
    for phrase in case.says:
        assert phrase in words, f"{phrase!r} not in {words!r}"
    assert report.exit_code == case.exit_code
    assert (report.pricebook is None) == (case.exit_code != 0)
    if report.pricebook is not None:
        assert load_compiled_json(report.pricebook.canonical_json()) == report.pricebook


def test_a_fifo_a_device_and_a_folder_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pricebook.xlsx"
    os.mkfifo(fifo)
    for path, says in ((fifo, "not a regular file"), (Path("/dev/zero"), "not a regular file"), (tmp_path, "folder")):
        started = time.perf_counter()
        report = validate_pricebook(path)
        assert time.perf_counter() - started < 5
        assert report.exit_code == 2 and report.unreadable
        assert [f.code for f in report.findings] == ["F01"]
        assert says in report.findings[0].message


def test_a_file_larger_than_a_workbook_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.xlsx"
    with path.open("wb") as handle:
        handle.truncate(3 * 1024 * 1024)  # a sparse file: 3 MB of nothing
    report = validate_pricebook(path, limits=Limits(max_file_bytes=1024 * 1024))
    assert report.exit_code == 2
    assert report.findings[0].code == "F02" and "at most 1 MB" in report.findings[0].message


def test_a_table_claiming_the_whole_grid_costs_what_its_real_rows_cost(tmp_path: Path) -> None:
    """Work is bounded by the sheet's content: the claimed range changes nothing but one finding."""
    plain = Surgery(US_V1).save(tmp_path / "plain.xlsx")
    claimed = Surgery(US_V1)
    _table_ref(b"A1:XFD1048576")(claimed)
    claimed_path = claimed.save(tmp_path / "claimed.xlsx")

    assert best_of_three(validate_pricebook, claimed_path) < 3 * best_of_three(validate_pricebook, plain) + 0.5
    same = [(f.code, f.location) for f in validate_pricebook(plain).findings]
    assert [(f.code, f.location) for f in validate_pricebook(claimed_path).findings] == same


# -- every entry point takes the same files -------------------------------------------------------


def _merged_in_table(s: Surgery) -> str:
    """Two price cells merged inside the table (openpyxl writes merges in the sheet's mergeCells)."""
    s.sheet(
        "UsageTiers",
        lambda d: d.replace(
            b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="G3:G4"/></mergeCells>'
        ),
    )
    return "UsageTiers!G3"


def test_annotate_marks_a_merged_range_inside_a_table_on_its_top_left_cell(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from engine.pricebook.annotate import ERRORS_SHEET, annotate_workbook

    surgery = Surgery(US_V1)
    where = _merged_in_table(surgery)
    surgery.text("UsageTiers", "G4", "80")  # a finding inside the merged range, at its hidden cell
    path = surgery.save(tmp_path / "merged.xlsx")
    report = validate_pricebook(path)
    assert ("S04", where) in [(f.code, f.location) for f in report.findings]
    assert any(f.location == "UsageTiers!G4" for f in report.findings)
    out = annotate_workbook(path, report.findings, tmp_path / "annotated.xlsx")
    annotated = load_workbook(out)
    comment = annotated["UsageTiers"]["G3"].comment
    assert comment is not None and "[S04 error]" in comment.text and "G4" not in ERRORS_SHEET
    assert annotated[ERRORS_SHEET].max_row == len(report.findings) + 1


def test_annotate_shows_control_characters_it_quotes_as_escapes(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from engine.pricebook.annotate import ERRORS_SHEET, annotate_workbook

    surgery = Surgery(US_V1)
    where = surgery.set_text("UsageTiers", "SMS-2", "rule_id", "SMS\x01\x00-2")
    path = surgery.save(tmp_path / "control.xlsx")
    report = validate_pricebook(path)
    assert ("C12", where) in [(f.code, f.location) for f in report.errors]
    out = annotate_workbook(path, report.findings, tmp_path / "annotated.xlsx")
    errors = load_workbook(out)[ERRORS_SHEET]
    values = [errors.cell(row=r, column=5).value for r in range(2, errors.max_row + 1)]
    assert any(v and "\\x01\\x00" in v for v in values)


ENTRY_POINT_CASES = [
    c
    for c in CASES
    if c.name
    in {
        "NaN price",
        "400-digit price typed as text",
        "effective_from in year 1",
        "Cyrillic М in a rule id",
        "table claiming 10^20 rows",
        "broken table part",
        "truncated sheet part",
        "one cell at XFD1048576",
        "two sheets with the same name",
        "title with a NUL",
        "note with a control character",
    }
]


@pytest.mark.parametrize("case", ENTRY_POINT_CASES, ids=[c.name for c in ENTRY_POINT_CASES])
def test_dump_reformat_and_annotate_answer_every_file(case: Case, tmp_path: Path) -> None:
    """Each tool reads through the same safe reader: it works, or raises UnreadableWorkbook (exit 2)."""
    from engine.pricebook.annotate import annotate_workbook
    from engine.pricebook.dump import dump_lines
    from engine.pricebook.reformat import reformat_workbook
    from engine.pricebook.safety import UnreadableWorkbook

    surgery = Surgery(case.source)
    case.make(surgery)
    path = surgery.save(tmp_path / case.source.name)
    report = validate_pricebook(path)
    lines = dump_lines(path)
    assert lines and ("unreadable" in lines[0]) == report.unreadable
    for tool in (
        lambda: annotate_workbook(path, report.findings, tmp_path / "annotated.xlsx"),
        lambda: reformat_workbook(path, tmp_path / "reformatted.xlsx"),
    ):
        try:
            written = tool()
        except UnreadableWorkbook as refused:
            assert report.unreadable, f"only an unreadable file is refused: {refused}"
        else:
            assert not report.unreadable
            again = validate_pricebook(written)
            assert not again.unreadable


# -- cost grows with the content, never with its square ---------------------------------------------


def _many_unknown_cities(count: int) -> RawWorkbook:
    """IN v2 with `count` cities on the Lists sheet and `count` lead rows naming cities not on it."""
    raw = copy.deepcopy(INDIA_RAW)
    lists, leads = raw.sheets["Lists"], raw.sheets["LeadPrices"]
    city = next(i for i, header in enumerate(lists.rows[0]) if header == "city")
    width = len(lists.rows[0])
    while len(lists.rows) <= count:
        lists.rows.append([""] * width)
    for i in range(count):
        lists.rows[i + 1][city] = f"City {i:05d}"
    lists.tables = [replace(lists.tables[0], last_row=count + 1)]
    template = list(leads.rows[1])
    city_col = leads.rows[0].index("city")
    for i in range(count):
        row = list(template)
        row[0], row[city_col] = f"LP-X{i:05d}", f"Elsewhere {i:05d}"
        leads.rows.append(row)
    leads.tables = [replace(leads.tables[0], last_row=len(leads.rows))]
    return raw


def test_a_sheet_of_thousands_of_broken_rows_lists_a_thousand_and_counts_the_rest() -> None:
    report = validate_raw(_many_unknown_cities(2_500))
    unknown = [f for f in report.findings if f.code == "C06" and f.sheet == "LeadPrices"]
    assert len(unknown) == 1_001
    assert (
        unknown[0].message == "... and 1,500 more C06 findings (value not in the allowed list) not listed one by one."
    )
    assert report.exit_code == 1 and report.pricebook is None


def test_misspelt_values_cost_what_the_sheet_holds() -> None:
    """'Did you mean' compares a value with every listed one: past a few thousand values or guesses
    it is not offered, so thousands of unknown cities against thousands of listed ones stay linear."""
    from engine.pricebook.cells import Domain

    def make(count: int) -> tuple[Domain, list[str]]:
        return Domain("city", tuple(f"City {i:05d}" for i in range(count)), closed=False), [
            f"Elsewhere {i:05d}" for i in range(count)
        ]

    assert_linear(make, lambda case: [case[0].nearest(text) for text in case[1]], 400)
    domain, texts = make(100)
    assert domain.nearest("city 00042") == "City 00042" and domain.nearest(texts[0]) is None


def test_reformat_keeps_a_value_no_spreadsheet_can_hold_as_text(tmp_path: Path) -> None:
    """NaN has no cell form: reformat writes it as the text 'nan', so the copy is still refused."""
    from engine.pricebook.reformat import reformat_workbook

    surgery = Surgery(US_V1)
    where = surgery.set_number("UsageTiers", "SMS-2", "unit_price_credits", "NaN")
    copy_path = reformat_workbook(surgery.save(tmp_path / "nan.xlsx"), tmp_path / "reformatted.xlsx")
    finding = next(f for f in validate_pricebook(copy_path).errors if f.location == where)
    assert finding.code == "C02" and "'nan'" in finding.message
    assert "{credit}" not in finding.hint and "1 credit = $0.0001" in finding.hint
