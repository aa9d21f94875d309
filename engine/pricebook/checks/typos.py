"""Which cell to blame when cross-checks disagree: the typo finder.

Cross-checks tie a few cells together: a stated total against units × price, a tier's bounds
against its neighbours and its total, a price range against the ranges beside it, a Tests example
against the prices. When one number is mistyped, the check that notices reports at the cell it
happens to read last (a correct stated total, the next tier's bound, the Tests sheet), and a hint
that repeats its arithmetic would lock the typo in if followed. This step runs after the checks
and treats each table as a small constraint problem:

1. The errors of cross-checks are grouped by table: a tier table (a product and its conditions),
   a package, a promotion, a family of lead price ranges (rows with the same conditions; the
   default rows are one family), and the Tests sheet's failing examples.
2. Candidates, one cell changed at a time: a cell in a cross-check equation that does not hold
   (a stated total, ranges that must meet) is offered the value that solves it, which with one
   typo is the value meant; a cell that only ordering or the examples can judge (a bound among
   bounds, a price no stated total repeats, an example's inputs) is offered every value one
   keystroke from what was typed: a digit left out, an extra digit, two digits swapped, a digit
   typed twice. A cell pinned by an equation that holds is left alone.
3. Each candidate is judged by the checks themselves (the same functions that reported the
   errors, run on the table with that one cell changed) and, when nothing else in the workbook
   is wrong, by pricing every example of the Tests sheet on the pricebook it would compile to
   (the quote engine is handed in as an ExampleChecker: this package knows nothing of pricing).
4. Among the candidates that make everything agree: one a keystroke from what was typed beats
   one that is not; then the one leaving fewest oddities (a tier price rising with volume, a
   package out of step with clinic size, a lead price falling as package prices rise); then the
   likelier slip (a digit dropped from 10,500 is likelier than a 5 slipped into 1,000: fewer
   slips of that kind could have been made). Cells whose slips are nearly as likely are all
   named, each hint saying "either ... or ..." and telling nobody to type a value.
5. The winner becomes one error at the mistyped cell (its own finding, or T13) with the value
   that makes its table agree, and every finding it explains is folded into it, warnings that
   the fix makes go away included.

When no single cell explains a table's errors (two typos at once, a pasted column), its findings
stay as the checks reported them; their hints name no value to type. Work is bounded (BUDGET
judgements per validation) and only tables with errors are looked at.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Protocol

from pydantic import ValidationError

from engine.pricebook.cells import INVALID
from engine.pricebook.checks.context import CheckContext, valid
from engine.pricebook.checks.leads import check_lead_prices
from engine.pricebook.checks.offers import check_packages, check_promos, stated_promo_total
from engine.pricebook.checks.tiers import check_tier_table, tier_cost, tier_tables
from engine.pricebook.compile import PricebookTest, compile_pricebook, compile_tests
from engine.pricebook.conditions import Condition
from engine.pricebook.excel_tables import Row
from engine.pricebook.findings import Collector, Finding, Severity, cell_ref
from engine.pricebook.model import SHEET_OF_FIELD, CompiledPricebook
from engine.pricebook.schema import amount_kind
from engine.vocabulary import PromoType

#: Errors of cross-checks: what the finder tries to explain.
CROSS_CHECKS = frozenset({"T02", "T03", "T04", "T05", "T06", "T08", "T11", "E01", "E02"})
#: Warnings that say a table reads oddly: a fix that leaves fewer of them is the likelier one.
ADVISORY = frozenset({"T02", "T07", "T10"})

#: The cells a typo can sit in, by sheet; Tests cells only matter when the Tests sheet is priced.
NUMERIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "UsageTiers": ("up_to", "unit_price_credits", "flat_fee_credits", "stated_tier_credits"),
    "Packages": ("included_units", "unit_price_credits", "stated_total_credits"),
    "LeadPrices": ("pkg_price_from", "pkg_price_to", "lead_price_credits"),
    "TopUpPromos": ("paid_from", "paid_to", "bonus_credits", "bonus_pct", "bonus_cap_credits", "stated_total_credits"),
    "Tests": ("quantity", "call_seconds", "used_before", "package_price", "expected_credits"),
}
#: Columns that only cross-check (a change there cannot change what an example costs).
CHECK_ONLY = frozenset({"stated_tier_credits", "stated_total_credits"})
#: Bounds: cells that only ordering may judge (a tier bound among bounds, a range's ends).
BOUNDS = frozenset({"up_to", "pkg_price_from", "pkg_price_to", "paid_from", "paid_to"})
#: Cross-checks about order and coverage rather than equations.
ORDERING = frozenset({"T02", "T03", "T04", "T05", "T06", "T08"})
#: Columns whose empty cell means "no limit": clearing one can be the fix.
OPEN_ENDED = frozenset({"up_to", "pkg_price_to", "paid_to"})

TYPO_KINDS = {
    "dropped": "a digit left out",
    "extra": "an extra digit",
    "swapped": "two digits swapped",
    "repeated": "a digit typed twice",
}
MOST_TIES = 3  # more equally likely cells than this say nothing: the findings stay as reported
LIKELIER = 30  # a typo this many times likelier than the next explanation is named alone
BUDGET = 4_000  # candidate judgements per validation: bounded work on any workbook
MOST_TARGETS = 200  # more disagreeing findings than this are no typo: they are left as reported
WHOLE_WORKBOOK_ROWS = 20_000  # above this, the Tests are not re-priced nor the workbook re-checked per fix


class ExampleChecker(Protocol):
    """Prices the Tests sheet's examples on a compiled pricebook and adds E01/E02 findings for
    those that fail (engine/pricing/worked_examples.check_examples; injected, since the
    pricebook layer knows nothing of pricing)."""

    def __call__(
        self, pricebook: CompiledPricebook, tests: tuple[PricebookTest, ...], collector: Collector
    ) -> None: ...


# -- keystrokes ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def slips(intended: str) -> dict[str, frozenset[str]]:
    """Every number one keystroke over a digit turns `intended` into, by kind of slip: a digit
    left out, a digit typed twice, two neighbouring digits swapped, another digit slipped in.
    (One digit typed as another is not counted as a typo: a total that differs in a digit is as
    likely a different figure, and 81 for 80 would otherwise outweigh any total.)"""
    digits = [i for i, ch in enumerate(intended) if ch.isdigit()]
    dropped = {intended[:i] + intended[i + 1 :] for i in digits}
    repeated = {intended[: i + 1] + intended[i] + intended[i + 1 :] for i in digits}
    swapped = {
        intended[:i] + intended[i + 1] + intended[i] + intended[i + 2 :]
        for i in digits
        if i + 1 < len(intended) and intended[i + 1].isdigit() and intended[i] != intended[i + 1]
    }
    extra = {intended[:i] + d + intended[i:] for i in range(len(intended) + 1) for d in "0123456789"} - repeated
    found = {"dropped": dropped, "repeated": repeated, "swapped": swapped, "extra": extra}
    return {kind: frozenset(t for t in texts if t != intended and _plain_number(t)) for kind, texts in found.items()}


def keystroke_typo(intended: str, typed: str) -> str | None:
    """Which one-keystroke slip turns `intended` into `typed` (a key of TYPO_KINDS), or None:
    '11500' → '1150' is a digit left out, '500' → '5000' a digit typed twice."""
    return next((kind for kind, texts in slips(intended).items() if typed in texts), None)


def likelihood(kind: str, intended: str) -> Fraction:
    """How likely a slip of that kind gives what was typed: one of the slips of its kind that
    `intended` allows, each as likely (a 5-digit number has more places to slip a digit into
    than a 1-digit one, so a typo explained by '21 → 2' is rarer than one by '10500 → 1000')."""
    return Fraction(1, max(1, len(slips(intended)[kind])))


def untyped(typed: str) -> set[str]:
    """Every number a one-keystroke slip could have turned into `typed` (digit strings only)."""
    found: set[str] = set()
    for i in range(len(typed)):
        if typed[i].isdigit():
            found.add(typed[:i] + typed[i + 1 :])
        if i + 1 < len(typed) and typed[i].isdigit() and typed[i + 1].isdigit():
            found.add(typed[:i] + typed[i + 1] + typed[i] + typed[i + 2 :])
    for i in range(len(typed) + 1):
        for digit in "0123456789":
            found.add(typed[:i] + digit + typed[i:])
    return {t for t in found if t != typed and _plain_number(t)}


def _plain_number(text: str) -> bool:
    whole, _, fraction = text.partition(".")
    return (
        bool(whole)
        and whole.isdigit()
        and (whole == "0" or not whole.startswith("0"))
        and (fraction == "" or fraction.isdigit())
        and not text.endswith(".")
    )


def typed_text(raw: Any) -> str | None:
    """What the editor typed into a number cell, as digits ('11500', '74.7'); None for anything
    that is not a plain non-negative number (text with units, dates)."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw) or raw < 0 or raw >= 1e15:
            return None
        return str(int(raw)) if raw.is_integer() else repr(raw)
    if isinstance(raw, int):
        return str(raw) if raw >= 0 else None
    text = str(raw).strip().replace(",", "")
    return text if len(text) <= 20 and _plain_number(text) else None


