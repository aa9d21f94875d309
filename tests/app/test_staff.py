"""The support staff's pages through AppTest: the wallet and the admin console behind one login
(throttled, constant-time), forms that forget what they posted, refusals in words, codes as labels,
and errors that reach the log with an id instead of the visitor's screen."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.billing import Billing
from engine.pricing.requests import LeadRequest
from simulator.app.access import Throttle, same_password
from simulator.app.labels import label, refusal
from tests.support.app_pages import PASSWORD, frame, log_in, metric, number, open_page


def _clinic(ledger: Path, market: str) -> str:
    billing = Billing(f"sqlite:///{ledger}")
    try:
        return next(c.id for c in billing.clinics() if c.market == market)
    finally:
        billing.db.dispose()


def _open_disputes(ledger: Path, count: int) -> list[int]:
    """`count` open disputes on one Indian clinic's fresh lead charges."""
    billing = Billing(f"sqlite:///{ledger}")
    clinic = next(c.id for c in billing.clinics() if c.market == "IN")
    billing.purchase(clinic, 5_000, payment_method="upi_ok", key="test-topup")
    ids = []
    for n in range(count):
        charge = billing.charge(clinic, LeadRequest(product="lead_call", package_price=15_000), key=f"test-lead-{n}")
        ids.append(billing.open_dispute(clinic, charge.transaction_id, reason="invalid", key=f"test-d-{n}").dispute_id)
    billing.db.dispose()
    return ids


def test_without_a_password_the_staff_pages_are_read_only(app: AppTest) -> None:
    open_page(app, "admin")
    assert any("Read-only" in i.value for i in app.info)
    assert not [b for b in app.button if b.key in ("decide_approve", "adjust_submit")]
    assert app.success and "OK:" in app.success[-1].value  # reconciliation
    app.switch_page("views/wallet.py")
    app.run()
    assert any("Read-only" in i.value for i in app.info)
    assert not [b for b in app.button if b.key in ("topup_pay", "dispute_submit")]


@pytest.mark.parametrize("page", ["wallet", "admin"])
def test_with_a_password_the_staff_pages_show_nothing_before_the_login(staff_app: AppTest, page: str) -> None:
    open_page(staff_app, page)
    assert not staff_app.metric and not staff_app.dataframe
    log_in(staff_app, "wrong")
    assert staff_app.error and staff_app.error[0].value == "Wrong password."
    assert not staff_app.metric
    log_in(staff_app)
    assert staff_app.metric and not staff_app.error


def test_one_login_opens_both_staff_pages(staff_app: AppTest) -> None:
    log_in(open_page(staff_app, "wallet"))
    staff_app.switch_page("views/admin.py")
    staff_app.run()
    assert [b for b in staff_app.button if b.key == "adjust_submit"]


def test_wrong_passwords_are_throttled_even_before_the_right_one(staff_app: AppTest) -> None:
    open_page(staff_app, "admin")
    for _ in range(2):
        log_in(staff_app, "guess")
        assert staff_app.error[0].value == "Wrong password."  # two free tries
    log_in(staff_app, "guess")
    assert staff_app.error[0].value == "Wrong password. Too many wrong passwords: wait 5 s."
    log_in(staff_app)  # the right password, but inside the delay
    assert staff_app.error[0].value.startswith("Too many wrong passwords: try again in") and not staff_app.metric


def test_the_throttle_doubles_its_delay_and_forgets_after_a_success() -> None:
    now = [0.0]
    throttle = Throttle(free=2, base=1.0, cap=8.0, clock=lambda: now[0])
    throttle.failed()
    throttle.failed()
    assert throttle.wait() == 0  # two free tries
    delays = []
    for _ in range(5):
        throttle.failed()
        delays.append(throttle.wait())
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped
    now[0] += 8.0
    assert throttle.wait() == 0
    throttle.succeeded()
    throttle.failed()
    assert throttle.wait() == 0
    now[0] += 10_000  # failures older than the window no longer count
    assert throttle._recent(now[0]) == 0


def test_passwords_are_compared_as_digests() -> None:
    assert same_password(PASSWORD, PASSWORD)
    assert not same_password(PASSWORD[:-1], PASSWORD) and not same_password("", PASSWORD)
    assert not same_password("\ud800", PASSWORD)  # a lone surrogate is refused, not an exception


def test_the_wallet_says_whose_wallet_it_acts_on(staff_app: AppTest, ledger_copy: Path) -> None:
    clinic = _clinic(ledger_copy, "IN")
    log_in(open_page(staff_app, "wallet"))
    staff_app.selectbox(key="wallet_clinic").set_value(clinic).run()
    said = [m.value for m in staff_app.markdown if f"`{clinic}`" in m.value]
    assert said[0].startswith("Acting on **") and "India (₹)" in said[0]
    assert any(text.startswith("For **") for text in said)  # the top-up form
    assert any(text.startswith("Open a dispute for **") for text in said)


