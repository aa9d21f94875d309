"""Whatever an editor does to a workbook, the validator answers with a compiled pricebook or with
findings — never with a crash. Mutations are drawn at random over every sheet and cell of the
shipped pricebooks: in memory (many examples) and through real .xlsx files (fewer, slower)."""

from __future__ import annotations

import copy
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import validate_pricebook
from engine.pricebook.findings import Severity
from engine.pricebook.validate import Report, validate_raw
from engine.pricebook.xlsx import RawWorkbook, read_workbook
from tests.conftest import IN_V2, US_V1
from tests.pricebook.book import Book

BASES = {path.name: read_workbook(path) for path in (US_V1, IN_V2)}

EXCELISH = st.sampled_from(
    [
        "-",
        "*",
        "any",
        "not(",
        "not()",
        "not(chat)",
        "chat, call",
        "chat,,call",
        "10%",
        "$0.0085",
        "₹5,000",
        "1.000,50",
        "1,000",
        "42.5K",
        "2.7K credits",
        "=A1",
        "#REF!",
        "yes",
        "no",
        "TRUE",
        "2026-01-01",
        "01/02/2026",
        "  Mumbai ",
        "\u201cquoted\u201d",
        "\u00a0",
        "sms",
        "voice",
        "lead_chat",
        "standard",
        "preferred",
        "graduated",
        "PAYG",
        "SOLO-SMS",
        "SMS-1",
        "LP-01",
        "duplicate",
        "review",
    ]
)
VALUES = st.one_of(
    st.none(),
    st.just(""),
    EXCELISH,
    st.text(max_size=12),
    st.integers(min_value=-(10**7), max_value=10**9).map(float),
    st.floats(min_value=-1e6, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1)),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
)


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, list[tuple[str, Any]]]:
    base = draw(st.sampled_from(sorted(BASES)))
    raw = BASES[base]
    steps: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        sheet = draw(st.sampled_from(sorted(raw.sheets)))
        rows = max(1, raw.sheets[sheet].max_row)
        width = max(1, len(raw.sheets[sheet].rows[0]) if raw.sheets[sheet].rows else 1)
        kind = draw(st.sampled_from(["cell"] * 8 + ["drop_row", "copy_row", "drop_sheet"]))
        if kind == "cell":
            # mostly data cells of the table, sometimes the header or just outside the table
            row = draw(
                st.one_of(st.integers(min_value=2, max_value=rows), st.integers(min_value=1, max_value=rows + 2))
            )
            col = draw(
                st.one_of(st.integers(min_value=1, max_value=width), st.integers(min_value=1, max_value=width + 2))
            )
            steps.append(("cell", (sheet, row, col, draw(VALUES))))
        elif kind in ("drop_row", "copy_row"):
            steps.append((kind, (sheet, draw(st.integers(min_value=1, max_value=rows)))))
        else:
            steps.append((kind, sheet))
    return base, steps


def apply(raw: RawWorkbook, steps: list[tuple[str, Any]]) -> RawWorkbook:
    mutated = copy.deepcopy(raw)
    for kind, arg in steps:
        if kind == "drop_sheet":
            mutated.sheets.pop(arg, None)
            continue
        sheet = mutated.sheets.get(arg[0])
        if sheet is None:
            continue
        if kind == "cell":
            _, row, col, value = arg
            while len(sheet.rows) < row:
                sheet.rows.append([])
            cells = sheet.rows[row - 1]
            while len(cells) < col:
                cells.append("")
            cells[col - 1] = value
        elif kind == "drop_row" and arg[1] <= len(sheet.rows):
            sheet.rows[arg[1] - 1] = [""] * len(sheet.rows[arg[1] - 1])
        elif kind == "copy_row" and arg[1] <= len(sheet.rows):
            sheet.rows.insert(arg[1], list(sheet.rows[arg[1] - 1]))
    return mutated


def consistent(report: Report) -> None:
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    assert (report.pricebook is None) == bool(errors)
    for finding in report.findings:
        assert finding.code and finding.message
        if finding.cell:
            assert finding.sheet and finding.row > 0 and finding.col > 0
    if report.pricebook is not None:
        assert len(report.pricebook.semantic_hash) == 64


@settings(
    max_examples=int(__import__("os").environ.get("CREDITBOOK_PROPERTY_EXAMPLES", "600")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutation())
def test_random_edits_compile_or_yield_findings_never_crash(case: tuple[str, list[tuple[str, Any]]]) -> None:
    base, steps = case
    consistent(validate_raw(apply(BASES[base], steps)))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    source=st.sampled_from([US_V1, IN_V2]),
    edits=st.lists(
        st.tuples(
            st.sampled_from(
                ["UsageTiers", "Packages", "LeadPrices", "TopUpPromos", "Meta", "Lists", "Tests", "Overdraft"]
            ),
            st.integers(min_value=1, max_value=12),
            st.integers(min_value=1, max_value=12),
            st.one_of(st.none(), EXCELISH, st.integers(-5, 10**6), st.floats(-10, 1e6, allow_nan=False)),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_random_edits_to_real_files(source: Path, edits: list[tuple[str, int, int, Any]], tmp_path: Path) -> None:
    book = Book(source)
    for sheet, row, col, value in edits:
        if sheet in book.wb.sheetnames:
            book.wb[sheet].cell(row=row, column=col).value = value
    consistent(validate_pricebook(book.save(tmp_path / f"m-{abs(hash(str(edits)))}.xlsx")))
