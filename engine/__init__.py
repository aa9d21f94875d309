"""creditbook's engine: the stable API the backend imports.

    import engine
    pricebook = engine.load_pricebook("pricebooks/us/us-audiology-v1.xlsx")
    report = engine.validate_pricebook("draft.xlsx")   # every finding, by sheet and cell

Everything not exported here is internal and may move.
"""

from engine.money import format_credits, round_credits
from engine.pricebook.compile import PricebookTest
from engine.pricebook.diff import PricebookDiff, diff_pricebooks
from engine.pricebook.findings import Finding, Severity
from engine.pricebook.model import CompiledPricebook, load_compiled_json
from engine.pricebook.validate import PricebookError, Report, load_pricebook, validate_pricebook

__all__ = [
    "CompiledPricebook",
    "Finding",
    "PricebookDiff",
    "PricebookError",
    "PricebookTest",
    "Report",
    "Severity",
    "diff_pricebooks",
    "format_credits",
    "load_compiled_json",
    "load_pricebook",
    "round_credits",
    "validate_pricebook",
]
