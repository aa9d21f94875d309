"""Compare two pricebooks: what changed, by sheet and rule_id, and what it does to the clinics
(both priced on the same simulated population)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from engine.pricebook.diff import diff_pricebooks
from engine.pricebook.model import CompiledPricebook
from simulator import Scenario, compare, in_default, us_default
from simulator.app.services import SHIPPED, money, shipped, validated


def pick(label: str, market: str, key: str, default: int) -> CompiledPricebook | None:
    """A shipped version, or an uploaded draft (validated; its findings shown when it fails)."""
    options = [p.name for p in SHIPPED[market]] + ["Upload a draft…"]
    choice = st.selectbox(label, options, index=min(default, len(options) - 2), key=key)
    if choice != "Upload a draft…":
        return shipped(str(next(p for p in SHIPPED[market] if p.name == choice)))
    uploaded = st.file_uploader(f"{label}: workbook (.xlsx)", type=["xlsx"], key=f"{key}_file")
    if uploaded is None:
        return None
    report = validated(uploaded.getvalue(), uploaded.name)
    if report.pricebook is None:
        st.error(f"{uploaded.name} has {len(report.errors)} error(s); fix them first (see the inspector).")
        st.dataframe(
            pd.DataFrame(
                [{"where": f.location, "code": f.code, "message": f.message, "hint": f.hint} for f in report.errors]
            ),
            hide_index=True,
        )
        return None
    return report.pricebook


def main() -> None:
    st.title("Compare pricebooks")
    market = st.radio("Market", ["US", "IN"], index=1, horizontal=True, key="compare_market")
    left, right = st.columns(2)
    with left:
        a = pick("Pricebook A", market, "compare_a", 0)
    with right:
        b = pick("Pricebook B", market, "compare_b", 1)
    if a is None or b is None:
        st.info("Choose both pricebooks.")
        return
    if a.pricebook_id != b.pricebook_id:
        st.warning(f"A is {a.pricebook_id} and B is {b.pricebook_id}: comparing different pricebooks.")
    if a is b:
        st.info(f"Both sides are {a.label}: pick another version, or upload a draft as B.")
        return
    diff = diff_pricebooks(a, b)
    st.subheader(f"What changed from {a.label} to {b.label}")
    if diff.empty:
        st.success("Nothing that prices: the two versions price identically (same semantic hash).")
    else:
        rows = [{"sheet": "Meta", "rule_id": "", "change": "changed", "fields": c.describe()} for c in diff.meta]
        rows += [{"sheet": "Lists", "rule_id": "", "change": "changed", "fields": c.describe()} for c in diff.lists]
        rows += [
            {
                "sheet": r.sheet,
                "rule_id": r.rule_id,
                "change": r.kind,
                "fields": "; ".join(f.describe() for f in r.fields),
            }
            for r in diff.rows
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="diff")
    st.subheader("What it does to the clinics")
    saved = st.session_state.get("scenario")
    scenario: Scenario = (
        saved
        if isinstance(saved, Scenario) and saved.market == market
        else (us_default() if market == "US" else in_default())
    )
    clinics = st.slider("Clinics", 1_000, 50_000, min(scenario.clinics, 10_000), 1_000, key="compare_clinics")
    scenario = Scenario.model_validate({**scenario.dump(), "clinics": clinics})
    st.caption(f"The simulator's scenario “{scenario.name}”, both pricebooks on the same {clinics:,} clinics.")
    with st.spinner("Simulating A and B…"):
        result = compare(scenario, [a], [b])
    figures, currency = result.summary(), result.a.currency
    cols = st.columns(4)
    cols[0].metric(
        "Revenue change",
        money(figures["revenue_change"], currency),
        f"{figures['revenue_change_pct']:+.1%}",
    )
    cols[1].metric("Clinics paying more", f"{int(figures['losers']):,}")
    cols[2].metric("Clinics paying less", f"{int(figures['winners']):,}")
    cols[3].metric(
        "Median change per clinic",
        money(figures["change_p50"], currency),
        help=f"p95 {money(figures['change_p95'], currency)}",
    )
    per_clinic = result.per_clinic()
    st.altair_chart(
        alt.Chart(per_clinic)
        .mark_bar()
        .encode(
            x=alt.X(
                "change:Q", bin=alt.Bin(maxbins=50), title=f"Change in a clinic's bill over the horizon ({currency})"
            ),
            y=alt.Y("count():Q", title="Clinics"),
        )
        .properties(height=260),
        width="stretch",
    )
    st.dataframe(result.by_group().round(3), hide_index=True, width="stretch", key="compare_groups")


main()
