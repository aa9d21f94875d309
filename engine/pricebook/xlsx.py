"""Read an xlsx into plain Python: cell values plus the structure an editor can get wrong.

Values come from python-calamine (Rust, about 20× faster than openpyxl on large sheets). What
calamine does not tell us — formulas (it returns their cached value), Excel error cells (it
returns ''), hidden rows and columns, sheet visibility, and the Excel Tables with their ranges —
comes from linear scans of the XML parts the pre-flight already inflated (engine/pricebook/
sheet_xml.py), which also measure how far each sheet's cells reach before calamine allocates them.

Nothing in a file makes this module raise anything but UnreadableWorkbook: a part whose XML is
damaged is an F06 finding naming the part (never a sheet silently read as empty), a sheet whose
cells reach further than creditbook reads is F02, and a table whose range or attributes cannot be
read is an S03 finding while the sheet is read as the block at A1.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import python_calamine
from defusedxml import ElementTree as SafeET

from engine.pricebook.findings import Finding, Severity, cell_ref, shown
from engine.pricebook.safety import DEFAULT_LIMITS, Limits, Package, UnreadableWorkbook, preflight
from engine.pricebook.sheet_xml import EXCEL_COLUMNS, EXCEL_ROWS, extent, marks, parse_ref

_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#: parts of sheets that hold no cells (charts, dialogs): present as sheets, read as empty
_CELLLESS = ("xl/chartsheets/", "xl/dialogsheets/")


@dataclass(frozen=True)
class TableRef:
    """An Excel Table (ListObject): its name, 1-based bounds and header names."""

    name: str
    first_row: int
    first_col: int
    last_row: int
    last_col: int
    header_rows: int
    totals_rows: int
    columns: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{cell_ref(self.first_row, self.first_col)}:{cell_ref(self.last_row, self.last_col)}"


@dataclass
class RawSheet:
    """One worksheet's values from A1 and the structure around them (all positions 1-based)."""

    name: str
    position: int
    state: str = "visible"
    rows: list[list[Any]] = field(default_factory=list)
    tables: list[TableRef] = field(default_factory=list)
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)
    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    hidden_rows: set[int] = field(default_factory=set)
    hidden_cols: set[int] = field(default_factory=set)

    def value(self, row: int, col: int) -> Any:
        if row - 1 < len(self.rows):
            cells = self.rows[row - 1]
            if col - 1 < len(cells):
                return cells[col - 1]
        return ""

    @property
    def max_row(self) -> int:
        return len(self.rows)

    @property
    def max_col(self) -> int:
        """The widest row's length: how far the sheet's values really reach to the right."""
        return max(map(len, self.rows), default=0)


@dataclass
class RawWorkbook:
    path: Path
    sheets: dict[str, RawSheet]
    defined_names: dict[str, str] = field(default_factory=dict)
    #: what reading noticed about the file's structure (a table that cannot be read, a sheet
    #: name used twice); validation reports them with everything else
    findings: list[Finding] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element.iter() if _local(child.tag) == name]


def damaged(part: str, problem: object, sheet: str = "") -> UnreadableWorkbook:
    """F06: a part of the file that cannot be parsed (`problem` says what the parser said)."""
    where = f"Part {part} of the file" + (f" (the sheet {shown(sheet)})" if sheet else "")
    return UnreadableWorkbook.because(
        "F06",
        f"{where} cannot be read: {shown(str(problem), 200)}.",
        "Open the file in Excel and save it again (Excel offers to repair a damaged file).",
        sheet=sheet,
    )


def _xml(package: Package, part: str, sheet: str = "") -> Element:
    """A part parsed by defusedxml; damage and entity tricks become UnreadableWorkbook."""
    try:
        return SafeET.fromstring(package.parts[part])
    except Exception as exc:  # defusedxml and expat raise several types; all mean the same here
        if "Forbidden" in type(exc).__name__:
            raise UnreadableWorkbook.because(
                "F03",
                f"Part {part} declares XML entities, which Excel never writes.",
                "Do not edit the workbook's XML by hand; save it again from Excel.",
            ) from exc
        raise damaged(part, exc, sheet) from exc


def _rels(package: Package, part: str) -> dict[str, str]:
    """Relationship id → absolute part name, for the .rels of `part`."""
    folder, base = posixpath.split(part)
    rels_name = posixpath.join(folder, "_rels", base + ".rels")
    if not package.parts.get(rels_name):
        return {}
    out: dict[str, str] = {}
    for rel in _children(_xml(package, rels_name), "Relationship"):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            continue
        resolved = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[rel.get("Id", "")] = resolved
    return out


def _table_finding(sheet: str, message: str) -> Finding:
    return Finding(
        code="S03",
        severity=Severity.ERROR,
        message=message,
        hint="Excel cannot have written this range: open the workbook in Excel, check the table "
        "(Table Design > Resize Table) and save it again.",
        sheet=sheet,
    )


