"""The clinic dashboard through Django's test client, with CSRF checks on and real session logins,
on a real ledger (SQLite and PostgreSQL): the header figures are Billing.balance's, a promotion is
claimed and paid through the preview exactly once however often the form is sent, a 3-D Secure
payment goes through its next step, a lead is disputed from its row with only its product's
reasons, the ledger exports escaped CSV, alerts reach a mailbox through `creditbook_notify`, and
another clinic's pages and data answer 404."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client, override_settings

from creditbook_django import lead_contacts
from creditbook_django.dashboard import csv_cell
from engine.money import credits_to_money, format_credit_count, format_money
from tests.django.conftest import PASSWORD, World

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


def login(user: str) -> Client:
    """A browser-like client (CSRF enforced) logged in through the login form."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/dashboard/login/")
    answer = client.post(
        "/dashboard/login/", {"username": user, "password": PASSWORD, "csrfmiddlewaretoken": csrf(page), "next": ""}
    )
    assert answer.status_code == 302 and answer["Location"] == "/dashboard/", answer.content[:500]
    return client


def text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def csrf(response: Any) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert found is not None
    return found.group(1)


def form(response: Any, action: str, n: int = 0) -> dict[str, str]:
    """The named inputs (hidden and visible, with their values) of the n-th form posting to `action`."""
    forms = re.findall(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', response.content.decode(), re.S
    )
    assert len(forms) > n, f"no form {n} to {action}"
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="[a-z]+" name="([^"]+)" value="([^"]*)"', forms[n])
    }
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', forms[n], re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', options) or re.search(
            r'<option value="([^"]*)"', options
        )
        fields[name] = html.unescape(chosen.group(1)) if chosen else ""
    return fields


def options(response: Any, action: str, n: int, name: str) -> list[str]:
    forms = re.findall(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', response.content.decode(), re.S
    )
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', forms[n], re.S)
    assert select is not None
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def test_the_dashboard_needs_a_login_and_the_login_leads_to_the_users_clinic(world: World) -> None:
    anonymous = Client()
    answer = anonymous.get("/dashboard/smile/")
    assert answer.status_code == 302 and answer["Location"].startswith("/dashboard/login/?next=/dashboard/smile/")
    assert anonymous.get("/dashboard/smile/ledger.csv").status_code == 302
    client = login("bob")
    assert client.get("/dashboard/")["Location"] == "/dashboard/smile/"
    wrong = Client(enforce_csrf_checks=True)
    page = wrong.get("/dashboard/login/")
    refused = wrong.post(
        "/dashboard/login/", {"username": "bob", "password": "nope", "csrfmiddlewaretoken": csrf(page)}
    )
    assert refused.status_code == 200 and "did not match" in text(refused)


def test_the_header_and_figures_are_billings_balance_in_the_markets_conventions(world: World) -> None:
    world.billing.purchase("smile", 250_000, payment_method="upi_ok", key="dash-lakh")  # lakh grouping shows
    view = world.billing.balance("smile")
    page = login("bob").get("/dashboard/smile/")
    shown = text(page)
    assert page.status_code == 200
    header = re.search(r'data-testid="header-credits">([^<]+)<', page.content.decode())
    assert header is not None and header.group(1) == format_credit_count(view.balance, "INR")
    assert re.search(r"\d{1,2},\d\d,\d{3} credits", header.group(1))  # 2,62,750-style grouping
    money = format_money(view.balance * view.money_per_credit, "INR", view.money_per_credit)
    assert f"Current balance {format_credit_count(view.balance, 'INR')} {money}" in shown
    assert f"Used this month {format_credit_count(view.used_this_month, 'INR')}" in shown
    assert f"Refunds granted this month {format_credit_count(view.refunds_granted_this_month, 'INR')}" in shown
    assert f"Expiring in {view.expiring_within_days} days {format_credit_count(view.expiring_soon, 'INR')}" in shown
    spent = format_money(view.lead_credits_this_month * view.money_per_credit, "INR", view.money_per_credit)
    assert f"Leads this month: {view.leads_this_month} ({spent} spent)" in shown
    assert "₹" in shown and "$" not in shown and "SMS segments" not in shown


def test_a_us_practice_sees_what_its_balance_still_buys_and_its_plan(world: World) -> None:
    view = world.billing.balance("riverside")
    assert view.remaining is not None and view.remaining.sms_segments
    shown = text(login("alice").get("/dashboard/riverside/"))
    assert f"{view.remaining.sms_segments:,} SMS segments" in shown
    assert f"{view.remaining.voice_minutes:,} voice minutes" in shown
    assert "Plan: Pay as you go" in shown
    assert "$" in shown and "₹" not in shown
    spent = format_money(credits_to_money(view.used_this_month, view.money_per_credit), "USD", view.money_per_credit)
    assert (
        f"This month: {view.sms_segments_this_month:,} SMS segments and {view.voice_minutes_this_month:,} voice "
        f"minutes ({spent} spent)" in shown
    )
    assert "Leads this month" not in shown  # a US practice buys no leads


