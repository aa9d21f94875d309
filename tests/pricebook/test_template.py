"""Templates: an empty workbook an editor can fill in Excel, and the round trip template → fill →
validate → compile; reformat keeps every value while rebuilding the formatting."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from engine import load_pricebook, validate_pricebook
from engine.pricebook.findings import CODES
from engine.pricebook.reformat import reformat_workbook
from engine.pricebook.schema import LISTS, sheets_for_market
from engine.pricebook.template import write_workbook
from tests.support.paths import IN_V2, US_V1
from tests.support.workbooks import Book


@pytest.mark.parametrize("market", ["US", "IN"])
def test_template_is_formatted_for_editors(market: str, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / f"{market}.xlsx", market)
    wb = load_workbook(path)
    assert wb.sheetnames[:3] == ["README", "Meta", "Lists"]
    assert "How to edit" in [c.value for c in wb["README"]["A"]]
    assert {f"lst_{spec.name}" for spec in LISTS} <= set(wb.defined_names)
    assert "OFFSET(Lists!" in wb.defined_names["lst_city"].attr_text  # the dropdown grows with the list
    for spec in sheets_for_market(market):
        ws = wb[spec.name]
        assert list(ws.tables) == [f"tbl_{spec.name}"] and ws.tables[f"tbl_{spec.name}"].ref.startswith("A1:")
        assert ws.freeze_panes == "A2"
        headers = [c.value for c in ws[1] if c.value]
        assert headers == [c.name for c in spec.columns]
        assert all(c.comment is not None and c.comment.text for c in ws[1] if c.value)
        lists_used = {c.list_name for c in spec.columns if c.list_name}
        formulas = {dv.formula1 for dv in ws.data_validations.dataValidation}
        assert {f"lst_{name}" for name in lists_used} <= formulas
    credit = "$0.0001" if market == "US" else "₹1"
    price_comment = wb[sheets_for_market(market)[1].name]["A1"].comment.text
    assert price_comment  # every header explains itself
    assert credit in " ".join(
        c.comment.text
        for ws in wb.worksheets
        if ws.title not in ("README", "Meta", "Lists")
        for c in ws[1]
        if c.comment
    )


def test_empty_template_validates_to_what_is_missing(tmp_path: Path) -> None:
    report = validate_pricebook(write_workbook(tmp_path / "empty.xlsx", "US"))
    assert report.exit_code == 1 and not report.unreadable
    missing_meta = {f.column for f in report.errors if f.code == "C01" and f.sheet == "Meta"}
    assert {"pricebook_id", "effective_from"} <= missing_meta
    assert {f.code for f in report.errors} <= {"C01", "T09"}


def test_template_fill_validate_compile(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "in.xlsx", "IN")
    book = Book(path)
    book.set_meta("pricebook_id", "in-pilot")
    book.set_meta("effective_from", datetime(2027, 1, 1, 9, 30))
    ws = book.wb["Lists"]
    ws.cell(row=2, column=book.column_index("Lists", "city")).value = "Pune"
    for name, values in {
        "Products": [{"rule_id": "P-CHAT", "product": "lead_chat", "unit": "lead", "pricing": "lead_table"}],
        "LeadPrices": [
            {
                "rule_id": "L-DEFAULT",
                "channel": "-",
                "specialty": "-",
                "city": "-",
                "pkg_price_from": 0,
                "lead_price_credits": 150,
            },
            {
                "rule_id": "L-PUNE",
                "channel": "chat",
                "specialty": "-",
                "city": "Pune",
                "pkg_price_from": 0,
                "lead_price_credits": 120,
            },
        ],
        "Overdraft": [
            {"rule_id": "O-S", "segment": "standard", "max_negative_credits": 0},
            {"rule_id": "O-P", "segment": "preferred", "max_negative_credits": 0},
        ],
        "Disputes": [
            {"rule_id": "D-DUP", "reason": "duplicate", "products": "lead_chat", "window_days": 5, "decision": "review"}
        ],
        "Alerts": [{"rule_id": "A-LOW", "alert": "low_balance_credits", "threshold": 500}],
        "Tests": [
            {
                "case_id": "T1",
                "product": "lead_chat",
                "quantity": 2,
                "city": "Pune",
                "package_price": 900,
                "expected_credits": 240,
                "expected_rule_ids": "L-PUNE",
            }
        ],
    }.items():
        for i, row in enumerate(values):
            if i == 0:  # the template's first (empty) table row
                for column, value in row.items():
                    book.wb[name].cell(row=2, column=book.column_index(name, column)).value = value
            else:
                book.append(name, row)
    filled = book.save(tmp_path / "filled.xlsx")
    report = validate_pricebook(filled)
    assert report.ok, [(f.code, f.location, f.message) for f in report.findings]
    pb = report.pricebook
    assert pb is not None and pb.pricebook_id == "in-pilot"
    assert pb.meta.effective_from.isoformat() == "2027-01-01T04:00:00+00:00"  # 09:30 IST
    assert {(r.rule_id, r.city, r.lead_price_credits) for r in pb.lead_prices} == {
        ("L-DEFAULT", "-", 150),
        ("L-PUNE", "Pune", 120),
    }
    assert pb.list_values("city") == ("Pune",)
    (test,) = report.tests
    assert (test.case_id, test.quantity, test.package_price, test.expected_rule_ids) == (
        "T1",
        2,
        Decimal(900),
        ("L-PUNE",),
    )


@pytest.mark.parametrize("source", [US_V1, IN_V2], ids=lambda p: p.name)
def test_reformat_keeps_content_and_hash(source: Path, tmp_path: Path) -> None:
    out = reformat_workbook(source, tmp_path / "reformatted.xlsx")
    before, after = load_pricebook(source), load_pricebook(out)
    assert after.canonical_json() == before.canonical_json()

    def decisions(path: Path) -> list[object]:
        """The README's column B without the list of finding codes, which follows the registry."""
        rows = load_workbook(path)["README"].iter_rows(max_col=2, values_only=True)
        return [b for a, b in rows if b and a not in CODES]

    assert decisions(out) == decisions(source)  # the workbook's decisions survive


def test_reformat_keeps_invalid_values_and_unknown_columns(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("UsageTiers", "SMS-2", "unit_price_credits", "eighty")
    ws = book.wb["Packages"]
    table = ws.tables["tbl_Packages"]
    last = ws.max_column + 1
    ws.cell(row=1, column=last).value = "owner"
    ws.cell(row=2, column=last).value = "Dana"
    from openpyxl.utils import get_column_letter

    table.ref = f"A1:{get_column_letter(last)}{table.ref.split(':')[1].lstrip('ABCDEFGHIJKLMNOPQRSTUVWXYZ')}"
    broken = book.save(tmp_path / "broken.xlsx")
    out = reformat_workbook(broken, tmp_path / "again.xlsx")
    report = validate_pricebook(out)
    assert any(f.code == "C02" and f.value == "eighty" for f in report.findings)
    assert any(f.code == "S02" and f.value == "owner" for f in report.findings)
    again = Book(out)
    assert again.cell("Packages", "PK-SOLO-SMS", "owner").value == "Dana"
