"""Exports of a simulation: CSV of every clinic, or a workbook with the assumptions, the summary,
the tables by size and plan, the months, a comparison when there is one, and the clinics.

Every text cell that a spreadsheet would read as a formula (=, +, -, @, tab, carriage return at
the start: OWASP's CSV-injection list) is written with a leading apostrophe, so a scenario named
`=HYPERLINK(...)` or a clinic label from an uploaded file stays text in Excel and LibreOffice.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from simulator.montecarlo import Comparison, Results

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
XLSX_CLINIC_ROWS = 100_000  # the workbook's clinic sheet stops here (the CSV has them all)


def safe(value: Any) -> Any:
    """A cell value that no spreadsheet evaluates."""
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


def _safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(safe)
    out.columns = [safe(str(c)) for c in out.columns]
    return out


def assumptions(results: Results) -> list[tuple[str, Any]]:
    """Every input of the run, flattened, plus what it ran with (pricebooks, seed, time)."""
    rows: list[tuple[str, Any]] = [
        ("generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("creditbook simulator", "vectorised Monte-Carlo over engine/pricing"),
    ]
    for pricebook in results.pricebooks:
        rows.append((f"pricebook {pricebook.pricebook_id} v{pricebook.version}", pricebook.semantic_hash))

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            rows.append((prefix, ", ".join(map(str, value))))
        else:
            rows.append((prefix, value))

    walk("", results.scenario.dump())
    rows.extend(("note", note) for note in results.notes)
    return rows


def to_csv(results: Results) -> bytes:
    buffer = io.StringIO()
    _safe_frame(results.clinics()).to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def _sheet(workbook: Workbook, title: str, frame: pd.DataFrame) -> None:
    sheet = workbook.create_sheet(title)
    safe_frame = _safe_frame(frame)
    sheet.append(list(safe_frame.columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in safe_frame.itertuples(index=False):
        sheet.append([v.item() if hasattr(v, "item") else v for v in row])
    sheet.freeze_panes = "A2"
    for index, column in enumerate(safe_frame.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, min(40, len(str(column)) + 2))


def to_xlsx(results: Results, comparison: Comparison | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Assumptions"
    sheet.append(["assumption", "value"])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for key, value in assumptions(results):
        sheet.append([safe(key), safe(value if isinstance(value, int | float) else str(value))])
    sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 48, 70
    sheet.freeze_panes = "A2"
    summary = results.summary()
    _sheet(workbook, "Summary", pd.DataFrame({"figure": list(summary), "value": list(summary.values())}))
    _sheet(workbook, "By size and plan", results.by_group_and_plan())
    _sheet(workbook, "Cheapest plan", results.cheapest_by_group())
    _sheet(workbook, "Months", results.by_month())
    if comparison is not None:
        figures = comparison.summary()
        _sheet(workbook, "A vs B", pd.DataFrame({"figure": list(figures), "value": list(figures.values())}))
        _sheet(workbook, "A vs B by group", comparison.by_group())
    _sheet(workbook, "Clinics", results.clinics().head(XLSX_CLINIC_ROWS))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write(results: Results, path: str | Path, comparison: Comparison | None = None) -> Path:
    path = Path(path)
    data = to_xlsx(results, comparison) if path.suffix.lower() == ".xlsx" else to_csv(results)
    path.write_bytes(data)
    return path
