"""The analysts' pages through AppTest: the simulator, Compare and the inspector react to their
inputs and show money the way each market writes it, with units in every header and readable charts."""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.app_pages import charts, frame, metric, number, open_page
from tests.support.paths import IN_V2, US_V1

LAKH = re.compile(r"₹\d{1,2}(,\d\d)*,\d{3}(\.\d\d)?$")  # ₹12,34,567.50


def test_the_simulator_reacts_to_its_inputs(app: AppTest) -> None:
    app.run()
    assert not app.exception
    billed = number(metric(app, "Billed to clinics").value)
    app.sidebar.slider(key="reminders_US").set_value(4.0).run()
    assert number(metric(app, "Billed to clinics").value) > billed
    app.sidebar.slider(key="clinics_US").set_value(2_000).run()
    assert "2,000 clinics" in app.caption[0].value
    before = len(app.get("vega_lite_chart"))
    assert before >= 3  # cost by size and plan, cheapest plan, months
    assert {b.label for b in app.get("download_button")} >= {"Scenario (YAML)", "Clinics (CSV)", "Results (XLSX)"}
    app.button(key="tornado").click().run()
    assert len(app.get("vega_lite_chart")) == before + 1
    app.sidebar.radio(key="market").set_value("IN").run()
    assert not app.exception and "₹" in metric(app, "Billed to clinics").value


def test_us_settings_do_not_carry_over_to_india(app: AppTest) -> None:
    app.run()
    app.sidebar.slider(key="clinics_US").set_value(90_000)
    app.sidebar.select_slider(key="months_US").set_value(36).run()
    assert "90,000 clinics × 36 months" in app.caption[0].value
    app.sidebar.radio(key="market").set_value("IN").run()
    assert not app.exception
    assert "10,000 clinics × 12 months" in app.caption[0].value  # India's own defaults
    app.sidebar.radio(key="market").set_value("US").run()
    assert "90,000 clinics × 36 months" in app.caption[0].value  # and the US keeps its own
    assert not app.warning  # no "value set via the Session State API" complaint


def test_pricebook_chips_name_the_pricebook_and_its_version(app: AppTest) -> None:
    app.run()
    app.sidebar.radio(key="market").set_value("IN").run()
    chips = app.sidebar.multiselect(key="pricebooks_IN").options
    assert [re.sub(r" \(\w+\)$", "", c) for c in chips] == ["in-clinic-leads v1", "in-clinic-leads v2"]
    assert re.search(r"in-clinic-leads v1 \(\w+\) and in-clinic-leads v2 \(\w+\)", app.caption[0].value)