_SCALED = re.compile(r"^(\d{1,15}(?:\.\d{1,15})?)\s?([kKmM])\s?(?:credits?|cr)?\.?$")


@dataclass(frozen=True)
class Slip:
    """How what was typed is one keystroke from the value meant."""

    kind: str  # a key of TYPO_KINDS
    intended: str  # the value meant, in the digits the cell was typed in ('1.520' of '1.250M')
    suffix: str = ""  # K or M when the cell was written scaled

    @property
    def likelihood(self) -> Fraction:
        return likelihood(self.kind, self.intended)

    def __str__(self) -> str:
        return self.intended + self.suffix


def typo_between(value: Decimal | int, raw: Any) -> Slip | None:
    """Which one-keystroke slip turns `value`, written the way the cell was written, into what
    the cell holds: 1,520,000 against '1.250M credits' is two digits swapped in 1.520M."""
    typed = typed_text(raw)
    if typed is not None:
        intended = _number_text(value)
        kind = keystroke_typo(intended, typed)
        return None if kind is None else Slip(kind, intended)
    match = _SCALED.match(str(raw).strip()) if isinstance(raw, str) else None
    if match is None:
        return None
    number, suffix = match.groups()
    places = len(number.partition(".")[2])
    scaled = Decimal(value) / (1000 if suffix in "kK" else 1_000_000)
    if scaled != scaled.quantize(Decimal(1).scaleb(-places)):
        return None
    intended = f"{scaled:.{places}f}"
    kind = keystroke_typo(intended, number)
    return None if kind is None else Slip(kind, intended, suffix)


