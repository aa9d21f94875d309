"""Inspect a pricebook: every validation finding at its cell, the Tests sheet's worked examples,
charts of the tiers and lead prices, and an annotated copy to download."""

from __future__ import annotations

import tempfile
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from engine.loader import validate_pricebook
from engine.pricebook.annotate import annotate_workbook
from engine.pricebook.validate import Report
from engine.pricing.requests import QuoteError
from engine.pricing.worked_examples import price_example
from simulator.app.services import SHIPPED, validated


@st.cache_resource(show_spinner=False)
def shipped_report(path: str) -> Report:
    return validate_pricebook(path)


def choose() -> tuple[Report, str] | None:
    options = [str(p.relative_to(p.parents[2])) for market in ("US", "IN") for p in SHIPPED[market]]
    choice = st.selectbox("Workbook", [*options, "Upload a workbook…"], key="inspect_choice")
    if choice != "Upload a workbook…":
        path = next(p for market in ("US", "IN") for p in SHIPPED[market] if str(p).endswith(choice))
        return shipped_report(str(path)), str(path)
    uploaded = st.file_uploader("Workbook (.xlsx)", type=["xlsx"], key="inspect_file")
    if uploaded is None:
        return None
    report = validated(uploaded.getvalue(), uploaded.name)
    return report, report.path


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
                "product": test.product,
                "expected": test.expected_credits,
                "priced": got,
                "rules": rules,
                "ok": "✅" if got == test.expected_credits else "❌",
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="examples")


def charts(report: Report) -> None:
    pricebook = report.pricebook
    if pricebook is None:
        return
    if pricebook.usage_tiers:
        st.subheader("Pay-as-you-go tiers")
        rows = []
        for tier in pricebook.usage_tiers:
            rows.append(
                {
                    "product": tier.product,
                    "tier": tier.rule_id,
                    "up to": f"{int(tier.up_to):,}" if tier.up_to is not None else "∞",
                    "credits per unit": float(tier.unit_price_credits),
                    "money per unit": float(tier.unit_price_credits * pricebook.meta.money_per_credit),
                }
            )
        frame = pd.DataFrame(rows)
        st.altair_chart(
            alt.Chart(frame)
            .mark_bar()
            .encode(
                x=alt.X("tier:N", sort=None, title="Tier (cumulative usage in the term)"),
                y=alt.Y("credits per unit:Q"),
                color="product:N",
                column=alt.Column("product:N", title=None),
                tooltip=list(frame.columns),
            )
            .properties(height=240, width=300),
        )
    if pricebook.lead_prices:
        st.subheader("Lead prices")
        rows = [
            {
                "rule": lead.rule_id,
                "channel": lead.channel,
                "specialty": lead.specialty,
                "city": lead.city,
                "package price from": float(lead.pkg_price_from),
                "to": "" if lead.pkg_price_to is None else float(lead.pkg_price_to),
                "credits": float(lead.lead_price_credits),
            }
            for lead in pricebook.lead_prices
        ]
        frame = pd.DataFrame(rows)
        st.altair_chart(
            alt.Chart(frame)
            .mark_bar()
            .encode(
                x=alt.X("rule:N", sort=None),
                y=alt.Y("credits:Q", title="Credits per lead"),
                color="channel:N",
                tooltip=list(frame.columns),
            )
            .properties(height=240),
            width="stretch",
        )


def download(report: Report, path: str) -> None:
    if report.unreadable or not Path(path).exists():
        return

    def annotated() -> bytes:
        out = Path(tempfile.mkdtemp(prefix="creditbook-annotated-")) / f"{Path(path).stem}-checked.xlsx"
        return annotate_workbook(path, report.findings, out).read_bytes()

    st.download_button(
        "Annotated copy (findings marked at their cells)",
        annotated,
        f"{Path(path).stem}-checked.xlsx",
        key="annotated",
    )


def main() -> None:
    st.title("Pricebook inspector")
    chosen = choose()
    if chosen is None:
        st.info("Upload a workbook to validate it.")
        return
    report, path = chosen
    findings(report)
    download(report, path)
    examples(report)
    charts(report)


main()