def test_simulator_tables_say_their_units_and_write_money_for_the_market(app: AppTest) -> None:
    app.run()
    by_plan = frame(app, "Plan")
    assert list(by_plan.columns) == [
        "Size",
        "Plan",
        "Clinics",
        "p5 ($ a month)",
        "p50 ($ a month)",
        "p95 ($ a month)",
        "mean ($ a month)",
    ]
    assert set(by_plan.Size) == {"Solo", "Small", "Medium", "Large"}
    assert all(re.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d\d", v) for v in by_plan["p50 ($ a month)"])  # cents, not 4 places
    break_even = frame(app, "Package price ($)")
    assert "Package price (credits)" in break_even.columns and "Break-even (segments or minutes a month)" in break_even
    app.sidebar.radio(key="market").set_value("IN").run()
    by_specialty = frame(app, "Specialty")
    assert "Hair transplant" in set(by_specialty.Specialty)  # not hair_transplant
    assert all(v.startswith("₹") for v in by_specialty["p95 (₹ a month)"])


def test_headline_figures_are_short_and_say_everything_in_their_help(app: AppTest) -> None:
    app.run()
    app.sidebar.radio(key="market").set_value("IN").run()
    for m in app.metric:
        assert len(m.value) <= 11, m.value
    billed = metric(app, "Billed to clinics")
    assert billed.value.endswith("Cr") and LAKH.match(billed.help.split(" ")[0])  # ₹44.74Cr, in full in the help
    assert metric(app, "Gross margin").value.endswith("%")


def test_simulator_charts_are_readable(app: AppTest) -> None:
    app.run()
    app.button(key="tornado").click().run()
    specs = [spec for spec, _ in charts(app)]
    _ranges, points = specs[0]["layer"]  # US: packages cost ~100× pay-as-you-go
    assert points["mark"]["type"] == "point"  # not bars, whose length on a log scale means nothing
    axis, scale = points["encoding"]["y"]["axis"], points["encoding"]["y"]["scale"]
    assert scale["type"] == "log" and axis["format"] == "$,.2~f"
    assert all(str(int(t / 10 ** math.floor(math.log10(t))))[0] in "125" for t in axis["values"])  # 1-2-5 ticks
    assert specs[0]["config"]["locale"]["number"]["currency"] == ["$", ""]
    tornado = specs[-1]
    assert tornado["encoding"]["y"]["axis"]["labelLimit"] == 0  # assumption names are never cut
    assert tornado["encoding"]["x"]["axis"]["format"] == "$,.2~f"
    app.sidebar.radio(key="market").set_value("IN").run()
    _, bars = charts(app)[0][0]["layer"]  # India: costs of one order, bars on a linear scale
    assert bars["mark"]["type"] == "bar" and "type" not in bars["encoding"]["y"].get("scale", {})


def test_log_ticks_are_few_and_round() -> None:
    from simulator.app.display import log_ticks

    assert log_ticks(1.12, 390) == [1, 2, 5, 10, 20, 50, 100, 200, 500]
    assert log_ticks(1_500, 6_800) == [1_000, 2_000, 5_000, 10_000]


def test_india_charts_group_digits_in_lakhs(app: AppTest) -> None:
    app.run()
    app.sidebar.radio(key="market").set_value("IN").run()
    spec, _ = charts(app)[0]
    assert spec["config"]["locale"]["number"]["grouping"] == [3, 2]
    assert spec["config"]["locale"]["number"]["currency"] == ["₹", ""]


def test_compare_shows_the_diff_and_the_population_impact(app: AppTest) -> None:
    open_page(app, "compare")
    app.radio(key="compare_market").set_value("IN").run()
    app.selectbox(key="compare_a_IN").set_value("in-clinic-leads-v1.xlsx").run()
    app.selectbox(key="compare_b_IN").set_value("in-clinic-leads-v2.xlsx").run()
    assert not app.exception
    diff = frame(app, "rule_id")
    assert {"LeadPrices", "TopUpPromos"} <= set(diff.sheet) and "LP-03" in set(diff.rule_id)
    assert number(metric(app, "Revenue change").value) != 0
    assert "%" in metric(app, "Revenue change").help
    assert int(metric(app, "Clinics paying more").value.replace(",", "")) > 0
    groups = frame(app, "Median change (%)")
    assert all(re.fullmatch(r"-?\d+\.\d%", v) for v in groups["Median change (%)"])  # -52.0%, not -0.52
    assert all(v.startswith(("₹", "-₹")) for v in groups["Median change (₹)"])
    histogram, _ = charts(app)[0]
    assert histogram["encoding"]["x"]["axis"]["format"] == "$,.2~f"  # never 0.224999999999964
    assert histogram["config"]["locale"]["number"]["grouping"] == [3, 2]


def test_the_inspector_lists_findings_and_prices_the_examples(app: AppTest) -> None:
    open_page(app, "inspector")
    app.selectbox(key="inspect_choice").set_value("pricebooks/in/in-clinic-leads-v2.xlsx").run()
    assert app.success and "No errors" in app.success[0].value
    examples = frame(app, "Expected (credits)")
    assert len(examples) == 6 and set(examples["As expected"]) == {"yes"}
    assert app.get("download_button")[0].label.startswith("Annotated copy")


def test_the_lead_price_chart_is_by_price_range(app: AppTest) -> None:
    open_page(app, "inspector")
    app.selectbox(key="inspect_choice").set_value("pricebooks/in/in-clinic-leads-v2.xlsx").run()
    [(spec, data)] = charts(app)
    assert spec["encoding"]["x"]["title"] == "Treatment package price (₹)"
    assert list(data[0]["range"]) == [
        "₹0 – ₹5,000",
        "₹5,000 – ₹10,000",
        "₹10,000 – ₹20,000",
        "₹20,000 – ₹50,000",
        "₹50,000 – ₹1,00,000",
        "₹1,00,000 and more",
    ]


def test_the_tier_charts_are_by_usage_range(app: AppTest) -> None:
    open_page(app, "inspector")
    app.selectbox(key="inspect_choice").set_value("pricebooks/us/us-audiology-v1.xlsx").run()
    sms, voice = (data[0] for _, data in charts(app))
    assert list(sms["range"]) == [
        "1 – 500",
        "501 – 1,500",
        "1,501 – 3,500",
        "3,501 – 6,500",
        "6,501 – 11,500",
        "11,501 and more",
    ]
    assert list(voice["range"])[-1] == "18,501 and more"
    assert "SMS-1" not in set(sms["range"])


@pytest.mark.parametrize("workbook", [US_V1, IN_V2])
def test_an_uploaded_workbook_is_validated_and_leaves_no_file_behind(
    app: AppTest, workbook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    open_page(app, "inspector")
    app.selectbox(key="inspect_choice").set_value("Upload a workbook…").run()
    app.file_uploader(key="inspect_file").set_value((workbook.name, workbook.read_bytes(), "application/xlsx")).run()
    assert not app.exception
    assert app.success and "No errors" in app.success[0].value
    from simulator.app.services import Upload, annotated_copy, validated

    upload = Upload(workbook.name, workbook.read_bytes())
    assert annotated_copy(upload, validated(upload).findings)[:2] == b"PK"  # the download's bytes
    assert list(scratch.iterdir()) == []  # the upload and the annotated copy are gone


def test_an_upload_over_the_limit_is_refused_before_parsing(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.app import services

    monkeypatch.setattr(services, "MAX_UPLOAD_MB", 1)
    parsed: list[object] = []
    monkeypatch.setattr(services, "_validated", lambda *args: parsed.append(args))
    open_page(app, "inspector")
    app.selectbox(key="inspect_choice").set_value("Upload a workbook…").run()
    big = b"PK" + b"\0" * (1024 * 1024 + 1)
    app.file_uploader(key="inspect_file").set_value(("big.xlsx", big, "application/xlsx")).run()
    assert not app.exception and not parsed
    assert app.error and "the limit is 1 MB" in app.error[0].value


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_does_not_grow_across_twenty_reruns(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rerun is a new scenario (10,000+ clinic-years, 30–50 MB of results each); the cache keeps
    what its clinic-month budget allows (here one scenario) and nothing else stays behind."""
    from simulator.app.services import SIMULATIONS

    monkeypatch.setattr(SIMULATIONS, "budget", 120_000)
    app.run()
    before = _rss_mb()
    for step in range(1, 21):
        app.sidebar.slider(key="clinics_US").set_value(10_000 + 1_000 * step).run()
        assert not app.exception
    grown = _rss_mb() - before
    assert len(SIMULATIONS) == 1
    assert grown < 150, f"the process grew by {grown:.0f} MB over 20 reruns"


def test_compare_shows_a_drafts_changes_and_its_findings_even_when_it_has_errors(app: AppTest, tmp_path: Path) -> None:
    from tests.support.workbooks import Book

    book = Book(IN_V2)
    book.set("LeadPrices", "LP-03", "lead_price_credits", 275)  # the edit the team wants to see
    book.set("LeadPrices", "LP-04", "pkg_price_from", "twenty thousand")  # and a mistake left in
    draft = book.save(tmp_path / "draft.xlsx")
    open_page(app, "compare")
    app.radio(key="compare_market").set_value("IN").run()
    app.selectbox(key="compare_a_IN").set_value("in-clinic-leads-v2.xlsx").run()
    app.selectbox(key="compare_b_IN").set_value("Upload a draft…").run()
    app.file_uploader(key="compare_b_file").set_value((draft.name, draft.read_bytes(), "application/xlsx")).run()
    assert not app.exception
    diff = frame(app, "rule_id")
    assert "LP-03" in set(diff.rule_id)  # the change is shown although the draft does not validate
    findings = frame(app, "code")
    assert len(findings) >= 1 and any("LP-04" in str(row) or "LeadPrices" in str(row) for row in findings.values)
    assert not [m for m in app.metric if m.label == "Revenue change"]  # no simulation of a draft with errors