def _number_text(value: Decimal | int) -> str:
    d = Decimal(value)
    return str(int(d)) if d == d.to_integral_value() else format(d.normalize(), "f")


# -- tables -------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Table:
    """Rows whose cross-checks constrain each other, the check that judges them, and how to solve
    its cross-checks for one cell."""

    sheet: str
    name: str  # 'the sms tiers', 'package PK-SOLO-SMS' ...
    rows: list[Row]
    check: Callable[[CheckContext], None]
    solve: Callable[[list[Row]], Iterator[tuple[Row, str, Any]]] = lambda rows: iter(())
    soft: Callable[[CheckContext, list[Row]], int] = lambda ctx, rows: 0  # oddities no check reports
    whole_sheet: bool = False  # its errors include the sheet's own (the default lead ranges' coverage)

    def readable(self) -> bool:
        return all(row.ok(*NUMERIC_COLUMNS[self.sheet]) for row in self.rows)


@dataclass(frozen=True)
class Verdict:
    errors: frozenset[tuple[str, int, str]]  # (code, row, column) of each error
    warnings: frozenset[tuple[str, int, str]]  # advisory warnings
    soft: int

    @property
    def oddities(self) -> int:
        return len(self.warnings) + self.soft


def _tables(ctx: CheckContext) -> list[Table]:
    tables: list[Table] = []
    products = ctx.product_rows()
    for key, rows in tier_tables(ctx).items():
        product = key[0]
        pricing = products[product].get("pricing")
        pricing = pricing if valid(pricing) else "graduated"
        conditions = [c for c in key[1:] if c != "-"]
        tables.append(
            Table(
                "UsageTiers",
                f"the {product} tiers" + (f" for {', '.join(conditions)}" if conditions else ""),
                rows,
                functools.partial(_check_tiers_of, product, pricing),
                _solve_tiers,
            )
        )
    for row in ctx.sheet("Packages"):
        tables.append(
            Table("Packages", f"package {row.rule_id}", [row], check_packages, _solve_package, _package_ladder)
        )
    for row in ctx.sheet("TopUpPromos"):
        tables.append(Table("TopUpPromos", f"promotion {row.rule_id}", [row], check_promos, _solve_promo))
    families: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    for row in ctx.sheet("LeadPrices"):
        lead_conditions: list[Condition] = [row.get(c) for c in ("channel", "specialty", "city")]
        if any(c is None or c is INVALID for c in lead_conditions):
            continue
        default = lead_conditions[1].is_any and lead_conditions[2].is_any
        families[("default",) if default else tuple(c.text for c in lead_conditions)].append(row)
    for key, rows in families.items():
        name = "the default lead price ranges" if key == ("default",) else f"the lead price ranges for {', '.join(key)}"
        tables.append(
            Table(
                "LeadPrices",
                name,
                rows,
                check_lead_prices,
                _solve_ranges,
                _falling_lead_prices,
                whole_sheet=key == ("default",),
            )
        )
    return tables


def _check_tiers_of(product: str, pricing: str, sub: CheckContext) -> None:
    """Check the tier table of `product` in a sub-context that holds only its rows."""
    check_tier_table(sub, product, sub.sheet("UsageTiers"), pricing)


def _solve_tiers(rows: list[Row]) -> Iterator[tuple[Row, str, Any]]:
    """Values that satisfy a tier's stated total for each of its cells, with the tiers in sheet
    order (what the editor meant when a typo broke the order) and in order of up_to."""
    bounded = [r for r in rows if valid(r.get("up_to"))]
    by_bound = sorted(bounded, key=lambda r: r.get("up_to")) + [r for r in rows if r.get("up_to") is None]
    for order in (rows, by_bound):
        previous: Row | None = None
        for row in order:
            up_to, price, stated = row.get("up_to"), row.get("unit_price_credits"), row.get("stated_tier_credits")
            flat = row.get("flat_fee_credits") or Decimal(0)
            lower = previous.get("up_to") if previous is not None and valid(previous.get("up_to")) else 0
            if valid(up_to) and valid(price):
                yield row, "stated_tier_credits", tier_cost(up_to - lower, price, flat)
            if valid(stated) and valid(price) and price:
                size = (stated - flat) / price
                if valid(up_to):
                    yield row, "up_to", lower + size
                    if previous is not None and valid(previous.get("up_to")):
                        yield previous, "up_to", up_to - size
            if valid(stated) and valid(up_to) and up_to > lower:
                yield row, "unit_price_credits", (stated - flat) / (up_to - lower)
                if valid(price):
                    yield row, "flat_fee_credits", stated - (up_to - lower) * price
            previous = row
        if order and valid(order[-1].get("up_to")):
            yield order[-1], "up_to", None


def _solve_package(rows: list[Row]) -> Iterator[tuple[Row, str, Any]]:
    (row,) = rows
    units, price, stated = row.get("included_units"), row.get("unit_price_credits"), row.get("stated_total_credits")
    if valid(units) and valid(price):
        yield row, "stated_total_credits", units * price
    if valid(stated) and valid(price) and price:
        yield row, "included_units", stated / price
    if valid(stated) and valid(units) and units:
        yield row, "unit_price_credits", stated / units


