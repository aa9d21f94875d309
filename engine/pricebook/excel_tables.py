"""Find a sheet's Excel Table, map its header, and hand back its data rows with true addresses.

Each data sheet is one Excel Table at A1. Editors break that in predictable ways: they type below
the table where Excel did not extend it, convert the table to a plain range, merge cells, hide or
filter rows, rename a header. Every one of those becomes a finding at its cell here, and reading
goes on wherever it safely can, so one run reports everything.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from engine.pricebook.cells import INVALID, SLOW, CellReader, Loc, tidy_text
from engine.pricebook.findings import Collector, Severity, cell_ref, column_letter
from engine.pricebook.schema import Column, Kind
from engine.pricebook.xlsx import RawSheet, TableRef


def header_key(raw: Any) -> str:
    """'Unit Price (credits)' style headers are matched by a forgiving key: unit_price_credits."""
    text = tidy_text(str(raw)).casefold()
    for ch in "()[]%":
        text = text.replace(ch, " ")
    return "_".join(text.replace("-", " ").split())


@dataclass
class Extracted:
    """A sheet's table: which column holds which field, and the non-blank data rows."""

    sheet: str
    columns: dict[str, int] = field(default_factory=dict)  # field name → 1-based column
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)  # (Excel row, cells from column 1)
    header_row: int = 1


@dataclass
class Row:
    """One typed data row. Values are typed, None when blank and optional, INVALID when unreadable."""

    sheet: str
    row: int
    values: dict[str, Any]
    cols: dict[str, int]
    rule_id: str = ""
    cells: list[Any] = field(default_factory=list)  # the row as typed, for findings that quote it

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def raw(self, name: str) -> Any:
        col = self.cols.get(name)
        if col is None or col - 1 >= len(self.cells):
            return None
        return self.cells[col - 1]

    def ok(self, *names: str) -> bool:
        """True when every named value was read (not INVALID)."""
        return all(self.values.get(name) is not INVALID for name in names)

    def has(self, name: str) -> bool:
        value = self.values.get(name)
        return value is not None and value is not INVALID

    def col(self, name: str) -> int:
        return self.cols.get(name, 1)


def _blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, str) and not value.strip())


def find_table(sheet: RawSheet, collector: Collector) -> TableRef | None:
    """The sheet's data table: tbl_<Sheet> if present, else its only table; findings for the rest."""
    if not sheet.tables:
        return None
    wanted = f"tbl_{sheet.name}".casefold()
    named = [t for t in sheet.tables if t.name.casefold() == wanted]
    table = named[0] if named else sheet.tables[0]
    for other in sheet.tables:
        if other is not table:
            collector.add(
                "S03",
                Severity.WARNING,
                f"The sheet has a second table {other.name} ({other.ref}); only {table.name} is read.",
                "Keep one table per sheet.",
                sheet=sheet.name,
                row=other.first_row,
                col=other.first_col,
            )
    if (table.first_row, table.first_col) != (1, 1):
        collector.add(
            "S03",
            Severity.WARNING,
            f"The table {table.name} starts at {cell_ref(table.first_row, table.first_col)}, not A1.",
            "Move the table so that its header is in row 1 starting at column A.",
            sheet=sheet.name,
            row=table.first_row,
            col=table.first_col,
        )
    return table


def header_names(sheet: RawSheet) -> list[str]:
    """The header keys of a sheet's table (or of row 1 when it has none), known to the format or not."""
    table = sheet.tables[0] if sheet.tables else None
    row, first, last = (
        (table.first_row, table.first_col, min(table.last_col, sheet.max_col))
        if table
        else (1, 1, len(sheet.rows[0]) if sheet.rows else 0)
    )
    return [header_key(v) for v in (sheet.value(row, c) for c in range(first, last + 1)) if not _blank(v)]


def with_every_header(sheet: RawSheet, columns: dict[str, Column]) -> dict[str, Column]:
    """`columns` plus a text column for every other header of the sheet's table: for tools that
    must keep what an editor added (dump, reformat), where validation would ignore it."""
    known = dict(columns)
    for key in header_names(sheet):
        known.setdefault(key, Column(key, Kind.TEXT, ""))
    return known


