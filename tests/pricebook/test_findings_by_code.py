"""One broken workbook per finding code: each is a shipped pricebook with one editor's mistake,
and the validator must report that mistake with its code, at its cell, in words that help."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl.worksheet.table import Table

from engine import validate_pricebook
from engine.pricebook.findings import Severity
from tests.support.paths import IN_V1, IN_V2, US_V1
from tests.support.workbooks import Book


@dataclass(frozen=True)
class Case:
    name: str
    source: Path
    mutate: Callable[[Book], str | None]  # returns the expected location ('Sheet!A1' or 'Sheet')
    code: str
    severity: Severity = Severity.ERROR
    says: tuple[str, ...] = ()  # words the message or hint must contain


def _formula(b: Book) -> str:
    return b.set("UsageTiers", "SMS-2", "unit_price_credits", "=80+3")


def _error_value(b: Book) -> str:
    cell = b.cell("UsageTiers", "SMS-2", "unit_price_credits")
    cell.value = "#REF!"
    cell.data_type = "e"
    return f"UsageTiers!{cell.coordinate}"


def _delete_sheet(b: Book) -> str:
    del b.wb["Overdraft"]
    return "Overdraft"


def _rename_sheet(b: Book) -> str:
    b.wb["Bundles"].title = "Bundle"
    return "Bundle"


def _rename_header(b: Book) -> str:
    col = b.column_index("UsageTiers", "unit_price_credits")
    b.wb["UsageTiers"].cell(row=1, column=col).value = "price"
    return f"UsageTiers!{b.letter('UsageTiers', 'price')}1"


def _duplicate_header(b: Book) -> str:
    col = b.column_index("Packages", "notes")
    b.wb["Packages"].cell(row=1, column=col).value = "period_days"
    return f"Packages!{b.letter('Packages', 'notes') if False else _letter(col)}1"


def _letter(col: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(col)


def _below_table(b: Book) -> str:
    row = b.append("UsageTiers", {"rule_id": "SMS-7", "product": "sms"}, inside_table=False)
    return f"UsageTiers!A{row}"


def _no_table(b: Book) -> str:
    ws = b.wb["Alerts"]
    for name in list(ws.tables):
        del ws.tables[name]
    return "Alerts!A1"


def _merge(b: Book) -> str:
    ws = b.wb["Packages"]
    first = b.cell("Packages", "PK-SOLO-SMS", "period_days")
    ws.merge_cells(f"{first.coordinate}:{_letter(first.column)}{first.row + 1}")
    return f"Packages!{first.coordinate}"


def _hide_row(b: Book) -> str:
    row = b.row_of("Packages", "PK-SMALL-SMS")
    b.wb["Packages"].row_dimensions[row].hidden = True
    return f"Packages!A{row}"


def _second_table(b: Book) -> str:
    ws = b.wb["Alerts"]
    ws["H1"], ws["H2"] = "scratch", "x"
    ws.add_table(Table(displayName="tbl_scratch", ref="H1:H2"))
    return "Alerts!H1"


def _swap_rows(b: Book, sheet: str, first: str, second: str) -> str:
    ws = b.wb[sheet]
    r1, r2 = b.row_of(sheet, first), b.row_of(sheet, second)
    for col in range(1, ws.max_column + 1):
        a, c = ws.cell(row=r1, column=col), ws.cell(row=r2, column=col)
        a.value, c.value = c.value, a.value
    return f"{sheet}!{_letter(b.column_index(sheet, 'up_to'))}{r2}"


def _add_chat_row(b: Book) -> str:
    row = b.append(
        "LeadPrices",
        {
            "rule_id": "LP-CHAT-X",
            "channel": "chat",
            "specialty": "-",
            "city": "-",
            "pkg_price_from": 0,
            "lead_price_credits": 300,
        },
    )
    return f"LeadPrices!{_letter(b.column_index('LeadPrices', 'channel'))}{row}"


def _add_list_value(b: Book, column: str, value: str) -> str:
    ws = b.wb["Lists"]
    col = b.column_index("Lists", column)
    row = 2
    while ws.cell(row=row, column=col).value not in (None, ""):
        row += 1
    ws.cell(row=row, column=col).value = value
    table = next(iter(ws.tables.values()))
    start, end = table.ref.split(":")
    letters = "".join(ch for ch in end if ch.isalpha())
    if row > int("".join(ch for ch in end if ch.isdigit())):
        table.ref = f"{start}:{letters}{row}"
    return "Lists"


def _expire_promo(b: Book) -> str:
    b.set("TopUpPromos", "IN-EXTRA2K", "valid_from", datetime(2025, 1, 1))
    return b.set("TopUpPromos", "IN-EXTRA2K", "valid_to", datetime(2025, 6, 30))


def _existing_before(b: Book) -> str:
    return b.set_meta("existing_customers_effective_from", datetime(2025, 12, 1))


def _us(
    name: str, mutate: Callable[[Book], str | None], code: str, severity: Severity = Severity.ERROR, *says: str
) -> Case:
    return Case(name, US_V1, mutate, code, severity, says)


def _in(
    name: str,
    mutate: Callable[[Book], str | None],
    code: str,
    severity: Severity = Severity.ERROR,
    *says: str,
    source: Path = IN_V2,
) -> Case:
    return Case(name, source, mutate, code, severity, says)


PRICE_280 = {"lead_price_credits": 280}

CASES = [
    # formulas and Excel errors
    _us("formula in a price", _formula, "F04", Severity.ERROR, "=80+3", "Paste Special > Values"),
    _us("excel error value", _error_value, "F05", Severity.ERROR, "#REF!"),
    # structure
    _us("required sheet deleted", _delete_sheet, "S01", Severity.ERROR, "Overdraft"),
    _us("sheet renamed", _rename_sheet, "S01", Severity.ERROR, "'Bundles'", "Rename the sheet tab"),
    _us("required header renamed", _rename_header, "S02", Severity.ERROR, "'unit_price_credits' is missing", "'price'"),
    _us("header typed twice", _duplicate_header, "S02", Severity.ERROR, "appears twice"),
    _us("row typed below the table", _below_table, "S03", Severity.ERROR, "below the table", "not read"),
    _us("table converted to a range", _no_table, "S03", Severity.WARNING, "not an Excel Table"),
    _us("second table on a sheet", _second_table, "S03", Severity.WARNING, "only tbl_Alerts is read"),
    _us("merged cells in data", _merge, "S04", Severity.ERROR, "Unmerge"),
    _us("hidden row priced anyway", _hide_row, "S05", Severity.WARNING, "hidden or filtered"),
    _us("unsupported schema version", lambda b: b.set_meta("schema_version", 2), "S06", Severity.ERROR, "version 2"),
    # cells
    _us(
        "empty required price",
        lambda b: b.set("UsageTiers", "SMS-2", "unit_price_credits", None),
        "C01",
        Severity.ERROR,
        "unit_price_credits is empty",
    ),
    _us(
        "blank condition is not 'any'",
        lambda b: b.set("UsageTiers", "SMS-2", "direction", None),
        "C01",
        Severity.ERROR,
        "Type - if this row applies to any value",
    ),
    _us(
        "price typed with a unit",
        lambda b: b.set("UsageTiers", "SMS-2", "unit_price_credits", "83 credits"),
        "C02",
        Severity.ERROR,
        "Type just the number: 83",
    ),
    _us(
        "price typed as money",
        lambda b: b.set("UsageTiers", "SMS-2", "unit_price_credits", "$0.0083"),
        "C02",
        Severity.ERROR,
        "$0.0083 is 83 credits ($0.0083); type 83",
    ),
    _us(
        "decimal comma",
        lambda b: b.set("UsageTiers", "SMS-2", "unit_price_credits", "83,50"),
        "C02",
        Severity.ERROR,
        "comma for decimals",
    ),
    _us(
        "date typed as US text",
        lambda b: b.set("TopUpPromos", "US-BONUS-200", "valid_from", "08/01/2025"),
        "C02",
        Severity.ERROR,
        "2026-01-31",
    ),
    _us(
        "fractional tier bound",
        lambda b: b.set("UsageTiers", "SMS-1", "up_to", 500.5),
        "C03",
        Severity.ERROR,
        "whole number",
    ),
    _us(
        "too many decimals in a price",
        lambda b: b.set("UsageTiers", "SMS-1", "unit_price_credits", 85.123456),
        "C03",
        Severity.ERROR,
        "more than 4 decimals",
        "85.1235",
    ),
    _us(
        "negative price",
        lambda b: b.set("UsageTiers", "SMS-2", "unit_price_credits", -83),
        "C04",
        Severity.ERROR,
        "cannot be negative",
    ),
    _us(
        "zero package period",
        lambda b: b.set("Packages", "PK-SOLO-SMS", "period_days", 0),
        "C04",
        Severity.ERROR,
        "above zero",
    ),
    _us(
        "percentage typed as 10",
        lambda b: b.set("Bundles", "BN-SMS-VOICE", "discount_pct", 10),
        "C05",
        Severity.ERROR,
        "10%",
        "0.1",
    ),
    _us(
        "unknown product",
        lambda b: b.set("UsageTiers", "SMS-2", "product", "smss"),
        "C06",
        Severity.ERROR,
        "Did you mean 'sms'",
    ),
    _in(
        "unknown city",
        lambda b: b.set("Tests", "T-LEAD-01", "city", "Mumbay"),
        "C06",
        Severity.ERROR,
        "Did you mean 'Mumbai'",
        "Lists sheet",
    ),
    _in(
        "unreadable condition",
        lambda b: b.set("LeadPrices", "LP-02", "channel", "not(chat"),
        "C07",
        Severity.ERROR,
        "not(chat, call)",
    ),
    _in(
        "condition with a comparison",
        lambda b: b.set("LeadPrices", "LP-02", "city", ">= Mumbai"),
        "C07",
        Severity.ERROR,
        "from/to columns",
    ),
    _in(
        "case and spaces tidied",
        lambda b: b.set("Tests", "T-LEAD-01", "city", "  mumbai "),
        "C08",
        Severity.WARNING,
        "'Mumbai'",
    ),
    _in(
        "star means any", lambda b: b.set("LeadPrices", "LP-02", "city", "*"), "C08", Severity.WARNING, "- (any value)"
    ),
    _us(
        "curly quotes tidied",
        lambda b: b.set("Tests", "T-SMS-01", "expected_rule_ids", "SMS-1,\u00a0SMS-2"),
        "C08",
        Severity.WARNING,
        "plain ones",
    ),
    _us(
        "formula-looking text",
        lambda b: b.set("Packages", "PK-SOLO-SMS", "notes", "=cmd|' /C calc'!A0", as_text=True),
        "C09",
        Severity.WARNING,
        "formula",
    ),
    # table logic
    _us(
        "duplicate rule id",
        lambda b: b.set("UsageTiers", "SMS-3", "rule_id", "SMS-2") and "UsageTiers!A4",
        "T01",
        Severity.ERROR,
        "already used in UsageTiers row 3",
    ),
    _us(
        "duplicate package key",
        lambda b: b.set("Packages", "PK-SMALL-SMS", "package_code", "SOLO-SMS"),
        "T01",
        Severity.ERROR,
        "package_code SOLO-SMS, product sms",
    ),
    _us(
        "tiers out of order",
        lambda b: _swap_rows(b, "UsageTiers", "SMS-2", "SMS-3"),
        "T02",
        Severity.WARNING,
        "not in order",
    ),
    _in(
        "gap in default lead prices",
        lambda b: b.set("LeadPrices", "LP-02", "pkg_price_to", 9000),
        "T03",
        Severity.ERROR,
        "₹9,000",
    ),
    _us(
        "two tiers end at the same bound",
        lambda b: b.set("UsageTiers", "SMS-3", "up_to", 1500),
        "T04",
        Severity.ERROR,
        "end at 1,500 segments",
    ),
    _in(
        "overlapping lead ranges",
        lambda b: (
            b.copy_row("LeadPrices", "LP-03", "LP-03B", pkg_price_from=15000, pkg_price_to=30000, **PRICE_280)
            and b.address("LeadPrices", "LP-03B", "pkg_price_from")
        ),
        "T04",
        Severity.ERROR,
        "₹15,000",
        "LP-03",
        "LP-03B",
    ),
    _in(
        "a range end mistyped: blamed, not the range it now overlaps",
        lambda b: b.set("LeadPrices", "LP-02", "pkg_price_to", 12000),
        "T13",
        Severity.ERROR,
        "F3 = 12000",
        "₹10,000 would make",
        "Type 10,000",
    ),
    _us(
        "last tier closed",
        lambda b: b.set("UsageTiers", "SMS-6", "up_to", 20000),
        "T05",
        Severity.ERROR,
        "above 20,000 segments has no price",
    ),
    _in(
        "empty price range",
        lambda b: b.set("LeadPrices", "LP-02", "pkg_price_to", 5000),
        "T06",
        Severity.ERROR,
        "range is empty",
    ),
    _us(
        "price rises with volume",
        lambda b: (
            b.set("UsageTiers", "SMS-3", "stated_tier_credits", None)
            and b.set("UsageTiers", "SMS-3", "unit_price_credits", 90)
        ),
        "T07",
        Severity.WARNING,
        "rises",
    ),
    _in(
        "equally specific lead rows clash",
        _add_chat_row,
        "T08",
        Severity.ERROR,
        "a chat lead",
        "LP-01",
        "LP-CHAT-X",
    ),
    _in(
        "no default lead row",
        lambda b: [b.set("LeadPrices", r, "city", "Mumbai") for r in ("LP-CHAT", "LP-CALL")] and "LeadPrices",
        "T09",
        Severity.ERROR,
        "no default row",
        source=IN_V1,
    ),
    _us(
        "no preferred overdraft row",
        lambda b: b.set("Overdraft", "OD-PREFERRED", "segment", "standard") and "Overdraft",
        "T09",
        Severity.ERROR,
        "preferred",
    ),
    _in(
        "repeated lead row",
        lambda b: b.copy_row("LeadPrices", "LP-03", "LP-03B") and b.address("LeadPrices", "LP-03B", "pkg_price_from"),
        "T10",
        Severity.WARNING,
        "redundant",
    ),
    _us(
        "stated tier total disagrees",
        lambda b: b.set("UsageTiers", "SMS-4", "stated_tier_credits", "2.7K"),
        "T11",
        Severity.ERROR,
        "237,000",
    ),
    _us(
        "stated package total disagrees",
        lambda b: b.set("Packages", "PK-SMALL-SMS", "stated_total_credits", 280000),
        "T11",
        Severity.ERROR,
        "283,500",
    ),
    _in(
        "stated promo total disagrees",
        lambda b: b.set("TopUpPromos", "IN-BONUS20", "stated_total_credits", 13000),
        "T11",
        Severity.ERROR,
        "12,000",
    ),
    _us("free bundle", lambda b: b.set("Bundles", "BN-SMS-VOICE", "discount_pct", 1), "T12", Severity.ERROR, "free"),
    # references
    _us(
        "package for an unsold product",
        lambda b: b.set("Packages", "PK-SOLO-SMS", "product", "lead_chat"),
        "X01",
        Severity.ERROR,
        "not on the Products sheet",
    ),
    _us(
        "wrong unit for product",
        lambda b: b.set("Products", "PR-SMS", "unit", "minute"),
        "X01",
        Severity.ERROR,
        "counted in segments",
    ),
    _us(
        "unknown plan in a test",
        lambda b: b.set("Tests", "T-SMS-03", "plan", "TINY-SMS"),
        "X01",
        Severity.ERROR,
        "not a package code",
    ),
    _us(
        "bundle lists a product twice",
        lambda b: b.set("Bundles", "BN-SMS-VOICE", "components", "sms, sms"),
        "X02",
        Severity.ERROR,
        "listed twice",
    ),
    _us(
        "test expects an unknown rule",
        lambda b: b.set("Tests", "T-SMS-01", "expected_rule_ids", "SMS-1, SMS-9"),
        "X03",
        Severity.ERROR,
        "SMS-9",
    ),
    _us(
        "unused clinic size",
        lambda b: _add_list_value(b, "clinic_size", "enterprise"),
        "X04",
        Severity.INFO,
        "'enterprise'",
    ),
    # dates and policies
    _in(
        "promo ends before it starts",
        lambda b: b.set("TopUpPromos", "IN-EXTRA2K", "valid_to", datetime(2025, 12, 1)),
        "D01",
        Severity.ERROR,
        "before it starts",
    ),
    _in("promo over before the version starts", _expire_promo, "D02", Severity.WARNING, "already over"),
    _us(
        "overlapping automatic promos",
        lambda b: (
            b.set("TopUpPromos", "US-BONUS-200", "paid_to", None)
            and b.address("TopUpPromos", "US-BONUS-500", "promo_type")
        ),
        "D03",
        Severity.WARNING,
        "only the larger bonus",
    ),
    _in(
        "existing clinics moved before the version",
        _existing_before,
        "D07",
        Severity.ERROR,
        "before the version",
    ),
    _in(
        "promo code used twice",
        lambda b: (
            b.set("TopUpPromos", "IN-EXTRA2K", "promo_code", "double5k")
            and b.address("TopUpPromos", "IN-EXTRA2K", "promo_code")
        ),
        "P01",
        Severity.ERROR,
        "DOUBLE5K",
    ),
    _in(
        "per-clinic limit above total",
        lambda b: (
            b.set("TopUpPromos", "IN-DOUBLE5K", "max_per_clinic", 2000)
            and b.address("TopUpPromos", "IN-DOUBLE5K", "max_per_clinic")
        ),
        "P02",
        Severity.ERROR,
        "2000 times",
    ),
    _in(
        "top-up promo rewards a referrer",
        lambda b: b.set("TopUpPromos", "IN-EXTRA2K", "beneficiary", "both"),
        "P03",
        Severity.ERROR,
        "no referrer",
    ),
    _us(
        "standard clinics may overdraw",
        lambda b: b.set("Overdraft", "OD-STANDARD", "max_negative_credits", 100),
        "P04",
        Severity.ERROR,
        "only preferred",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}-{c.name}" for c in CASES])
def test_each_mistake_is_reported_at_its_cell(case: Case, tmp_path: Path) -> None:
    book = Book(case.source)
    where = case.mutate(book)
    path = book.save(tmp_path / case.source.name)
    report = validate_pricebook(path)
    matching = [f for f in report.findings if f.code == case.code]
    assert matching, f"expected {case.code}, got {[(f.code, f.location, f.message) for f in report.findings]}"
    at = [f for f in matching if where is None or f.location == where or (where == f.sheet and "!" not in where)]
    assert at, f"{case.code} reported at {[f.location for f in matching]}, expected {where}"
    finding = at[0]
    assert finding.severity is case.severity
    words = finding.message + " " + finding.hint
    for phrase in case.says:
        assert phrase in words, f"{phrase!r} not in {words!r}"
    assert report.exit_code == (1 if case.severity is Severity.ERROR else 0)
    assert (report.pricebook is None) == (case.severity is Severity.ERROR)


def test_finding_carries_sheet_cell_rule_value_message_and_hint(tmp_path: Path) -> None:
    book = Book(US_V1)
    where = book.set("UsageTiers", "SMS-4", "unit_price_credits", "$0.0079")
    report = validate_pricebook(book.save(tmp_path / "x.xlsx"))
    finding = next(f for f in report.findings if f.code == "C02")
    assert (finding.location, finding.rule_id, finding.column, finding.value) == (
        where,
        "SMS-4",
        "unit_price_credits",
        "$0.0079",
    )
    assert finding.message and finding.hint
    assert Decimal("79") == Decimal(finding.hint.split("type ")[-1].rstrip("."))


def test_one_run_reports_every_mistake(tmp_path: Path) -> None:
    book = Book(US_V1)
    expected = {
        ("C02", book.set("UsageTiers", "SMS-2", "unit_price_credits", "eighty")),
        ("C05", book.set("Bundles", "BN-SMS-VOICE", "discount_pct", 15)),
        ("T11", book.set("UsageTiers", "VOICE-5", "stated_tier_credits", "1.250M")),
        ("C06", book.set("Packages", "PK-LARGE-SMS", "clinic_size", "huge")),
        ("P04", book.set("Overdraft", "OD-STANDARD", "max_negative_credits", 5)),
    }
    report = validate_pricebook(book.save(tmp_path / "many.xlsx"))
    found = {(f.code, f.location) for f in report.findings}
    assert expected <= found
    order = [(f.sheet, f.row, f.col) for f in report.findings if f.sheet]
    sheets = [
        "Meta",
        "Lists",
        "Products",
        "UsageTiers",
        "Packages",
        "Bundles",
        "TopUpPromos",
        "Overdraft",
        "Disputes",
        "Alerts",
        "Tests",
    ]
    ranks = [(sheets.index(s) if s in sheets else 99, r, c) for s, r, c in order]
    assert ranks == sorted(ranks), "findings are sorted by sheet, row and column"


def test_an_unreadable_row_does_not_invent_a_gap(tmp_path: Path) -> None:
    """A default row whose city cannot be read is reported once; coverage is not judged without it."""
    book = Book(IN_V2)
    where = book.set("LeadPrices", "LP-02", "city", "Mumbay")
    report = validate_pricebook(book.save(tmp_path / "typo.xlsx"))
    assert [(f.code, f.location) for f in report.errors] == [("C06", where)]