def _package_ladder(ctx: CheckContext, rows: list[Row]) -> int:
    """Packages of one product out of step with clinic size: a bigger clinic's package holding
    fewer units, or costing more per unit, than a smaller clinic's."""
    (changed,) = rows
    sizes = {size: rank for rank, size in enumerate(ctx.domains["clinic_size"].values)}
    ladder = sorted(
        (
            (sizes[r.get("clinic_size")], r.get("included_units"), r.get("unit_price_credits"))
            for r in (changed if r.row == changed.row else r for r in ctx.sheet("Packages"))
            if r.get("product") == changed.get("product")
            and r.get("clinic_size") in sizes
            and valid(r.get("included_units"))
            and valid(r.get("unit_price_credits"))
        ),
        key=lambda step: step[0],
    )
    return sum((b[1] < a[1]) + (b[2] > a[2]) for a, b in itertools.pairwise(ladder) if b[0] > a[0])


def _solve_promo(rows: list[Row]) -> Iterator[tuple[Row, str, Any]]:
    """paid_from + bonus = stated total, solved for each: a fixed bonus is added as it is; a
    percentage bonus grows with what is paid until its cap."""
    (row,) = rows
    expected, stated, paid = stated_promo_total(row), row.get("stated_total_credits"), row.get("paid_from")
    if expected is not None:
        yield row, "stated_total_credits", expected
    if not (valid(stated) and valid(paid) and expected is not None):
        return
    bonus, pct, cap = row.get("bonus_credits"), row.get("bonus_pct"), row.get("bonus_cap_credits")
    if row.get("promo_type") == PromoType.PCT_BONUS and valid(pct):
        yield row, "paid_from", stated / (1 + pct)
        if valid(cap):
            yield row, "paid_from", stated - cap
            yield row, "bonus_cap_credits", stated - paid
        if paid:
            yield row, "bonus_pct", (stated - paid) / paid
    elif valid(bonus):
        yield row, "paid_from", stated - bonus
        yield row, "bonus_credits", stated - paid


def _ranges(rows: list[Row]) -> list[Row]:
    return sorted((r for r in rows if valid(r.get("pkg_price_from"))), key=lambda r: (r.get("pkg_price_from"), r.row))


def _solve_ranges(rows: list[Row]) -> Iterator[tuple[Row, str, Any]]:
    """Ranges that meet their neighbours: each to is the next from; the first starts at 0, the
    last is open. Both the sheet order and the order of pkg_price_from are tried."""
    for order in (rows, _ranges(rows)):
        for before, after in itertools.pairwise(order):
            if valid(after.get("pkg_price_from")):
                yield before, "pkg_price_to", after.get("pkg_price_from")
            if valid(before.get("pkg_price_to")):
                yield after, "pkg_price_from", before.get("pkg_price_to")
        if order:
            yield order[0], "pkg_price_from", Decimal(0)
            yield order[-1], "pkg_price_to", None


def _falling_lead_prices(ctx: CheckContext, rows: list[Row]) -> int:
    """Lead prices that fall as the package price rises, in one family of ranges."""
    prices = [r.get("lead_price_credits") for r in _ranges(rows)]
    prices = [p for p in prices if valid(p)]
    return sum(1 for a, b in itertools.pairwise(prices) if b < a)


# -- the finder ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    table: Table | None  # None for a Tests cell
    row: Row
    column: str

    @property
    def ref(self) -> str:
        return cell_ref(self.row.row, self.row.col(self.column))

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.row.sheet, self.row.row, self.column)


@dataclass(frozen=True)
class Candidate:
    cell: Cell
    value: Any
    typo: Slip | None  # how what was typed is one keystroke from `value`
    oddities: int
    verdict: Verdict | None
    rounder: int  # significant digits the fix adds (negative: rounder than what was typed)
    priced: bool = False  # the Tests examples were priced with the fix and all agree

    def rank(self) -> tuple[bool, int]:
        """Likelier first: a keystroke from what was typed, then fewest oddities left in the
        tables (a price rising with volume, a lead price falling as package prices rise)."""
        return (self.typo is None, self.oddities)

    @property
    def likelihood(self) -> Fraction:
        return Fraction(0) if self.typo is None else self.typo.likelihood


@dataclass
class Bench:
    """The Tests sheet, priced: the pricebook as typed and its examples."""

    checker: ExampleChecker
    pricebook: CompiledPricebook
    tests: tuple[PricebookTest, ...]
    failing: frozenset[str] = frozenset()

    def fails(self, pricebook: CompiledPricebook, tests: tuple[PricebookTest, ...]) -> frozenset[str]:
        """The examples that fail; all of them when the pricebook cannot price at all (a tier
        table that a candidate leaves unsorted is refused by the pricing layer)."""
        scratch = Collector()
        try:
            self.checker(pricebook, tests, scratch)
        except (ValueError, ArithmeticError, LookupError, TypeError):
            return frozenset(t.case_id for t in tests)
        return frozenset(f.rule_id for f in scratch.findings if f.severity is Severity.ERROR)

    def all_pass(self, pricebook: CompiledPricebook, tests: tuple[PricebookTest, ...]) -> bool:
        if self.failing:
            first = tuple(t for t in tests if t.case_id in self.failing)
            if self.fails(pricebook, first):
                return False
        return not self.fails(pricebook, tests)

    def with_cell(self, sheet: str, rule_id: str, column: str, value: Any) -> CompiledPricebook | None:
        """The pricebook with one row's field changed (None when the field prices nothing)."""
        name = FIELD_OF_SHEET.get(sheet)
        if name is None or column in CHECK_ONLY:
            return None
        rows = getattr(self.pricebook, name)
        changed = tuple(r.model_copy(update={column: value}) if r.rule_id == rule_id else r for r in rows)
        fields = {n: getattr(self.pricebook, n) for n in CompiledPricebook.model_fields}
        return CompiledPricebook.model_construct(**{**fields, name: changed})


