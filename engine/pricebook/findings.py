"""Findings: what the validator says about a workbook, as data.

A finding is never an exception. Each one names its code, how serious it is, the exact place
(``Sheet!Cell``), the rule it belongs to, the value it saw, a message a pricing analyst
understands and a hint that says what to do. The whole run collects every finding, so an editor
fixes a workbook in one pass instead of one error at a time (Beancount's errors-as-data).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    """error blocks compiling and publishing; warning and info are advice."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


#: Every finding code the validator can produce, with a short title (README, Errors sheet, docs).
CODES: dict[str, str] = {
    "F01": "not a plain .xlsx workbook (not a zip, macros, external links)",
    "F02": "file too large once unpacked (zip bomb guard)",
    "F03": "XML entity declarations (<!DOCTYPE/<!ENTITY) inside the file",
    "F04": "formula in a data cell",
    "F05": "Excel error value in a data cell (#REF!, #N/A, ...)",
    "S01": "missing or unknown sheet",
    "S02": "missing, unknown or duplicate column header",
    "S03": "data sheet is not one Excel Table at A1 / data outside the table",
    "S04": "merged cells in a data area",
    "S05": "hidden rows, columns or sheets that hold data",
    "S06": "unsupported schema_version",
    "C01": "required cell is empty",
    "C02": "wrong type of value",
    "C03": "whole number expected / too many decimals",
    "C04": "negative, or zero where not allowed",
    "C05": "percentage typed as a whole number (10 meaning 10%)",
    "C06": "value not in the allowed list",
    "C07": "condition cannot be read",
    "C08": "value was tidied up (quotes, spaces, case, number stored as text)",
    "C09": "text that starts like a formula (= + - @)",
    "T01": "duplicate rule_id or duplicate key",
    "T02": "tiers not sorted by up_to",
    "T03": "gap: some values are not priced",
    "T04": "overlap: two rows price the same value",
    "T05": "last tier is not open-ended",
    "T06": "empty range (from is not below to)",
    "T07": "unit price rises with volume",
    "T08": "two equally specific rows give different prices for the same lead",
    "T09": "no default row",
    "T10": "row that can never apply, or repeats another row",
    "T11": "stated total does not match unit price × quantity",
    "T12": "combined discounts reach 100% or more",
    "T13": "one cell makes its table's cross-checks disagree (a likely typo)",
    "X01": "unknown reference (product, component, list value)",
    "X02": "same component listed twice",
    "X03": "test case names an unknown rule_id",
    "X04": "list value that no row uses",
    "D01": "date window out of order",
    "D02": "promotion already over, or never ending",
    "D03": "overlapping automatic promotions",
    "D04": "effective_from not after the previous version's",
    "D05": "version is not the previous version + 1",
    "D06": "nothing priced differs from the previous version",
    "D07": "a date that must fall after effective_from does not",
    "D08": "previous workbook is a different pricebook",
    "P01": "promo code used twice",
    "P02": "per-clinic limit above the total limit",
    "P03": "referral without a beneficiary",
    "P04": "overdraft allowed for a non-preferred segment",
    "E01": "test case matches no rule",
    "E02": "test case priced differently than expected",
}


class Finding(BaseModel):
    """One thing the validator noticed, at one place in the workbook."""

    model_config = ConfigDict(frozen=True)

    code: str
    severity: Severity
    message: str
    hint: str = ""
    sheet: str = ""
    cell: str = ""
    row: int = 0
    col: int = 0
    column: str = ""
    rule_id: str = ""
    value: Any = None

    @property
    def location(self) -> str:
        """'UsageTiers!E5', 'UsageTiers' or '(file)'."""
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet or "(file)"

    def display_value(self) -> str:
        if self.value is None or self.value == "":
            return ""
        return repr(self.value) if isinstance(self.value, str) else str(self.value)


def column_letter(col: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def cell_ref(row: int, col: int) -> str:
    """Excel A1 address of a 1-based (row, col)."""
    return f"{column_letter(col)}{row}"


class Collector:
    """Gathers findings during one validation run; the single way findings are created."""

    def __init__(self, trial: bool = False) -> None:
        self.findings: list[Finding] = []
        self.trial = trial  # a trial run of checks (the typo finder's): findings built unvalidated, never shown

    def add(
        self,
        code: str,
        severity: Severity | str,
        message: str,
        hint: str = "",
        *,
        sheet: str = "",
        row: int = 0,
        col: int = 0,
        column: str = "",
        rule_id: str = "",
        value: Any = None,
    ) -> Finding:
        if code not in CODES:
            raise KeyError(f"unknown finding code {code}")
        build = Finding.model_construct if self.trial else Finding
        finding = build(
            code=code,
            severity=Severity(severity),
            message=message,
            hint=hint,
            sheet=sheet,
            cell=cell_ref(row, col) if row and col else "",
            row=row,
            col=col,
            column=column,
            rule_id=rule_id,
            value=_plain(value),
        )
        self.findings.append(finding)
        return finding

    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)


def _plain(value: Any) -> Any:
    """Keep finding values JSON-friendly and short."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # Excel hands every number over as a float; show 20, not 20.0
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def sort_findings(findings: list[Finding], sheet_order: list[str]) -> list[Finding]:
    """File-level findings first, then by the workbook's sheet order, row and column."""
    rank = {name: i for i, name in enumerate(sheet_order)}

    def key(f: Finding) -> tuple[int, int, int, int, str]:
        sheet_rank = -1 if not f.sheet else rank.get(f.sheet, len(rank))
        return (sheet_rank, f.row, f.col, 0 if f.severity is Severity.ERROR else 1, f.code)

    return sorted(findings, key=key)
