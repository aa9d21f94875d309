"""A diff always shows the change: a draft with findings is diffed from its typed rows, findings
listed after the changes; amounts carry their money, dates read in the pricebook's zone with a
promotion's last day as the workbook states it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from engine import diff_pricebooks, load_pricebook, validate_pricebook
from engine.cli import app
from engine.pricebook.diff import Unreadable
from engine.pricebook.render import summary_renderables
from tests.support.paths import IN_V1, IN_V2, US_V1
from tests.support.workbooks import Book


def _draft(book: Book, tmp_path: Path, name: str = "draft.xlsx") -> Path:
    return book.save(tmp_path / name)


def test_a_draft_with_an_error_shows_its_change_then_its_findings(tmp_path: Path) -> None:
    book = Book(US_V1)
    where = book.set("UsageTiers", "SMS-3", "up_to", 400)
    draft = validate_pricebook(_draft(book, tmp_path))
    assert draft.pricebook is None
    result = diff_pricebooks(load_pricebook(US_V1), draft)
    assert [(r.sheet, r.rule_id, [(f.name, f.old, f.new) for f in r.fields]) for r in result.rows] == [
        ("UsageTiers", "SMS-3", [("up_to", 3500, 400)])
    ]
    assert not result.meta and not result.lists
    lines = result.lines()
    assert lines[0] == "us-audiology v1 (20221d9bb442) → us-audiology v1 (draft: 1 error) (dates in America/New_York)"
    change = lines.index("  ~ SMS-3: up_to: 3,500 → 400")
    findings = next(i for i, line in enumerate(lines) if line.startswith("Findings in"))
    assert change < findings and where in lines[findings + 1] and "T13" in lines[findings + 1]
    assert [f.location for f in result.new_findings] == [where]
    assert result.table() == [
        {"sheet": "UsageTiers", "rule_id": "SMS-3", "change": "changed", "what changed": "up_to: 3,500 → 400"}
    ]
    assert [(r["where"], r["code"]) for r in result.findings_table()] == [(where, "T13")]


def test_a_compiled_pricebook_and_its_own_typed_rows_read_the_same(tmp_path: Path) -> None:
    """A draft read from typed rows (dates as typed, empty cells as defaults) against the compiled
    version it came from shows exactly the one edit: nothing spurious from the two readings."""
    for source, sheet, rule, column, value in (
        (IN_V2, "LeadPrices", "LP-04", "lead_price_credits", 32),
        (US_V1, "Packages", "PK-SOLO-SMS", "included_units", 100),
    ):
        book = Book(source)
        book.set(sheet, rule, column, value)
        draft = validate_pricebook(_draft(book, tmp_path, source.name))
        assert draft.pricebook is None, "the draft has an error, so it is read from its typed rows"
        result = diff_pricebooks(load_pricebook(source), draft)
        assert [(r.rule_id, [f.name for f in r.fields]) for r in result.rows] == [(rule, [column])]
        assert not result.meta and not result.lists


def test_an_unreadable_cell_shows_as_typed(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("UsageTiers", "SMS-2", "unit_price_credits", "eighty", as_text=True)
    result = diff_pricebooks(load_pricebook(US_V1), validate_pricebook(_draft(book, tmp_path)))
    (change,) = result.rows
    (field,) = change.fields
    assert field.new == Unreadable("eighty")
    assert field.describe() == "unit_price_credits: 83 credits ($0.0083) → 'eighty' (unreadable)"
    assert json.dumps(result.to_dict(), default=str)


def test_amounts_carry_money_and_dates_read_in_the_pricebooks_zone() -> None:
    result = diff_pricebooks(load_pricebook(IN_V1), load_pricebook(IN_V2))
    text = "\n".join(result.lines())
    assert "(dates in Asia/Kolkata)" in result.lines()[0]
    assert "effective_from: 2025-07-01 → 2026-01-01" in text, "local dates, not 18:30 UTC the day before"
    assert "18:30" not in text and "T" not in text.split("effective_from")[1].split("\n")[0]
    added = {r.rule_id: r.row_text for r in result.rows if r.kind == "added"}
    assert added["IN-DOUBLE5K"]["valid_to"] == "2026-12-31", "the last day, inclusive, as typed"
    assert added["IN-BONUS20"]["bonus_pct"] == "20%"
    assert added["LP-03"]["lead_price_credits"] == "250 credits (₹250)"
    assert added["LP-03"]["pkg_price_from"] == "₹10,000"


def test_a_promotions_last_day_reads_the_same_from_typed_rows_and_compiled(tmp_path: Path) -> None:
    book = Book(IN_V2)
    book.set("TopUpPromos", "IN-EXTRA2K", "valid_to", datetime(2026, 6, 30))
    book.set("LeadPrices", "LP-02", "pkg_price_to", 100000)  # an error: the draft reads from typed rows
    result = diff_pricebooks(load_pricebook(IN_V2), validate_pricebook(_draft(book, tmp_path)))
    changes = {(r.rule_id, f.name): f.describe() for r in result.rows for f in r.fields}
    assert changes[("IN-EXTRA2K", "valid_to")] == "valid_to: 2026-12-31 → 2026-06-30"


def test_the_diff_command_prints_the_change_of_a_draft_and_its_findings(tmp_path: Path) -> None:
    book = Book(IN_V2)
    where = book.set("LeadPrices", "LP-04", "lead_price_credits", 32)
    draft = _draft(book, tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["pricebook", "diff", str(IN_V2), str(draft)])
    assert result.exit_code == 1
    assert "~ LP-04: lead_price_credits: 320 credits (₹320) → 32 credits (₹32) (-90.0%)" in result.stdout
    assert f"{where} [T13 error]" in result.stdout
    as_json = json.loads(runner.invoke(app, ["pricebook", "diff", str(IN_V2), str(draft), "--format", "json"]).stdout)
    assert [f["code"] for f in as_json["findings"]["new"]] == ["T13"]
    assert as_json["rows"][0]["fields"][0]["new_text"] == "32 credits (₹32)"
    assert runner.invoke(app, ["pricebook", "diff", str(IN_V1), str(IN_V2)]).exit_code == 0


def test_the_summary_shows_a_promotions_last_day_and_ranges_in_money() -> None:
    console = Console(width=200, record=True)
    for renderable in summary_renderables(validate_pricebook(IN_V2)):
        console.print(renderable)
    text = console.export_text()
    assert "2026-01-01 → 2026-12-31" in text and "2027-01-01" not in text
    assert "₹10,000 to under ₹20,000" in text and "dates in Asia/Kolkata" in text
