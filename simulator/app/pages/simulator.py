"""The what-if simulator: scenario inputs in the sidebar, results as metrics, charts and tables."""

from __future__ import annotations

from datetime import date
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from engine.pricebook.model import CompiledPricebook
from simulator import PLAN_LABELS, Range, Scenario, break_evens, in_default, tornado, us_default
from simulator.app.services import SHIPPED, compact, money, simulated
from simulator.export import to_csv, to_xlsx

SIZES = ("solo", "small", "medium", "large")


def _with_mode(value: Range, mode: float) -> dict[str, Any]:
    """The default range moved so that its most likely value is `mode` (its shape kept)."""
    factor = mode / value.likely if value.likely else 1.0
    moved = value.scaled(factor) if value.likely else Range(low=0, high=max(mode * 2, value.high), mode=mode)
    return moved.model_dump(exclude_none=True)


US_USAGE = (  # field of UsUsage, label, slider maximum, step, widget key
    ("reminders_per_appointment", "Reminders per appointment", 6.0, 0.1, "reminders"),
    ("segments_per_message", "Segments per message", 4.0, 0.1, "segments"),
    ("birthday_messages_per_client", "Birthday messages per client a year", 2.0, 0.1, "birthday"),
    ("campaign_messages_per_client", "Campaign messages per client a year", 24.0, 0.5, "campaigns"),
    ("voicemail_minutes_per_appointment", "Voicemail minutes per appointment", 3.0, 0.05, "voicemail"),
)
WIDGETS = (
    "clinics",
    "months",
    "start",
    "seed",
    "variation",
    "plan",
    "reminders",
    "segments",
    "birthday",
    "campaigns",
    "voicemail",
    "block",
    "cost_sms",
    "cost_voice",
    "leads_factor",
    "price_factor",
    "call_share",
    "block_in",
    "cost_lead",
    "pricebooks_US",
    "pricebooks_IN",
    *(f"share_{size}" for size in SIZES),
)


def _apply(scenario: Scenario) -> None:
    """Load a scenario: it becomes the sidebar's starting point, every widget set from it."""
    for key in WIDGETS:
        st.session_state.pop(key, None)
    st.session_state["base"] = scenario.dump()
    st.session_state["market"] = scenario.market


