"""The Tests sheet, priced: every worked example of a workbook is quoted with the quote engine and
must give its expected credits (and, when listed, be priced by its expected rules).

Validation of the workbook itself lives in engine.pricebook, which knows nothing of pricing;
engine/loader.py composes the two into the public `validate_pricebook` / `load_pricebook`, so a
pricebook whose examples fail never loads.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import TypedDict

from engine.money import decimal_text
from engine.pricebook.compile import PricebookTest
from engine.pricebook.findings import Collector, Severity
from engine.pricebook.model import CompiledPricebook
from engine.pricing.quote import Quote, quote
from engine.pricing.requests import LeadRequest, QuoteContext, QuoteError, Request, SmsCampaign, Usage, VoiceCampaign


def example_request(test: PricebookTest) -> Request:
    """The request a Tests row describes."""
    number_type = None if test.number_type == "-" else test.number_type
    if test.product == "sms":
        if test.message_text is not None:
            return SmsCampaign(
                body=test.message_text,
                recipients=test.quantity,
                **({"number_type": number_type} if number_type else {}),
            )
        return Usage(product="sms", units=test.quantity, number_type=number_type)
    if test.product == "voice":
        if test.call_seconds is not None:
            return VoiceCampaign(
                recipients=test.quantity,
                expected_seconds=test.call_seconds,
                **({"number_type": number_type} if number_type else {}),
            )
        return Usage(product="voice", units=test.quantity, number_type=number_type)
    return LeadRequest(
        product=test.product,
        specialty=test.specialty,
        city=test.city,
        package_price=test.package_price,
        quantity=test.quantity,
    )


def price_example(pricebook: CompiledPricebook, test: PricebookTest) -> Quote:
    """Quote an example on the pricebook's first day, for the plan, bundle and term usage it names."""
    context = QuoteContext(
        at=pricebook.meta.effective_from + timedelta(seconds=1),
        plan=test.plan,
        bundle=test.bundle,
        term_usage={test.product: test.used_before},
    )
    return quote(pricebook, example_request(test), context)


class _Where(TypedDict):
    """Where a finding about a Tests row points: `Collector.add`'s location arguments."""

    sheet: str
    row: int
    col: int
    column: str
    rule_id: str


def _cell(test: PricebookTest, column: str) -> _Where:
    return {
        "sheet": "Tests",
        "row": test.row,
        "col": test.columns.get(column, 1),
        "column": column,
        "rule_id": test.case_id,
    }


def check_examples(pricebook: CompiledPricebook, tests: tuple[PricebookTest, ...], collector: Collector) -> None:
    """E01 for an example nothing prices, E02 for one priced differently than expected."""
    for test in tests:
        at = functools.partial(_cell, test)
        try:
            result = price_example(pricebook, test)
        except QuoteError as exc:
            collector.add(
                "E01",
                Severity.ERROR,
                f"The example cannot be priced: {exc}.",
                "Check the example's inputs, or add the rule that should price it.",
                value=test.case_id,
                **at("product"),
            )
            continue
        priced_by = ", ".join(result.rule_ids)
        if result.credits != test.expected_credits:
            steps = "; ".join(
                f"{piece.rule_id}: {decimal_text(piece.units, grouping=True)} × {decimal_text(piece.unit_price)}"
                for line in result.lines
                for piece in line.slices
            )
            expected = pricebook.format_credits(test.expected_credits)
            collector.add(
                "E02",
                Severity.ERROR,
                f"The example expects {expected} but the pricebook gives {result.format()} ({steps}).",
                f"Priced by {priced_by}. Fix the price, or the expected credits if the example is wrong.",
                value=test.expected_credits,
                **at("expected_credits"),
            )
        missing = [r for r in test.expected_rule_ids if r.casefold() not in {x.casefold() for x in result.rule_ids}]
        if missing:
            collector.add(
                "E02",
                Severity.ERROR,
                f"The example expects rule {', '.join(missing)} to price it, but it is priced by {priced_by}.",
                "Check which row should apply, or correct expected_rule_ids.",
                value=", ".join(test.expected_rule_ids),
                **at("expected_rule_ids"),
            )
