"""Loading and validating pricebooks: what `engine.load_pricebook` and `engine.validate_pricebook` are.

A workbook is checked cell by cell and compiled by engine.pricebook (which knows nothing of
pricing); every worked example of its Tests sheet is priced by engine.pricing
(engine/pricing/worked_examples.py), handed to the validator as its example checker so that the
typo finder can weigh the examples too. A pricebook whose examples fail never loads.
"""

from __future__ import annotations

from pathlib import Path

from engine.pricebook.model import CompiledPricebook
from engine.pricebook.safety import DEFAULT_LIMITS, Limits
from engine.pricebook.validate import PricebookError, Report, validate_workbook
from engine.pricing.worked_examples import check_examples


def validate_pricebook(path: str | Path, previous: str | Path | None = None, limits: Limits = DEFAULT_LIMITS) -> Report:
    """Validate a workbook, compile it, and price every example of its Tests sheet.

    The report lists every finding by sheet and cell; `report.pricebook` is the compiled
    pricebook when nothing is an error."""
    return validate_workbook(path, previous=previous, limits=limits, examples=check_examples)


def load_pricebook(path: str | Path) -> CompiledPricebook:
    """Validate and compile a workbook; raise PricebookError (with every finding) if anything is
    an error, its failing Tests examples included."""
    report = validate_pricebook(path)
    if report.pricebook is None:
        raise PricebookError(report)
    return report.pricebook