def sidebar() -> Scenario:
    side = st.sidebar
    side.header("Scenario")
    uploaded = side.file_uploader("Load a scenario (YAML or JSON)", type=["yaml", "yml", "json"], key="scenario_file")
    if uploaded is not None and st.session_state.get("applied") != uploaded.file_id:
        try:
            _apply(Scenario.from_text(uploaded.getvalue().decode("utf-8")))
            st.session_state["applied"] = uploaded.file_id
            st.rerun()
        except ValueError as exc:
            side.error(f"Not a scenario: {exc}")
    market = side.radio("Market", ["US", "IN"], horizontal=True, key="market")
    base_data = st.session_state.get("base")
    base = (
        Scenario.model_validate(base_data)
        if base_data and base_data.get("market") == market
        else (us_default() if market == "US" else in_default())
    )
    choices = [str(p.relative_to(p.parents[2])) for p in SHIPPED[market]]
    picked = side.multiselect(
        "Pricebook versions (the month picks the one in force)",
        choices,
        default=[p for p in base.pricebooks if p in choices] or choices,
        key=f"pricebooks_{market}",
    )
    clinics = side.slider("Clinics", 1_000, 100_000, base.clinics, step=1_000, key="clinics")
    months = side.select_slider("Months", [3, 6, 12, 18, 24, 36], value=base.months, key="months")
    start = side.date_input("First month", base.start, key="start")
    seed = int(side.number_input("Seed", 0, 2**31 - 1, base.seed, key="seed"))
    variation = side.slider("Month-to-month variation (σ)", 0.0, 1.0, base.monthly_variation, 0.05, key="variation")
    data = base.dump()
    data.update(
        pricebooks=picked or choices,
        clinics=clinics,
        months=months,
        start=start if isinstance(start, date) else base.start,
        seed=seed,
        monthly_variation=variation,
    )
    if market == "US":
        assert base.us is not None
        data["plan"] = side.selectbox(
            "Plan", list(PLAN_LABELS), index=list(PLAN_LABELS).index(base.plan), format_func=PLAN_LABELS.get, key="plan"
        )
        side.subheader("Clinic mix (%)")
        for size in SIZES:
            data["sizes"][size]["share"] = (
                side.slider(size, 0.0, 100.0, base.sizes[size].share * 100, 0.5, key=f"share_{size}") / 100
            )
        side.subheader("Usage (most likely values)")
        usage, defaults = data["us"], base.us
        for field, label, top, step, key in US_USAGE:
            current: Range = getattr(defaults, field)
            usage[field] = _with_mode(current, side.slider(label, 0.0, top, current.likely, step, key=key))
        side.subheader("Money")
        dollars = side.number_input(
            "Top-up block ($)", 10.0, 10_000.0, base.topups.block_credits / 10_000, 10.0, key="block"
        )
        data["topups"]["block_credits"] = round(dollars * 10_000)
        for field, label, key in (
            ("sms_segment", "Upstream cost per SMS segment ($)", "cost_sms"),
            ("voice_minute", "Upstream cost per voice minute ($)", "cost_voice"),
        ):
            value = float(getattr(base.costs, field))
            data["costs"][field] = str(side.number_input(label, 0.0, 0.1, value, 0.0001, format="%.4f", key=key))
    else:
        assert base.india is not None
        side.subheader("Leads")
        leads = side.slider("Leads per clinic-month (× the defaults)", 0.25, 3.0, 1.0, 0.05, key="leads_factor")
        prices = side.slider("Treatment package prices (× the defaults)", 0.25, 3.0, 1.0, 0.05, key="price_factor")
        for specialty in data["india"]["specialties"].values():
            specialty["leads_per_month"] = (
                Range.model_validate(specialty["leads_per_month"]).scaled(leads).model_dump(exclude_none=True)
            )
            specialty["package_price_median"] *= prices
        data["india"]["call_share"] = side.slider(
            "Share of call leads", 0.0, 1.0, base.india.call_share, 0.05, key="call_share"
        )
        data["topups"]["block_credits"] = int(
            side.number_input("Top-up block (₹)", 1_000, 200_000, base.topups.block_credits, 1_000, key="block_in")
        )
        data["costs"]["lead"] = str(
            side.number_input("Upstream cost per lead (₹)", 0.0, 1_000.0, float(base.costs.lead), 10.0, key="cost_lead")
        )
    return Scenario.model_validate(data)


def charts(results: Any, currency: str) -> None:
    by = results.by_group_and_plan()
    group_title = "Size" if results.scenario.market == "US" else "Specialty"
    st.subheader("Monthly cost per clinic, by " + group_title.lower() + " and plan (p5 – p50 – p95)")
    base = alt.Chart(by).encode(
        x=alt.X("group:N", title=group_title, sort=list(results.population.groups)),
        xOffset="plan:N",
        color=alt.Color("plan:N", title="Plan"),
    )
    bars = base.mark_bar().encode(
        y=alt.Y("p50:Q", title=f"Monthly cost ({currency}, log scale)", scale=alt.Scale(type="symlog")),
        tooltip=["group", "plan", "p5", "p50", "p95", "clinics"],
    )
    whiskers = base.mark_rule(color="black").encode(y="p5:Q", y2="p95:Q")
    st.altair_chart((bars + whiskers).properties(height=320), width="stretch")
    left, right = st.columns(2)
    with left:
        if results.scenario.market == "US":
            st.subheader("Which plan is cheapest, by size")
            cheapest = results.cheapest_by_group().drop(columns=["clinics", "most often cheapest"])
            long = cheapest.melt("group", var_name="plan", value_name="share")
            st.altair_chart(
                alt.Chart(long)
                .mark_bar()
                .encode(
                    x=alt.X("group:N", title="Size", sort=list(results.population.groups)),
                    y=alt.Y("share:Q", axis=alt.Axis(format="%"), title="Share of clinics"),
                    color="plan:N",
                    tooltip=["group", "plan", alt.Tooltip("share:Q", format=".0%")],
                )
                .properties(height=280),
                width="stretch",
            )
    with right:
        st.subheader("Cost per clinic by month (p10 – p90)")
        months = results.by_month()
        band = (
            alt.Chart(months)
            .mark_area(opacity=0.3)
            .encode(x=alt.X("month:O", title="Month"), y=alt.Y("p10:Q", title=f"Cost ({currency})"), y2="p90:Q")
        )
        line = (
            alt.Chart(months)
            .mark_line(point=True)
            .encode(x="month:O", y="p50:Q", tooltip=["month", "p10", "p50", "p90", "billed"])
        )
        st.altair_chart((band + line).properties(height=280), width="stretch")


