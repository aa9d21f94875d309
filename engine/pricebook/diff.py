"""What changed between two versions of a pricebook, keyed by sheet and rule_id.

A side of the diff is a compiled pricebook or a validation Report. A Report is read from its typed
rows, so a draft that still has findings shows its changes too: what it changed is what a
reviewer wants to see while the cross-checks are being fixed, and the findings are listed after
the changes. Cells that could not be read show as typed, marked unreadable.

Only what prices is compared (the compiled model's fields): row order, notes, stated totals,
formatting and re-saving never show up. Values are written the way the pricebook's people read
them: credits beside their money in the market's conventions (engine.money), percentages as
percentages, dates in the pricebook's own time zone, and a promotion's valid_to as the last day
it runs, inclusive, as the workbook states it. Price fields carry their percentage change, which
is what a pricing review reads first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, get_args
from zoneinfo import ZoneInfo

from engine.money import decimal_text, format_credits, format_money, format_number
from engine.pricebook.cells import INVALID
from engine.pricebook.checks.context import percent_text
from engine.pricebook.checks.offers import last_day
from engine.pricebook.conditions import Condition
from engine.pricebook.findings import Finding, Severity
from engine.pricebook.model import IDENTITY_FIELDS, SHEET_OF_FIELD, CompiledPricebook, Frozen, PricebookMeta
from engine.pricebook.schema import LISTS, SHEET_BY_NAME, amount_kind
from engine.pricebook.validate import Report

#: Meta settings that name the version rather than price anything.
#: The compiled model of each sheet's rows (tuple[UsageTier, ...] → UsageTier): its fields are what a diff compares.
_MODEL_OF_SHEET: dict[str, type[Frozen]] = {
    sheet: get_args(CompiledPricebook.model_fields[name].annotation)[0] for name, sheet in SHEET_OF_FIELD.items()
}


@dataclass(frozen=True)
class Unreadable:
    """A cell whose value could not be read: shown as it was typed."""

    typed: Any

    def __str__(self) -> str:
        return f"{self.typed!r} (unreadable)"


@dataclass
class Side:
    """One version as the diff reads it: Meta, lists and rows by rule_id, with the money and the
    time zone its values are written in."""

    label: str
    meta: dict[str, Any]
    lists: dict[str, frozenset[str]]
    sheets: dict[str, dict[str, dict[str, Any]]]
    currency: str | None = None
    money_per_credit: Decimal | None = None
    timezone: str | None = None
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: Any
    new: Any
    pct: Decimal | None = None  # percentage change of a price
    old_text: str = ""
    new_text: str = ""

    def describe(self) -> str:
        pct = ""
        if self.pct is not None:
            pct = f" ({'+' if self.pct > 0 else ''}{self.pct:.1f}%)"
        return f"{self.name}: {self.old_text or _plain(self.old)} → {self.new_text or _plain(self.new)}{pct}"


@dataclass(frozen=True)
class RowChange:
    sheet: str
    rule_id: str
    kind: str  # added | removed | changed
    fields: tuple[FieldChange, ...] = ()
    row: dict[str, Any] = field(default_factory=dict)  # the added or removed row
    row_text: dict[str, str] = field(default_factory=dict)  # the same, as people read it


@dataclass
class PricebookDiff:
    old_label: str
    new_label: str
    meta: list[FieldChange] = field(default_factory=list)
    lists: list[FieldChange] = field(default_factory=list)
    rows: list[RowChange] = field(default_factory=list)
    timezone: str | None = None
    old_findings: list[Finding] = field(default_factory=list)  # errors and warnings of each side
    new_findings: list[Finding] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.meta or self.lists or self.rows)

    @property
    def prices_changed(self) -> bool:
        return bool(self.rows or self.lists or [m for m in self.meta if m.name not in IDENTITY_FIELDS])

    def to_dict(self) -> dict[str, Any]:
        def fc(change: FieldChange) -> dict[str, Any]:
            return {
                "field": change.name,
                "old": _json(change.old),
                "new": _json(change.new),
                "old_text": change.old_text,
                "new_text": change.new_text,
                "pct": None if change.pct is None else float(round(change.pct, 2)),
            }

        def finding(f: Finding) -> dict[str, Any]:
            return f.model_dump(mode="json")

        return {
            "old": self.old_label,
            "new": self.new_label,
            "timezone": self.timezone,
            "meta": [fc(c) for c in self.meta],
            "lists": [fc(c) for c in self.lists],
            "rows": [
                {
                    "sheet": r.sheet,
                    "rule_id": r.rule_id,
                    "change": r.kind,
                    "fields": [fc(c) for c in r.fields],
                    "row": {k: _json(v) for k, v in r.row.items()},
                    "row_text": r.row_text,
                }
                for r in self.rows
            ],
            "findings": {
                "old": [finding(f) for f in self.old_findings],
                "new": [finding(f) for f in self.new_findings],
            },
        }

    def table(self) -> list[dict[str, str]]:
        """One row per change for a table on screen (the app's Compare page): sheet, rule_id,
        change and what changed, values written as in lines()."""
        rows = [
            {"sheet": sheet, "rule_id": "", "change": "changed", "what changed": c.describe()}
            for sheet, changes in (("Meta", self.meta), ("Lists", self.lists))
            for c in changes
        ]
        for change in self.rows:
            if change.kind == "changed":
                what = "; ".join(c.describe() for c in change.fields)
            else:
                what = "; ".join(f"{k} {v}" for k, v in change.row_text.items())
            rows.append({"sheet": change.sheet, "rule_id": change.rule_id, "change": change.kind, "what changed": what})
        return rows

    def findings_table(self) -> list[dict[str, str]]:
        """The findings of both sides, listed after the changes: where, which side, code, words."""
        return [
            {
                "version": label,
                "where": f.location,
                "code": f.code,
                "severity": f.severity.value,
                "message": f.message,
                "hint": f.hint,
            }
            for label, findings in ((self.old_label, self.old_findings), (self.new_label, self.new_findings))
            for f in findings
        ]

    def lines(self) -> list[str]:
        """A readable report, one line per change, then the findings of each side."""
        zone = f" (dates in {self.timezone})" if self.timezone else ""
        out = [f"{self.old_label} → {self.new_label}{zone}"]
        if self.empty:
            out.append("No differences.")
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
                body = "; ".join(f"{k} {v}" for k, v in change.row_text.items())
                out.append(f"  {sign} {change.rule_id}: {body}")
        if not self.empty and not self.prices_changed:
            out.append("Nothing priced differs (only the version's identity changed).")
        for label, findings in ((self.old_label, self.old_findings), (self.new_label, self.new_findings)):
            if findings:
                out.append(f"Findings in {label}: {_count(findings)}")
                out.extend(f"  {_finding_line(f)}" for f in findings)
        return out


# -- reading a side ------------------------------------------------------------------------------------------


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """A compiled UTC instant as the wall time of the pricebook's zone (naive, as typed)."""
    return None if value is None else value.astimezone(zone).replace(tzinfo=None)


def _normal(value: Any) -> Any:
    """One form for values from either source: conditions as text, enums and lists as strings."""
    if isinstance(value, Condition):
        return value.text
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple | frozenset | set):
        return tuple(_normal(v) for v in value)
    return value


