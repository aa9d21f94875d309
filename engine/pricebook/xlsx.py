"""Read an xlsx into plain Python: cell values plus the structure an editor can get wrong.

Values come from python-calamine (Rust, about 20× faster than openpyxl on large sheets). What
calamine does not tell us — formulas (it returns their cached value), Excel error cells (it
returns ''), hidden rows and columns, sheet visibility, and the Excel Tables with their ranges —
comes from a light scan of the XML parts the pre-flight already inflated. The cheap byte search
runs on every sheet; the cell-by-cell scan runs only on a sheet where the cheap search found a
formula or an error, so a clean 100,000-row sheet costs one regex pass.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import python_calamine
from defusedxml import ElementTree as SafeET

from engine.pricebook.findings import Finding, Severity
from engine.pricebook.safety import DEFAULT_LIMITS, Limits, Package, UnreadableWorkbook, preflight

_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_HAS_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_HIDDEN_ROW = re.compile(rb'<(?:\w+:)?row\b[^>]*?\bhidden="(?:1|true)"[^>]*>')
_HIDDEN_COL = re.compile(rb'<(?:\w+:)?col\b[^>]*?\bhidden="(?:1|true)"[^>]*>')
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
_VALUE = re.compile(rb"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", re.S)
_ATTR = re.compile(rb'\b([\w:]+)="([^"]*)"')
_A1 = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)$")


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
        from engine.pricebook.findings import cell_ref

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


@dataclass
class RawWorkbook:
    path: Path
    sheets: dict[str, RawSheet]
    defined_names: dict[str, str] = field(default_factory=dict)


def col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def parse_a1(ref: str) -> tuple[int, int]:
    match = _A1.match(ref.strip().upper())
    if not match:
        raise ValueError(f"not an A1 address: {ref!r}")
    return int(match.group(2)), col_index(match.group(1))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element.iter() if _local(child.tag) == name]


def _rels(package: Package, part: str) -> dict[str, str]:
    """Relationship id → absolute part name, for the .rels of `part`."""
    folder, base = posixpath.split(part)
    rels_name = posixpath.join(folder, "_rels", base + ".rels")
    data = package.parts.get(rels_name)
    if not data:
        return {}
    out: dict[str, str] = {}
    for rel in _children(SafeET.fromstring(data), "Relationship"):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            continue
        resolved = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[rel.get("Id", "")] = resolved
    return out


def _table(data: bytes) -> TableRef | None:
    root = SafeET.fromstring(data)
    ref = root.get("ref", "")
    if ":" not in ref:
        return None
    start, end = ref.split(":", 1)
    first_row, first_col = parse_a1(start)
    last_row, last_col = parse_a1(end)
    columns = tuple(col.get("name", "") for col in _children(root, "tableColumn"))
    return TableRef(
        name=root.get("displayName") or root.get("name") or "",
        first_row=first_row,
        first_col=first_col,
        last_row=last_row,
        last_col=last_col,
        header_rows=int(root.get("headerRowCount", "1")),
        totals_rows=int(root.get("totalsRowCount", "0")),
        columns=columns,
    )


def _scan_sheet(sheet: RawSheet, xml: bytes) -> None:
    """Find formulas, error cells, hidden rows and hidden columns in a sheet's XML."""
    if b'hidden="' in xml:
        _scan_hidden(sheet, xml)
    if _has_formula_or_error(xml):
        _scan_cells(sheet, xml)


def _has_formula_or_error(xml: bytes) -> bool:
    """Cheap substring tests first (C speed); the regex only confirms a prefixed <x:f> tag."""
    if b't="e"' in xml or b"<f>" in xml or b"<f " in xml or b"<f/>" in xml:
        return True
    return (b":f>" in xml or b":f " in xml or b":f/>" in xml) and _HAS_FORMULA.search(xml) is not None


def _scan_hidden(sheet: RawSheet, xml: bytes) -> None:
    for match in _HIDDEN_ROW.finditer(xml):
        attrs = dict(_ATTR.findall(match.group(0)))
        if b"r" in attrs:
            sheet.hidden_rows.add(int(attrs[b"r"]))
    for match in _HIDDEN_COL.finditer(xml):
        attrs = dict(_ATTR.findall(match.group(0)))
        lo, hi = int(attrs.get(b"min", b"0")), int(attrs.get(b"max", b"0"))
        if 0 < lo <= hi and hi - lo < 16384:
            sheet.hidden_cols.update(range(lo, hi + 1))


def _scan_cells(sheet: RawSheet, xml: bytes) -> None:
    for match in _CELL.finditer(xml):
        attrs = dict(_ATTR.findall(match.group(1)))
        body = match.group(2) or b""
        ref = attrs.get(b"r")
        if ref is None:
            continue
        try:
            position = parse_a1(ref.decode())
        except ValueError:
            continue
        formula = _FORMULA.search(body)
        if formula:
            text = unescape((formula.group(1) or b"").decode("utf-8", "replace"))
            sheet.formulas[position] = "=" + text if text else "(shared formula)"
        if attrs.get(b"t") == b"e":
            value = _VALUE.search(body)
            sheet.errors[position] = unescape(value.group(1).decode("utf-8", "replace")) if value else "#ERROR"


def read_workbook(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> RawWorkbook:
    """Pre-flight the file, then read every sheet's values and structure.

    Raises UnreadableWorkbook (with F-findings) when the file is not a safe, readable xlsx.
    """
    path = Path(path)
    package = preflight(path, limits)
    try:
        root = SafeET.fromstring(package.parts["xl/workbook.xml"])
    except Exception as exc:  # defusedxml raises several types; all mean the same here
        raise UnreadableWorkbook(
            [
                Finding(
                    code="F03" if "Forbidden" in type(exc).__name__ else "F01",
                    severity=Severity.ERROR,
                    message=f"The workbook's index part cannot be read ({exc}).",
                    hint="Open the file in Excel and save it again.",
                )
            ]
        ) from exc
    workbook_rels = _rels(package, "xl/workbook.xml")
    defined = {name.get("name", ""): (name.text or "") for name in _children(root, "definedName")}
    try:
        calamine = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error classes and ValueError
        raise UnreadableWorkbook(
            [
                Finding(
                    code="F01",
                    severity=Severity.ERROR,
                    message=f"The workbook cannot be read: {exc}.",
                    hint="Open the file in Excel and save it again.",
                )
            ]
        ) from exc
    sheets: dict[str, RawSheet] = {}
    try:
        for position, element in enumerate(_children(root, "sheet"), start=1):
            name = element.get("name", "")
            rid = element.get(f"{{{_REL_NS}}}id", "")
            sheet = RawSheet(name=name, position=position, state=element.get("state", "visible"))
            part = workbook_rels.get(rid, "")
            xml = package.parts.get(part, b"")
            if xml:
                _scan_sheet(sheet, xml)
                for target in _rels(package, part).values():
                    if target.startswith("xl/tables/") and target in package.parts:
                        table = _table(package.parts[target])
                        if table:
                            sheet.tables.append(table)
            try:
                values = calamine.get_sheet_by_name(name)
            except Exception:  # chartsheets and dialog sheets have no cells
                sheets[name] = sheet
                continue
            sheet.rows = values.to_python(skip_empty_area=False)
            for (r0, c0), (r1, c1) in values.merged_cell_ranges or []:
                sheet.merged.append((r0 + 1, c0 + 1, r1 + 1, c1 + 1))
            sheets[name] = sheet
    finally:
        calamine.close()
    return RawWorkbook(path=path, sheets=sheets, defined_names=defined)
