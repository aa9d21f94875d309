"""The pipeline: read safely → Meta and Lists → type every row → check every table → compile.

Each step adds findings instead of stopping, so one run reports every problem of a workbook.
Compiling happens only when no finding is an error; the result is a Report that carries the
findings, the compiled pricebook (when there is one) and the Tests sheet's examples.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine.errors import CreditbookError
from engine.pricebook.cells import INVALID, CellReader, Domain, MoneyContext
from engine.pricebook.checks.bounds import check_bounds
from engine.pricebook.checks.context import CheckContext
from engine.pricebook.checks.leads import check_lead_prices
from engine.pricebook.checks.offers import check_bundles, check_packages, check_promos
from engine.pricebook.checks.policies import check_alerts, check_disputes, check_overdraft
from engine.pricebook.checks.references import check_tests_sheet, check_unique, check_unused_lists
from engine.pricebook.checks.tiers import check_products, check_usage_tiers
from engine.pricebook.checks.typos import ExampleChecker, find_typos
from engine.pricebook.checks.versions import check_against_previous
from engine.pricebook.compile import PricebookTest, compile_pricebook, compile_tests
from engine.pricebook.excel_tables import Row, extract, read_rows
from engine.pricebook.findings import Collector, Finding, Severity, sort_findings
from engine.pricebook.meta_lists import read_lists, read_meta
from engine.pricebook.model import CompiledPricebook
from engine.pricebook.safety import DEFAULT_LIMITS, Limits, UnreadableWorkbook
from engine.pricebook.schema import LISTS_SHEET, META_SHEET, README_SHEET, SHEET_BY_NAME, SHEET_ORDER, SHEETS
from engine.pricebook.xlsx import RawWorkbook, read_workbook


@dataclass
class Report:
    """Everything one validation run found out about a workbook."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    pricebook: CompiledPricebook | None = None
    tests: tuple[PricebookTest, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    meta_cells: dict[str, tuple[int, int]] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    # a workbook that does not compile keeps its typed rows and lists, to be diffed all the same
    rows: dict[str, list[Row]] = field(default_factory=dict)
    lists: dict[str, Domain] = field(default_factory=dict)
    unreadable: bool = False
    seconds: float = 0.0

    def of(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity is severity]

    @property
    def errors(self) -> list[Finding]:
        return self.of(Severity.ERROR)

    @property
    def warnings(self) -> list[Finding]:
        return self.of(Severity.WARNING)

    @property
    def ok(self) -> bool:
        return not self.unreadable and not self.errors

    @property
    def exit_code(self) -> int:
        """0 clean (warnings allowed), 1 errors, 2 unreadable file."""
        return 2 if self.unreadable else (1 if self.errors else 0)

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        pricebook = self.pricebook
        return {
            "path": self.path,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "pricebook": None
            if pricebook is None
            else {
                "pricebook_id": pricebook.pricebook_id,
                "version": pricebook.version,
                "effective_from": pricebook.meta.effective_from.isoformat(),
                "semantic_hash": pricebook.semantic_hash,
            },
            "rows": self.row_counts,
            "findings": [f.model_dump(mode="json") for f in self.findings],
        }


class PricebookError(CreditbookError):
    """A workbook that does not compile; `.report.findings` holds every reason."""

    code = "pricebook_invalid"
    status = 422

    def __init__(self, report: Report):
        self.report = report
        errors = report.errors
        first = "; ".join(f"{f.location}: {f.message}" for f in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{report.path}: {len(errors)} error(s): {first}{more}", errors=len(errors))

    @property
    def findings(self) -> list[Finding]:
        return self.report.findings


def _check_sheets(raw: RawWorkbook, market: Any, collector: Collector) -> None:
    present = set(raw.sheets)
    for name in (META_SHEET, LISTS_SHEET):
        if name not in present:
            collector.add(
                "S01",
                Severity.ERROR,
                f"The workbook has no {name} sheet.",
                "Start from the template: creditbook pricebook template OUT.xlsx.",
                sheet=name,
            )
    if isinstance(market, str):
        for spec in SHEETS:
            if market in spec.required_for and spec.name not in present:
                collector.add(
                    "S01",
                    Severity.ERROR,
                    f"A {market} pricebook needs a {spec.name} sheet.",
                    f"{spec.purpose} Copy it from a template: creditbook pricebook template OUT.xlsx "
                    f"--market {market.lower()}.",
                    sheet=spec.name,
                )
    missing = [name for name in SHEET_ORDER if name not in present]
    for name in raw.sheets:
        if name in SHEET_ORDER:
            continue
        guess = difflib.get_close_matches(name.casefold(), [m.casefold() for m in missing], n=1, cutoff=0.75)
        if guess:
            meant = next(m for m in missing if m.casefold() == guess[0])
            collector.add(
                "S01",
                Severity.ERROR,
                f"The sheet {name!r} looks like {meant!r}, which is missing; {name!r} is not read.",
                f"Rename the sheet tab to {meant}.",
                sheet=name,
            )
        else:
            collector.add(
                "S01",
                Severity.INFO,
                f"The sheet {name!r} is not part of the format and is not read.",
                "Fine for working notes.",
                sheet=name,
            )
    if README_SHEET not in present:
        collector.add(
            "S01",
            Severity.INFO,
            "The workbook has no README sheet.",
            "Editors find the column glossary there; copy it from a template.",
            sheet=README_SHEET,
        )


def _typed_rows(raw: RawWorkbook, reader: CellReader, collector: Collector) -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {}
    for spec in SHEETS:
        sheet = raw.sheets.get(spec.name)
        if sheet is None:
            continue
        known = {column.name: column for column in spec.columns}
        extracted = extract(sheet, known, collector)
        if extracted is None:
            continue
        broken = set(sheet.formulas) | set(sheet.errors)
        rows[spec.name] = read_rows(extracted, spec.columns, reader, broken)
    return rows


def run_checks(ctx: CheckContext) -> None:
    """Every table check, in workbook order. Each adds findings; none raises."""
    check_bounds(ctx)
    check_products(ctx)
    check_usage_tiers(ctx)
    check_packages(ctx)
    check_bundles(ctx)
    check_lead_prices(ctx)
    check_promos(ctx)
    check_overdraft(ctx)
    check_disputes(ctx)
    check_alerts(ctx)
    check_unique(ctx)
    ids = {row.rule_id for name, rows in ctx.rows.items() if name != "Tests" for row in rows if row.rule_id}
    check_tests_sheet(ctx, ids)
    check_unused_lists(ctx)


def validate_raw(raw: RawWorkbook, previous: Report | None = None, examples: ExampleChecker | None = None) -> Report:
    """Validate an already-read workbook (the property tests mutate RawWorkbooks directly).

    `examples` prices the Tests sheet (engine.validate_pricebook passes the quote engine's); the
    typo finder also uses it to tell which of two disagreeing cells is the mistyped one."""
    collector = Collector()
    collector.findings.extend(raw.findings)
    lists_sheet = raw.sheets.get(LISTS_SHEET)
    domains = read_lists(lists_sheet, collector)
    reader = CellReader(collector, domains)
    meta, meta_cells = read_meta(raw.sheets.get(META_SHEET), reader, collector)
    _check_sheets(raw, meta.get("market"), collector)
    money_per_credit, currency = meta.get("money_per_credit"), meta.get("currency")
    if money_per_credit not in (None, INVALID) and currency not in (None, INVALID):
        reader.money = MoneyContext(money_per_credit, currency)
    # dates typed with an offset are kept as local wall time of the pricebook's zone; when the zone
    # itself is wrong (a finding already), they are read in UTC, so that every date stays comparable
    reader.zone = ZoneInfo(meta["timezone"]) if isinstance(meta.get("timezone"), str) else ZoneInfo("UTC")
    ctx = CheckContext(collector=collector, meta=meta, domains=domains, money=reader.money, meta_cells=meta_cells)
    ctx.rows = _typed_rows(raw, reader, collector)
    run_checks(ctx)
    report = Report(
        path=str(raw.path),
        meta=meta,
        meta_cells=meta_cells,
        row_counts={name: len(rows) for name, rows in ctx.rows.items()},
    )
    if not collector.has_errors():
        report.pricebook = compile_pricebook(ctx)
        report.tests = compile_tests(ctx)
        if examples is not None and report.tests:
            examples(report.pricebook, report.tests, collector)
    find_typos(ctx, collector, examples, run_checks)
    if previous is not None:
        check_against_previous(collector, meta, meta_cells, report.pricebook, previous.meta, previous.pricebook)
    order = list(raw.sheets) + [n for n in SHEET_ORDER if n not in raw.sheets]
    report.findings = sort_findings(collector.all(), order)
    if collector.has_errors():
        report.pricebook = None
        report.rows, report.lists = ctx.rows, domains  # a draft that does not compile is diffed from these
    return report


def validate_workbook(
    path: str | Path,
    previous: str | Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
    examples: ExampleChecker | None = None,
) -> Report:
    """Validate a workbook file (and optionally compare it with the previous version's file).

    Without `examples` this checks the workbook itself; engine.validate_pricebook passes the
    quote engine's pricer so that the Tests sheet is priced too."""
    started = time.perf_counter()
    previous_report = validate_workbook(previous, limits=limits) if previous is not None else None
    if previous_report is not None and previous_report.unreadable:
        report = Report(
            path=str(path),
            unreadable=True,
            findings=[
                f.model_copy(update={"message": f"Previous version: {f.message}"}) for f in previous_report.findings
            ],
        )
        return report
    try:
        raw = read_workbook(path, limits)
    except UnreadableWorkbook as exc:
        return Report(path=str(path), findings=exc.findings, unreadable=True, seconds=time.perf_counter() - started)
    report = validate_raw(raw, previous_report, examples)
    report.seconds = time.perf_counter() - started
    return report


__all__ = ["SHEET_BY_NAME", "PricebookError", "Report", "validate_raw", "validate_workbook"]