FIELD_OF_SHEET = {sheet: name for name, sheet in SHEET_OF_FIELD.items()}


@dataclass
class Problem:
    """Errors one changed cell might explain, and the cells that might be it."""

    tables: list[Table]  # tables whose errors are to be explained
    tests: list[Finding] = field(default_factory=list)  # E01/E02 findings to explain
    bench: Bench | None = None
    related: list[tuple[Table, Row]] = field(default_factory=list)  # rows that price the failing examples


class TypoFinder:
    def __init__(
        self,
        ctx: CheckContext,
        collector: Collector,
        checker: ExampleChecker | None,
        recheck: Callable[[CheckContext], None] | None = None,
    ):
        self.ctx, self.collector, self.checker, self.recheck = ctx, collector, checker, recheck
        self.budget = BUDGET
        self.baselines: dict[int, Verdict] = {}

    # -- judging ----------------------------------------------------------------------------------------
    def judge(self, table: Table, rows: list[Row]) -> Verdict:
        self.budget -= 1
        scratch = Collector(trial=True)
        sub = CheckContext(
            collector=scratch,
            meta=self.ctx.meta,
            domains=self.ctx.domains,
            rows={**self.ctx.rows, table.sheet: rows},
            money=self.ctx.money,
        )
        table.check(sub)
        own = {row.row for row in table.rows} | ({0} if table.whole_sheet else set())
        errors = frozenset(  # the table's own: a part of a sheet checked alone misses the rest (a default row)
            (f.code, f.row, f.column)
            for f in scratch.findings
            if f.severity is Severity.ERROR and f.sheet == table.sheet and f.row in own
        )
        warnings = frozenset(
            (f.code, f.row, f.column) for f in scratch.findings if f.severity is Severity.WARNING and f.code in ADVISORY
        )
        return Verdict(errors, warnings, table.soft(self.ctx, rows))

    def baseline(self, table: Table) -> Verdict:
        if id(table) not in self.baselines:
            self.baselines[id(table)] = self.judge(table, table.rows)
        return self.baselines[id(table)]

    # -- the run ----------------------------------------------------------------------------------------
    def run(self) -> None:
        errors = [f for f in self.collector.findings if f.severity is Severity.ERROR]
        targets = [f for f in errors if f.code in CROSS_CHECKS]
        if not targets or len(targets) > MOST_TARGETS:
            return
        tables = _tables(self.ctx)
        at: dict[tuple[str, int], Table] = {(row.sheet, row.row): t for t in tables for row in t.rows}
        default_leads = next((t for t in tables if t.whole_sheet), None)
        by_table: dict[int, Table] = {}
        tests: list[Finding] = []
        stray = False
        for finding in targets:
            if finding.code in ("E01", "E02"):
                tests.append(finding)
                continue
            table = at.get((finding.sheet, finding.row))
            if table is None and finding.sheet == "LeadPrices" and not finding.row:
                table = default_leads
            if table is None or not table.readable():
                stray = True
                continue
            by_table[id(table)] = table
        others = [f for f in errors if f.code not in CROSS_CHECKS]
        bench = None if (others or stray) else self._bench()
        problems: list[Problem] = []
        if bench is not None and len(by_table) <= 1:
            whole = Problem(list(by_table.values()), tests, bench, self._related(tables, tests, bench))
            if self._solve(whole):
                return
            if not by_table and len(tests) > 1:  # examples wrong each in its own way
                problems.extend(
                    Problem([], [finding], bench, self._related(tables, [finding], bench)) for finding in tests
                )
        else:
            problems.extend(Problem([table]) for table in by_table.values())
        for problem in problems:
            self._solve(problem)

    def _bench(self) -> Bench | None:
        """The Tests sheet priced on the pricebook as typed, when there is one to price it with."""
        if self.checker is None or not self.ctx.sheet("Tests") or not self._small():
            return None
        try:
            pricebook, tests = compile_pricebook(self.ctx), compile_tests(self.ctx)
        except (ValidationError, KeyError, TypeError, ValueError, InvalidOperation):
            return None  # some value the checks let through as an error elsewhere
        bench = Bench(self.checker, pricebook, tests)
        bench.failing = bench.fails(pricebook, tests)
        return bench

    def _small(self) -> bool:
        """Small enough to compile, price and re-check once per candidate fix."""
        return sum(len(rows) for rows in self.ctx.rows.values()) <= WHOLE_WORKBOOK_ROWS

    def _related(self, tables: list[Table], tests: list[Finding], bench: Bench) -> list[tuple[Table, Row]]:
        """The rows that price the failing examples: the rules they expect, the package their plan
        names, and every tier of their product when they expect no rule in particular."""
        failing = {f.rule_id for f in tests}
        wanted: set[str] = set()
        products: set[str] = set()
        for test in bench.tests:
            if test.case_id not in failing:
                continue
            wanted.update(r.casefold() for r in test.expected_rule_ids)
            if not test.expected_rule_ids:
                products.add(test.product)
            wanted.update(
                r.rule_id.casefold()
                for r in self.ctx.sheet("Packages")
                if r.get("package_code") == test.plan and r.get("product") == test.product
            )
        related = []
        for table in tables:
            if not table.readable():
                continue
            for row in table.rows:
                tier_of_product = table.sheet == "UsageTiers" and row.get("product") in products
                if tier_of_product or row.rule_id.casefold() in wanted:
                    related.append((table, row))
        return related

    def _candidates(self, problem: Problem) -> Iterator[tuple[Cell, list[Any]]]:
        """Each cell that may be the mistyped one, with the values it may have been meant to hold.

        A cell in a cross-check equation that does not hold (a stated total, ranges that must
        meet) is offered the value that solves it: with one typo that is the value meant. Cells
        only ordering or the Tests examples can judge (a bound among bounds, an example's
        inputs, a price no stated total repeats) are offered every value one keystroke from
        what was typed."""
        solved: dict[tuple[str, int, str], list[Any]] = defaultdict(list)
        for table in dict.fromkeys([*problem.tables, *(t for t, _ in problem.related)]):
            for row, column, value in table.solve(table.rows):
                solved[(row.sheet, row.row, column)].append(value)
        for cell, free in self._table_cells(problem):
            yield cell, self._options(cell, free, solved.get(cell.key, []))
        failing = {f.rule_id for f in problem.tests}
        for row in self.ctx.sheet("Tests"):
            if row.rule_id in failing:
                for column in NUMERIC_COLUMNS["Tests"]:
                    if column in row.cols and valid(row.get(column)):
                        cell = Cell(None, row, column)
                        yield cell, self._values(cell, self._keystrokes(cell))

    def _options(self, cell: Cell, free: bool, solutions: list[Any]) -> list[Any]:
        """Solutions of the cell's broken equations; else, for a cell no equation pins to what it
        holds, the values a keystroke away (when `free`: a cell the errors point at)."""
        values = self._values(cell, solutions)
        if values:
            return values
        current = cell.row.get(cell.column)
        pinned = any(_typed_like(cell.column, current, v) == current for v in solutions)
        return [] if pinned or not free else self._values(cell, self._keystrokes(cell))

    def _table_cells(self, problem: Problem) -> Iterator[tuple[Cell, bool]]:
        """The numeric cells of the problem's tables and of the rows related to it, each with
        whether any value a keystroke away may be offered (a cell the errors point at)."""
        for table in problem.tables:
            targets = self._targets(table, problem)
            rows = {r for _, r, _ in targets}
            ordering = any(code in ORDERING for code, _, _ in targets)
            for row in table.rows:
                for column in NUMERIC_COLUMNS[table.sheet]:
                    if column in row.cols:
                        free = row.row in rows or 0 in rows or (ordering and column in BOUNDS)
                        yield Cell(table, row, column), free
        for table, row in problem.related:
            if table in problem.tables:
                continue
            for column in NUMERIC_COLUMNS[table.sheet]:
                if column in row.cols and column not in CHECK_ONLY:
                    yield Cell(table, row, column), True

    @staticmethod
    def _keystrokes(cell: Cell) -> list[Any]:
        typed = typed_text(cell.row.raw(cell.column))
        return [] if typed is None else [Decimal(text) for text in sorted(untyped(typed))]

    @staticmethod
    def _values(cell: Cell, options: list[Any]) -> list[Any]:
        """`options` typed like the cell's column, without repeats or the value it holds."""
        current = cell.row.get(cell.column)
        if current is INVALID:
            return []
        values: list[Any] = []
        for option in options:
            value = _typed_like(cell.column, current, option)
            if value is not INVALID and value != current and value not in values:
                values.append(value)
        return values

    def _solve(self, problem: Problem) -> bool:
        everything = problem.tables + [t for t, _ in problem.related if t not in problem.tables]
        base_oddities = sum(self.baseline(t).oddities for t in dict.fromkeys(everything))
        found: list[Candidate] = []
        for cell, values in self._candidates(problem):
            for value in values:
                if self.budget <= 0:
                    return False
                candidate = self._judge(problem, cell, value, base_oddities)
                if candidate is not None:
                    found.append(candidate)
        if not found:
            return False
        winners = _likeliest(found)
        if len(winners) > MOST_TIES:
            return False
        self._report(problem, winners)
        return True

    def _judge(self, problem: Problem, cell: Cell, value: Any, base_oddities: int) -> Candidate | None:
        bench = problem.bench
        verdict = None
        oddities = base_oddities
        priced = False
        if cell.table is not None:
            table = cell.table
            rows = [replace(r, values={**r.values, cell.column: value}) if r is cell.row else r for r in table.rows]
            verdict = self.judge(table, rows)
            before = self.baseline(table)
            allowed = before.errors - self._targets(table, problem)
            if not verdict.errors <= allowed:
                return None
            oddities += verdict.oddities - before.oddities
            if bench is not None:
                pricebook = bench.with_cell(table.sheet, cell.row.rule_id, cell.column, value)
                if pricebook is None:
                    if bench.failing:
                        return None  # a figure that prices nothing cannot put a failing example right
                elif not bench.all_pass(pricebook, bench.tests):
                    return None
                priced = pricebook is not None
        else:
            if bench is None:
                return None
            self.budget -= 1
            if not bench.failing <= {cell.row.rule_id}:
                return None  # another example fails too: changing this one cannot be all of it
            test = next(t for t in bench.tests if t.case_id == cell.row.rule_id)
            if bench.fails(bench.pricebook, (test.model_copy(update={cell.column: value}),)):
                return None
        current = cell.row.get(cell.column)
        typo = None if value is None else typo_between(value, cell.row.raw(cell.column))
        rounder = _significant(value) - _significant(current)
        return Candidate(cell, value, typo, oddities, verdict, rounder, priced)

    def _targets(self, table: Table, problem: Problem) -> frozenset[tuple[str, int, str]]:
        if table not in problem.tables:
            return frozenset()
        return self.baseline(table).errors

    # -- reporting --------------------------------------------------------------------------------------
    def _report(self, problem: Problem, winners: list[Candidate]) -> None:
        """Replace what the winners explain with one error at each winner's cell: the errors of
        the problem's tables and examples, and every warning the fix would make go away (a price
        that seemed to rise with volume, a package that seemed dearer than pay-as-you-go)."""
        rows = {(row.sheet, row.row) for table in problem.tables for row in table.rows}
        sheets = {table.sheet for table in problem.tables}
        warned = any(f.severity is Severity.WARNING for f in self.collector.findings)
        before = self._recheck(None) if warned else frozenset()
        remaining = [self._recheck(winner) for winner in winners] if warned else []
        folded: list[Finding] = []
        for finding in self.collector.findings:
            if finding.severity is Severity.ERROR and finding.code in CROSS_CHECKS:
                in_table = (finding.sheet, finding.row) in rows or (not finding.row and finding.sheet in sheets)
                if in_table or finding in problem.tests:
                    folded.append(finding)
            elif (
                finding.severity is Severity.WARNING
                and _key(finding) in before
                and all(_key(finding) not in after for after in remaining)
            ):
                folded.append(finding)
        drop = {id(f) for f in folded}
        self.collector.findings = [f for f in self.collector.findings if id(f) not in drop]
        for winner in winners:
            self._blame(winner, [w for w in winners if w is not winner], folded)

    def _recheck(self, winner: Candidate | None) -> frozenset[tuple[str, str, int, str]]:
        """What the workbook's table checks find, with the winner's fix made (None: as typed).
        Findings of the cell reader (a number typed as text, a formula-like note) are not
        theirs, and stay whatever the fix."""
        if self.recheck is None or not self._small():
            return frozenset()  # a big workbook keeps its warnings: re-checking it per fix costs seconds
        rows = dict(self.ctx.rows)
        if winner is not None:
            cell = winner.cell
            rows[cell.row.sheet] = [
                replace(r, values={**r.values, cell.column: winner.value}) if r is cell.row else r
                for r in self.ctx.sheet(cell.row.sheet)
            ]
        scratch = Collector(trial=True)
        self.recheck(
            CheckContext(
                collector=scratch, meta=self.ctx.meta, domains=self.ctx.domains, rows=rows, money=self.ctx.money
            )
        )
        return frozenset(_key(f) for f in scratch.findings)

    def _blame(self, winner: Candidate, others: list[Candidate], folded: list[Finding]) -> None:
        cell = winner.cell
        sheet = cell.row.sheet
        own = next((f for f in folded if f.severity is Severity.ERROR and (f.sheet, f.row, f.column) == cell.key), None)
        elsewhere = sorted(
            {
                f.cell
                for f in folded
                if f.cell
                and f.severity is Severity.ERROR
                and (f.sheet, f.row, f.column) != cell.key
                and f.sheet == sheet
            },
            key=lambda ref: (len(ref.rstrip("0123456789")), ref),
        )
        places = [f"{ref}" for ref in elsewhere]
        other_examples = any(f.sheet == "Tests" and (f.sheet, f.row, f.column) != cell.key for f in folded)
        if (winner.priced and sheet != "Tests") or other_examples:
            places.append("the Tests examples")
        agree = f"{_joined(places)} agree" if places else f"{_table_name(cell)} consistent"
        fix = self._shown(sheet, cell.column, winner.value)
        why = ""
        if winner.typo is not None:
            why = f" ({_typed_display(cell)} looks like {winner.typo} with {TYPO_KINDS[winner.typo.kind]})"
        if others:  # equally likely: say so, and tell nobody to type what might lock a typo in
            either = [f"this cell should be {self._typed(winner.value)}{why}"] + [
                f"{o.cell.row.sheet}!{o.cell.ref} should be {self._typed(o.value)}" for o in others
            ]
            action = "Either " + " or ".join(either) + ": check which one was mistyped"
            why = ""
        elif winner.value is None:
            action = "Clear the cell"
        else:
            action = f"Type {self._typed(winner.value)}"
        if own is not None:
            code, message = own.code, own.message
            hint = f"{action}: that makes {agree}{why}." if not others else f"{action}."
        else:
            code = "T13"
            what = _joined(_broken(folded)) or "its cross-checks"
            message = (
                f"{cell.ref} = {_typed_display(cell)} ({cell.column} of {cell.row.rule_id}) breaks {what}; "
                f"{fix} would make {agree}."
            )
            hint = f"{action}{why}."
        self.collector.add(
            code,
            Severity.ERROR,
            message,
            hint,
            sheet=sheet,
            row=cell.row.row,
            col=cell.row.col(cell.column),
            column=cell.column,
            rule_id=cell.row.rule_id,
            value=cell.row.raw(cell.column),
        )

    def _typed(self, value: Any) -> str:
        """A value as it is typed into the cell ('nothing' for an empty cell)."""
        return "empty" if value is None else self.ctx.count(value)

    def _shown(self, sheet: str, column: str, value: Any) -> str:
        if value is None:
            return "an empty cell"
        kind = amount_kind(sheet, column)
        if kind == "money":
            return self.ctx.money_text(value)
        if kind == "credits":
            return self.ctx.credits(value)
        if kind == "percent":
            return self.ctx.percent(value)
        return self.ctx.count(value)


