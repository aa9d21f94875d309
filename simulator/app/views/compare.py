"""Compare two pricebooks: what changed, by sheet and rule_id, and what it does to the clinics
(both priced on the same simulated population)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from engine.money import currency_symbol, format_money, format_number, format_percent
from engine.pricebook.diff import diff_pricebooks
from engine.pricebook.model import CompiledPricebook
from engine.pricebook.validate import Report
from simulator import Scenario, in_default, us_default
from simulator.app.display import MONEY_AXIS, Column, localized, metric_rows, money_metric, table
from simulator.app.labels import label, market_label
from simulator.app.services import SHIPPED, compared, read_upload, shipped, validated

UPLOAD = "Upload a draft…"


def pick(title: str, market: str, key: str, default: int) -> CompiledPricebook | Report | None:
    """A shipped version, or an uploaded draft: compiled when it validates, else its validation
    Report, whose changes are still shown (with its findings after them)."""
    books = {p.name: p for p in SHIPPED[market]}
    options = [*books, UPLOAD]
    choice = st.selectbox(
        title,
        options,
        index=min(default, len(options) - 2),
        format_func=lambda name: name if name == UPLOAD else shipped(str(books[name])).label,
        key=f"{key}_{market}",
    )
    if choice != UPLOAD:
        return shipped(str(books[choice]))
    upload = read_upload(st.file_uploader(f"{title}: workbook (.xlsx)", type=["xlsx"], key=f"{key}_file"))
    if upload is None:
        return None
    report = validated(upload)
    if report.pricebook is None and report.unreadable:
        st.error(f"{upload.name} cannot be read as a workbook: {report.errors[0].message if report.errors else ''}")
        return None
    if report.pricebook is None:
        st.warning(
            f"{upload.name} has {len(report.errors)} error(s): its changes are shown, its findings after them, "
            "and what it does to the clinics once it validates."
        )
        return report
    return report.pricebook


def changes(a: CompiledPricebook | Report, b: CompiledPricebook | Report) -> None:
    diff = diff_pricebooks(a, b)
    st.subheader(f"What changed from {diff.old_label} to {diff.new_label}")
    rows = diff.table()
    if not rows:
        st.success("Nothing that prices: the two versions price identically.")
    else:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="diff")
    findings = diff.findings_table()
    if findings:
        st.subheader("Findings")
        st.dataframe(pd.DataFrame(findings), hide_index=True, width="stretch", key="diff_findings")


def impact(market: str, a: CompiledPricebook, b: CompiledPricebook) -> None:
    st.subheader("What it does to the clinics")
    saved = st.session_state.get("scenario")
    scenario: Scenario = (
        saved
        if isinstance(saved, Scenario) and saved.market == market
        else (us_default() if market == "US" else in_default())
    )
    clinics = st.slider("Clinics", 1_000, 50_000, min(scenario.clinics, 10_000), 1_000, key=f"compare_clinics_{market}")
    scenario = Scenario.model_validate({**scenario.dump(), "clinics": clinics})
    currency = a.meta.currency
    st.caption(
        f"The simulator's scenario “{scenario.name}”, both pricebooks on the same "
        f"{format_number(clinics, currency)} clinics over {scenario.months} months."
    )
    with st.spinner("Simulating A and B…"):
        result = compared(scenario, a, b)
    figures = result.summary()
    cells = metric_rows(4)
    money_metric(
        cells[0],
        "Revenue change",
        figures["revenue_change"],
        currency,
        help=f"{format_percent(figures['revenue_change_pct'], currency, places=1, sign=True)} over the horizon",
    )
    cells[1].metric("Clinics paying more", format_number(figures["losers"], currency, places=0))
    cells[2].metric("Clinics paying less", format_number(figures["winners"], currency, places=0))
    money_metric(
        cells[3],
        "Median change per clinic",
        figures["change_p50"],
        currency,
        help=f"p95 {format_money(figures['change_p95'], currency, places=2)}",
    )
    symbol = currency_symbol(currency)
    st.altair_chart(
        localized(
            alt.Chart(result.per_clinic())
            .mark_bar()
            .encode(
                x=alt.X(
                    "change:Q",
                    bin=alt.Bin(maxbins=50, nice=True),
                    title=f"Change in a clinic's bill over the horizon ({symbol})",
                    axis=alt.Axis(format=MONEY_AXIS),
                ),
                y=alt.Y("count():Q", title="Clinics"),
            )
            .properties(height=260),
            currency,
        ),
        width="stretch",
    )
    groups = result.by_group()
    groups["group"] = [label(g) for g in groups.group]
    frame = table(
        groups,
        {
            "group": Column("Size" if market == "US" else "Specialty"),
            "clinics": Column("Clinics", "number"),
            "change_p50": Column(f"Median change ({symbol})", "money", places=2),
            "change_p95": Column(f"p95 change ({symbol})", "money", places=2),
            "change_pct_p50": Column("Median change (%)", "percent", places=1),
            "pay_more": Column("Paying more (% of clinics)", "percent", places=0),
        },
        currency,
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="compare_groups")


def main() -> None:
    st.title("Compare pricebooks")
    market = st.radio("Market", ["US", "IN"], index=1, horizontal=True, key="compare_market", format_func=market_label)
    left, right = st.columns(2)
    with left:
        a = pick("Pricebook A", market, "compare_a", 0)
    with right:
        b = pick("Pricebook B", market, "compare_b", 1)
    if a is None or b is None:
        st.info("Choose both pricebooks.")
        return
    if isinstance(a, Report) or isinstance(b, Report):
        changes(a, b)
        st.info("What it does to the clinics is simulated once both sides validate.")
        return
    if a.pricebook_id != b.pricebook_id:
        st.warning(f"A is {a.pricebook_id} and B is {b.pricebook_id}: comparing different pricebooks.")
    if a is b:
        st.info(f"Both sides are {a.label}: pick another version, or upload a draft as B.")
        return
    changes(a, b)
    impact(market, a, b)


main()