def extract(sheet: RawSheet, known: dict[str, Column], collector: Collector) -> Extracted | None:
    """Locate the table and header of `sheet`; None when no header can be found at all."""
    name = sheet.name
    table = find_table(sheet, collector)
    if table is None:
        if not sheet.rows or all(_blank(v) for v in sheet.rows[0]):
            collector.add(
                "S03",
                Severity.ERROR,
                f"The sheet {name} has no header row in row 1.",
                "Start from the template: creditbook pricebook template OUT.xlsx.",
                sheet=name,
            )
            return None
        collector.add(
            "S03",
            Severity.WARNING,
            f"{name} is not an Excel Table; it was read as the block starting at A1.",
            "Select the data and use Insert > Table, named tbl_" + name + ".",
            sheet=name,
            row=1,
            col=1,
        )
        width = max((i + 1 for i, v in enumerate(sheet.rows[0]) if not _blank(v)), default=0)
        first_row, first_col, header_rows = 1, 1, 1
        last_row, last_col = sheet.max_row, width
    else:
        first_row, first_col, header_rows = table.first_row, table.first_col, max(1, table.header_rows)
        # the table's range is what the file claims; the work is bounded by the values really there
        last_row = min(table.last_row - table.totals_rows, sheet.max_row)
        last_col = min(table.last_col, max(sheet.max_col, first_col))
    header_row = first_row + header_rows - 1
    out = Extracted(sheet=name, header_row=header_row)
    seen: dict[str, int] = {}
    unknown: dict[str, tuple[Any, int]] = {}
    for col in range(first_col, last_col + 1):
        raw = sheet.value(header_row, col)
        if _blank(raw):
            collector.add(
                "S02",
                Severity.WARNING,
                f"Column {column_letter(col)} of the table has no header and is ignored.",
                "Give it a header or delete the column.",
                sheet=name,
                row=header_row,
                col=col,
            )
            continue
        key = header_key(raw)
        if key in seen:
            collector.add(
                "S02",
                Severity.ERROR,
                f"The header {raw!r} appears twice (columns {column_letter(seen[key])} and {column_letter(col)}).",
                "Rename or delete one of them.",
                sheet=name,
                row=header_row,
                col=col,
                value=raw,
            )
            continue
        seen[key] = col
        if key not in known:
            unknown[key] = (raw, col)
            nearest = _nearest(key, known)
            collector.add(
                "S02",
                Severity.WARNING,
                f"The column {raw!r} is not part of the format and is ignored.",
                f"Did you mean {nearest}?" if nearest else "Rename it or delete it.",
                sheet=name,
                row=header_row,
                col=col,
                value=raw,
            )
            continue
        out.columns[key] = col
    for column in known.values():
        if column.name not in out.columns and column.required and column.default is None:
            guess = difflib.get_close_matches(column.name, list(unknown), n=1, cutoff=0.3) or (
                list(unknown) if len(unknown) == 1 else []
            )
            if guess:
                raw, col = unknown[guess[0]]
                collector.add(
                    "S02",
                    Severity.ERROR,
                    f"The required column {column.name!r} is missing; is {raw!r} meant to be it?",
                    f"Rename the header back to {column.name}.",
                    sheet=name,
                    row=header_row,
                    col=col,
                    value=raw,
                )
            else:
                collector.add(
                    "S02",
                    Severity.ERROR,
                    f"The required column {column.name!r} is missing.",
                    f"Add a column headed {column.name}: {column.help}",
                    sheet=name,
                    row=header_row,
                    col=first_col,
                )
    _structure_findings(sheet, collector, header_row, first_col, last_row, last_col)
    marked_rows = {r for r, _ in sheet.formulas} | {r for r, _ in sheet.errors}
    for row in range(header_row + 1, last_row + 1):
        cells = sheet.rows[row - 1] if row - 1 < len(sheet.rows) else []
        if row not in marked_rows and all(_blank(v) for v in cells[first_col - 1 : last_col]):
            continue
        out.rows.append((row, cells))
    _outside_findings(sheet, collector, table, last_row, last_col)
    return out


def _nearest(key: str, known: dict[str, Column]) -> str | None:
    match = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return match[0] if match else None