def _key(finding: Finding) -> tuple[str, str, int, str]:
    return (finding.code, finding.sheet, finding.row, finding.column)


def _significant(value: Any) -> int:
    """Significant digits of a number (500 → 1, 11,500 → 3, 74.7 → 3); 0 for an empty cell."""
    if value is None or value is INVALID:
        return 0
    digits = _number_text(value).replace(".", "").strip("0")
    return len(digits)


def _likeliest(found: list[Candidate]) -> list[Candidate]:
    """The candidates to blame, one per cell: of the best rank, the cells whose typos are
    nearly as likely as the likeliest cell's (within LIKELIER; a cell that several values would
    put right, like 61 to 120 seconds all billing two minutes, adds their likelihoods). One of
    the likeliest whose fix alone is the roundest figure is named alone (a slipped digit rarely
    makes a figure rounder: 2,010,000 is 2,100,000 mistyped, not a 10,000 cap typed as 100,000);
    roundness never outweighs likelihood (940,000 for 2,940,000 is rounder, but a dropped 1 in
    147 is likelier than a 2 slipped in front). Fixes that are no keystroke from what was typed
    cannot be told apart: all are named."""
    best = min(c.rank() for c in found)
    by_cell: dict[tuple[str, int, str], list[Candidate]] = defaultdict(list)
    for candidate in found:
        if candidate.rank() == best:
            by_cell[candidate.cell.key].append(candidate)
    if best[0]:  # no keystroke from what was typed
        return [values[0] for values in by_cell.values()]
    weight = {key: sum((c.likelihood for c in values), Fraction(0)) for key, values in by_cell.items()}
    pick = {key: max(values, key=lambda c: (c.likelihood, -c.rounder)) for key, values in by_cell.items()}
    top = max(weight.values())
    close = [pick[key] for key in by_cell if weight[key] * LIKELIER >= top]
    roundest = min(close, key=lambda c: (c.rounder, -weight[c.cell.key]))
    if weight[roundest.cell.key] == top and sum(c.rounder == roundest.rounder for c in close) == 1:
        return [roundest]  # as likely as any, and rounder: 2,010,000 is 2,100,000 with a 0 moved
    return close


