"""Pour a workbook's content into a fresh template.

Pasting into Excel can delete dropdowns and formats, and the format itself improves over time.
`creditbook pricebook reformat IN OUT` keeps every value exactly as typed (even invalid ones, so
the validator still sees them) and every unknown column, and rebuilds everything around them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.pricebook.excel_tables import extract, header_key, with_every_header
from engine.pricebook.findings import Collector
from engine.pricebook.meta_lists import META_COLUMNS
from engine.pricebook.schema import LIST_BY_NAME, LISTS_SHEET, META_SHEET, README_SHEET, SHEETS, Column, Kind
from engine.pricebook.template import write_workbook
from engine.pricebook.xlsx import RawWorkbook, read_workbook


def _decisions(raw: RawWorkbook) -> list[str]:
    sheet = raw.sheets.get(README_SHEET)
    if sheet is None:
        return []
    out: list[str] = []
    inside = False
    for cells in sheet.rows:
        first = str(cells[0]).strip() if cells else ""
        if first == "Decisions":
            inside = True
            continue
        if inside:
            if first == "•" and len(cells) > 1 and cells[1]:
                out.append(str(cells[1]))
            elif first:
                break
    return out


def reformat_workbook(source: str | Path, out: str | Path) -> Path:
    raw = read_workbook(source)
    quiet = Collector()
    meta = _meta_values(raw, quiet)
    market = str(meta["market"]).upper() if str(meta.get("market", "")).upper() in ("US", "IN") else "US"
    lists: dict[str, list[str]] = {}
    if LISTS_SHEET in raw.sheets:
        columns = {name: Column(name, Kind.TEXT, "") for name in LIST_BY_NAME}
        extracted = extract(raw.sheets[LISTS_SHEET], columns, quiet)
        if extracted is not None:
            for name, col in extracted.columns.items():
                lists[name] = [
                    str(cells[col - 1])
                    for _, cells in extracted.rows
                    if col - 1 < len(cells) and cells[col - 1] not in (None, "")
                ]
    rows: dict[str, list[dict[str, Any]]] = {}
    extras: dict[str, list[str]] = {}
    for spec in SHEETS:
        sheet = raw.sheets.get(spec.name)
        if sheet is None:
            continue
        declared = {c.name: c for c in spec.columns}
        known = with_every_header(sheet, declared)
        if len(known) > len(declared):
            extras[spec.name] = [name for name in known if name not in declared]
        extracted = extract(sheet, known, quiet)
        if extracted is None:
            continue
        rows[spec.name] = [
            {
                name: cells[col - 1]
                for name, col in extracted.columns.items()
                if col - 1 < len(cells) and cells[col - 1] not in (None, "")
            }
            for _, cells in extracted.rows
        ]
    return write_workbook(
        out, market, meta=meta, rows=rows, lists=lists, decisions=_decisions(raw), extra_columns=extras
    )


def _meta_values(raw: RawWorkbook, quiet: Collector) -> dict[str, Any]:
    """The Meta sheet's values by key, as typed (a blank value is None)."""
    meta: dict[str, Any] = {}
    extracted = extract(raw.sheets[META_SHEET], META_COLUMNS, quiet) if META_SHEET in raw.sheets else None
    if extracted is None or "key" not in extracted.columns:
        return meta
    key_col, value_col = extracted.columns["key"], extracted.columns.get("value", 0)
    for _, cells in extracted.rows:
        key = cells[key_col - 1] if key_col - 1 < len(cells) else None
        value = cells[value_col - 1] if value_col and value_col - 1 < len(cells) else None
        if key:
            meta[header_key(key)] = None if value == "" else value
    return meta
