"""Inspect a pricebook: every validation finding at its cell, the Tests sheet's worked examples,
charts of the tiers (by their usage range) and lead prices (by treatment price range), and an
annotated copy to download. Uploads are validated in a temporary folder removed right after."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from engine.loader import validate_pricebook
from engine.money import currency_symbol, format_money, format_number
from engine.pricebook.model import CompiledPricebook
from engine.pricebook.validate import Report
from engine.pricing.requests import QuoteError
from engine.pricing.worked_examples import price_example
from simulator.app.display import Column, localized, table
from simulator.app.labels import UNITS, label
from simulator.app.services import SHIPPED, Upload, annotated_copy, read_upload, validated

UPLOAD = "Upload a workbook…"


@st.cache_resource(show_spinner=False)
def shipped_report(path: str) -> Report:
    return validate_pricebook(path)


def choose() -> tuple[Report, Upload] | None:
    shipped = {str(p.relative_to(p.parents[2])): p for market in ("US", "IN") for p in SHIPPED[market]}
    choice = st.selectbox("Workbook", [*shipped, UPLOAD], key="inspect_choice")
    if choice != UPLOAD:
        path = shipped[choice]
        return shipped_report(str(path)), Upload(path.name, path.read_bytes())
    upload = read_upload(st.file_uploader("Workbook (.xlsx)", type=["xlsx"], key="inspect_file"))
    if upload is None:
        return None
    return validated(upload), upload


def findings(report: Report) -> None:
    errors, warnings = len(report.errors), len(report.warnings)
    if report.unreadable:
        st.error("This file cannot be read safely: " + "; ".join(f.message for f in report.findings))
    elif errors:
        st.error(
            f"{errors} error(s) and {warnings} warning(s): "
            "the pricebook cannot be published until the errors are fixed."
        )
    else:
        st.success(f"No errors, {warnings} warning(s). {report.pricebook.label if report.pricebook else ''}")
    if report.findings:
        rows = [
            {
                "severity": f.severity.value,
                "code": f.code,
                "where": f.location,
                "rule": f.rule_id,
                "value": "" if f.value is None else str(f.value),
                "message": f.message,
                "hint": f.hint,
            }
            for f in report.findings
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="findings")


def examples(report: Report) -> None:
    if report.pricebook is None or not report.tests:
        return
    st.subheader("The Tests sheet, priced")
    currency = report.pricebook.meta.currency
    rows = []
    for test in report.tests:
        try:
            result = price_example(report.pricebook, test)
            got, rules = result.credits, ", ".join(result.rule_ids)
        except QuoteError as exc:
            got, rules = None, str(exc)
        rows.append(
            {
                "case": test.case_id,
                "product": label(test.product),
                "expected": test.expected_credits,
                "priced": got,
                "rules": rules,
                "ok": "yes" if got == test.expected_credits else "NO",
            }
        )
    frame = table(
        pd.DataFrame(rows),
        {
            "case": Column("Case"),
            "product": Column("Product"),
            "expected": Column("Expected (credits)", "credits"),
            "priced": Column("Priced (credits)", "credits"),
            "rules": Column("Rules"),
            "ok": Column("As expected"),
        },
        currency,
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="examples")


def tier_range(start: int, up_to: int | None, currency: str) -> str:
    """'1 – 500', '18,501 and more': a tier's slice of the term's cumulative usage."""
    if up_to is None:
        return f"{format_number(start, currency)} and more"
    return f"{format_number(start, currency)} – {format_number(up_to, currency)}"


def tiers_chart(pricebook: CompiledPricebook) -> None:
    meta = pricebook.meta
    st.subheader("Pay-as-you-go tiers")
    rows: list[dict[str, Any]] = []
    starts: dict[str, int] = {}
    for tier in sorted(pricebook.usage_tiers, key=lambda t: (t.product, t.up_to is None, t.up_to or 0)):
        start = starts.get(tier.product, 1)
        unit = UNITS.get(tier.product, (tier.product, tier.product))[1]
        rows.append(
            {
                "product": label(tier.product),
                "range": tier_range(start, None if tier.up_to is None else int(tier.up_to), meta.currency),
                "unit": unit,
                "credits per unit": float(tier.unit_price_credits),
                "price": format_money(
                    tier.unit_price_credits * meta.money_per_credit, meta.currency, meta.money_per_credit
                ),
                "rule": tier.rule_id,
            }
        )
        if tier.up_to is not None:
            starts[tier.product] = int(tier.up_to) + 1
    frame = pd.DataFrame(rows)
    for product, part in frame.groupby("product", sort=False):
        unit = part["unit"].iloc[0]
        st.altair_chart(
            localized(
                alt.Chart(part)
                .mark_bar()
                .encode(
                    x=alt.X(
                        "range:N",
                        sort=list(part["range"]),
                        title=f"{product}: {unit} used so far in the term",
                        axis=alt.Axis(labelAngle=0),
                    ),
                    y=alt.Y("credits per unit:Q", title=f"Credits per {unit.rstrip('s')}"),
                    tooltip=[
                        alt.Tooltip("range:N", title=f"{unit} in the term"),
                        alt.Tooltip("credits per unit:Q", title="credits each"),
                        alt.Tooltip("price:N", title=f"price each ({currency_symbol(meta.currency)})"),
                        alt.Tooltip("rule:N", title="rule"),
                    ],
                )
                .properties(height=240),
                meta.currency,
            ),
            width="stretch",
        )


def price_range(low: Decimal, high: Decimal | None, currency: str) -> str:
    """'₹10,000 – ₹20,000' ([from, to)), '₹1,00,000 and more'."""
    if high is None:
        return f"{format_money(low, currency, places=0)} and more"
    return f"{format_money(low, currency, places=0)} – {format_money(high, currency, places=0)}"


def applies_to(channel: str, specialty: str, city: str) -> str:
    parts = [label(channel) + " leads" if channel != "-" else "Chat and call leads"]
    parts += [label(v) for v in (specialty, city) if v != "-"]
    return ", ".join(parts)


def leads_chart(pricebook: CompiledPricebook) -> None:
    meta = pricebook.meta
    st.subheader("Lead prices, by the treatment package's price")
    rows = [
        {
            "range": price_range(lead.pkg_price_from, lead.pkg_price_to, meta.currency),
            "from": float(lead.pkg_price_from),
            "applies to": applies_to(lead.channel, lead.specialty, lead.city),
            "credits": float(lead.lead_price_credits),
            "price": format_money(
                lead.lead_price_credits * meta.money_per_credit, meta.currency, meta.money_per_credit
            ),
            "rule": lead.rule_id,
        }
        for lead in pricebook.lead_prices
    ]
    frame = pd.DataFrame(rows).sort_values("from", kind="stable")
    st.altair_chart(
        localized(
            alt.Chart(frame)
            .mark_bar()
            .encode(
                x=alt.X(
                    "range:N",
                    sort=list(dict.fromkeys(frame["range"])),
                    title=f"Treatment package price ({currency_symbol(meta.currency)})",
                    axis=alt.Axis(labelAngle=0),
                ),
                xOffset="applies to:N",
                y=alt.Y("credits:Q", title="Credits per lead"),
                color=alt.Color("applies to:N", title=None, legend=alt.Legend(orient="bottom")),
                tooltip=[
                    alt.Tooltip("range:N", title="package price"),
                    "applies to:N",
                    alt.Tooltip("credits:Q", title="credits per lead"),
                    alt.Tooltip("price:N", title="price per lead"),
                    alt.Tooltip("rule:N", title="rule"),
                ],
            )
            .properties(height=260),
            meta.currency,
        ),
        width="stretch",
    )


def download(report: Report, upload: Upload) -> None:
    if report.unreadable:
        return
    stem = Path(upload.name).stem
    st.download_button(
        "Annotated copy (findings marked at their cells)",
        lambda: annotated_copy(upload, report.findings),
        f"{stem}-checked.xlsx",
        key="annotated",
    )


def main() -> None:
    st.title("Pricebook inspector")
    chosen = choose()
    if chosen is None:
        st.info("Upload a workbook to validate it.")
        return
    report, upload = chosen
    findings(report)
    download(report, upload)
    examples(report)
    if report.pricebook is not None and report.pricebook.usage_tiers:
        tiers_chart(report.pricebook)
    if report.pricebook is not None and report.pricebook.lead_prices:
        leads_chart(report.pricebook)


main()