def _table(root: Element, sheet: str, findings: list[Finding]) -> TableRef | None:
    """A table part's range and header, or None (with an S03 finding) when its range is not a
    range of Excel's grid. A range that reaches past the sheet's data is kept as written: the
    reader only ever walks the rows that hold values."""
    name = shown(root.get("displayName") or root.get("name") or "", 60)
    ref = root.get("ref", "")
    start, _, end = ref.partition(":")
    first, last = parse_ref(start), parse_ref(end or start)
    if first is None or last is None:
        findings.append(
            _table_finding(sheet, f"The table {name} has the range {shown(ref)!r}, which is not a cell range.")
        )
        return None
    (first_row, first_col), (last_row, last_col) = first, last
    if not (1 <= first_row <= last_row <= EXCEL_ROWS and 1 <= first_col <= last_col <= EXCEL_COLUMNS):
        findings.append(
            _table_finding(
                sheet,
                f"The table {name} claims the range {shown(ref)!r}, which is not inside Excel's grid "
                f"(A1:XFD{EXCEL_ROWS}) or runs backwards; the sheet is read as the block starting at A1.",
            )
        )
        return None
    counts = []
    for attribute, default in (("headerRowCount", 1), ("totalsRowCount", 0)):
        text = root.get(attribute, str(default))
        if text not in ("0", "1"):
            findings.append(
                _table_finding(sheet, f"The table {name} has {attribute}={shown(text)!r}; Excel writes 0 or 1.")
            )
            text = str(default)
        counts.append(int(text))
    return TableRef(
        name=name,
        first_row=first_row,
        first_col=first_col,
        last_row=last_row,
        last_col=last_col,
        header_rows=counts[0],
        totals_rows=counts[1],
        columns=tuple(col.get("name", "") for col in _children(root, "tableColumn")),
    )


def _too_many_cells(sheet: str, rows: int, columns: int, limits: Limits, total: int) -> UnreadableWorkbook:
    corner = cell_ref(min(rows, 10**9), min(columns, 10**6))
    return UnreadableWorkbook.because(
        "F02",
        f"The sheet {shown(sheet)} has cells as far as {corner}: reading it means {rows * columns:,} cells "
        f"from A1, and the workbook's sheets may span at most {limits.max_cells:,} ({total:,} are taken by the "
        "sheets before it).",
        "In Excel press Ctrl+End on that sheet to see the last cell it uses; delete the rows and columns beyond "
        "your data, then save.",
        sheet=sheet,
        value=corner,
    )


def _read_values(calamine: Any, sheet: RawSheet, part: str) -> None:
    """The sheet's values from A1 and its merged ranges, through calamine."""
    try:
        values = calamine.get_sheet_by_name(sheet.name)
        sheet.rows = values.to_python(skip_empty_area=False)
        merged = values.merged_cell_ranges or []
    except BaseException as exc:  # calamine's own errors, and a Rust panic (a BaseException)
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        raise damaged(part, exc, sheet.name) from exc
    for (r0, c0), (r1, c1) in merged:
        sheet.merged.append((r0 + 1, c0 + 1, r1 + 1, c1 + 1))


def read_workbook(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> RawWorkbook:
    """Pre-flight the file, then read every sheet's values and structure.

    Raises UnreadableWorkbook (with F-findings) when the file is not a safe, readable xlsx.
    """
    path = Path(path)
    return read_package(preflight(path, limits), path, limits)


def read_package(package: Package, path: Path, limits: Limits = DEFAULT_LIMITS) -> RawWorkbook:
    """Every sheet's values and structure from a pre-flighted file (see read_workbook)."""
    root = _xml(package, "xl/workbook.xml")
    workbook_rels = _rels(package, "xl/workbook.xml")
    defined = {name.get("name", ""): (name.text or "") for name in _children(root, "definedName")}
    findings: list[Finding] = []
    sheets: dict[str, RawSheet] = {}
    pending: list[tuple[RawSheet, str]] = []
    cells = 0
    folded: set[str] = set()
    for position, element in enumerate(_children(root, "sheet"), start=1):
        name = element.get("name", "")
        if name.casefold() in folded:
            findings.append(
                Finding(
                    code="S01",
                    severity=Severity.ERROR,
                    message=f"Two sheets are named {shown(name)!r} (Excel does not allow it); only the first is read.",
                    hint="Rename or delete the second one.",
                    sheet=name,
                )
            )
            continue
        folded.add(name.casefold())
        sheet = RawSheet(name=name, position=position, state=element.get("state", "visible"))
        sheets[name] = sheet
        part = workbook_rels.get(element.get(f"{{{_REL_NS}}}id", ""), "")
        if part.startswith(_CELLLESS):
            continue
        xml = package.parts.get(part)
        if xml is None:
            raise damaged(part or "(no part)", "the file has no such part", name)
        reach = extent(xml)
        if reach.rows > EXCEL_ROWS or reach.columns > EXCEL_COLUMNS or cells + reach.cells > limits.max_cells:
            raise _too_many_cells(name, reach.rows, reach.columns, limits, cells)
        cells += reach.cells
        found = marks(xml)
        sheet.formulas, sheet.errors = found.formulas, found.errors
        sheet.hidden_rows, sheet.hidden_cols = found.hidden_rows, found.hidden_cols
        for target in _rels(package, part).values():
            if target.startswith("xl/tables/") and target in package.parts:
                table = _table(_xml(package, target, name), name, findings)
                if table is not None:
                    sheet.tables.append(table)
        pending.append((sheet, part))
    try:
        calamine = python_calamine.CalamineWorkbook.from_filelike(package.open())
    except BaseException as exc:  # calamine's own errors, and a Rust panic (a BaseException)
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        raise damaged("xl/workbook.xml", exc) from exc
    try:
        for sheet, part in pending:
            _read_values(calamine, sheet, part)
    finally:
        calamine.close()
    return RawWorkbook(path=path, sheets=sheets, defined_names=defined, findings=findings)