def test_a_promotion_is_claimed_previewed_and_paid_once_however_often_the_form_is_sent(world: World) -> None:
    client = login("bob")
    home = client.get("/dashboard/smile/")
    claim = re.search(r'href="(/dashboard/smile/topup/\?credits=(\d+)&amp;promo=EXTRA2K)"', home.content.decode())
    assert claim is not None, "EXTRA2K has a Claim Now button"
    topup = client.get(html.unescape(claim.group(1)))
    fields = form(topup, "/dashboard/smile/topup/")
    assert fields["credits"] == claim.group(2) and fields["promo_code"] == "EXTRA2K" and fields["currency"] == "INR"
    preview = client.post(
        "/dashboard/smile/topup/", {**fields, "payment_method": "upi_ok", "csrfmiddlewaretoken": csrf(topup)}
    )
    quote = world.billing.quote_topup("smile", int(fields["credits"]), promo_code="EXTRA2K")
    assert preview.status_code == 200 and quote.bonus_credits >= 2_000 and quote.promo_refusal is None
    shown = text(preview)
    assert f"You pay {format_money(quote.amount, 'INR', quote.money_per_credit)}" in shown
    assert f"Bonus {format_credit_count(quote.bonus_credits, 'INR')}" in shown and "EXTRA2K: applied" in shown
    before = world.billing.balance("smile").balance
    confirm = {**form(preview, "/dashboard/smile/topup/pay/"), "csrfmiddlewaretoken": csrf(preview)}
    paid = client.post("/dashboard/smile/topup/pay/", confirm)
    assert paid.status_code == 302 and paid["Location"] == "/dashboard/smile/"
    after = world.billing.balance("smile").balance
    assert after - before == quote.paid_credits + quote.bonus_credits
    again = client.post("/dashboard/smile/topup/pay/", confirm)  # a double submit of the same form
    assert again.status_code == 302 and world.billing.balance("smile").balance == after
    assert "Used up" in text(client.get("/dashboard/smile/"))  # EXTRA2K: once per clinic


def test_a_refused_code_is_said_plainly_and_the_top_up_can_go_ahead_without_it(world: World) -> None:
    client = login("bob")
    topup = client.get("/dashboard/smile/topup/?credits=5000&promo=NOSUCHCODE")
    fields = {**form(topup, "/dashboard/smile/topup/"), "payment_method": "upi_ok", "csrfmiddlewaretoken": csrf(topup)}
    preview = client.post("/dashboard/smile/topup/", fields)
    assert "not applied — promo code NOSUCHCODE is not known" in text(preview)
    confirm = form(preview, "/dashboard/smile/topup/pay/")
    assert confirm["promo_code"] == ""
    before = world.billing.balance("smile").balance
    paid = client.post("/dashboard/smile/topup/pay/", {**confirm, "csrfmiddlewaretoken": csrf(preview)})
    assert paid.status_code == 302 and world.billing.balance("smile").balance > before


def test_a_top_up_form_never_pays_for_another_clinic_or_in_another_currency(world: World) -> None:
    carol = login("carol")  # riverside and lakeside
    topup = carol.get("/dashboard/riverside/topup/")
    fields = form(topup, "/dashboard/riverside/topup/")
    assert fields.get("credits", "") == "" and fields["currency"] == "USD"  # nothing carried over
    asked = {**fields, "credits": "1000000", "payment_method": "card_ok", "csrfmiddlewaretoken": csrf(topup)}
    other = carol.post("/dashboard/lakeside/topup/", asked)  # riverside's form sent to lakeside
    assert other.status_code == 400 and "made for another clinic" in text(other)
    rupees = carol.post("/dashboard/riverside/topup/", {**asked, "currency": "INR"})
    assert rupees.status_code == 400 and "this clinic pays in USD" in text(rupees)
    small = carol.post("/dashboard/riverside/topup/", {**asked, "credits": "5"})
    assert small.status_code == 400 and "greater than or equal to" in text(small)
    before = world.billing.balance("lakeside").balance
    forged = carol.post("/dashboard/lakeside/topup/pay/", asked)
    assert forged.status_code == 400 and world.billing.balance("lakeside").balance == before
    assert Client().post("/dashboard/riverside/topup/pay/", asked).status_code in (302, 403)
    assert (
        carol.post(
            "/dashboard/riverside/topup/", {k: v for k, v in asked.items() if k != "csrfmiddlewaretoken"}
        ).status_code
        == 403
    )


