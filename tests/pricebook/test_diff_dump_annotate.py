"""Reading versions side by side: diff by sheet and rule_id, dump for git, annotated copies, and
the checks against the previous version."""

from __future__ import annotations

import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from engine import diff_pricebooks, load_pricebook, validate_pricebook
from engine.pricebook.annotate import ERRORS_SHEET, annotate_workbook
from engine.pricebook.dump import dump_lines
from tests.support.paths import FIXTURES, IN_V1, IN_V2, US_V1
from tests.support.workbooks import Book


def test_diff_between_india_versions_is_keyed_by_sheet_and_rule_id() -> None:
    result = diff_pricebooks(load_pricebook(IN_V1), load_pricebook(IN_V2))
    meta = {c.name: (c.old, c.new) for c in result.meta}
    assert meta["version"] == (1, 2)
    kinds = {(r.sheet, r.rule_id): r.kind for r in result.rows}
    assert kinds[("LeadPrices", "LP-CHAT")] == "removed" and kinds[("LeadPrices", "LP-03")] == "added"
    assert kinds[("Disputes", "DS-DUP")] == "changed"
    lines = "\n".join(result.lines())
    assert "in-clinic-leads v1" in lines and "- LP-CHAT" in lines and "+ LP-06" in lines


def test_price_changes_show_their_percentage(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("UsageTiers", "VOICE-6", "unit_price_credits", 140)  # no Tests example prices beyond 18,500 minutes
    book.set_meta("version", 2)
    result = diff_pricebooks(load_pricebook(US_V1), load_pricebook(book.save(tmp_path / "v2.xlsx")))
    (change,) = result.rows
    (field,) = change.fields
    assert (change.sheet, change.rule_id, field.name, field.old, field.new) == (
        "UsageTiers",
        "VOICE-6",
        "unit_price_credits",
        Decimal(149),
        Decimal(140),
    )
    assert field.pct is not None and round(field.pct, 1) == Decimal("-6.0")
    assert "unit_price_credits: 149 credits ($0.0149) → 140 credits ($0.0140) (-6.0%)" in "\n".join(result.lines())


def test_cosmetic_edits_make_no_diff(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("UsageTiers", "SMS-1", "notes", "reworded")
    book.wb["UsageTiers"].column_dimensions["A"].width = 40
    result = diff_pricebooks(load_pricebook(US_V1), load_pricebook(book.save(tmp_path / "cosmetic.xlsx")))
    assert result.empty and result.lines()[-1] == "No differences."
    resaved = diff_pricebooks(
        load_pricebook(US_V1), load_pricebook(FIXTURES / "us-audiology-v1.resaved-by-libreoffice.xlsx")
    )
    assert resaved.empty


def test_dump_is_stable_text_sorted_by_rule_id(tmp_path: Path) -> None:
    lines = dump_lines(US_V1)
    assert lines[0] == "# us-audiology-v1.xlsx" and "[UsageTiers]" in lines
    assert any(line.startswith("SMS-4: product=sms") and "unit_price_credits=79" in line for line in lines)
    assert "version = 1" in lines
    book = Book(US_V1)
    ws = book.wb["Alerts"]
    first, last = [[c.value for c in ws[r]] for r in (2, 4)]
    for col, (a, b) in enumerate(zip(first, last, strict=True), start=1):
        ws.cell(row=2, column=col).value, ws.cell(row=4, column=col).value = b, a
    assert dump_lines(book.save(tmp_path / "us-audiology-v1.xlsx")) == lines
    assert dump_lines(FIXTURES / "us-audiology-v1.resaved-by-libreoffice.xlsx")[1:] == lines[1:]


def test_dump_works_on_broken_and_unreadable_files(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("UsageTiers", "SMS-2", "unit_price_credits", "eighty")
    assert any("unit_price_credits=eighty" in line for line in dump_lines(book.save(tmp_path / "b.xlsx")))
    junk = tmp_path / "junk.xlsx"
    junk.write_text("not a workbook")
    assert "unreadable" in dump_lines(junk)[0]


def test_annotated_copy_marks_cells_and_links_from_an_errors_sheet(tmp_path: Path) -> None:
    book = Book(US_V1)
    where = book.set("UsageTiers", "SMS-4", "stated_tier_credits", "2.7K")
    book.set("Packages", "PK-SOLO-SMS", "notes", "=cmd|' /C calc'!A0", as_text=True)
    source = book.save(tmp_path / "draft.xlsx")
    report = validate_pricebook(source)
    out = annotate_workbook(source, report.findings, tmp_path / "annotated.xlsx")
    wb = load_workbook(out)
    assert wb.sheetnames[0] == ERRORS_SHEET
    sheet, ref = where.split("!")
    cell = wb[sheet][ref]
    assert cell.fill.fgColor.rgb.endswith("F4B6B6")
    assert "[T11 error]" in cell.comment.text and "237,000" in cell.comment.text
    errors = wb[ERRORS_SHEET]
    rows = [[c.value for c in row] for row in errors.iter_rows(min_row=2)]
    t11 = next(r for r in rows if r[1] == "T11")
    link = errors.cell(row=rows.index(t11) + 2, column=3).hyperlink
    assert link.location == where
    assert any(r[1] == "C09" and r[4] == "\"=cmd|' /C calc'!A0\"" for r in rows)


def test_annotated_copy_never_turns_text_into_formulas(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("Packages", "PK-SOLO-SMS", "notes", '=HYPERLINK("http://evil","x")', as_text=True)
    book.set("Packages", "PK-SOLO-VOICE", "notes", "@SUM(1+1)*cmd|' /C calc'!A0", as_text=True)
    source = book.save(tmp_path / "inject.xlsx")
    report = validate_pricebook(source)
    assert sum(f.code == "C09" for f in report.findings) == 2
    out = annotate_workbook(source, report.findings, tmp_path / "annotated.xlsx")
    with zipfile.ZipFile(out) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name), name
    assert validate_pricebook(out).pricebook is not None


def test_previous_version_checks(tmp_path: Path) -> None:
    book = Book(IN_V2)
    book.set_meta("version", 1)
    book.set_meta("effective_from", datetime(2025, 6, 1))
    report = validate_pricebook(book.save(tmp_path / "v2.xlsx"), previous=IN_V1)
    found = {(f.code, f.location) for f in report.errors}
    assert ("D05", Book(IN_V2).address("Meta", "version", "value")) in found
    assert ("D04", Book(IN_V2).address("Meta", "effective_from", "value")) in found

    same = Book(IN_V1)
    same.set_meta("version", 3)
    same.set_meta("effective_from", datetime(2026, 6, 1))
    report = validate_pricebook(same.save(tmp_path / "same.xlsx"), previous=IN_V1)
    codes = {f.code: f for f in report.findings}
    assert codes["D06"].severity.value == "warning" and "semantic hash" in codes["D06"].message
    assert codes["D05"].severity.value == "warning" and "skips" in codes["D05"].message

    assert validate_pricebook(IN_V2, previous=IN_V1).exit_code == 0
    other = validate_pricebook(IN_V2, previous=US_V1)
    assert [f.code for f in other.errors] == ["D08"]