def _structure_findings(
    sheet: RawSheet, collector: Collector, header_row: int, first_col: int, last_row: int, last_col: int
) -> None:
    name = sheet.name

    def inside(row: int, col: int) -> bool:
        return header_row <= row <= last_row and first_col <= col <= last_col

    if sheet.state != "visible":
        collector.add(
            "S05",
            Severity.WARNING,
            f"The sheet {name} is hidden but its data is priced.",
            "Right-click a sheet tab > Unhide.",
            sheet=name,
        )
    for r0, c0, r1, c1 in sheet.merged:
        if r0 <= last_row and r1 >= header_row and c0 <= last_col and c1 >= first_col:
            collector.add(
                "S04",
                Severity.ERROR,
                f"Cells {cell_ref(r0, c0)}:{cell_ref(r1, c1)} are merged "
                "inside the table; a merged cell hides values from the rows it covers.",
                "Select them and use Merge & Center > Unmerge Cells, then fill every row.",
                sheet=name,
                row=r0,
                col=c0,
            )
    hidden = sorted(r for r in sheet.hidden_rows if header_row < r <= last_row)
    if hidden:
        shown = ", ".join(str(r) for r in hidden[:10]) + (" ..." if len(hidden) > 10 else "")
        collector.add(
            "S05",
            Severity.WARNING,
            f"{len(hidden)} hidden or filtered row(s) in the table are priced all the same (rows {shown}).",
            "Clear filters and unhide rows before you check the sheet.",
            sheet=name,
            row=hidden[0],
            col=first_col,
        )
    hidden_cols = sorted(c for c in sheet.hidden_cols if first_col <= c <= last_col)
    if hidden_cols:
        collector.add(
            "S05",
            Severity.WARNING,
            f"Hidden column(s) {', '.join(column_letter(c) for c in hidden_cols)} in the table are read all the same.",
            "Unhide columns before you check the sheet.",
            sheet=name,
            row=header_row,
            col=hidden_cols[0],
        )
    for (row, col), formula in sorted(sheet.formulas.items()):
        if inside(row, col) and row > header_row:
            collector.add(
                "F04",
                Severity.ERROR,
                f"The cell holds a formula ({formula}); pricebook data must "
                "be typed values so that every version is exactly reproducible.",
                "Copy the cell and Paste Special > Values.",
                sheet=name,
                row=row,
                col=col,
                value=formula,
            )
    for (row, col), error in sorted(sheet.errors.items()):
        if inside(row, col) and (row, col) not in sheet.formulas:
            collector.add(
                "F05",
                Severity.ERROR,
                f"The cell holds the Excel error {error}.",
                "Type the intended value.",
                sheet=name,
                row=row,
                col=col,
                value=error,
            )


def _outside_findings(
    sheet: RawSheet, collector: Collector, table: TableRef | None, last_row: int, last_col: int
) -> None:
    """Data typed below or beside the table is not read: say so at the first such cell."""
    if table is None:
        return
    for row in range(last_row + 1, sheet.max_row + 1):
        cells = sheet.rows[row - 1]
        filled = [i + 1 for i, v in enumerate(cells) if not _blank(v)]
        if filled:
            collector.add(
                "S03",
                Severity.ERROR,
                f"Row {row} holds data below the table {table.name}, which "
                f"ends at row {table.last_row}; that row is not read.",
                "Drag the table's corner handle down to include it, or delete the row.",
                sheet=sheet.name,
                row=row,
                col=filled[0],
                value=cells[filled[0] - 1],
            )
            break
    for row in range(1, min(last_row, sheet.max_row) + 1):
        cells = sheet.rows[row - 1]
        beyond = [i + 1 for i, v in enumerate(cells[last_col:], start=last_col) if not _blank(v)]
        if beyond:
            collector.add(
                "S03",
                Severity.WARNING,
                f"Column {column_letter(beyond[0])} holds data to the right of the table {table.name}; it is not read.",
                "Widen the table to include it, or move notes into the notes column.",
                sheet=sheet.name,
                row=row,
                col=beyond[0],
                value=cells[beyond[0] - 1],
            )
            break


def _optional(column: Column) -> Column:
    from dataclasses import replace

    return replace(column, required=False)


def read_rows(
    extracted: Extracted,
    columns: tuple[Column, ...],
    reader: CellReader,
    formula_cells: set[tuple[int, int]] | None = None,
) -> list[Row]:
    """Type every cell of every data row. Cells with formulas or Excel errors were reported already."""
    by_name = {c.name: c for c in columns}
    present = [(by_name[name], col) for name, col in extracted.columns.items() if name in by_name]
    missing = [c for c in columns if c.name not in extracted.columns]
    id_column = next((c for c in columns if c.kind is Kind.ID), None)
    broken = formula_cells or set()
    sheet = extracted.sheet
    # a column that is not in the sheet at all reads as its default on every row
    defaults = {
        c.name: reader.read(_optional(c), None, Loc(sheet, 0, 0, c.name)) for c in missing if c.default is not None
    }
    # the id column first, so that findings in the other columns can name the row's rule_id
    present.sort(key=lambda pc: pc[0] is not id_column)
    ordered = [(column, col, reader.fast(column)) for column, col in present]
    rows: list[Row] = []
    for row_number, cells in extracted.rows:
        values: dict[str, Any] = {}
        rule_id = ""
        width = len(cells)
        for column, col, fast in ordered:
            raw = cells[col - 1] if col <= width else None
            if broken and (row_number, col) in broken:
                values[column.name] = INVALID
                continue
            value = fast(raw)
            if value is SLOW:
                value = reader.read(column, raw, Loc(sheet, row_number, col, column.name, rule_id))
            values[column.name] = value
            if column is id_column and isinstance(value, str):
                rule_id = value
        for column in missing:
            if column.default is None:
                values[column.name] = INVALID if column.required else None  # a missing header was reported once
            else:
                values[column.name] = defaults[column.name]
        rows.append(
            Row(sheet=sheet, row=row_number, values=values, cols=extracted.columns, rule_id=rule_id, cells=cells)
        )
    return rows