def side_of_pricebook(pricebook: CompiledPricebook) -> Side:
    zone = ZoneInfo(pricebook.meta.timezone)
    meta = {name: _normal(getattr(pricebook.meta, name)) for name in PricebookMeta.model_fields}
    meta["effective_from"] = _local(pricebook.meta.effective_from, zone)
    meta["existing_customers_effective_from"] = _local(pricebook.meta.existing_customers_effective_from, zone)
    sheets: dict[str, dict[str, dict[str, Any]]] = {}
    for name, sheet in SHEET_OF_FIELD.items():
        rows: dict[str, dict[str, Any]] = {}
        for row in getattr(pricebook, name):
            values = {k: _normal(getattr(row, k)) for k in type(row).model_fields if k != "rule_id"}
            if sheet == "TopUpPromos":
                values["valid_from"] = _local(row.valid_from, zone)
                values["valid_to"] = last_day(_local(row.valid_to, zone))
            rows[row.rule_id] = values
        sheets[sheet] = rows
    return Side(
        label=pricebook.label,
        meta=meta,
        lists={named.name: frozenset(named.values) for named in pricebook.lists},
        sheets=sheets,
        currency=pricebook.meta.currency,
        money_per_credit=pricebook.meta.money_per_credit,
        timezone=pricebook.meta.timezone,
    )


