"""Exports of a simulation: CSV of every clinic, or a workbook with the assumptions, the summary,
the tables by size and plan, the months, a comparison when there is one, and the clinics.

Every text cell that a spreadsheet would read as a formula (=, +, -, @, tab, carriage return or
line feed at the start: OWASP's CSV-injection list) is written with a leading apostrophe, so a
scenario, size, specialty or city named `=HYPERLINK(...)` stays text in Excel and LibreOffice. The
escaping looks at each value, never at a column's dtype (object, string, pandas 3's str, category:
all the same), and covers column labels and index labels too; the workbook writer escapes every
string cell it writes, whatever frame it came from. The CLI and the app both export through
`to_csv` and `to_xlsx`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from simulator.montecarlo import Comparison, Results
from simulator.scenario import ASSUMPTION_NOTES

DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")
XLSX_CLINIC_ROWS = 100_000  # the workbook's clinic sheet stops here (the CSV has them all)


def safe(value: Any) -> Any:
    """A cell value that no spreadsheet evaluates."""
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    """A plain Python value for a workbook cell (numpy scalars unwrapped, text escaped)."""
    if isinstance(value, np.generic):
        value = value.item()
    return safe(value)


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text value escaped: each non-numeric column (whatever its dtype) goes
    through `safe` value by value, and so do the column and index labels."""
    out = frame.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if not _numeric(column):
            out.isetitem(position, column.astype(object).map(safe))
    out.columns = pd.Index([safe(str(label)) for label in out.columns], dtype=object)
    if not _numeric(out.index.to_series()):
        out.index = pd.Index([safe(label) for label in out.index], dtype=object, name=safe(out.index.name))
    return out


def assumptions(results: Results) -> list[tuple[str, Any, str]]:
    """Every input of the run, flattened, with where it comes from when it is our assumption, plus
    what it ran with (pricebooks, seed, time)."""
    rows: list[tuple[str, Any, str]] = [
        ("generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), ""),
        ("creditbook simulator", "vectorised Monte-Carlo over engine/pricing", ""),
    ]
    for pricebook in results.pricebooks:
        rows.append((f"pricebook {pricebook.pricebook_id} v{pricebook.version}", pricebook.semantic_hash, ""))

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            rows.append((prefix, ", ".join(map(str, value)), ASSUMPTION_NOTES.get(prefix, "")))
        else:
            rows.append((prefix, value, ASSUMPTION_NOTES.get(prefix, "")))

    walk("", results.scenario.dump())
    rows.extend(("note", note, "") for note in results.notes)
    return rows


def to_csv(results: Results) -> bytes:
    buffer = io.StringIO()
    # CRLF rows (RFC 4180): a field holding a carriage return or line feed is then quoted, so an
    # embedded line break can never start a new, unescaped row
    safe_frame(results.clinics()).to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue().encode("utf-8")


def _rows(frame: pd.DataFrame) -> Iterable[list[Any]]:
    yield [_cell(str(label)) for label in frame.columns]
    for row in frame.itertuples(index=False, name=None):
        yield [_cell(value) for value in row]


def _sheet(workbook: Workbook, title: str, rows: Iterable[list[Any]], widths: list[int] | None = None) -> None:
    sheet = workbook.create_sheet(title)
    for row in rows:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for index, cell in enumerate(sheet[1], start=1):
        width = widths[index - 1] if widths else max(12, min(40, len(str(cell.value)) + 2))
        sheet.column_dimensions[get_column_letter(index)].width = width


def _figures(figures: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"figure": list(figures), "value": list(figures.values())})


def to_xlsx(results: Results, comparison: Comparison | None = None) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    header = [["assumption", "value", "source"]]
    values = [
        [_cell(key), _cell(value if isinstance(value, int | float) else str(value)), _cell(source)]
        for key, value, source in assumptions(results)
    ]
    _sheet(workbook, "Assumptions", header + values, [48, 70, 90])
    _sheet(workbook, "Summary", _rows(_figures(results.summary())))
    _sheet(workbook, "By size and plan", _rows(results.by_group_and_plan()))
    _sheet(workbook, "Cheapest plan", _rows(results.cheapest_by_group()))
    _sheet(workbook, "Months", _rows(results.by_month()))
    if comparison is not None:
        _sheet(workbook, "A vs B", _rows(_figures(comparison.summary())))
        _sheet(workbook, "A vs B by group", _rows(comparison.by_group()))
    _sheet(workbook, "Clinics", _rows(results.clinics().head(XLSX_CLINIC_ROWS)))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write(results: Results, path: str | Path, comparison: Comparison | None = None) -> Path:
    """Write `.xlsx` (every table) or `.csv` (every clinic); the file is replaced only once the
    export is complete."""
    path = Path(path)
    data = to_xlsx(results, comparison) if path.suffix.lower() == ".xlsx" else to_csv(results)
    partial = path.with_name(f".{path.name}.partial")  # the CLI checks it can create this one
    try:
        partial.write_bytes(data)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path
