"""One-typo mutations of the shipped workbooks, and how well the validator blames them.

A mutation changes one numeric cell the way people mistype: a dropped digit, an extra digit, two
adjacent digits swapped, a digit typed twice, or the number typed as text (with a unit, as people
paste it from a brief). The cells are the ones cross-checks look at: tier bounds, prices,
quantities, stated totals, price ranges, package units and rates, promotion figures and the Tests
sheet's examples. Each mutation is validated in memory (the RawWorkbook the reader produced, one
cell replaced), with the Tests sheet priced, exactly as `engine.validate_pricebook` does for a file.

Scores, over the mutations the validator catches (at least one error):
- blamed right: some error sits at the mistyped cell;
- errors elsewhere: errors at any other place (correct cells, or a whole sheet), per caught typo.

The unit test (tests/pricebook/test_typos.py) asserts the goal on a fixed-seed sample; the
benchmark (`python -m bench typos`) prints the figures over a larger one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.pricebook.findings import Finding, Severity, cell_ref
from engine.pricebook.validate import Report, validate_raw
from engine.pricebook.xlsx import RawWorkbook, read_workbook
from engine.pricing.worked_examples import check_examples

#: The cells a typo is made in, by sheet.
NUMERIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "UsageTiers": ("up_to", "unit_price_credits", "flat_fee_credits", "stated_tier_credits"),
    "Packages": ("included_units", "unit_price_credits", "stated_total_credits"),
    "LeadPrices": ("pkg_price_from", "pkg_price_to", "lead_price_credits"),
    "TopUpPromos": ("paid_from", "paid_to", "bonus_credits", "bonus_cap_credits", "stated_total_credits"),
    "Tests": ("quantity", "call_seconds", "used_before", "package_price", "expected_credits"),
}
KINDS = ("dropped", "extra", "swapped", "repeated", "text")


@dataclass(frozen=True)
class Mutation:
    """One mistyped cell of one workbook."""

    workbook: str
    sheet: str
    row: int
    col: int
    column: str
    rule_id: str
    kind: str
    before: Any
    after: Any

    @property
    def location(self) -> str:
        return f"{self.sheet}!{cell_ref(self.row, self.col)}"

    def describe(self) -> str:
        where = f"{self.workbook} {self.location} ({self.rule_id} {self.column})"
        return f"{where} {self.before!r} → {self.after!r} [{self.kind}]"


def _digits(value: Any) -> str | None:
    """The text of a whole, non-negative number as it would be typed, or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return str(int(value)) if value >= 0 else None


def keystroke_typos(text: str) -> dict[str, set[str]]:
    """Every one-keystroke typo of a digit string, by kind (never the string itself, never a
    number with a leading zero). A digit slipped in beside the same digit is a repeated digit."""
    found: dict[str, set[str]] = {kind: set() for kind in KINDS if kind != "text"}
    for i in range(len(text)):
        found["dropped"].add(text[:i] + text[i + 1 :])
        found["repeated"].add(text[: i + 1] + text[i] + text[i + 1 :])
        if i + 1 < len(text) and text[i] != text[i + 1]:
            found["swapped"].add(text[:i] + text[i + 1] + text[i] + text[i + 2 :])
    for i in range(len(text) + 1):
        for digit in "0123456789":
            slipped_in = text[:i] + digit + text[i:]
            if slipped_in not in found["repeated"]:
                found["extra"].add(slipped_in)
    return {
        kind: {t for t in typos if t and t != text and (t == "0" or not t.startswith("0"))}
        for kind, typos in found.items()
    }


def _number(text: str) -> float:
    return float(int(text))


def _unit(sheet: str, column: str) -> str:
    """The word people paste after a number of that column ('500 credits', '₹5000' is money)."""
    if column in ("up_to", "included_units", "quantity"):
        return "units"
    if column in ("pkg_price_from", "pkg_price_to", "package_price"):
        return "rupees"
    if column == "call_seconds":
        return "s"
    return "credits"


