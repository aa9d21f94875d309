"""The what-if simulator: scenario inputs in the sidebar, results as metrics, charts and tables.

Every widget's key carries its market, so the US clinic count, months and seed never carry over to
India (each market starts from its own default scenario).

The app's first page: its heading is drawn before pandas, altair and the simulator are imported,
so a visitor sees the page at once while the rest loads."""

# ruff: noqa: E402

from __future__ import annotations

import streamlit as st

st.title("What-if simulator")

from contextlib import contextmanager
from datetime import date
from typing import Any

import altair as alt
import pandas as pd

from engine.money import currency_symbol, format_money, format_number, format_percent
from engine.pricebook.model import CompiledPricebook
from simulator import PLAN_LABELS, Range, Scenario, break_evens, in_default, us_default
from simulator.app.display import (
    MONEY_AXIS,
    Column,
    localized,
    log_ticks,
    metric_rows,
    money_metric,
    table,
)
from simulator.app.labels import label, market_label
from simulator.app.services import (
    MAX_SCENARIO_BYTES,
    SHIPPED,
    inputs_without_effect,
    read_upload,
    shipped_label,
    simulated,
    tornado_of,
)
from simulator.export import to_csv, to_xlsx

SIZES = ("solo", "small", "medium", "large")
MARKETS = ("US", "IN")


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
WIDGETS = (  # every sidebar widget, each keyed per market as f"{name}_{market}"
    "pricebooks",
    "clinics",
    "months",
    "start",
    "seed",
    "variation",
    "plan",
    *(key for *_, key in US_USAGE),
    "block",
    "cost_sms",
    "cost_voice",
    "leads_factor",
    "price_factor",
    "call_share",
    "cost_lead",
    *(f"share_{size}" for size in SIZES),
)


def key(name: str, market: str) -> str:
    return f"{name}_{market}"


def kept(widget: Any, text: str, name: str, market: str, value: Any, value_arg: str = "value", **kwargs: Any) -> Any:
    """A sidebar widget of one market whose value survives the runs that draw the other market's
    (Streamlit forgets a widget's state in a run that does not draw it): the value is kept under a
    key of its own and handed back when the widget is drawn again."""
    widget_key, shadow = key(name, market), f"kept:{key(name, market)}"
    if widget_key not in st.session_state and shadow in st.session_state:
        st.session_state[widget_key] = st.session_state[shadow]
    if widget_key not in st.session_state:
        kwargs[value_arg] = value
    chosen = widget(text, key=widget_key, **kwargs)
    st.session_state[shadow] = chosen
    return chosen


def _apply(scenario: Scenario) -> None:
    """Load a scenario: it becomes its market's starting point, every widget of that market set from it."""
    for name in WIDGETS:
        st.session_state.pop(key(name, scenario.market), None)
        st.session_state.pop(f"kept:{key(name, scenario.market)}", None)
    st.session_state[key("base", scenario.market)] = scenario.dump()
    st.session_state["market"] = scenario.market