def _typed_like(column: str, current: Any, option: Any) -> Any:
    """`option` as the kind of value the column holds (whole numbers stay whole), or INVALID."""
    if option is None:
        return None if column in OPEN_ENDED else INVALID
    try:
        number = Decimal(option)
    except (InvalidOperation, TypeError, ValueError):
        return INVALID
    if not number.is_finite() or number < 0 or number.adjusted() > 15:
        return INVALID
    if isinstance(current, int) or (current is None and column in ("up_to", "paid_to")):
        return int(number) if number == number.to_integral_value() else INVALID
    return number.normalize() if number != number.to_integral_value() else Decimal(int(number))


def _typed_display(cell: Cell) -> str:
    raw = cell.row.raw(cell.column)
    text = typed_text(raw)
    if text is not None and not isinstance(raw, str):
        return _number_text(Decimal(text))
    return repr(raw) if isinstance(raw, str) else str(raw)


def _table_name(cell: Cell) -> str:
    if cell.table is not None:
        return cell.table.name
    return f"example {cell.row.rule_id}"


#: What a folded finding says breaks, by sheet and code.
PHRASES = {
    **dict.fromkeys((("UsageTiers", c) for c in ("T02", "T04", "T05")), "the tier sequence"),
    ("UsageTiers", "T11"): "the stated tier totals",
    ("Packages", "T11"): "the stated package total",
    ("TopUpPromos", "T11"): "the stated total",
    ("TopUpPromos", "T06"): "the paid range",
    **dict.fromkeys((("LeadPrices", c) for c in ("T03", "T04", "T06", "T08")), "the package price ranges"),
    **dict.fromkeys((("Tests", c) for c in ("E01", "E02")), "the Tests examples"),
}


def _broken(folded: Iterable[Finding]) -> list[str]:
    phrases: list[str] = []
    for finding in folded:
        phrase = PHRASES.get((finding.sheet, finding.code))
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    return phrases


def _joined(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def find_typos(
    ctx: CheckContext,
    collector: Collector,
    checker: ExampleChecker | None = None,
    recheck: Callable[[CheckContext], None] | None = None,
) -> None:
    """Blame the mistyped cell where cross-checks disagree (see the module docstring).

    `checker` prices the Tests sheet; `recheck` runs every table check of the workbook (the
    validator's run_checks), to fold the warnings a fix makes go away."""
    TypoFinder(ctx, collector, checker, recheck).run()