def all_mutations(workbooks: dict[str, RawWorkbook]) -> Iterator[Mutation]:
    """Every one-typo mutation of every numeric cell listed in NUMERIC_COLUMNS."""
    for name, raw in sorted(workbooks.items()):
        for sheet_name, columns in NUMERIC_COLUMNS.items():
            sheet = raw.sheets.get(sheet_name)
            if sheet is None or not sheet.rows:
                continue
            header = [str(v) for v in sheet.rows[0]]
            for column in columns:
                if column not in header:
                    continue
                col = header.index(column) + 1
                for row in range(2, len(sheet.rows) + 1):
                    before = sheet.value(row, col)
                    digits = _digits(before)
                    if digits is None:
                        continue
                    rule_id = str(sheet.value(row, 1))
                    at = (name, sheet_name, row, col, column, rule_id)
                    for kind, typos in keystroke_typos(digits).items():
                        for typo in sorted(typos):
                            yield Mutation(*at, kind=kind, before=before, after=_number(typo))
                    yield Mutation(*at, kind="text", before=before, after=f"{digits} {_unit(sheet_name, column)}")


def sample(workbooks: dict[str, RawWorkbook], size: int, seed: int) -> list[Mutation]:
    """A reproducible sample of `size` mutations, the kinds of typo taking turns (extra digits,
    which have ten times as many variants, would otherwise crowd out the rest)."""
    rng = random.Random(seed)
    pools = {kind: [m for m in all_mutations(workbooks) if m.kind == kind] for kind in KINDS}
    chosen: list[Mutation] = []
    while len(chosen) < size and any(pools.values()):
        for kind in KINDS:
            pool = pools[kind]
            if pool and len(chosen) < size:
                chosen.append(pool.pop(rng.randrange(len(pool))))
    return chosen


def apply(raw: RawWorkbook, mutation: Mutation) -> RawWorkbook:
    """A copy of `raw` with the one cell replaced (only that sheet's rows are copied)."""
    sheet = raw.sheets[mutation.sheet]
    rows = [list(cells) for cells in sheet.rows]
    rows[mutation.row - 1][mutation.col - 1] = mutation.after
    sheets = dict(raw.sheets)
    sheets[mutation.sheet] = replace(sheet, rows=rows)
    return RawWorkbook(path=raw.path, sheets=sheets, defined_names=dict(raw.defined_names))


def validate_in_memory(raw: RawWorkbook) -> Report:
    """What `engine.validate_pricebook` reports for the file `raw` was read from."""
    return validate_raw(raw, examples=check_examples)


@dataclass
class Score:
    """How the validator did on a set of mutations."""

    typos: int = 0
    caught: int = 0
    blamed_right: int = 0
    errors_elsewhere: int = 0
    misses: list[tuple[Mutation, list[Finding]]] = field(default_factory=list)  # caught, not blamed right
    noisy: list[tuple[Mutation, list[Finding]]] = field(default_factory=list)  # errors at correct cells

    def add(self, mutation: Mutation, report: Report) -> None:
        errors = [f for f in report.findings if f.severity is Severity.ERROR]
        self.typos += 1
        if not errors:
            return
        self.caught += 1
        right = [f for f in errors if f.location == mutation.location]
        wrong = [f for f in errors if f.location != mutation.location]
        if right:
            self.blamed_right += 1
        else:
            self.misses.append((mutation, errors))
        if wrong:
            self.noisy.append((mutation, wrong))
        self.errors_elsewhere += len(wrong)

    @property
    def caught_pct(self) -> float:
        return 100 * self.caught / self.typos if self.typos else 0.0

    @property
    def blamed_right_pct(self) -> float:
        return 100 * self.blamed_right / self.caught if self.caught else 0.0

    @property
    def errors_elsewhere_per_typo(self) -> float:
        return self.errors_elsewhere / self.caught if self.caught else 0.0


def shipped() -> dict[str, RawWorkbook]:
    root = Path(__file__).resolve().parents[2] / "pricebooks"
    return {path.name: read_workbook(path) for path in sorted(root.glob("*/*.xlsx"))}


def score(workbooks: dict[str, RawWorkbook], mutations: list[Mutation]) -> Score:
    result = Score()
    for mutation in mutations:
        result.add(mutation, validate_in_memory(apply(workbooks[mutation.workbook], mutation)))
    return result


__all__ = ["KINDS", "Mutation", "Score", "all_mutations", "apply", "keystroke_typos", "sample", "score", "shipped"]
