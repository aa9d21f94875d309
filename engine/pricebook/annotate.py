"""Write a copy of a workbook with every finding shown where the editor works: the cell filled,
a comment saying what is wrong and what to do, and an Errors sheet whose rows link to the cells.

Everything written is text stored as text, so a value such as '=cmd|...' that the validator saw
in a cell comes back as a string, never as a formula (OWASP formula injection), and control
characters the validator quoted are written in OOXML's escape (template.excel_text), since XML
cannot hold them. The source goes through the same pre-flight as validation (a FIFO, a device or a
zip bomb is refused before openpyxl sees it), and a finding on a cell inside a merged range is
shown on the range's top-left cell, the only one of them Excel lets you edit.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections import defaultdict
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from engine.pricebook.findings import Finding, Severity, shown
from engine.pricebook.safety import DEFAULT_LIMITS, Limits, Package, preflight
from engine.pricebook.sheet_xml import EXCEL_ROWS, attribute
from engine.pricebook.template import AUTHOR, HEADER_FILL, HEADER_FONT, excel_text, fit_to_width
from engine.pricebook.xlsx import damaged, read_package

FILLS = {
    Severity.ERROR: PatternFill("solid", fgColor="F4B6B6"),
    Severity.WARNING: PatternFill("solid", fgColor="FFE699"),
    Severity.INFO: PatternFill("solid", fgColor="DDEBF7"),
}
ERRORS_SHEET = "Errors"


def _quoted(sheet: str) -> str:
    return sheet if sheet.replace("_", "").isalnum() else "'" + sheet.replace("'", "''") + "'"


# a numeric cell: its attributes and the text of its value
_NUMBER_CELL = re.compile(rb"<c((?:\s[^<>]*+)?+)>\s*+<v>([^<]*+)</v>\s*+</c>")
_NUMBER = re.compile(rb"[+-]?+(?:[0-9]++(?:\.[0-9]*+)?+|\.[0-9]++)(?:[eE][+-]?+[0-9]{1,3}+)?+")


def _as_text(match: re.Match[bytes]) -> bytes:
    """A numeric cell whose value openpyxl cannot read (NaN, inf, 5,000 digits) as an inline string."""
    attrs, value = match.group(1), match.group(2).strip()
    kind = attribute(attrs, b"t")
    if kind not in (None, b"n"):
        return match.group(0)
    if len(value) <= 300 and _NUMBER.fullmatch(value) and math.isfinite(float(value)):
        return match.group(0)
    kept = re.sub(rb'\st\s*+=\s*+"[^"]*+"', b"", attrs)
    return b'<c%s t="inlineStr"><is><t>%s</t></is></c>' % (kept, escape(value.decode("utf-8", "replace")).encode())


def openable(package: Package) -> io.BytesIO:
    """The file for openpyxl: numeric cells holding what no spreadsheet writes (NaN, infinities,
    thousands of digits, which the validator reported as C10) become text, so the annotated copy
    can show them with their finding instead of openpyxl refusing the whole file."""
    changed = {}
    for name, data in package.parts.items():
        if name.startswith("xl/worksheets/") and name.endswith(".xml"):
            fixed = _NUMBER_CELL.sub(_as_text, data)
            if fixed != data:
                changed[name] = fixed
    if not changed:
        return package.open()
    out = io.BytesIO()
    with zipfile.ZipFile(package.open()) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, changed.get(info.filename) or source.read(info))
    out.seek(0)
    return out


#: rows of the Errors sheet: Excel's grid, less the header and the line that says how many are left out
ERRORS_MAX = EXCEL_ROWS - 2


def _text_cell(ws: Worksheet, row: int, col: int, value: object) -> None:
    cell = ws.cell(row=row, column=col)
    cell.value = "" if value is None else excel_text(str(value))
    cell.data_type = "s"


def _editable(ws: Worksheet, ref: str) -> Cell | MergedCell:
    """The cell at `ref`, or the top-left cell of the merged range that covers it."""
    cell = ws[ref]
    if isinstance(cell, MergedCell):
        for merged in ws.merged_cells.ranges:
            if cell.coordinate in merged:
                return ws.cell(row=merged.min_row, column=merged.min_col)
    return cell


def annotate_workbook(
    source: str | Path, findings: list[Finding], out: str | Path, limits: Limits = DEFAULT_LIMITS
) -> Path:
    """Copy `source` to `out` with findings marked. Raises UnreadableWorkbook for a file the
    pre-flight refuses or that openpyxl cannot open."""
    package = preflight(source, limits)
    read_package(package, Path(source), limits)  # refused here exactly when validation refuses it
    try:
        wb = load_workbook(openable(package), rich_text=False)
    except Exception as exc:  # openpyxl raises many types for files it cannot take apart
        raise damaged("(the whole workbook, as openpyxl reads it)", exc) from exc
    if ERRORS_SHEET in wb.sheetnames:
        del wb[ERRORS_SHEET]
    _mark_cells(wb, findings)
    _errors_sheet(wb, findings)
    wb.active = 0
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _mark_cells(wb: Workbook, findings: list[Finding]) -> None:
    """Fill each cell a finding points at by its worst severity; its comment lists the findings
    (before the column's own help)."""
    by_cell: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.sheet in wb.sheetnames and finding.cell:
            ws = wb[finding.sheet]
            if hasattr(ws, "merged_cells"):  # a chartsheet has no cells
                by_cell[(finding.sheet, _editable(ws, finding.cell).coordinate)].append(finding)
    for (sheet, ref), group in by_cell.items():
        cell = wb[sheet][ref]
        worst = min(group, key=lambda f: list(Severity).index(f.severity)).severity
        cell.fill = FILLS[worst]
        text = "\n\n".join(
            f"[{f.code} {f.severity.value}] {f.message}" + (f"\n→ {f.hint}" if f.hint else "") for f in group
        )
        if cell.comment is not None and cell.comment.text:
            text = f"{text}\n\n— column help —\n{cell.comment.text}"
        comment = Comment(excel_text(text), AUTHOR)
        comment.width, comment.height = 360, min(600, 60 + 16 * (len(text) // 45 + text.count("\n")))
        cell.comment = comment


def _errors_sheet(wb: Workbook, findings: list[Finding]) -> None:
    """The Errors sheet, first: one row a finding (at most ERRORS_MAX), each linked to its cell."""
    ws = wb.create_sheet(ERRORS_SHEET, 0)
    headers = ["severity", "code", "cell", "rule_id", "value", "message", "hint"]
    widths = [10, 7, 22, 16, 24, 90, 70]
    for col, (name, width) in enumerate(zip(headers, widths, strict=True), start=1):
        _text_cell(ws, 1, col, name)
        ws.cell(row=1, column=col).font = HEADER_FONT
        ws.cell(row=1, column=col).fill = HEADER_FILL
        ws.column_dimensions[chr(64 + col)].width = width
    listed = findings[:ERRORS_MAX]
    for row, finding in enumerate(listed, start=2):
        values = [
            finding.severity.value,
            finding.code,
            finding.location,
            finding.rule_id,
            shown(finding.display_value(), 40),
            finding.message,
            finding.hint,
        ]
        for col, value in enumerate(values, start=1):
            _text_cell(ws, row, col, value)
            ws.cell(row=row, column=col).alignment = Alignment(wrap_text=col >= 6, vertical="top")
        ws.cell(row=row, column=1).fill = FILLS[finding.severity]
        lines = max(len(finding.message) // 85 + 1, len(finding.hint) // 65 + 1)
        ws.row_dimensions[row].height = 15 * lines  # Excel does not grow wrapped rows by itself
        if finding.sheet in wb.sheetnames:
            target = f"{_quoted(finding.sheet)}!{finding.cell or 'A1'}"
            link = ws.cell(row=row, column=3)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=target)
            link.font = Font(color="0563C1", underline="single")
    if len(findings) > len(listed):
        _text_cell(ws, len(listed) + 2, 1, f"... and {len(findings) - len(listed):,} more findings")
    if findings:
        table = Table(displayName="tbl_Errors", ref=f"A1:G{len(listed) + 1}")
        table.tableStyleInfo = TableStyleInfo(name="TableStyleLight9", showRowStripes=True)
        ws.add_table(table)
    else:
        _text_cell(ws, 2, 1, "No findings: the workbook is clean.")
    ws.freeze_panes = "A2"
    fit_to_width(ws)