def side_of_report(report: Report) -> Side:
    """A validated workbook read from its typed rows, whether or not it compiles."""
    if report.pricebook is not None:
        side = side_of_pricebook(report.pricebook)
        side.findings = _worth_listing(report.findings)
        return side
    meta = report.meta
    sheets: dict[str, dict[str, dict[str, Any]]] = {}
    for sheet, model in _MODEL_OF_SHEET.items():
        defaults = {n: f.default for n, f in model.model_fields.items() if n != "rule_id" and not f.is_required()}
        names = [n for n in model.model_fields if n != "rule_id"]
        rows: dict[str, dict[str, Any]] = {}
        for row in report.rows.get(sheet, []):
            values = {n: _read(row.get(n), row.raw(n), defaults.get(n)) for n in names}
            key = row.rule_id or f"(row {row.row})"
            rows[key if key not in rows else f"{key} (row {row.row})"] = values
        sheets[sheet] = rows
    editable = {spec.name for spec in LISTS if spec.editable}
    pid, version = meta.get("pricebook_id"), meta.get("version")
    errors = len(report.errors)
    label = f"{pid if isinstance(pid, str) else report.path} v{version if isinstance(version, int) else '?'}"
    label += f" (draft: {errors} error{'s' * (errors != 1)})"
    currency, per_credit, zone = meta.get("currency"), meta.get("money_per_credit"), meta.get("timezone")
    return Side(
        label=label,
        meta={k: _read(meta.get(k), None) for k in PricebookMeta.model_fields},
        lists={name: frozenset(domain.values) for name, domain in report.lists.items() if name in editable},
        sheets=sheets,
        currency=currency if isinstance(currency, str) else None,
        money_per_credit=per_credit if isinstance(per_credit, Decimal) else None,
        timezone=zone if isinstance(zone, str) else None,
        findings=_worth_listing(report.findings),
    )


def _read(value: Any, typed: Any, default: Any = None) -> Any:
    """A typed cell as the diff compares it: an empty cell reads as the compiled default."""
    if value is INVALID:
        return Unreadable(typed if typed is not None else "?")
    return _normal(default if value is None else value)


def _worth_listing(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is not Severity.INFO]


def side_of(source: CompiledPricebook | Report) -> Side:
    return side_of_pricebook(source) if isinstance(source, CompiledPricebook) else side_of_report(source)


# -- writing values ------------------------------------------------------------------------------------------


class _Writer:
    """Values written for people, in one side's money and time zone."""

    def __init__(self, side: Side):
        self.currency, self.per_credit = side.currency, side.money_per_credit

    def credits(self, value: Decimal | int) -> str:
        if self.currency is None or self.per_credit is None:
            return f"{format_number(value)} credits"
        return format_credits(value, self.per_credit, self.currency)

    def money(self, value: Decimal | int) -> str:
        if self.currency is None:
            return format_number(value)
        return format_money(Decimal(value), self.currency, self.per_credit)

    def text(self, sheet: str, name: str, value: Any) -> str:
        if value is None:
            return "(empty)"
        if isinstance(value, Unreadable | str):
            return str(value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, datetime):
            return f"{value:%Y-%m-%d}" if value.time() == datetime.min.time() else f"{value:%Y-%m-%d %H:%M}"
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, tuple):
            return ", ".join(str(v) for v in value)
        if isinstance(value, Decimal | int):
            kind = amount_kind(sheet, name)
            if kind == "percent":
                return percent_text(Decimal(value), self.currency)
            if kind == "money":
                return self.money(value)
            if kind == "credits":
                return self.credits(value)
            if name in ("version", "supersedes_version", "schema_version"):
                return decimal_text(value)
            return format_number(value, self.currency)
        return str(value)