def test_a_payment_that_needs_3d_secure_is_handed_to_the_browser_and_settles_after(world: World) -> None:
    client = login("bob")
    topup = client.get("/dashboard/smile/topup/?credits=1000")
    fields = {
        **form(topup, "/dashboard/smile/topup/"),
        "payment_method": "card_action",
        "csrfmiddlewaretoken": csrf(topup),
    }
    preview = client.post("/dashboard/smile/topup/", fields)
    before = world.billing.balance("smile").balance
    step = client.post(
        "/dashboard/smile/topup/pay/",
        {**form(preview, "/dashboard/smile/topup/pay/"), "csrfmiddlewaretoken": csrf(preview)},
    )
    assert step.status_code == 202
    secret = re.search(r'data-client-secret="([^"]+)"', step.content.decode())
    assert secret is not None and world.billing.balance("smile").balance == before
    payment_id = secret.group(1).removesuffix("_secret")
    world.billing.gateway.for_currency("INR").settle(payment_id)  # the payer passed 3-D Secure
    checked = client.post(
        "/dashboard/smile/topup/check/",
        {**form(step, "/dashboard/smile/topup/check/"), "csrfmiddlewaretoken": csrf(step)},
    )
    assert checked.status_code == 302 and world.billing.balance("smile").balance > before
    alice = login("alice")
    page = alice.get("/dashboard/riverside/")
    stolen = alice.post(
        "/dashboard/riverside/topup/check/",
        {**form(step, "/dashboard/smile/topup/check/"), "csrfmiddlewaretoken": csrf(page)},
    )
    assert stolen.status_code == 400  # smile's payment token is not riverside's


def test_a_lead_is_disputed_from_its_row_with_only_its_products_reasons(world: World) -> None:
    charged = world.billing.charge(
        "smile", {"product": "lead_call", "package_price": 12_000}, key="dash-lead-1", patient_ref="pt_dash_1"
    )
    lead_contacts.record("smile", charged.transaction_id, "pt_dash_1", "Rahul Verma", "+91 99300 18765")
    client = login("bob")
    home = client.get("/dashboard/smile/")
    row = re.search(rf'<tr data-charge="{charged.transaction_id}">(.*?)</tr>', home.content.decode(), re.S)
    assert row is not None
    assert "Rahul Verma" in row.group(1) and "+91 ••••• •8765" in row.group(1) and "99300" not in row.group(1)
    forms = re.findall(r'<tr data-charge="(\d+)">', home.content.decode())
    n = [
        int(f) for f in forms if re.search(rf'data-charge="{f}">.*?Send dispute.*?</tr>', home.content.decode(), re.S)
    ].index(charged.transaction_id)
    offered = options(home, "/dashboard/smile/disputes/", n, "reason")
    book = world.billing.pricebook_in_force("IN")
    assert sorted(offered) == sorted({str(r.reason) for r in book.disputes if "lead_call" in r.products})
    fields = {**form(home, "/dashboard/smile/disputes/", n), "csrfmiddlewaretoken": csrf(home)}
    forged = client.post("/dashboard/smile/disputes/", {**fields, "reason": "because"})
    assert (forged.status_code == 400 and not world.billing.disputes(status=None, clinic_id="smile")) or all(
        d.charge_id != charged.transaction_id for d in world.billing.disputes(status=None, clinic_id="smile")
    )
    opened = client.post("/dashboard/smile/disputes/", {**fields, "reason": "invalid"})
    assert opened.status_code == 302
    disputes = [
        d for d in world.billing.disputes(status=None, clinic_id="smile") if d.charge_id == charged.transaction_id
    ]
    assert len(disputes) == 1 and disputes[0].reason == "invalid"
    assert client.post("/dashboard/smile/disputes/", {**fields, "reason": "invalid"}).status_code == 302  # replayed
    assert (
        len(
            [d for d in world.billing.disputes(status=None, clinic_id="smile") if d.charge_id == charged.transaction_id]
        )
        == 1
    )
    assert "disputed: open" in text(client.get("/dashboard/smile/"))


