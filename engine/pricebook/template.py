"""Write pricebook workbooks the pricing team enjoys editing.

One writer serves three commands: ``template`` (an empty, fully formatted workbook for a market),
``reformat`` (the same data poured into a fresh template, which restores dropdowns that a paste
destroyed and upgrades the layout), and the authoring of the shipped pricebooks. Every data sheet
is an Excel Table at A1 with a frozen header, header comments that say unit and bounds, number
formats, and dropdowns fed from named ranges on the Lists sheet that grow as the list grows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from engine.pricebook.conditions import Condition
from engine.pricebook.findings import CODES, column_letter
from engine.pricebook.schema import (
    CREDITS,
    LISTS,
    LISTS_SHEET,
    MARKETS,
    META_KEYS,
    META_SHEET,
    README_SHEET,
    SCHEMA_VERSION,
    SHEETS,
    Column,
    Kind,
    SheetSpec,
    sheets_for_market,
)

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
FIXED_FILL = PatternFill("solid", fgColor="EDEDED")
TITLE_FONT = Font(bold=True, size=16, color="1F4E78")
SECTION_FONT = Font(bold=True, size=12, color="1F4E78")
WRAP = Alignment(wrap_text=True, vertical="top")
LAST_ROW = 1_048_576
AUTHOR = "creditbook"

FORMATS: dict[Kind, str] = {Kind.PCT: "0.0%", Kind.DATE: "yyyy-mm-dd", Kind.INT: "#,##0", Kind.STATED: "#,##0"}


def _excel_value(value: Any) -> Any:
    """Python values as Excel cell values: Decimals become numbers, conditions their text."""
    if isinstance(value, Condition):
        return value.text.replace(",", ", ")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities have no spreadsheet form: kept as text, so validation still sees them
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def excel_text(text: str) -> str:
    """Text as an xlsx can hold it: control characters (which XML 1.0 forbids) and lone
    surrogates (which UTF-8 cannot encode) written in OOXML's own escape, _x0001_, which Excel
    and the reader turn back into the character. So a cell is copied exactly, even a hostile one."""
    return _UNWRITABLE.sub(lambda match: f"_x{ord(match.group(0)):04X}_", text)


def _set_text(cell: Any, value: Any) -> None:
    """Write a value; text is always stored as text (never read back as a formula)."""
    if isinstance(value, str):
        cell.value = excel_text(value)
        cell.data_type = "s"
    else:
        cell.value = value


def _help(column: Column, credit_phrase: str) -> str:
    text = column.help_text.replace(CREDITS, credit_phrase)
    need = "Required." if column.required else "Optional."
    lists = ""
    if column.kind in (Kind.ENUM, Kind.ENUM_LIST, Kind.CONDITION) and column.list_name:
        lists = f" Values come from the {column.list_name} column of the Lists sheet."
    return f"{column.name}\n{text}\n{need}{lists}"


def _comment(text: str) -> Comment:
    comment = Comment(text, AUTHOR)
    comment.width = 320
    comment.height = max(90, 18 * (len(text) // 40 + 2))
    return comment


def _list_range(list_index: int) -> str:
    letter = column_letter(list_index)
    return f"OFFSET({LISTS_SHEET}!${letter}$2,0,0,MAX(1,COUNTA({LISTS_SHEET}!${letter}:${letter})-1),1)"


def _validation(column: Column, letter: str, credit_phrase: str) -> DataValidation | None:
    prompt = column.help_text.replace(CREDITS, credit_phrase)[:250]
    kind = column.kind
    validation: DataValidation | None = None
    if kind in (Kind.ENUM, Kind.CONDITION, Kind.ENUM_LIST) and column.list_name:
        # Conditions and lists accept '-', 'a, b' and not(a): the dropdown suggests, it does not forbid.
        strict = kind is Kind.ENUM
        validation = DataValidation(
            type="list",
            formula1=f"lst_{column.list_name}",
            allow_blank=True,
            errorStyle="stop" if strict else "information",
            showErrorMessage=True,
        )
        validation.error = (
            "Pick a value from the list."
            if strict
            else "Not a single list value: fine for - (any), 'a, b' or not(a). The validator checks it."
        )
    elif kind is Kind.BOOL:
        validation = DataValidation(type="list", formula1="lst_yes_no", allow_blank=True, showErrorMessage=True)
        validation.error = "Pick yes or no."
    elif kind is Kind.INT:
        low = "1" if column.positive else "0"
        high = str(int(column.maximum)) if column.maximum is not None else None
        validation = DataValidation(
            type="whole",
            operator="between" if high else "greaterThanOrEqual",
            formula1=low,
            formula2=high,
            allow_blank=True,
            showErrorMessage=True,
        )
        validation.error = (
            f"A whole number from {low} to {int(high):,}." if high else f"A whole number, at least {low}."
        )
    elif kind in (Kind.DECIMAL, Kind.MONEY):
        high = str(int(column.maximum)) if column.maximum is not None else None
        validation = DataValidation(
            type="decimal",
            operator="between" if high else "greaterThanOrEqual",
            formula1="0",
            formula2=high,
            allow_blank=True,
            showErrorMessage=True,
        )
        validation.error = f"A number from 0 to {int(high):,}." if high else "A number, 0 or more."
    elif kind is Kind.PCT:
        validation = DataValidation(
            type="decimal", operator="between", formula1="0", formula2="1", allow_blank=True, showErrorMessage=True
        )
        validation.error = "A percentage between 0% and 100% (type 10%)."
    elif kind is Kind.DATE:
        validation = DataValidation(
            type="date", operator="greaterThan", formula1="36526", allow_blank=True, showErrorMessage=True
        )
        validation.error = "A date, typed as 2026-01-31."
    if validation is None:
        return None
    validation.errorTitle = column.name
    validation.promptTitle = column.name[:32]
    validation.prompt = prompt
    validation.showInputMessage = True
    validation.add(f"{letter}2:{letter}{LAST_ROW}")
    return validation


def _table(ws: Worksheet, name: str, columns: int, rows: int) -> None:
    last = column_letter(columns)
    table = Table(displayName=f"tbl_{name}", ref=f"A1:{last}{max(rows, 1) + 1}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    ws.add_table(table)
    ws.freeze_panes = "A2"


def _header(ws: Worksheet, names: Sequence[str], helps: Sequence[str], widths: Sequence[int]) -> None:
    for index, (name, help_text, width) in enumerate(zip(names, helps, widths, strict=True), start=1):
        cell = ws.cell(row=1, column=index)
        _set_text(cell, name)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(vertical="center")
        if help_text:
            cell.comment = _comment(help_text)
        ws.column_dimensions[column_letter(index)].width = width
    ws.row_dimensions[1].height = 20


def _write_data_sheet(
    ws: Worksheet,
    spec: SheetSpec,
    rows: Sequence[Mapping[str, Any]],
    credit_phrase: str,
    extra_columns: Sequence[str] = (),
) -> None:
    columns = list(spec.columns)
    names = [c.name for c in columns] + list(extra_columns)
    helps = [_help(c, credit_phrase) for c in columns] + ["" for _ in extra_columns]
    widths = [max(c.width, len(c.name) + 3) for c in columns] + [14 for _ in extra_columns]
    _header(ws, names, helps, widths)
    for r, values in enumerate(rows, start=2):
        for c, name in enumerate(names, start=1):
            cell = ws.cell(row=r, column=c)
            if name in values and values[name] is not None:
                _set_text(cell, _excel_value(values[name]))
    for c, column in enumerate(columns, start=1):
        number_format = column.number_format or FORMATS.get(column.kind)
        for r in range(2, max(len(rows), 1) + 2):
            cell = ws.cell(row=r, column=c)
            if number_format:
                cell.number_format = number_format
            if column.kind is Kind.TEXT and column.verbatim:
                cell.alignment = Alignment(wrap_text=False)
        validation = _validation(column, column_letter(c), credit_phrase)
        if validation is not None:
            ws.add_data_validation(validation)
    _table(ws, spec.name, len(names), len(rows))
    fit_to_width(ws)


def _write_meta(ws: Worksheet, meta: Mapping[str, Any]) -> None:
    _header(
        ws,
        ["key", "value", "notes"],
        ["Setting name (do not change).", "Setting value.", "What the setting means."],
        [34, 28, 90],
    )
    keys = [k for k in META_KEYS if k.required or meta.get(k.name) is not None or k.default is not None or k.identity]
    for r, key in enumerate(keys, start=2):
        _set_text(ws.cell(row=r, column=1), key.name)
        value = meta.get(key.name, key.default)
        cell = ws.cell(row=r, column=2)
        if value is not None:
            _set_text(cell, _excel_value(value))
        if key.kind is Kind.DATE:
            cell.number_format = "yyyy-mm-dd hh:mm"
        elif key.kind is Kind.DECIMAL:
            cell.number_format = "0.0000##"
        cell.alignment = Alignment(horizontal="left")
        note = ws.cell(row=r, column=3)
        _set_text(note, ("Required. " if key.required else "") + key.help)
        note.alignment = WRAP
        if key.list_name:
            validation = DataValidation(
                type="list", formula1=f"lst_{key.list_name}", allow_blank=True, showErrorMessage=True
            )
            validation.add(f"B{r}")
            ws.add_data_validation(validation)
    _table(ws, META_SHEET, 3, len(keys))
    fit_to_width(ws)


def _write_lists(wb: Workbook, ws: Worksheet, editable: Mapping[str, Sequence[str]]) -> None:
    names = [spec.name for spec in LISTS]
    helps = [
        f"{spec.name}\n{spec.help}\n"
        + (
            "Fixed: creditbook's own vocabulary; do not edit."
            if not spec.editable
            else "Yours to edit: add values at the bottom."
        )
        for spec in LISTS
    ]
    _header(ws, names, helps, [max(16, len(n) + 4) for n in names])
    longest = 1
    for c, spec in enumerate(LISTS, start=1):
        values = list(spec.fixed) if not spec.editable else list(editable.get(spec.name, ()))
        longest = max(longest, len(values))
        for r, value in enumerate(values, start=2):
            cell = ws.cell(row=r, column=c)
            _set_text(cell, value)
            if not spec.editable:
                cell.fill = FIXED_FILL
        wb.defined_names[spec.range_name] = DefinedName(spec.range_name, attr_text=_list_range(c))
    _table(ws, LISTS_SHEET, len(names), longest)
    fit_to_width(ws)


def fit_to_width(ws: Worksheet, landscape: bool = True) -> None:
    """Printing (and PDF export) shows whole rows: fit the sheet to the page width."""
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.print_title_rows = "1:1"


@dataclass
class _ReadmeLines:
    """The README sheet written line by line: a label in column A, its text in column B."""

    ws: Worksheet
    row: int = 1

    def add(self, label: str = "", text: str = "", font: Font | None = None, link: str | None = None) -> None:
        """Write one line (wrapped, its height grown for long text); `link` makes the label jump to a sheet."""
        ws = self.ws
        for col, value in ((1, label), (2, text)):
            if value:
                cell = ws.cell(row=self.row, column=col)
                _set_text(cell, value)
                cell.alignment = WRAP if col == 2 else Alignment(vertical="top")
                if font is not None:
                    cell.font = font
        if link:
            target = ws.cell(row=self.row, column=1)
            target.hyperlink = f"#{link}!A1"
            target.font = Font(color="0563C1", underline="single")
        if len(text) > 105:  # Excel does not grow wrapped rows by itself
            ws.row_dimensions[self.row].height = 15 * (len(text) // 105 + 1)
        self.row += 1


def _write_readme(
    ws: Worksheet, market: str, title: str, specs: Sequence[SheetSpec], decisions: Iterable[str], credit_phrase: str
) -> None:
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 110
    ws.sheet_view.showGridLines = False
    lines = _ReadmeLines(ws)
    line = lines.add

    line(title, font=TITLE_FONT)
    ws.cell(row=1, column=1).alignment = Alignment(wrap_text=False)
    line("", f"Market {market} · {credit_phrase} · workbook format version {SCHEMA_VERSION}")
    lines.row += 1
    line("How to edit", font=SECTION_FONT)
    steps = [
        "Every sheet holds one table. Add a row by typing in the first empty row under it: Excel extends "
        "the table, its dropdowns and formats.",
        "Keep a row's rule_id when you change its price; give new rows new ids. Ledger entries and version "
        "diffs point to rule_ids.",
        f"Prices and bonuses are in credits ({credit_phrase}). Percentages are typed with % (10%).",
        "Condition columns take - (any value), one value, several values separated by commas, or not(a, b).",
        "Pick values from the dropdowns. New cities, specialties, clinic sizes and perks go on the Lists sheet "
        "first (grey columns there are fixed).",
        "Type values, never formulas: paste with Paste Special > Values.",
        "Hover over a column header to read what the column means, its unit and its bounds.",
        "A new version: copy the file, raise version in Meta by one, set effective_from after the previous "
        "version's, and describe the change in change_summary. A published version never changes.",
        "Check your work: creditbook pricebook validate FILE, or the app's Pricebook inspector. Every finding "
        "names its sheet and cell and says what to do; --annotate writes a copy with the cells highlighted.",
        "Write examples on the Tests sheet: each is priced at every validation and must match.",
    ]
    for i, step in enumerate(steps, start=1):
        line(f"{i}.", step)
    lines.row += 1
    line("Sheets", font=SECTION_FONT)
    line(META_SHEET, "What this pricebook is: id, version, effective date, currency and credit value.", link=META_SHEET)
    line(LISTS_SHEET, "The values of every dropdown.", link=LISTS_SHEET)
    for spec in specs:
        line(spec.name, spec.purpose, link=spec.name)
    decisions = list(decisions)
    if decisions:
        lines.row += 1
        line("Decisions", font=SECTION_FONT)
        for decision in decisions:
            line("•", decision)
    lines.row += 1
    line("Columns", font=SECTION_FONT)
    for spec in specs:
        for column in spec.columns:
            need = "required" if column.required else "optional"
            line(f"{spec.name} · {column.name}", f"({need}) " + column.help_text.replace(CREDITS, credit_phrase))
    lines.row += 1
    line("Finding codes", font=SECTION_FONT)
    for code, text in CODES.items():
        line(code, text)
    fit_to_width(ws, landscape=False)


def write_workbook(
    path: str | Path,
    market: str,
    *,
    meta: Mapping[str, Any] | None = None,
    rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    lists: Mapping[str, Sequence[str]] | None = None,
    decisions: Iterable[str] = (),
    extra_columns: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write a formatted pricebook workbook for `market` (US or IN) with the given content."""
    market = market.upper()
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}; expected one of {', '.join(MARKETS)}")
    defaults = MARKETS[market]
    meta_values: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "market": market,
        "currency": defaults.currency,
        "money_per_credit": defaults.money_per_credit,
        "timezone": defaults.timezone,
        "rounding": "half_up",
        "version": 1,
    }
    meta_values.update(meta or {})
    editable: dict[str, Sequence[str]] = dict(defaults.extra_lists)
    editable.update(lists or {})
    specs = sheets_for_market(market)
    present = {name for name, sheet_rows in (rows or {}).items() if sheet_rows}
    specs = tuple(spec for spec in specs) + tuple(
        spec for spec in sheets_for_market("US") + sheets_for_market("IN") if spec.name in present and spec not in specs
    )
    order = {spec.name: i for i, spec in enumerate(SHEETS)}
    specs = tuple(sorted(dict.fromkeys(specs), key=lambda s: order[s.name]))
    wb = Workbook()
    readme = wb.active
    readme.title = README_SHEET
    title = str(meta_values.get("title") or f"{meta_values.get('pricebook_id') or 'New'} pricebook")
    _write_readme(readme, market, title, specs, decisions, defaults.credit_phrase)
    _write_meta(wb.create_sheet(META_SHEET), meta_values)
    _write_lists(wb, wb.create_sheet(LISTS_SHEET), editable)
    for spec in specs:
        _write_data_sheet(
            wb.create_sheet(spec.name),
            spec,
            list((rows or {}).get(spec.name, ())),
            defaults.credit_phrase,
            (extra_columns or {}).get(spec.name, ()),
        )
    wb.active = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def to_cell_value(value: Any) -> Any:
    """Public for tests and tools that write cells the way the writer does."""
    if isinstance(value, date | datetime | Decimal | Condition | bool | tuple | list):
        return _excel_value(value)
    return value
