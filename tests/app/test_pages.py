"""Every page through AppTest: widgets change results, and what one page does shows on another."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.billing import Billing
from engine.pricing.requests import LeadRequest
from tests.app.conftest import open_page


def _metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label.split(" · ")[0] == label)


def _frame(app: AppTest, column: str) -> object:
    """The first table on the page with this column."""
    return next(f.value for f in app.dataframe if column in f.value.columns)


def _number(text: str) -> float:
    return float(re.sub(r"[^\d.\-]", "", text.split(" (", maxsplit=1)[0]))


def test_the_simulator_reacts_to_its_inputs(app: AppTest) -> None:
    app.run()
    assert not app.exception
    billed = _number(_metric(app, "Billed to clinics"))
    app.sidebar.slider(key="reminders").set_value(4.0).run()
    assert _number(_metric(app, "Billed to clinics")) > billed
    app.sidebar.slider(key="clinics").set_value(2_000).run()
    assert "2,000 clinics" in app.caption[0].value
    charts = app.get("vega_lite_chart")
    assert len(charts) >= 3  # cost by size and plan, cheapest plan, months
    assert {b.label for b in app.get("download_button")} >= {"Scenario (YAML)", "Clinics (CSV)", "Results (XLSX)"}
    app.button(key="tornado").click().run()
    assert len(app.get("vega_lite_chart")) == len(charts) + 1
    app.sidebar.radio(key="market").set_value("IN").run()
    assert not app.exception and "₹" in _metric(app, "Billed to clinics")


def test_compare_shows_the_diff_and_the_population_impact(app: AppTest) -> None:
    open_page(app, "compare")
    app.radio(key="compare_market").set_value("IN").run()
    app.selectbox(key="compare_a").set_value("in-clinic-leads-v1.xlsx").run()
    app.selectbox(key="compare_b").set_value("in-clinic-leads-v2.xlsx").run()
    assert not app.exception
    diff = _frame(app, "rule_id")
    assert {"LeadPrices", "TopUpPromos"} <= set(diff.sheet) and "LP-03" in set(diff.rule_id)
    assert _metric(app, "Revenue change") != "₹0.00"
    assert int(_metric(app, "Clinics paying more").replace(",", "")) > 0


def test_the_inspector_lists_findings_and_prices_the_examples(app: AppTest) -> None:
    open_page(app, "inspector")
    app.selectbox(key="inspect_choice").set_value("pricebooks/in/in-clinic-leads-v2.xlsx").run()
    assert app.success and "No errors" in app.success[0].value
    examples = _frame(app, "expected")
    assert len(examples) == 6 and set(examples.ok) == {"✅"}
    assert len(app.get("vega_lite_chart")) == 1  # lead prices
    assert app.get("download_button")[0].label.startswith("Annotated copy")


def test_the_wallet_tops_up_and_its_header_follows(app: AppTest) -> None:
    open_page(app, "wallet")
    clinics = app.selectbox(key="wallet_clinic").options
    indian = next(c for c in clinics if c.endswith(")") and "(in-" in c)
    app.selectbox(key="wallet_clinic").set_value(indian.split("(")[-1].rstrip(")")).run()
    before = _number(_metric(app, "Balance"))
    app.selectbox(key="topup_method").set_value("upi_ok")
    app.number_input(key="topup_credits").set_value(10_000)
    app.button(key="topup_pay").click().run()
    assert not app.exception
    assert app.success and "credited 10,000 credits" in app.success[0].value
    assert _number(_metric(app, "Balance")) == before + 12_000  # with the 20% bonus
    app.selectbox(key="topup_method").set_value("card_declined")  # form values are sent with the submit
    app.button(key="topup_pay").click().run()
    assert app.error and "payment failed" in app.error[0].value
    assert _number(_metric(app, "Balance")) == before + 12_000  # a declined card changes nothing
    history = _frame(app, "kind")
    assert {"topup", "bonus"} <= set(history.kind)


def test_admin_is_read_only_without_a_password(app: AppTest) -> None:
    open_page(app, "admin")
    assert any("Read-only" in i.value for i in app.info)
    assert not [b for b in app.button if b.key in ("decide_approve", "adjust_submit")]
    assert app.success and "OK:" in app.success[-1].value  # reconciliation


def test_a_dispute_approved_in_admin_shows_as_a_refund_in_the_wallet(
    app: AppTest, ledger_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITBOOK_ADMIN_PASSWORD", "s3cret")
    billing = Billing(f"sqlite:///{ledger_copy}")
    clinic = next(c.id for c in billing.clinics() if c.market == "IN")
    billing.purchase(clinic, 5_000, payment_method="upi_ok", key="test-topup")
    charge = billing.charge(clinic, LeadRequest(product="lead_call", package_price=15_000), key="test-lead")
    dispute = billing.open_dispute(clinic, charge.transaction_id, reason="invalid", key="test-dispute")
    assert dispute.status == "open"
    billing.db.dispose()

    open_page(app, "wallet")
    app.selectbox(key="wallet_clinic").set_value(clinic).run()
    refunds_before = _number(_metric(app, "Refunds granted this month"))
    app.switch_page("pages/admin.py")
    app.run()
    app.text_input(key="admin_password").input("wrong").run()
    assert app.error and app.error[0].value == "Wrong password."
    app.text_input(key="admin_password").input("s3cret").run()
    app.selectbox(key="decide_id").set_value(dispute.dispute_id)
    app.text_input(key="decide_note").input("spam number, confirmed")
    app.button(key="decide_approve").click().run()
    assert not app.exception and "approved; refunded 250 credits" in app.success[0].value
    app.switch_page("pages/wallet.py")
    app.run()
    app.selectbox(key="wallet_clinic").set_value(clinic).run()
    assert _number(_metric(app, "Refunds granted this month")) == refunds_before + 250
    history = _frame(app, "kind")
    assert "refund" in set(history.kind)