def _load_scenario_file() -> None:
    side = st.sidebar
    uploaded = side.file_uploader("Load a scenario (YAML or JSON)", type=["yaml", "yml", "json"], key="scenario_file")
    if uploaded is None or st.session_state.get("applied") == uploaded.file_id:
        return
    upload = read_upload(uploaded, MAX_SCENARIO_BYTES)
    if upload is None:
        return
    try:
        _apply(Scenario.from_text(upload.data.decode("utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        side.error(f"Not a scenario: {str(exc)[:500]}")
        return
    st.session_state["applied"] = uploaded.file_id
    st.rerun()


def sidebar() -> Scenario:
    side = st.sidebar
    side.header("Scenario")
    _load_scenario_file()
    market = side.radio("Market", MARKETS, horizontal=True, key="market", format_func=market_label)
    base_data = st.session_state.get(key("base", market))
    base = Scenario.model_validate(base_data) if base_data else (us_default() if market == "US" else in_default())
    choices = [str(p.relative_to(p.parents[2])) for p in SHIPPED[market]]
    picked = kept(
        side.multiselect,
        "Pricebook versions (each month uses the one in force)",
        "pricebooks",
        market,
        [p for p in base.pricebooks if p in choices] or choices,
        value_arg="default",
        options=choices,
        format_func=shipped_label,
    )
    clinics = kept(
        side.slider, "Clinics", "clinics", market, base.clinics, min_value=1_000, max_value=100_000, step=1_000
    )
    months = kept(side.select_slider, "Months", "months", market, base.months, options=[3, 6, 12, 18, 24, 36])
    start = kept(side.date_input, "First month", "start", market, base.start)
    seed = kept(side.number_input, "Seed", "seed", market, base.seed, min_value=0, max_value=2**31 - 1)
    variation = kept(
        side.slider,
        "Month-to-month variation (σ)",
        "variation",
        market,
        base.monthly_variation,
        min_value=0.0,
        max_value=1.0,
        step=0.05,
    )
    data = base.dump()
    data.update(
        pricebooks=picked or choices,
        clinics=clinics,
        months=months,
        start=start if isinstance(start, date) else base.start,
        seed=int(seed),
        monthly_variation=variation,
    )
    if market == "US":
        _us_inputs(base, data)
    else:
        _india_inputs(base, data)
    return Scenario.model_validate(data)


def _us_inputs(base: Scenario, data: dict[str, Any]) -> None:
    side = st.sidebar
    assert base.us is not None
    plans = list(PLAN_LABELS)
    data["plan"] = kept(
        side.selectbox,
        "Plan",
        "plan",
        "US",
        plans.index(base.plan),
        value_arg="index",
        options=plans,
        format_func=PLAN_LABELS.get,
    )
    side.subheader("Clinic mix (%)")
    for size in SIZES:
        share = kept(
            side.slider,
            label(size),
            f"share_{size}",
            "US",
            base.sizes[size].share * 100,
            min_value=0.0,
            max_value=100.0,
            step=0.5,
        )
        data["sizes"][size]["share"] = share / 100
    side.subheader("Usage (most likely values)")
    usage, defaults = data["us"], base.us
    for field, text, top, step, name in US_USAGE:
        current: Range = getattr(defaults, field)
        likely = kept(side.slider, text, name, "US", current.likely, min_value=0.0, max_value=top, step=step)
        usage[field] = _with_mode(current, likely)
    side.subheader("Money")
    dollars = kept(
        side.number_input,
        "Top-up block ($)",
        "block",
        "US",
        base.topups.block_credits / 10_000,
        min_value=10.0,
        max_value=10_000.0,
        step=10.0,
    )
    data["topups"]["block_credits"] = round(dollars * 10_000)
    for field, text, name in (
        ("sms_segment", "Upstream cost per SMS segment ($)", "cost_sms"),
        ("voice_minute", "Upstream cost per voice minute ($)", "cost_voice"),
    ):
        value = float(getattr(base.costs, field))
        cost = kept(
            side.number_input, text, name, "US", value, min_value=0.0, max_value=0.1, step=0.0001, format="%.4f"
        )
        data["costs"][field] = str(cost)


def _india_inputs(base: Scenario, data: dict[str, Any]) -> None:
    side = st.sidebar
    assert base.india is not None
    side.subheader("Leads")
    factor: dict[str, Any] = {"min_value": 0.25, "max_value": 3.0, "step": 0.05}  # a slider's bounds
    leads = kept(side.slider, "Leads per clinic-month (× the defaults)", "leads_factor", "IN", 1.0, **factor)
    prices = kept(side.slider, "Treatment package prices (× the defaults)", "price_factor", "IN", 1.0, **factor)
    for specialty in data["india"]["specialties"].values():
        specialty["leads_per_month"] = (
            Range.model_validate(specialty["leads_per_month"]).scaled(leads).model_dump(exclude_none=True)
        )
        specialty["package_price_median"] *= prices
    data["india"]["call_share"] = kept(
        side.slider,
        "Share of call leads",
        "call_share",
        "IN",
        base.india.call_share,
        min_value=0.0,
        max_value=1.0,
        step=0.05,
    )
    block = kept(
        side.number_input,
        "Top-up block (₹)",
        "block",
        "IN",
        base.topups.block_credits,
        min_value=1_000,
        max_value=200_000,
        step=1_000,
    )
    data["topups"]["block_credits"] = int(block)
    lead_cost = base.costs.lead
    assert lead_cost is not None  # an Indian scenario's cost per lead defaults to DEFAULT_COSTS["IN"]
    cost = kept(
        side.number_input,
        "Upstream cost per lead (₹)",
        "cost_lead",
        "IN",
        float(lead_cost),
        min_value=0.0,
        max_value=1_000.0,
        step=10.0,
    )
    data["costs"]["lead"] = str(cost)


@contextmanager
def progress_bar(text: str) -> Any:
    """A progress bar the simulator moves (its progress callback), gone when the work is done."""
    slot = st.empty()
    bar = slot.progress(0.0, text=text)

    def tick(step: str, done: float) -> None:
        bar.progress(min(max(float(done), 0.0), 1.0), text=f"{text} {step}…")

    try:
        yield tick
    finally:
        slot.empty()


def _group_title(results: Any) -> str:
    return "Size" if results.scenario.market == "US" else "Specialty"


WIDE = 20  # when the dearest p95 is this many times the cheapest p5, costs are drawn on a log scale


def cost_chart(results: Any, currency: str) -> None:
    """Each group's median clinic per plan with its p5–p95 range. Bars on a linear scale while the
    costs are of one order; points and ranges on a log scale with 1-2-5 ticks when packages cost a
    hundred times pay-as-you-go (bars on a log scale would have lengths that mean nothing)."""
    by = results.by_group_and_plan()
    group_title = _group_title(results)
    by = by.assign(group_label=[label(g) for g in by.group])
    order = [label(g) for g in results.population.groups]
    symbol = currency_symbol(currency)
    positive = by[["p5", "p50", "p95"]].where(by[["p5", "p50", "p95"]] > 0)
    low, high = float(positive.min().min() or 1), float(positive.max().max() or 1)
    wide = high / low > WIDE
    st.subheader(f"Monthly cost per clinic, by {group_title.lower()} and plan")
    st.caption(
        ("Points" if wide else "Bars")
        + " mark the median clinic (p50); lines run from p5 to p95."
        + (" The scale is logarithmic: each step multiplies the cost." if wide else "")
    )
    plans = list(PLAN_LABELS.values())
    base = alt.Chart(by).encode(
        x=alt.X("group_label:N", title=group_title, sort=order, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("plan:N", sort=plans),
    )
    colour = alt.Color("plan:N", title="Plan", sort=plans, legend=alt.Legend(orient="bottom", columns=1))
    tips = [alt.Tooltip(f"{c}:Q", title=f"{c} ({symbol} a month)", format=MONEY_AXIS) for c in ("p5", "p50", "p95")]
    axis = alt.Axis(format=MONEY_AXIS, values=log_ticks(low, high)) if wide else alt.Axis(format=MONEY_AXIS)
    scale = (
        alt.Scale(type="log", domain=[min(log_ticks(low, high)), max(log_ticks(low, high))]) if wide else alt.Scale()
    )
    y = alt.Y("p50:Q", title=f"Monthly cost per clinic ({symbol})", axis=axis, scale=scale)
    mark = base.mark_point(filled=True, size=90) if wide else base.mark_bar()
    middle = mark.encode(y=y, color=colour, tooltip=[alt.Tooltip("group_label:N", title=group_title), "plan:N", *tips])
    ranges = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("p5:Q", scale=scale), y2="p95:Q", color=colour if wide else alt.value("#222")
    )
    st.altair_chart(localized((ranges + middle).properties(height=360), currency), width="stretch")


def cheapest_chart(results: Any, currency: str) -> None:
    st.subheader("Which plan is cheapest, by size")
    cheapest = results.cheapest_by_group().drop(columns=["clinics", "most often cheapest"])
    long = cheapest.melt("group", var_name="plan", value_name="share")
    long["group"] = [label(g) for g in long.group]
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X(
                "group:N", title="Size", sort=[label(g) for g in results.population.groups], axis=alt.Axis(labelAngle=0)
            ),
            y=alt.Y("share:Q", axis=alt.Axis(format="%"), title="Share of clinics (%)"),
            color=alt.Color("plan:N", title="Plan", legend=alt.Legend(orient="bottom", columns=1)),
            tooltip=["group", "plan", alt.Tooltip("share:Q", format=".0%")],
        )
        .properties(height=300)
    )
    st.altair_chart(localized(chart, currency), width="stretch")


def months_chart(results: Any, currency: str) -> None:
    st.subheader("Cost per clinic by month (p10 – p90)")
    months = results.by_month()
    symbol = currency_symbol(currency)
    band = (
        alt.Chart(months)
        .mark_area(opacity=0.3)
        .encode(
            x=alt.X("month:O", title="Month"),
            y=alt.Y("p10:Q", title=f"Cost per clinic ({symbol})", axis=alt.Axis(format=MONEY_AXIS)),
            y2="p90:Q",
        )
    )
    tips = [alt.Tooltip(f"{c}:Q", title=f"{c} ({symbol})", format=MONEY_AXIS) for c in ("p10", "p50", "p90")]
    line = alt.Chart(months).mark_line(point=True).encode(x="month:O", y="p50:Q", tooltip=["month", *tips])
    st.altair_chart(localized((band + line).properties(height=300), currency), width="stretch")


def side_charts(results: Any, currency: str) -> None:
    if results.scenario.market != "US":  # one plan: nothing to compare, the months take the width
        months_chart(results, currency)
        return
    left, right = st.columns(2)
    with left:
        cheapest_chart(results, currency)
    with right:
        months_chart(results, currency)


def headline(results: Any, currency: str) -> None:
    summary = results.summary()
    cells = metric_rows(5, per_row=3)
    money_metric(cells[0], "Billed to clinics", summary["billed"], currency)
    money_metric(cells[1], "Cash collected", summary["cash_collected"], currency)
    money_metric(
        cells[2],
        "Outstanding credits",
        summary["outstanding"],
        currency,
        help=f"{format_number(summary['outstanding_credits'], currency, places=0)} credits held by clinics",
    )
    cells[3].metric(
        "Gross margin",
        format_percent(summary["gross_margin"], currency, places=1),
        help=f"after upstream costs of {format_money(summary['upstream_cost'], currency, places=2)}",
    )
    money_metric(cells[4], "Median monthly cost per clinic", summary["monthly_cost_per_clinic_p50"], currency)


def break_even_table(results: Any, currency: str) -> None:
    st.subheader("Break-even: where a package beats pay-as-you-go")
    pricebook = results.pricebooks[-1]
    rows = [
        {
            "package": b.package,
            "size": label(b.size),
            "product": label(b.product),
            "included": b.included_units,
            "credits": b.package_credits,
            "money": b.package_credits * pricebook.meta.money_per_credit,
            "units": b.units,
            "words": b.sentence("segments" if b.product == "sms" else "minutes"),
        }
        for b in cached_break_evens(pricebook)
    ]
    if not rows:
        return
    frame = table(
        pd.DataFrame(rows),
        {
            "package": Column("Package"),
            "size": Column("Size"),
            "product": Column("Product"),
            "included": Column("Included (segments or minutes a month)", "number"),
            "credits": Column("Package price (credits)", "credits"),
            "money": Column(f"Package price ({currency_symbol(currency)})", "money", places=2),
            "units": Column("Break-even (segments or minutes a month)", "number", places=0),
            "words": Column("In words"),
        },
        currency,
    )
    frame["Break-even (segments or minutes a month)"] = [
        text if b["units"] is not None else "never (≤ 10× included)"
        for text, b in zip(frame["Break-even (segments or minutes a month)"], rows, strict=True)
    ]
    st.dataframe(frame, hide_index=True, width="stretch", key="break_even")


def tornado_chart(scenario: Scenario, currency: str) -> None:
    st.subheader("Which assumptions move revenue most")
    if not st.button("Compute the tornado (each assumption ±20 %)", key="tornado"):
        return
    capped = scenario.model_copy(update={"clinics": min(scenario.clinics, 10_000)})
    with progress_bar("Re-simulating with each assumption at ±20 %:") as tick:
        frame = tornado_of(capped, tick)
    long = frame.melt("assumption", value_vars=["low", "high"], var_name="swing", value_name="change")
    long["swing"] = long["swing"].map({"low": "assumption −20 %", "high": "assumption +20 %"})
    st.altair_chart(
        localized(
            alt.Chart(long)
            .mark_bar()
            .encode(
                y=alt.Y("assumption:N", sort=list(frame.assumption), title=None, axis=alt.Axis(labelLimit=0)),
                x=alt.X(
                    "change:Q",
                    title=f"Change in billed revenue ({currency_symbol(currency)})",
                    axis=alt.Axis(format=MONEY_AXIS),
                ),
                color=alt.Color(
                    "swing:N",
                    title=None,
                    scale=alt.Scale(domain=["assumption −20 %", "assumption +20 %"], range=["#e45756", "#4c78a8"]),
                    legend=alt.Legend(orient="bottom"),
                ),
                tooltip=[
                    "assumption",
                    "swing",
                    alt.Tooltip("change:Q", title=currency_symbol(currency), format=MONEY_AXIS),
                ],
            )
            .properties(height=max(160, 28 * len(frame))),
            currency,
        ),
        width="stretch",
    )


def by_plan_table(results: Any, currency: str) -> None:
    group_title = _group_title(results)
    st.subheader(f"By {group_title.lower()} and plan")
    by = results.by_group_and_plan()
    by["group"] = [label(g) for g in by.group]
    money = {
        c: Column(f"{c} ({currency_symbol(currency)} a month)", "money", places=2) for c in ("p5", "p50", "p95", "mean")
    }
    frame = table(
        by,
        {"group": Column(group_title), "plan": Column("Plan"), "clinics": Column("Clinics", "number"), **money},
        currency,
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="by_plan")


def main() -> None:
    scenario = sidebar()
    st.session_state["scenario"] = scenario
    with progress_bar("Simulating") as tick:
        results = simulated(scenario, tick)
    currency = results.currency
    labels = " and ".join(p.label for p in results.pricebooks)
    st.caption(
        f"{format_number(scenario.clinics, currency)} clinics × {scenario.months} months · {labels} · "
        f"seed {scenario.seed} · {results.seconds:.2f} s"
    )
    for note in [*results.notes, *inputs_without_effect(scenario, results.pricebooks)]:
        st.info(note)
    headline(results, currency)
    cost_chart(results, currency)
    side_charts(results, currency)
    if scenario.market == "US":
        break_even_table(results, currency)
    tornado_chart(scenario, currency)
    by_plan_table(results, currency)
    left, middle, right = st.columns(3)
    left.download_button("Scenario (YAML)", scenario_yaml(scenario), "scenario.yaml", "text/yaml", key="dl_scenario")
    middle.download_button("Clinics (CSV)", lambda: to_csv(results), "clinics.csv", "text/csv", key="dl_csv")
    right.download_button("Results (XLSX)", lambda: to_xlsx(results), "results.xlsx", key="dl_xlsx")


@st.cache_data(show_spinner=False, max_entries=8, hash_funcs={CompiledPricebook: lambda p: p.semantic_hash})
def cached_break_evens(pricebook: CompiledPricebook) -> list[Any]:
    return break_evens(pricebook)


def scenario_yaml(scenario: Scenario) -> bytes:
    import yaml

    return yaml.safe_dump(scenario.dump(), sort_keys=False, allow_unicode=True).encode("utf-8")


main()
