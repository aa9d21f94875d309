"""A stable text form of a workbook, for reading in a terminal and for `git diff` of pricebooks.

It prints what the file holds, not what compiles, so it works on a broken workbook too: Meta
settings, list values, then every data sheet's rows sorted by rule_id (row order is not content).
With `.gitattributes` mapping *.xlsx to this dump as a textconv, `git diff` shows
'SMS-4: unit_price_credits=79 → 78' instead of 'Binary files differ'.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine.pricebook.excel_tables import Extracted, extract, with_every_header
from engine.pricebook.findings import Collector
from engine.pricebook.meta_lists import META_COLUMNS
from engine.pricebook.safety import UnreadableWorkbook
from engine.pricebook.schema import LIST_BY_NAME, LISTS_SHEET, META_SHEET, SHEETS, Column, Kind, SheetSpec
from engine.pricebook.xlsx import read_workbook


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour or value.minute) else value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    text = str(value)
    if not text or any(ch in text for ch in ' "=\n\t') or text != text.strip():
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def _cells(extracted: Extracted) -> Iterator[tuple[int, dict[str, Any]]]:
    for row, cells in extracted.rows:
        values = {}
        for name, col in extracted.columns.items():
            value = cells[col - 1] if col - 1 < len(cells) else None
            if value is not None and value != "":
                values[name] = value
        yield row, values


def dump_lines(path: str | Path) -> list[str]:
    path = Path(path)
    try:
        raw = read_workbook(path)
    except UnreadableWorkbook as exc:
        return [f"# {path.name}: unreadable: " + "; ".join(f.message for f in exc.findings)]
    quiet = Collector()  # dump reports content, not findings
    out = [f"# {path.name}"]
    meta = raw.sheets.get(META_SHEET)
    if meta is not None:
        out.append(f"[{META_SHEET}]")
        out.extend(_meta_lines(extract(meta, META_COLUMNS, quiet)))
    lists = raw.sheets.get(LISTS_SHEET)
    if lists is not None:
        columns = {name: Column(name, Kind.TEXT, "") for name in LIST_BY_NAME}
        out.append(f"[{LISTS_SHEET}]")
        out.extend(_list_lines(extract(lists, with_every_header(lists, columns), quiet)))
    for spec in SHEETS:
        sheet = raw.sheets.get(spec.name)
        if sheet is None:
            continue
        extracted = extract(sheet, with_every_header(sheet, {c.name: c for c in spec.columns}), quiet)
        out.append(f"[{spec.name}]")
        if extracted is not None:
            out.extend(_row_lines(spec, extracted))
    return out


def _meta_lines(extracted: Extracted | None) -> Iterator[str]:
    """`key = value` for each Meta row, by key."""
    if extracted is None:
        return
    for _, values in sorted(_cells(extracted), key=lambda item: str(item[1].get("key", ""))):
        if "key" in values:
            yield f"{values['key']} = {format_value(values.get('value', ''))}"


def _list_lines(extracted: Extracted | None) -> Iterator[str]:
    """`name = a, b, c` for each list of the Lists sheet, by name."""
    if extracted is None:
        return
    collected: dict[str, list[str]] = {name: [] for name in extracted.columns}
    for _, values in _cells(extracted):
        for name, value in values.items():
            collected[name].append(format_value(value))
    for name in sorted(collected):
        yield f"{name} = {', '.join(collected[name])}"


def _row_lines(spec: SheetSpec, extracted: Extracted) -> Iterator[str]:
    """`rule_id: column=value ...` for each row of a data sheet, by id, columns in sheet order."""
    id_name = "case_id" if spec.name == "Tests" else "rule_id"
    order = [c.name for c in spec.columns]
    rows = sorted(_cells(extracted), key=lambda item: (format_value(item[1].get(id_name, "")), item[0]))
    for _, values in rows:
        rule_id = format_value(values.pop(id_name, "(no id)"))
        names = sorted(values, key=lambda n: (order.index(n) if n in order else len(order), n))
        yield f"{rule_id}: " + " ".join(f"{n}={format_value(values[n])}" for n in names)
