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

from engine.bounds import YEAR_MAX, YEAR_MIN


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
    "F06": "a part of the file (a sheet, a table, its relationships) is damaged and cannot be read",
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
    "C10": "number that is not finite, or beyond what creditbook can store and compute with",
    "C11": f"date outside the years creditbook handles ({YEAR_MIN}-{YEAR_MAX})",
    "C12": "text creditbook does not accept: control, invisible, bidirectional or look-alike characters, "
    "characters outside an identifier's alphabet, or too long",
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
        sheet = shown(self.sheet, 60)
        if sheet and self.cell:
            return f"{sheet}!{self.cell}"
        return sheet or "(file)"

    def display_value(self) -> str:
        if self.value is None or self.value == "":
            return ""
        return repr(self.value) if isinstance(self.value, str) else str(self.value)


#: longest message or hint a finding carries: values an editor typed are quoted in messages, and a
#: cell can hold megabytes of text
TEXT_MAX = 1_000


def shown(text: str, limit: int = 80) -> str:
    """Text as a message may quote it: invisible, control and bidirectional characters written as
    escapes (so a message reads as what the cell holds), and cut to `limit` characters."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    if cut.isprintable():
        return cut
    return "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in cut)


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


_RANK = {severity: rank for rank, severity in enumerate(Severity)}

#: findings kept per sheet and code; past it one finding says how many more there are (a sheet of
#: 100,000 broken rows is reported, not held in memory 100,000 times)
PER_SHEET_AND_CODE_MAX = 1_000


class Collector:
    """Gathers findings during one validation run; the single way findings are created."""

    def __init__(self, trial: bool = False) -> None:
        self.findings: list[Finding] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._left_out: dict[tuple[str, str], tuple[int, Severity]] = {}
        self._errors = 0  # errors added, listed or not
        self.trial = trial  # a trial run of checks (the typo finder's): findings built unvalidated, never shown

    def add(  # noqa: PLR0913  the one constructor of findings: a Finding's fields, located by name (keyword-only)
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
        level = Severity(severity)
        self._errors += level is Severity.ERROR
        key = (sheet, code)
        self._counts[key] = count = self._counts.get(key, 0) + 1
        if count > PER_SHEET_AND_CODE_MAX:
            left, worst = self._left_out.get(key, (0, Severity.INFO))
            self._left_out[key] = (left + 1, level if _RANK[level] < _RANK[worst] else worst)
        build = Finding.model_construct if self.trial else Finding
        finding = build(
            code=code,
            severity=level,
            message=shown(message, TEXT_MAX),
            hint=shown(hint, TEXT_MAX),
            sheet=sheet,
            cell=cell_ref(row, col) if row and col else "",
            row=row,
            col=col,
            column=column,
            rule_id=rule_id,
            value=_plain(value),
        )
        if count <= PER_SHEET_AND_CODE_MAX:
            self.findings.append(finding)
        return finding

    def has_errors(self) -> bool:
        return self._errors > 0 or any(f.severity is Severity.ERROR for f in self.findings)

    def all(self) -> list[Finding]:
        """The findings, and one per sheet and code that says how many were left out."""
        summaries = [
            Finding(
                code=code,
                severity=worst,
                message=f"... and {left:,} more {code} findings ({CODES[code]}) not listed one by one.",
                hint="Fix the ones listed, then validate again.",
                sheet=sheet,
            )
            for (sheet, code), (left, worst) in self._left_out.items()
        ]
        return self.findings + summaries


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