def test_the_wallet_tops_up_and_its_form_resets(staff_app: AppTest, ledger_copy: Path) -> None:
    clinic = _clinic(ledger_copy, "IN")
    log_in(open_page(staff_app, "wallet"))
    staff_app.selectbox(key="wallet_clinic").set_value(clinic).run()
    before = number(metric(staff_app, "Balance").help)
    staff_app.selectbox(key="topup_method").set_value("upi_ok")
    staff_app.number_input(key="topup_credits").set_value(25_000)
    staff_app.button(key="topup_pay").click().run()
    assert not staff_app.exception
    assert staff_app.success and "credited 25,000 credits (₹25,000)" in staff_app.success[0].value
    assert number(metric(staff_app, "Balance").help) == before + 30_000  # with the 20% bonus
    assert staff_app.number_input(key="topup_credits").value == 10_000  # back to the default
    staff_app.selectbox(key="topup_method").set_value("card_declined")  # form values are sent with the submit
    staff_app.button(key="topup_pay").click().run()
    assert staff_app.error and "payment failed" in staff_app.error[0].value
    assert number(metric(staff_app, "Balance").help) == before + 30_000  # a declined card changes nothing
    history = frame(staff_app, "Kind")
    assert {"Top-up", "Bonus"} <= set(history.Kind)
    assert "Money (₹)" in history.columns and "Credits (+ in, − out)" in history.columns


def test_another_clinic_never_inherits_the_amount_typed_for_the_last_one(staff_app: AppTest, ledger_copy: Path) -> None:
    us, india = _clinic(ledger_copy, "US"), _clinic(ledger_copy, "IN")
    log_in(open_page(staff_app, "wallet"))
    staff_app.selectbox(key="wallet_clinic").set_value(us).run()
    assert staff_app.number_input(key="topup_credits").value == 1_000_000
    staff_app.number_input(key="topup_credits").set_value(2_500_000)
    staff_app.text_input(key="topup_promo").input("SPRING")
    staff_app.selectbox(key="wallet_clinic").set_value(india).run()
    assert staff_app.number_input(key="topup_credits").value == 10_000  # not 25,00,000 rupees
    assert staff_app.text_input(key="topup_promo").value == ""
    assert "1 credit = ₹1" in staff_app.number_input(key="topup_credits").label


def test_wallet_tables_show_labels_not_codes(staff_app: AppTest, ledger_copy: Path) -> None:
    _open_disputes(ledger_copy, 1)
    clinic = _clinic(ledger_copy, "IN")
    log_in(open_page(staff_app, "wallet"))
    staff_app.selectbox(key="wallet_clinic").set_value(clinic).run()
    recent = frame(staff_app, "Priced by rule")
    assert not any("OD-" in rules for rules in recent["Priced by rule"])  # the overdraft policy is not a price
    assert all(what.endswith(("lead", "leads")) for what in recent.What)  # '1 call lead', not lead_call × 1
    reasons = staff_app.selectbox(key="dispute_reason")
    assert "Charged by mistake" in reasons.options and "mistakenly_charged" not in reasons.options


def test_approving_a_dispute_clears_the_note_and_shows_in_the_wallet(staff_app: AppTest, ledger_copy: Path) -> None:
    first, second = _open_disputes(ledger_copy, 2)
    clinic = _clinic(ledger_copy, "IN")
    log_in(open_page(staff_app, "wallet"))
    staff_app.selectbox(key="wallet_clinic").set_value(clinic).run()
    refunds_before = number(metric(staff_app, "Refunds this month").help)
    staff_app.switch_page("views/admin.py")
    staff_app.run()
    staff_app.selectbox(key="decide_id").set_value(first)
    staff_app.text_input(key="decide_note").input("spam number, confirmed")
    staff_app.button(key="decide_approve").click().run()
    assert not staff_app.exception
    assert f"Dispute {first} approved: refunded 250 credits (₹250)" in staff_app.success[0].value
    picker = staff_app.selectbox(key="decide_id")
    assert picker.value != first  # the picker moved on to another dispute
    assert not any(o.startswith(f"{first} ·") for o in picker.options)
    assert any(o.startswith(f"{second} ·") for o in picker.options)
    assert staff_app.text_input(key="decide_note").value == ""  # the old note never meets the next dispute
    staff_app.button(key="decide_approve").click().run()
    assert staff_app.error and staff_app.error[0].value == "A decision needs a note."
    staff_app.switch_page("views/wallet.py")
    staff_app.run()
    staff_app.selectbox(key="wallet_clinic").set_value(clinic).run()
    assert number(metric(staff_app, "Refunds this month").help) == refunds_before + 250
    assert "Refund" in set(frame(staff_app, "Kind").Kind)