def main() -> None:
    scenario = sidebar()
    st.session_state["scenario"] = scenario
    st.title("What-if simulator")
    with st.spinner("Simulating…"):
        results = simulated(scenario)
    currency = results.currency
    labels = ", ".join(f"{p.label}" for p in results.pricebooks)
    st.caption(
        f"{scenario.clinics:,} clinics × {scenario.months} months · {labels} · seed {scenario.seed}"
        f" · {results.seconds:.2f} s"
    )
    for note in results.notes:
        st.info(note)
    summary = results.summary()
    cols = st.columns(5)
    cols[0].metric("Billed to clinics", money(summary["billed"], currency))
    cols[1].metric("Cash collected", money(summary["cash_collected"], currency))
    cols[2].metric(f"Outstanding · {compact(summary['outstanding_credits'])}", money(summary["outstanding"], currency))
    cols[3].metric(
        "Gross margin",
        f"{summary['gross_margin']:.1%}",
        help=f"upstream cost {money(summary['upstream_cost'], currency)}",
    )
    cols[4].metric("Median monthly cost per clinic", money(summary["monthly_cost_per_clinic_p50"], currency))
    charts(results, currency)
    if scenario.market == "US":
        st.subheader("Break-even: where a package beats pay-as-you-go")
        pricebook = results.pricebooks[-1]
        rows = [
            {
                "package": b.package,
                "size": b.size,
                "included units": b.included_units,
                "package credits": b.package_credits,
                "break-even (units a month)": f"{b.units:,}" if b.units is not None else "never (≤ 10× included)",
                "in words": b.sentence("segments" if b.product == "sms" else "minutes"),
            }
            for b in cached_break_evens(pricebook)
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.subheader("Which assumptions move revenue most")
    if st.button("Compute the tornado (each assumption ±20 %)", key="tornado"):
        frame = tornado(scenario.model_copy(update={"clinics": min(scenario.clinics, 10_000)}), results.pricebooks)
        long = frame.melt("assumption", value_vars=["low", "high"], var_name="swing", value_name="change")
        st.altair_chart(
            alt.Chart(long)
            .mark_bar()
            .encode(
                y=alt.Y("assumption:N", sort=list(frame.assumption), title=None),
                x=alt.X("change:Q", title=f"Change in billed revenue ({currency})"),
                color=alt.Color(
                    "swing:N",
                    title="assumption at",
                    scale=alt.Scale(domain=["low", "high"], range=["#e45756", "#4c78a8"]),
                ),
                tooltip=["assumption", "swing", alt.Tooltip("change:Q", format=",.0f")],
            )
            .properties(height=300),
            width="stretch",
        )
    st.subheader("By " + ("size" if scenario.market == "US" else "specialty") + " and plan")
    st.dataframe(results.by_group_and_plan().round(2), hide_index=True, width="stretch", key="by_plan")
    left, middle, right = st.columns(3)
    left.download_button("Scenario (YAML)", scenario_yaml(scenario), "scenario.yaml", "text/yaml", key="dl_scenario")
    middle.download_button("Clinics (CSV)", lambda: to_csv(results), "clinics.csv", "text/csv", key="dl_csv")
    right.download_button("Results (XLSX)", lambda: to_xlsx(results), "results.xlsx", key="dl_xlsx")


@st.cache_data(show_spinner=False, hash_funcs={CompiledPricebook: lambda p: p.semantic_hash})
def cached_break_evens(pricebook: CompiledPricebook) -> list[Any]:
    return break_evens(pricebook)


def scenario_yaml(scenario: Scenario) -> bytes:
    import yaml

    return yaml.safe_dump(scenario.dump(), sort_keys=False, allow_unicode=True).encode("utf-8")


main()