def _plain(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Unreadable):
        return {"unreadable": str(value.typed)}
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return value


def _pct(old: Any, new: Any) -> Decimal | None:
    if isinstance(old, bool) or isinstance(new, bool) or not isinstance(old, Decimal | int):
        return None
    try:
        before, after = Decimal(old), Decimal(new)
    except (InvalidOperation, ValueError, TypeError):
        return None
    if before == 0:
        return None
    return (after - before) / before * 100


def _price_fields(sheet: str) -> set[str]:
    spec = SHEET_BY_NAME.get(sheet)
    return {c.name for c in spec.columns if c.price} if spec else set()


def _field_changes(
    sheet: str, old: dict[str, Any], new: dict[str, Any], old_w: _Writer, new_w: _Writer
) -> list[FieldChange]:
    prices = _price_fields(sheet)
    changes = []
    for name in [n for n in new if n in old] + [n for n in new if n not in old] + [n for n in old if n not in new]:
        before, after = old.get(name), new.get(name)
        if before != after:
            pct = _pct(before, after) if name in prices and before is not None and after is not None else None
            changes.append(
                FieldChange(name, before, after, pct, old_w.text(sheet, name, before), new_w.text(sheet, name, after))
            )
    return changes


def _count(findings: list[Finding]) -> str:
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = len(findings) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def _finding_line(finding: Finding) -> str:
    hint = f" → {finding.hint}" if finding.hint else ""
    return f"{finding.location} [{finding.code} {finding.severity.value}] {finding.message}{hint}"


def diff_pricebooks(old: CompiledPricebook | Report, new: CompiledPricebook | Report) -> PricebookDiff:
    """What `new` changes against `old`. Either side may be a compiled pricebook or the Report of
    validating a workbook (engine.validate_pricebook), which diffs even when it has errors."""
    before, after = side_of(old), side_of(new)
    old_w, new_w = _Writer(before), _Writer(after)
    result = PricebookDiff(
        old_label=before.label,
        new_label=after.label,
        timezone=after.timezone or before.timezone,
        old_findings=before.findings,
        new_findings=after.findings,
    )
    result.meta = _field_changes("Meta", before.meta, after.meta, old_w, new_w)
    for name in sorted(set(before.lists) | set(after.lists)):
        gone, added = before.lists.get(name, frozenset()), after.lists.get(name, frozenset())
        if gone != added:
            removed_values, added_values = sorted(gone - added), sorted(added - gone)
            result.lists.append(
                FieldChange(
                    name,
                    tuple(removed_values) or None,
                    tuple(added_values) or None,
                    old_text="removed " + ", ".join(removed_values) if removed_values else "(none removed)",
                    new_text="added " + ", ".join(added_values) if added_values else "(none added)",
                )
            )
    for sheet in SHEET_OF_FIELD.values():
        rows_before, rows_after = before.sheets.get(sheet, {}), after.sheets.get(sheet, {})
        for rule_id in sorted(set(rows_before) | set(rows_after)):
            if rule_id not in rows_after:
                row = rows_before[rule_id]
                result.rows.append(RowChange(sheet, rule_id, "removed", row=row, row_text=_row_text(sheet, row, old_w)))
            elif rule_id not in rows_before:
                row = rows_after[rule_id]
                result.rows.append(RowChange(sheet, rule_id, "added", row=row, row_text=_row_text(sheet, row, new_w)))
            else:
                changes = _field_changes(sheet, rows_before[rule_id], rows_after[rule_id], old_w, new_w)
                if changes:
                    result.rows.append(RowChange(sheet, rule_id, "changed", tuple(changes)))
    return result


def _row_text(sheet: str, row: dict[str, Any], writer: _Writer) -> dict[str, str]:
    return {name: writer.text(sheet, name, value) for name, value in row.items() if value is not None}


__all__ = ["FieldChange", "PricebookDiff", "RowChange", "Side", "Unreadable", "diff_pricebooks"]
