"""creditbook's engine: the stable API the backend imports.

    import engine
    pricebook = engine.load_pricebook("pricebooks/us/us-audiology-v1.xlsx")
    report = engine.validate_pricebook("draft.xlsx")   # every finding, by sheet and cell
    billing = engine.Billing("sqlite:///creditbook.db")  # the credit ledger (see engine.billing)

Everything not exported here is internal and may move.
"""

from engine.money import format_credits, round_credits
from engine.pricebook.compile import PricebookTest
from engine.pricebook.diff import PricebookDiff, diff_pricebooks
from engine.pricebook.findings import Finding, Severity
from engine.pricebook.model import CompiledPricebook, load_compiled_json
from engine.pricebook.validate import PricebookError, Report
from engine.pricing.examples import load_pricebook, validate_pricebook
from engine.pricing.quote import Quote, QuoteLine, QuoteSlice, quote, select_version
from engine.pricing.requests import (
    CallRecord,
    LeadRequest,
    QuoteContext,
    QuoteError,
    SmsCampaign,
    Usage,
    VoiceCampaign,
)
from engine.pricing.sms import count_segments
from engine.pricing.tiers import Tier, TierTable
from engine.pricing.voice import billed_minutes

__all__ = [
    "Billing",
    "BillingError",
    "CallRecord",
    "CompiledPricebook",
    "DatabaseBusy",
    "FakeGateway",
    "Finding",
    "IdempotencyConflict",
    "InvalidAmount",
    "LeadRequest",
    "PaymentGateway",
    "PricebookDiff",
    "PricebookError",
    "PricebookTest",
    "Quote",
    "QuoteContext",
    "QuoteError",
    "QuoteLine",
    "QuoteSlice",
    "Report",
    "Severity",
    "SmsCampaign",
    "Tier",
    "TierTable",
    "UnknownClinic",
    "Usage",
    "VoiceCampaign",
    "billed_minutes",
    "count_segments",
    "diff_pricebooks",
    "format_credits",
    "load_compiled_json",
    "load_pricebook",
    "quote",
    "round_credits",
    "select_version",
    "validate_pricebook",
]

# The ledger side (SQLAlchemy, the policy rules) loads on first use, so that `import engine` stays
# light for code that only prices.
_BILLING = frozenset(
    {
        "Billing",
        "BillingError",
        "FakeGateway",
        "PaymentGateway",
        "IdempotencyConflict",
        "InvalidAmount",
        "UnknownClinic",
        "DatabaseBusy",
    }
)


def __getattr__(name: str) -> object:
    if name in _BILLING:
        from engine import billing

        return getattr(billing, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
