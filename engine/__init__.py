"""creditbook's engine: the stable API the backend imports.

    import engine
    pricebook = engine.load_pricebook("pricebooks/us/us-audiology-v1.xlsx")
    report = engine.validate_pricebook("draft.xlsx")   # every finding, by sheet and cell
    billing = engine.Billing("sqlite:///creditbook.db")  # the credit ledger (see engine.billing)

Every name below is loaded on first use, so `import engine` costs nothing until a name is read
(a script that only prices never loads SQLAlchemy, the policy rules or openpyxl). The names are
listed explicitly, and imported under TYPE_CHECKING, so type checkers and IDEs see the real
objects. Every error the API raises derives from `engine.CreditbookError` (a stable `code` and
an HTTP `status`). Everything not exported here is internal and may move.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.billing.errors import (
        AdjustmentRefused,
        BillingError,
        ClinicExists,
        DisputeClosed,
        ForeignDispute,
        InvalidAmount,
        InvalidKey,
        NoPricebook,
        PaymentGatewayError,
        PricebookRejected,
        RefundExceeded,
        UnknownCharge,
        UnknownClinic,
        UnknownDispute,
        UnknownPackage,
    )
    from engine.billing.payments import FakeGateway, Payment, PaymentGateway, PaymentStatus
    from engine.billing.results import (
        AdjustmentResult,
        BalanceView,
        ChargeResult,
        ClinicResult,
        DisputeResult,
        DisputeView,
        ExpiryResult,
        PublishResult,
        PurchaseResult,
        RefundResult,
        Remaining,
        RevenueReport,
        RevenueRow,
        TransactionPage,
        TransactionView,
    )
    from engine.billing.service import Billing
    from engine.errors import CreditbookError, DatabaseBusy, IdempotencyConflict, InvalidInput, StorageError
    from engine.loader import load_pricebook, validate_pricebook
    from engine.money import format_credits, round_credits
    from engine.pricebook.compile import PricebookTest
    from engine.pricebook.diff import PricebookDiff, diff_pricebooks
    from engine.pricebook.findings import Finding, Severity
    from engine.pricebook.model import CompiledPricebook, load_compiled_json
    from engine.pricebook.validate import PricebookError, Report
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
    from engine.vocabulary import Market, Plan, Product, Segment

_BILLING_ERRORS = (
    "AdjustmentRefused",
    "BillingError",
    "ClinicExists",
    "DisputeClosed",
    "ForeignDispute",
    "InvalidAmount",
    "InvalidKey",
    "NoPricebook",
    "PaymentGatewayError",
    "PricebookRejected",
    "RefundExceeded",
    "UnknownCharge",
    "UnknownClinic",
    "UnknownDispute",
    "UnknownPackage",
)
_RESULTS = (
    "AdjustmentResult",
    "BalanceView",
    "ChargeResult",
    "ClinicResult",
    "DisputeResult",
    "DisputeView",
    "ExpiryResult",
    "PublishResult",
    "PurchaseResult",
    "RefundResult",
    "Remaining",
    "RevenueReport",
    "RevenueRow",
    "TransactionPage",
    "TransactionView",
)

#: public name → the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(_BILLING_ERRORS, "engine.billing.errors"),
    **dict.fromkeys(_RESULTS, "engine.billing.results"),
    **dict.fromkeys(("FakeGateway", "Payment", "PaymentGateway", "PaymentStatus"), "engine.billing.payments"),
    "Billing": "engine.billing.service",
    **dict.fromkeys(
        ("CreditbookError", "DatabaseBusy", "IdempotencyConflict", "InvalidInput", "StorageError"), "engine.errors"
    ),
    **dict.fromkeys(("load_pricebook", "validate_pricebook"), "engine.loader"),
    **dict.fromkeys(("format_credits", "round_credits"), "engine.money"),
    "PricebookTest": "engine.pricebook.compile",
    **dict.fromkeys(("PricebookDiff", "diff_pricebooks"), "engine.pricebook.diff"),
    **dict.fromkeys(("Finding", "Severity"), "engine.pricebook.findings"),
    **dict.fromkeys(("CompiledPricebook", "load_compiled_json"), "engine.pricebook.model"),
    **dict.fromkeys(("PricebookError", "Report"), "engine.pricebook.validate"),
    **dict.fromkeys(("Quote", "QuoteLine", "QuoteSlice", "quote", "select_version"), "engine.pricing.quote"),
    **dict.fromkeys(
        ("CallRecord", "LeadRequest", "QuoteContext", "QuoteError", "SmsCampaign", "Usage", "VoiceCampaign"),
        "engine.pricing.requests",
    ),
    "count_segments": "engine.pricing.sms",
    **dict.fromkeys(("Tier", "TierTable"), "engine.pricing.tiers"),
    "billed_minutes": "engine.pricing.voice",
    **dict.fromkeys(("Market", "Plan", "Product", "Segment"), "engine.vocabulary"),
}

__all__ = [
    "AdjustmentRefused",
    "AdjustmentResult",
    "BalanceView",
    "Billing",
    "BillingError",
    "CallRecord",
    "ChargeResult",
    "ClinicExists",
    "ClinicResult",
    "CompiledPricebook",
    "CreditbookError",
    "DatabaseBusy",
    "DisputeClosed",
    "DisputeResult",
    "DisputeView",
    "ExpiryResult",
    "FakeGateway",
    "Finding",
    "ForeignDispute",
    "IdempotencyConflict",
    "InvalidAmount",
    "InvalidInput",
    "InvalidKey",
    "LeadRequest",
    "Market",
    "NoPricebook",
    "Payment",
    "PaymentGateway",
    "PaymentGatewayError",
    "PaymentStatus",
    "Plan",
    "PricebookDiff",
    "PricebookError",
    "PricebookRejected",
    "PricebookTest",
    "Product",
    "PublishResult",
    "PurchaseResult",
    "Quote",
    "QuoteContext",
    "QuoteError",
    "QuoteLine",
    "QuoteSlice",
    "RefundExceeded",
    "RefundResult",
    "Remaining",
    "Report",
    "RevenueReport",
    "RevenueRow",
    "Segment",
    "Severity",
    "SmsCampaign",
    "StorageError",
    "Tier",
    "TierTable",
    "TransactionPage",
    "TransactionView",
    "UnknownCharge",
    "UnknownClinic",
    "UnknownDispute",
    "UnknownPackage",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next read is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