def test_rejecting_a_dispute_says_it_was_rejected(staff_app: AppTest, ledger_copy: Path) -> None:
    [dispute] = _open_disputes(ledger_copy, 1)
    log_in(open_page(staff_app, "admin"))
    staff_app.selectbox(key="decide_id").set_value(dispute)
    staff_app.text_input(key="decide_note").input("the patient was reached")
    staff_app.button(key="decide_reject").click().run()
    message = staff_app.success[0].value
    assert message.startswith(f"Dispute {dispute} rejected: no refund") and "refunded" not in message


def test_an_adjustment_is_posted_once_and_refusals_have_no_class_names(staff_app: AppTest, ledger_copy: Path) -> None:
    clinic = _clinic(ledger_copy, "US")
    log_in(open_page(staff_app, "admin"))
    staff_app.selectbox(key="adjust_clinic").set_value(clinic).run()
    staff_app.number_input(key="adjust_credits").set_value(5_000)
    staff_app.text_input(key="adjust_reason").input("goodwill")
    staff_app.button(key="adjust_submit").click().run()
    assert "by 5,000 credits ($0.50)" in staff_app.success[0].value
    assert staff_app.number_input(key="adjust_credits").value == 0
    assert staff_app.text_input(key="adjust_reason").value == ""
    staff_app.button(key="adjust_submit").click().run()  # the second click posts nothing
    [error] = staff_app.error
    assert ":" not in error.value.split(" ")[0] and "InvalidAmount" not in error.value
    billing = Billing(f"sqlite:///{ledger_copy}")
    adjustments = billing.transactions(clinic, kinds=["adjustment"]).rows
    billing.db.dispose()
    assert len(adjustments) == 1


def test_admin_revenue_says_its_units(staff_app: AppTest) -> None:
    log_in(open_page(staff_app, "admin"))
    staff_app.radio(key="revenue_market").set_value("IN").run()
    revenue = frame(staff_app, "Month")
    assert "Top-ups paid (₹)" in revenue.columns and "Paid credits" in revenue.columns
    assert all(v.startswith("₹") for v in revenue["Top-ups paid (₹)"])


def test_codes_read_as_words() -> None:
    assert label("mistakenly_charged") == "Charged by mistake"
    assert label("hair_transplant") == "Hair transplant"
    assert label("lead_call") == "Call lead" and label(None) == ""

    class InvalidAmount(Exception):
        pass

    assert refusal(InvalidAmount("credits must be positive")) == "Credits must be positive"


def test_an_unexpected_error_shows_an_id_and_logs_the_traceback(
    staff_app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "not-a-database"
    folder.mkdir()
    monkeypatch.setenv("CREDITBOOK_DATABASE_URL", f"sqlite:///{folder}")
    caplog.set_level(logging.ERROR, logger="creditbook.app")
    open_page(staff_app, "wallet")
    log_in(staff_app)
    [shown] = staff_app.error
    assert "error id" in shown.value and "Traceback" not in shown.value and str(tmp_path) not in shown.value
    error_id = shown.value.split("**")[1]
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info is not None  # the full traceback is in the log


def test_the_wallet_previews_a_top_up_and_pay_refuses_a_code_the_preview_refuses(
    staff_app: AppTest, ledger_copy: Path
) -> None:
    clinic = _clinic(ledger_copy, "IN")
    log_in(open_page(staff_app, "wallet"))
    staff_app.selectbox(key="wallet_clinic").set_value(clinic).run()
    before = number(metric(staff_app, "Balance").help)
    staff_app.number_input(key="topup_credits").set_value(10_000)
    staff_app.button(key="topup_preview").click().run()
    assert not staff_app.exception
    shown = staff_app.info[0].value
    assert "**Pay ₹10,000** for 10,000 credits (₹10,000)" in shown and "Bonus: 2,000 credits (₹2,000)" in shown
    assert "featured placement" in shown and number(metric(staff_app, "Balance").help) == before  # nothing paid
    staff_app.text_input(key="topup_promo").input("NOSUCH")
    staff_app.button(key="topup_preview").click().run()
    assert staff_app.warning and "promo code NOSUCH is not known" in staff_app.warning[0].value
    staff_app.button(key="topup_pay").click().run()
    assert staff_app.error and "NOSUCH is not known; nothing was charged" in staff_app.error[0].value
    assert number(metric(staff_app, "Balance").help) == before  # refused before any money moved
