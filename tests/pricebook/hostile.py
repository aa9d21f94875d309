"""Hostile workbooks made by XML surgery on a shipped one: what openpyxl refuses to write (NaN,
control characters, a cell at XFD1048576, a table claiming 10^20 rows, a truncated part) written
straight into the parts of a real .xlsx.

Cells are addressed like tests/support/workbooks.py does, by (sheet, rule_id, column), so a case keeps
meaning the same thing when the format gains a column.
"""

from __future__ import annotations

import functools
import posixpath
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from tests.support.workbooks import Book

_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


@functools.cache
def _book(source: Path) -> Book:
    return Book(source)


def address(source: Path, sheet: str, rule_id: str, column: str) -> str:
    """'B7' for the cell of `column` in the row whose first cell is `rule_id`."""
    return _book(source).cell(sheet, rule_id, column).coordinate


def _resolve(folder: str, target: str) -> str:
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))


def inline_text(text: str) -> str:
    """Text as the inner XML of an inline-string cell; characters XML cannot hold in OOXML's escape."""
    escaped = escape(text)
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]", lambda m: f"_x{ord(m.group(0)):04X}_", escaped)


class Surgery:
    """The parts of a shipped workbook, edited as bytes and written as a new .xlsx."""

    def __init__(self, source: Path):
        self.source = source
        with zipfile.ZipFile(source) as archive:
            self.parts: dict[str, bytes] = {info.filename: archive.read(info) for info in archive.infolist()}
        workbook = ElementTree.fromstring(self.parts["xl/workbook.xml"])
        rels = ElementTree.fromstring(self.parts["xl/_rels/workbook.xml.rels"])
        targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
        self.sheet_parts = {
            sheet.get("name", ""): _resolve("xl", targets[sheet.get(_REL)])
            for sheet in workbook.iter()
            if sheet.tag.endswith("}sheet")
        }

    # -- where things are -------------------------------------------------------------------------
    def part(self, sheet: str) -> str:
        return self.sheet_parts[sheet]

    def table_part(self, sheet: str) -> str:
        folder, base = posixpath.split(self.part(sheet))
        rels = self.parts[posixpath.join(folder, "_rels", base + ".rels")].decode()
        target = re.search(r'Target="([^"]*tables/[^"]+)"', rels)
        assert target is not None, f"{sheet} has no table"
        return _resolve(folder, target.group(1))

    def address(self, sheet: str, rule_id: str, column: str) -> str:
        return address(self.source, sheet, rule_id, column)

    # -- edits ------------------------------------------------------------------------------------
    def replace(self, part: str, old: bytes, new: bytes, count: int = 1) -> Surgery:
        data = self.parts[part]
        assert old in data, f"{old[:60]!r} not in {part}"
        self.parts[part] = data.replace(old, new, count)
        return self

    def cell_xml(self, sheet: str, ref: str, xml: str) -> str:
        """Put `xml` (a whole <c> element) at `ref` of `sheet`, replacing the cell there if any.
        Returns 'Sheet!REF'."""
        part = self.part(sheet)
        data = self.parts[part]
        existing = re.compile(rb'<c r="' + ref.encode() + rb'"(?: [^>]*)?(?:/>|>.*?</c>)', re.S)
        if existing.search(data):
            self.parts[part] = existing.sub(lambda _: xml.encode(), data, count=1)
        else:
            row = re.search(rb"\d+", ref.encode())
            assert row is not None
            opening = re.search(rb'<row r="' + row.group(0) + rb'"[^>]*>', data)
            assert opening is not None, f"{sheet} has no row {row.group(0)!r}"
            end = data.index(b"</row>", opening.end())
            self.parts[part] = data[:end] + xml.encode() + data[end:]
        return f"{sheet}!{ref}"

    def number(self, sheet: str, ref: str, text: str) -> str:
        """A numeric cell holding `text` verbatim (NaN, inf, 1e308: what no spreadsheet writes)."""
        return self.cell_xml(sheet, ref, f'<c r="{ref}"><v>{text}</v></c>')

    def text(self, sheet: str, ref: str, text: str) -> str:
        return self.cell_xml(sheet, ref, f'<c r="{ref}" t="inlineStr"><is><t>{inline_text(text)}</t></is></c>')

    def at(self, sheet: str, rule_id: str, column: str) -> str:
        return self.address(sheet, rule_id, column)

    def set_number(self, sheet: str, rule_id: str, column: str, text: str) -> str:
        return self.number(sheet, self.at(sheet, rule_id, column), text)

    def set_text(self, sheet: str, rule_id: str, column: str, text: str) -> str:
        return self.text(sheet, self.at(sheet, rule_id, column), text)

    def meta_number(self, key: str, text: str) -> str:
        return self.set_number("Meta", key, "value", text)

    def meta_text(self, key: str, text: str) -> str:
        return self.set_text("Meta", key, "value", text)

    def table(self, sheet: str, change: Callable[[bytes], bytes]) -> Surgery:
        part = self.table_part(sheet)
        self.parts[part] = change(self.parts[part])
        return self

    def sheet(self, sheet: str, change: Callable[[bytes], bytes]) -> Surgery:
        part = self.part(sheet)
        self.parts[part] = change(self.parts[part])
        return self

    def save(self, path: Path) -> Path:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.parts.items():
                archive.writestr(name, data)
        return path