def test_the_ledger_filters_and_exports_csv_escaped_against_formulas(world: World) -> None:
    # a charge of its own: the module's ledger is shared, and this test may run before any other charges it
    world.billing.charge("smile", {"product": "lead_chat", "package_price": "3000"}, key="dash-csv-charge")
    world.billing.adjust("smile", 7, actor="support", reason='=HYPERLINK("http://x.example","win")', key="dash-csv")
    world.billing.adjust("smile", 3, actor="support", reason="@SUM(1+1)", key="dash-csv-2")
    client = login("bob")
    page = client.get("/dashboard/smile/ledger/?kind=adjustment")
    assert page.status_code == 200 and "=HYPERLINK" in text(page)
    kinds = re.findall(r'<td class="kind"[^>]*>([a-z]+)</td>', page.content.decode())
    assert kinds == ["adjustment", "adjustment"]
    exported = client.get("/dashboard/smile/ledger.csv?kind=adjustment")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert {r["kind"] for r in rows} == {"adjustment"} and len(rows) == 2
    assert {r["reason"] for r in rows} == {'\'=HYPERLINK("http://x.example","win")', "'@SUM(1+1)"}
    everything = list(
        csv.DictReader(io.StringIO(b"".join(client.get("/dashboard/smile/ledger.csv").streaming_content).decode()))
    )
    assert len(everything) == world.billing.transactions("smile").total
    charges = [r for r in everything if r["kind"] == "charge"]
    assert charges and all(int(r["credits"]) < 0 for r in charges)  # the ledger's numbers stay numbers
    today = datetime.now(UTC).date()
    bad = client.get(f"/dashboard/smile/ledger/?since={today}&until={today - timedelta(days=3)}")
    assert bad.status_code == 400 and "before the start date" in text(bad)
    assert client.get("/dashboard/smile/ledger/?since=not-a-date").status_code == 400


def test_csv_cells_that_a_spreadsheet_would_run_are_prefixed() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+1", "-5", "@x", "\tx", "\rx", "ok", None, 12, -180, Decimal("-1.5"))] == [
        "'=1+1", "'+1", "'-5", "'@x", "'\tx", "'\rx", "ok", "", "12", "-180", "-1.5",
    ]  # fmt: skip


def test_another_clinics_pages_and_data_are_not_found(world: World) -> None:
    bob = login("bob")
    home = bob.get("/dashboard/smile/")
    token = (
        form(home, "/dashboard/smile/disputes/", 0)
        if "Send dispute" in text(home)
        else {"token": "x", "reason": "invalid"}
    )
    alice = login("alice")
    page = alice.get("/dashboard/riverside/")
    smiles = ("", "ledger/", "ledger.csv", "topup/", "alerts/")
    for path in [*(f"/dashboard/smile/{p}" for p in smiles), "/dashboard/no-such-clinic/", "/dashboard/lakeside/"]:
        answer = alice.get(path)
        assert answer.status_code == 404, path
        assert b"Smile" not in answer.content and b"\xe2\x82\xb9" not in answer.content  # no name, no ₹
    stolen = alice.post("/dashboard/smile/disputes/", {**token, "csrfmiddlewaretoken": csrf(page)})
    assert stolen.status_code == 404
    moved = alice.post("/dashboard/riverside/disputes/", {**token, "csrfmiddlewaretoken": csrf(page)})
    assert moved.status_code == 400  # smile's dispute form does not work at riverside either


@override_settings(EMAIL_BACKEND=LOCMEM, DEFAULT_FROM_EMAIL="billing@example.com")
def test_alert_choices_and_creditbook_notify_sending_them_through_djangos_mail(world: World) -> None:
    client = login("bob")
    page = client.get("/dashboard/smile/alerts/")
    added = client.post(
        "/dashboard/smile/alerts/",
        {"action": "add", "channel": "email", "target": "frontdesk@smile.example", "kinds": ["topup_settled"],
         "csrfmiddlewaretoken": csrf(page)},
    )  # fmt: skip
    assert added.status_code == 200
    endpoint = next(e for e in world.billing.notification_endpoints("smile") if e.target == "frontdesk@smile.example")
    assert endpoint.kinds == ("topup_settled",) and endpoint.active
    refused = client.post("/dashboard/smile/alerts/", {"action": "add", "channel": "email", "target": "not an address",
                                                       "csrfmiddlewaretoken": csrf(page)})  # fmt: skip
    assert refused.status_code == 400 and "is not an e-mail address" in text(refused)
    chosen = client.post(
        "/dashboard/smile/alerts/",
        {
            "endpoint": endpoint.id,
            "active": "on",
            "kinds": ["topup_settled", "low_balance"],
            "csrfmiddlewaretoken": csrf(page),
        },
    )
    assert chosen.status_code == 302
    endpoint = next(e for e in world.billing.notification_endpoints("smile") if e.id == endpoint.id)
    assert set(endpoint.kinds) == {"topup_settled", "low_balance"}
    alice = login("alice")
    riverside = alice.get("/dashboard/riverside/")
    foreign = alice.post(
        "/dashboard/riverside/alerts/",
        {"endpoint": endpoint.id, "kinds": ["low_balance"], "csrfmiddlewaretoken": csrf(riverside)},
    )
    assert foreign.status_code == 422 and "no endpoint" in text(foreign)  # not riverside's endpoint
    mail.outbox = []
    call_command("creditbook_notify", stdout=io.StringIO())  # whatever was waiting
    mail.outbox = []
    world.billing.purchase("smile", 1_000, payment_method="upi_ok", key="dash-notify")
    out = io.StringIO()
    call_command("creditbook_notify", "--loop", "--rounds", "2", "--interval", "0.1", stdout=out)
    sent = [m for m in mail.outbox if m.to == ["frontdesk@smile.example"]]
    assert len(sent) == 1 and "Delivered 1" in out.getvalue()
    assert sent[0].from_email == "billing@example.com" and "event" in sent[0].body
    with pytest.raises(Exception, match="interval"):
        call_command("creditbook_notify", "--interval", "0")


