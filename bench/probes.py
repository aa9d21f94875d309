"""What the benchmark child processes run. Each probe imports what it needs before the clock starts
(see `warm`), so timings are the work itself, not interpreter start-up."""

from __future__ import annotations

from typing import Any


def warm() -> None:
    import python_calamine  # noqa: F401

    import engine  # noqa: F401


def validate_compile(path: str) -> dict[str, Any]:
    from engine import validate_pricebook

    report = validate_pricebook(path)
    if report.pricebook is None:
        raise SystemExit(f"{path} did not compile: {[f.message for f in report.errors[:3]]}")
    return {
        "rows": sum(report.row_counts.values()),
        "findings": len(report.findings),
        "hash": report.pricebook.short_hash,
    }


def validate_any(path: str) -> dict[str, Any]:
    """Validation of a workbook that may well be refused: its exit code and first finding."""
    from engine import validate_pricebook

    report = validate_pricebook(path)
    first = next((f for f in report.findings if f.severity.value == "error"), None)
    return {"exit_code": report.exit_code, "first": f"{first.code} {first.location}" if first else "-"}


def calamine_read(path: str) -> dict[str, Any]:
    """Baseline: python-calamine reading every cell of every sheet, nothing else."""
    import python_calamine

    workbook = python_calamine.CalamineWorkbook.from_path(path)
    cells = 0
    for name in workbook.sheet_names:
        rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
        cells += sum(len(r) for r in rows)
    workbook.close()
    return {"cells": cells}
