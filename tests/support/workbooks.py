"""Pricebook workbooks edited as the pricing team would: a copy of a shipped workbook changed cell by
cell (`Book`, which knows which cell was touched), and the versions tests need (`us_version_2`).

Tests address cells by (sheet, rule_id, column) rather than by letters, so they keep meaning the
same thing when a column is added to the format.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.utils import get_column_letter

from tests.support.paths import US_V1


class Book:
    """A copy of a workbook being edited; `save` writes it."""

    def __init__(self, source: Path):
        self.source = source
        self.wb = load_workbook(source)

    # -- finding cells --------------------------------------------------------------------------
    def column_index(self, sheet: str, column: str) -> int:
        ws = self.wb[sheet]
        for cell in ws[1]:
            if cell.value == column:
                return cell.column
        raise KeyError(f"{sheet} has no column {column}")

    def row_of(self, sheet: str, rule_id: str) -> int:
        ws = self.wb[sheet]
        for row in range(2, ws.max_row + 1):
            if ws.cell(row=row, column=1).value == rule_id:
                return row
        raise KeyError(f"{sheet} has no row {rule_id}")

    def cell(self, sheet: str, rule_id: str, column: str) -> Cell:
        return self.wb[sheet].cell(row=self.row_of(sheet, rule_id), column=self.column_index(sheet, column))

    def address(self, sheet: str, rule_id: str, column: str) -> str:
        return f"{sheet}!{self.cell(sheet, rule_id, column).coordinate}"

    def meta_cell(self, key: str) -> Cell:
        return self.cell("Meta", key, "value")

    # -- editing --------------------------------------------------------------------------------
    def set(self, sheet: str, rule_id: str, column: str, value: Any, *, as_text: bool = False) -> str:
        cell = self.cell(sheet, rule_id, column)
        cell.value = value
        if as_text:
            cell.data_type = "s"
        return f"{sheet}!{cell.coordinate}"

    def set_meta(self, key: str, value: Any) -> str:
        return self.set("Meta", key, "value", value)

    def table_end(self, sheet: str) -> int:
        table = next(iter(self.wb[sheet].tables.values()))
        return int("".join(ch for ch in table.ref.split(":")[1] if ch.isdigit()))

    def append(self, sheet: str, values: dict[str, Any], *, inside_table: bool = True) -> int:
        """Add a row under the table; inside_table extends the table like Excel does when typing."""
        ws = self.wb[sheet]
        row = self.table_end(sheet) + 1
        for name, value in values.items():
            ws.cell(row=row, column=self.column_index(sheet, name), value=value)
        if inside_table:
            table = next(iter(ws.tables.values()))
            start, end = table.ref.split(":")
            letters = "".join(ch for ch in end if ch.isalpha())
            table.ref = f"{start}:{letters}{row}"
        return row

    def copy_row(self, sheet: str, rule_id: str, new_id: str, **changes: Any) -> int:
        ws = self.wb[sheet]
        source = self.row_of(sheet, rule_id)
        values = {
            ws.cell(row=1, column=c).value: ws.cell(row=source, column=c).value
            for c in range(1, ws.max_column + 1)
            if ws.cell(row=1, column=c).value
        }
        values.update({"rule_id" if "rule_id" in values else "case_id": new_id, **changes})
        return self.append(sheet, values)

    def letter(self, sheet: str, column: str) -> str:
        return get_column_letter(self.column_index(sheet, column))

    def save(self, path: Path) -> Path:
        self.wb.save(path)
        return path


def copy_of(source: Path, folder: Path, name: str | None = None) -> Path:
    target = folder / (name or source.name)
    shutil.copyfile(source, target)
    return target


def us_version_2(
    folder: Path,
    voice_1: int = 165,
    effective_from: datetime = datetime(2026, 4, 1),
    existing_customers_from: datetime | None = None,
    preferred_limit: int | None = None,
) -> Path:
    """US v2 as the pricing team would make it: VOICE-1 repriced, its examples updated, a later date."""
    book = Book(US_V1)
    book.set_meta("version", 2)
    book.set_meta("supersedes_version", 1)
    book.set_meta("effective_from", effective_from)
    book.set_meta("existing_customers_effective_from", existing_customers_from)
    book.set_meta("change_summary", f"VOICE-1 from 160 to {voice_1} credits a minute.")
    book.set("UsageTiers", "VOICE-1", "unit_price_credits", voice_1)
    book.set("UsageTiers", "VOICE-1", "stated_tier_credits", 500 * voice_1)
    book.set("Tests", "T-VOICE-01", "expected_credits", 200 * voice_1)
    book.set("Tests", "T-VOICE-02", "expected_credits", 200 * voice_1)
    if preferred_limit is not None:
        book.set("Overdraft", "OD-PREFERRED", "max_negative_credits", preferred_limit)
    return book.save(folder / "us-audiology-v2.xlsx")