def test_a_razorpay_order_is_handed_to_the_browser_with_what_checkout_needs(world: World) -> None:
    from django.test import RequestFactory

    from creditbook_django.dashboard import _after_payment, _frame
    from engine.billing.results import NextActionView, PurchaseResult

    action = NextActionView(kind="razorpay_checkout", order_id="order_Q1w2e3", key_id="rzp_test_k")
    pending = PurchaseResult(
        status="pending", clinic_id="smile", payment_id="order_Q1w2e3", money=Decimal(5_000), currency="INR",
        provider="razorpay", next_action=action,
    )  # fmt: skip
    request = RequestFactory().post("/dashboard/smile/topup/pay/")
    answer = _after_payment(request, "smile", _frame("smile"), pending)
    page = answer.content.decode()
    assert answer.status_code == 202
    assert 'data-order="order_Q1w2e3"' in page and 'data-key="rzp_test_k"' in page and 'data-amount="500000"' in page
    assert 'name="razorpay_order_id" value="order_Q1w2e3"' in page


def test_a_user_of_several_clinics_picks_one_and_a_user_of_none_is_told(world: World) -> None:
    shown = text(login("carol").get("/dashboard/"))
    assert "lakeside" in shown and "riverside" in shown
    assert "belongs to no clinic" in text(login("nobody").get("/dashboard/"))


def test_a_us_practice_buys_a_package_and_the_dashboard_shows_it_as_its_plan(world: World) -> None:
    client = login("alice")
    topup = client.get("/dashboard/riverside/topup/")
    assert "SMALL-SMS" in options_of(topup, "what")
    asked = {**form(topup, "/dashboard/riverside/topup/"), "what": "SMALL-SMS", "payment_method": "card_ok"}
    preview = client.post("/dashboard/riverside/topup/", {**asked, "csrfmiddlewaretoken": csrf(topup)})
    quote = world.billing.quote_topup("riverside", "SMALL-SMS")
    assert f"You pay {format_money(quote.amount, 'USD', quote.money_per_credit)}" in text(preview)
    before = world.billing.balance("riverside").balance
    confirm = {**form(preview, "/dashboard/riverside/topup/pay/"), "csrfmiddlewaretoken": csrf(preview)}
    assert client.post("/dashboard/riverside/topup/pay/", confirm).status_code == 302
    assert world.billing.balance("riverside").balance - before == quote.paid_credits + quote.bonus_credits
    assert "Plan: Package SMALL-SMS" in text(client.get("/dashboard/riverside/"))


def options_of(response: Any, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', response.content.decode(), re.S)
    assert select is not None
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def test_leads_this_month_still_says_zero_on_the_first_of_the_month(world: World) -> None:
    world.clock.now = datetime(2026, 11, 30, 18, 45, tzinfo=UTC)  # 1 December, 00:15 in India
    shown = text(login("bob").get("/dashboard/smile/"))
    assert "Leads this month: 0 (₹0 spent)" in shown


def test_every_amount_on_the_top_up_pages_says_credits_and_money(world: World) -> None:
    client = login("bob")
    topup = client.get("/dashboard/smile/topup/")
    assert "The smallest top-up is 1,000 credits (₹1,000)." in text(topup)
    fields = form(topup, "/dashboard/smile/topup/")
    preview = client.post("/dashboard/smile/topup/", {**fields, "credits": "5000", "promo_code": ""})
    shown = text(preview)
    assert "5,000 credits (₹5,000)" in shown
