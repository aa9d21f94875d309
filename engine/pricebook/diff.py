"""What changed between two versions of a pricebook, keyed by sheet and rule_id.

Diffs compare compiled pricebooks, so row order, notes, formatting and re-saving never show up:
only Meta settings, list values and row fields that price something. Price fields carry their
percentage change, which is what a pricing review reads first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.pricebook.model import SHEET_OF_FIELD, CompiledPricebook
from engine.pricebook.schema import SHEET_BY_NAME


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: Any
    new: Any
    pct: Decimal | None = None  # percentage change of a price

    def describe(self) -> str:
        pct = ""
        if self.pct is not None:
            pct = f" ({'+' if self.pct > 0 else ''}{self.pct:.1f}%)"
        return f"{self.name}: {_text(self.old)} → {_text(self.new)}{pct}"


@dataclass(frozen=True)
class RowChange:
    sheet: str
    rule_id: str
    kind: str  # added | removed | changed
    fields: tuple[FieldChange, ...] = ()
    row: dict[str, Any] = field(default_factory=dict)  # the added or removed row


@dataclass
class PricebookDiff:
    old_label: str
    new_label: str
    meta: list[FieldChange] = field(default_factory=list)
    lists: list[FieldChange] = field(default_factory=list)
    rows: list[RowChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.meta or self.lists or self.rows)

    @property
    def prices_changed(self) -> bool:
        return bool(self.rows or self.lists or [m for m in self.meta if m.name not in _IDENTITY_META])

    def to_dict(self) -> dict[str, Any]:
        def fc(change: FieldChange) -> dict[str, Any]:
            return {
                "field": change.name,
                "old": change.old,
                "new": change.new,
                "pct": None if change.pct is None else float(round(change.pct, 2)),
            }

        return {
            "old": self.old_label,
            "new": self.new_label,
            "meta": [fc(c) for c in self.meta],
            "lists": [fc(c) for c in self.lists],
            "rows": [
                {
                    "sheet": r.sheet,
                    "rule_id": r.rule_id,
                    "change": r.kind,
                    "fields": [fc(c) for c in r.fields],
                    "row": r.row,
                }
                for r in self.rows
            ],
        }

    def lines(self) -> list[str]:
        """A readable report, one line per change."""
        out = [f"{self.old_label} → {self.new_label}"]
        if self.empty:
            out.append("No differences.")
            return out
        if self.meta:
            out.append("Meta")
            out.extend(f"  {change.describe()}" for change in self.meta)
        if self.lists:
            out.append("Lists")
            out.extend(f"  {change.describe()}" for change in self.lists)
        sheet = None
        for change in self.rows:
            if change.sheet != sheet:
                sheet = change.sheet
                out.append(sheet)
            if change.kind == "changed":
                out.append(f"  ~ {change.rule_id}: " + "; ".join(c.describe() for c in change.fields))
            else:
                sign = "+" if change.kind == "added" else "-"
                body = " ".join(f"{k}={_text(v)}" for k, v in change.row.items() if k != "rule_id" and v is not None)
                out.append(f"  {sign} {change.rule_id}: {body}")
        if not self.prices_changed:
            out.append("Nothing priced differs (only the version's identity changed).")
        return out


_IDENTITY_META = {
    "version",
    "effective_from",
    "supersedes_version",
    "existing_customers_effective_from",
    "change_summary",
    "author",
    "title",
}


def _text(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _pct(old: Any, new: Any) -> Decimal | None:
    try:
        before, after = Decimal(str(old)), Decimal(str(new))
    except (InvalidOperation, ValueError):
        return None
    if before == 0:
        return None
    return (after - before) / before * 100


def _price_fields(sheet: str) -> set[str]:
    spec = SHEET_BY_NAME.get(sheet)
    return {c.name for c in spec.columns if c.price} if spec else set()


def _field_changes(old: dict[str, Any], new: dict[str, Any], prices: set[str]) -> list[FieldChange]:
    changes = []
    for name in sorted(set(old) | set(new)):
        if name == "rule_id":
            continue
        before, after = old.get(name), new.get(name)
        if before != after:
            pct = _pct(before, after) if name in prices and before is not None and after is not None else None
            changes.append(FieldChange(name, before, after, pct))
    return changes


def diff_pricebooks(old: CompiledPricebook, new: CompiledPricebook) -> PricebookDiff:
    result = PricebookDiff(old_label=old.label, new_label=new.label)
    old_meta, new_meta = old.meta.model_dump(mode="json"), new.meta.model_dump(mode="json")
    result.meta = _field_changes(old_meta, new_meta, set())
    old_lists = {named.name: set(named.values) for named in old.lists}
    new_lists = {named.name: set(named.values) for named in new.lists}
    for name in sorted(set(old_lists) | set(new_lists)):
        before, after = old_lists.get(name, set()), new_lists.get(name, set())
        if before != after:
            result.lists.append(FieldChange(name, sorted(before - after) or None, sorted(after - before) or None))
    for field_name, sheet in SHEET_OF_FIELD.items():
        before = {row.rule_id: row.model_dump(mode="json") for row in getattr(old, field_name)}
        after = {row.rule_id: row.model_dump(mode="json") for row in getattr(new, field_name)}
        prices = _price_fields(sheet)
        for rule_id in sorted(set(before) | set(after)):
            if rule_id not in after:
                result.rows.append(RowChange(sheet, rule_id, "removed", row=before[rule_id]))
            elif rule_id not in before:
                result.rows.append(RowChange(sheet, rule_id, "added", row=after[rule_id]))
            else:
                changes = _field_changes(before[rule_id], after[rule_id], prices)
                if changes:
                    result.rows.append(RowChange(sheet, rule_id, "changed", tuple(changes)))
    return result
