"""The clinic dashboard: server-rendered pages for a clinic's own people, behind Django's login.

    path("dashboard/", include("creditbook_django.dashboard_urls"))

Every page is about one clinic named in its URL (`dashboard/<clinic_id>/...`) and answers only a
user the identity resolver says belongs to it (creditbook_django/identity.py `user_clinics`); any
other clinic id — another clinic's, or one that does not exist — is the same 404, so a URL reveals
nothing. Staff who may act for any clinic use the company's tools, not this.

The pages hold no billing rule: each view checks its input with creditbook_django/dashboard_forms.py,
calls engine.Billing (balance, offers, quote_topup, purchase, confirm_payment, transactions,
open_dispute, the notification endpoints) and writes the result for people in the clinic's market
conventions (engine.money: ₹ with lakh grouping, $ for US practices). A refusal from the engine is
shown as its message on the page, never as a traceback.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from creditbook_django import identity, lead_contacts, ledger
from creditbook_django.dashboard_forms import (
    CREDITS,
    EVENT_CHOICES,
    EVENT_LABELS,
    ChoiceForm,
    DisputeForm,
    EndpointForm,
    LedgerFilterForm,
    TopUpForm,
    new_token,
    read_token,
)
from engine.billing.errors import ForeignDispute, UnknownCharge
from engine.errors import CreditbookError
from engine.money import credits_to_money, format_credit_count, format_money, format_number, format_percent
from engine.vocabulary import Product, TransactionKind

RECENT_CHARGES = 15
LEDGER_PAGE = 50
CSV_MAX_ROWS = 100_000
CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
NAMESPACE = "creditbook-dashboard"

View = Callable[..., HttpResponse]


@dataclass(frozen=True)
class Shown:
    """Credits and money written the way the clinic's market writes them."""

    currency: str
    money_per_credit: Decimal

    def credits(self, credits: int) -> str:
        return format_credit_count(credits, self.currency)

    def money(self, credits: int) -> str:
        return format_money(credits_to_money(credits, self.money_per_credit), self.currency, self.money_per_credit)

    def amount(self, money: Decimal) -> str:
        return format_money(money, self.currency, self.money_per_credit)


def url(name: str, clinic_id: str) -> str:
    return reverse(f"{NAMESPACE}:{name}", args=[clinic_id])


# -- access -----------------------------------------------------------------------------------------


def clinic_page(view: View) -> View:
    """Log in first; then only a clinic the user belongs to (anything else: 404). An engine refusal
    is rendered as a page with its message and status."""

    @wraps(view)
    def page(request: HttpRequest, clinic_id: str, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse(f"{NAMESPACE}:login"))
        if clinic_id not in identity.user_clinics(request.user):
            raise Http404("no such clinic")
        timezone.activate(_zone_of(clinic_id))  # dates are written in the clinic's own time zone
        try:
            return view(request, clinic_id, *args, **kwargs)
        except CreditbookError as exc:  # a form's token refused (TokenInvalid) included
            return _problem(request, clinic_id, exc.message or type(exc).title(), exc.status)
        finally:
            timezone.deactivate()

    return page


def _zone_of(clinic_id: str) -> ZoneInfo:
    return ZoneInfo(ledger.billing().clinic(clinic_id).timezone)


def _problem(request: HttpRequest, clinic_id: str, message: str, status: int) -> HttpResponse:
    context = {**_frame(clinic_id), "message": message}
    return render(request, "creditbook/dashboard/problem.html", context, status=status)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The user's clinic (or the list of them, for a user of several)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse(f"{NAMESPACE}:login"))
    clinics = sorted(identity.user_clinics(request.user))
    if len(clinics) == 1:
        return redirect(url("home", clinics[0]))
    return render(request, "creditbook/dashboard/choose.html", {"clinics": clinics})


# -- what every page shows ----------------------------------------------------------------------------


def _frame(clinic_id: str) -> dict[str, Any]:
    """The header of every page: the clinic and its wallet balance in credits and money."""
    billing = ledger.billing()
    view = billing.balance(clinic_id)
    shown = Shown(view.currency, view.money_per_credit)
    clinic = billing.clinic(clinic_id)
    return {
        "clinic_id": clinic_id,
        "clinic_name": clinic.name,
        "clinic_zone": ZoneInfo(clinic.timezone),
        "balance_view": view,
        "shown": shown,
        "header_credits": shown.credits(view.balance),
        "header_money": shown.money(view.balance),
        "urls": {name: url(name, clinic_id) for name in ("home", "topup", "ledger", "ledger_csv", "alerts")},
    }


def _reasons_by_product(offered: Any) -> dict[str, list[tuple[str, int]]]:
    """product → [(dispute reason, window in days)] under the pricebook version `offered` names
    (the clinic's in force: Billing.offers)."""
    versions = ledger.billing().pricebook_versions(offered.pricebook_id)
    book = next(v for v in versions if v.version == offered.version)
    reasons: dict[str, list[tuple[str, int]]] = {}
    for rule in book.disputes:
        for product in rule.products:
            reasons.setdefault(str(product), []).append((str(rule.reason), rule.window_days))
    return reasons


def _plan(clinic_id: str) -> str:
    """The clinic's package or pay-as-you-go term, as its SMS would be priced now."""
    quote = ledger.billing().estimate(clinic_id, {"product": Product.SMS.value, "units": 0}).quote
    plan = quote.plan
    if isinstance(plan, tuple | list):
        return "Package " + ", ".join(plan) if plan else "Pay as you go"
    return "Pay as you go" if str(plan).lower() == "payg" else f"Package {plan}"


# -- the home page ------------------------------------------------------------------------------------


@require_GET
@clinic_page
def home(request: HttpRequest, clinic_id: str) -> HttpResponse:
    """The lead note's dashboard: the balance figures, leads this month, promotions, recent charges
    with a Dispute button each."""
    billing = ledger.billing()
    frame = _frame(clinic_id)
    view, shown, zone = frame["balance_view"], frame["shown"], frame["clinic_zone"]
    now = billing.clock()
    expiring = sorted(
        (lot["expires_at"], lot["remaining"])
        for lot in billing.lots(clinic_id)
        if lot["expires_at"] is not None
        and lot["remaining"] > 0
        and not lot["expired"]
        and _aware(lot["expires_at"]) > now
    )
    offered = billing.offers(clinic_id)
    promotions = [_promotion(p, shown, clinic_id) for p in offered.promotions]
    page = billing.transactions(clinic_id, kinds=[TransactionKind.CHARGE.value], page_size=RECENT_CHARGES)
    contacts = lead_contacts.for_charges(clinic_id, [row.id for row in page.rows])
    reasons = _reasons_by_product(offered)
    charges = []
    for row in page.rows:
        contact = contacts.get(row.id)
        offered_reasons = [
            reason
            for reason, days in reasons.get(row.product or "", [])
            if now - _aware(row.at) <= timedelta(days=days)
        ]
        form = None
        if row.disputable and row.dispute_id is None and offered_reasons:
            token = new_token(clinic_id, "dispute", charge=row.id, reasons=offered_reasons)
            form = DisputeForm(initial={"token": token}, reasons=offered_reasons, auto_id=f"dispute-{row.id}-%s")
        charges.append(
            {
                "row": row,
                "when": _aware(row.at).astimezone(zone),
                "product": (row.product or "").replace("_", " "),
                "name": contact.name if contact else "—",
                "phone": lead_contacts.masked(contact.phone) if contact else "—",
                "status": _status(row),
                "cost_credits": shown.credits(row.credits),
                "cost_money": shown.money(row.credits),
                "form": form,
            }
        )
    context = {
        **frame,
        "figures": [
            ("Current balance", shown.credits(view.balance), shown.money(view.balance)),
            ("Used this month", shown.credits(view.used_this_month), shown.money(view.used_this_month)),
            (
                "Refunds granted this month",
                shown.credits(view.refunds_granted_this_month),
                shown.money(view.refunds_granted_this_month),
            ),
            (
                f"Expiring in {view.expiring_within_days} days",
                shown.credits(view.expiring_soon),
                shown.money(view.expiring_soon),
            ),
        ],
        "expiring": [(when.astimezone(zone), _both(shown, credits)) for when, credits in expiring[:6]],
        "leads_line": _usage_line(view, shown),
        "month": view.month_starts.astimezone(zone),
        "alerts": view.alerts,
        "remaining": view.remaining,
        "remaining_sms": None
        if view.remaining is None or view.remaining.sms_segments is None
        else f"{format_number(view.remaining.sms_segments, view.currency)} SMS segments",
        "remaining_voice": None
        if view.remaining is None or view.remaining.voice_minutes is None
        else f"{format_number(view.remaining.voice_minutes, view.currency)} voice minutes",
        "plan": _plan(clinic_id) if view.remaining is not None else None,
        "promotions": promotions,
        "charges": charges,
    }
    return render(request, "creditbook/dashboard/home.html", context)


def _both(shown: Shown, credits: int) -> str:
    """Credits with their money, as every amount a person reads: 1,000 credits (₹1,000)."""
    return f"{shown.credits(credits)} ({shown.money(credits)})"


def _usage_line(view: Any, shown: Any) -> str:
    """The month in one line, in the clinic's own terms: leads for a lead market ("Leads this month:
    21 (₹3,200 spent)", 0 on the 1st, never missing), messages for a messaging market (a US practice
    buys no leads: its line counts SMS segments and voice minutes)."""
    if view.remaining is not None:  # a messaging pricebook
        return (
            f"This month: {format_number(view.sms_segments_this_month, view.currency)} SMS segments and "
            f"{format_number(view.voice_minutes_this_month, view.currency)} voice minutes "
            f"({shown.money(view.used_this_month)} spent)"
        )
    return (
        f"Leads this month: {format_number(view.leads_this_month, view.currency)} "
        f"({shown.money(view.lead_credits_this_month)} spent)"
    )


def _places(fraction: Decimal) -> int:
    """Decimals a percentage needs: 20% → 0, 12.5% → 1."""
    exponent = (fraction * 100).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _aware(value: datetime) -> datetime:
    """A ledger time as an aware UTC datetime (SQLite hands back naive UTC)."""
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _status(row: Any) -> str:
    if row.dispute_status:
        return f"disputed: {row.dispute_status}"
    if row.refunded:
        return "refunded"
    return str(row.status)


def _promotion(promo: Any, shown: Shown, clinic_id: str) -> dict[str, Any]:
    """A promotion as the clinic reads it, with the link its Claim button follows."""
    if promo.bonus_credits:
        gives = f"{shown.credits(promo.bonus_credits)} extra ({shown.money(promo.bonus_credits)})"
    elif promo.bonus_pct:
        gives = f"{format_percent(promo.bonus_pct, shown.currency, places=_places(promo.bonus_pct))} extra credits"
        if promo.bonus_cap_credits:
            gives += f" (up to {_both(shown, promo.bonus_cap_credits)})"
    else:
        gives = "a perk"
    if promo.perk:
        gives += f" + {promo.perk.replace('_', ' ')}" + (f" for {promo.perk_days} days" if promo.perk_days else "")
    condition = f"Top up {shown.money(promo.min_topup_credits)} or more"
    if promo.max_topup_credits:
        condition = f"Top up {shown.money(promo.min_topup_credits)} to under {shown.money(promo.max_topup_credits)}"
    query = f"?credits={promo.min_topup_credits}" + (f"&promo={promo.promo_code}" if promo.promo_code else "")
    return {
        "title": f"{condition} → get {gives}",
        "code": promo.promo_code,
        "through": None if promo.valid_until is None else promo.valid_until - timedelta(microseconds=1),
        "uses_left": promo.uses_left,
        "used_up": promo.used_up,
        "claim_url": url("topup", clinic_id) + query,
        "rule_id": promo.rule_id,
    }


# -- top up -------------------------------------------------------------------------------------------


def _topup_form(clinic_id: str, data: Any = None, initial: dict[str, Any] | None = None) -> tuple[TopUpForm, Any]:
    billing = ledger.billing()
    offered = billing.offers(clinic_id)
    shown = Shown(offered.currency, offered.money_per_credit)
    packages = [
        (
            p.package_code,
            f"{p.package_code}: {p.included_units:,} {p.product} units, {_both(shown, int(p.total_credits))}",
        )
        for p in offered.packages
    ]
    provider = billing.gateway.for_currency(offered.currency).provider
    form = TopUpForm(
        data,
        initial=initial,
        currency=offered.currency,
        min_credits=offered.topup_min_credits,
        packages=packages,
        provider=str(provider),
    )
    return form, offered


@require_http_methods(["GET", "POST"])
@clinic_page
def topup(request: HttpRequest, clinic_id: str) -> HttpResponse:
    """GET: the top-up form (a Claim link fills credits and code). POST: the preview — money, bonus,
    promotion and any refusal — with a Confirm button carrying the same form token."""
    frame = _frame(clinic_id)
    if request.method == "GET":
        offered = ledger.billing().offers(clinic_id)
        credits = _int_or_none(request.GET.get("credits"))
        initial = {
            "what": CREDITS,
            "credits": credits if credits is not None and credits >= offered.topup_min_credits else None,
            "promo_code": (request.GET.get("promo") or "")[:64],
            "currency": offered.currency,
            "token": new_token(clinic_id, "topup"),
        }
        form, offered = _topup_form(clinic_id, initial=initial)
        context = {**frame, "form": form, "min_credits": _both(frame["shown"], offered.topup_min_credits)}
        return render(request, "creditbook/dashboard/topup.html", context)
    form, offered = _topup_form(clinic_id, request.POST)
    if not form.is_valid():
        context = {**frame, "form": form, "min_credits": _both(frame["shown"], offered.topup_min_credits)}
        return render(request, "creditbook/dashboard/topup.html", context, status=400)
    read_token(form.cleaned_data["token"], clinic_id, "topup")
    quote = ledger.billing().quote_topup(
        clinic_id,
        form.bought(),
        promo_code=form.cleaned_data["promo_code"],
        payment_method=form.cleaned_data["payment_method"],
    )
    shown = frame["shown"]
    confirm = form.cleaned_data.copy()
    if quote.rounded_up_from is not None:
        confirm["credits"] = quote.paid_credits  # pay exactly what the preview shows
    context = {
        **frame,
        "quote": quote,
        "pay": shown.amount(quote.amount),
        "paid_credits": _both(shown, quote.paid_credits),
        "bonus": _both(shown, quote.bonus_credits) if quote.bonus_credits else None,
        "total": _both(shown, quote.paid_credits + quote.bonus_credits),
        "method_label": dict(form.fields["payment_method"].choices).get(form.cleaned_data["payment_method"]),
        "confirm": confirm,
        "confirm_without_code": {**confirm, "promo_code": ""},
    }
    return render(request, "creditbook/dashboard/preview.html", context)


def _int_or_none(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    return int(text)


@require_POST
@clinic_page
def topup_pay(request: HttpRequest, clinic_id: str) -> HttpResponse:
    """Confirm: the purchase through the clinic's gateway, under the form token's idempotency key (a
    double submit is answered once). Credited: back home; pending on the payer: the next-step page."""
    form, _ = _topup_form(clinic_id, request.POST)
    frame = _frame(clinic_id)
    if not form.is_valid():
        errors = "; ".join(f"{field}: {' '.join(e)}" for field, e in form.errors.items())
        return _problem(request, clinic_id, f"The top-up could not be paid: {errors}", 400)
    token = read_token(form.cleaned_data["token"], clinic_id, "topup")
    bought = ledger.billing().purchase(
        clinic_id,
        form.bought(),
        payment_method=form.cleaned_data["payment_method"],
        key=f"dashboard:topup:{token['k']}",
        promo_code=form.cleaned_data["promo_code"],
    )
    return _after_payment(request, clinic_id, frame, bought)


def _after_payment(request: HttpRequest, clinic_id: str, frame: dict[str, Any], bought: Any) -> HttpResponse:
    shown: Shown = frame["shown"]
    if bought.status == "credited":
        added = _both(shown, bought.paid_credits + bought.bonus_credits)
        messages.success(request, f"Paid {shown.amount(bought.money)}: {added} added to the wallet.")
        return redirect(url("home", clinic_id))
    if bought.status == "failed":
        return _problem(request, clinic_id, f"The payment failed: {bought.message or 'refused by the provider'}", 402)
    token = new_token(clinic_id, "payment", payment=bought.payment_id) if bought.payment_id else None
    context = {
        **frame,
        "bought": bought,
        "pay": shown.amount(bought.money),
        "action": bought.next_action,
        "token": token,
        "amount_minor": int((bought.money * 100).to_integral_value()),
    }
    return render(request, "creditbook/dashboard/next_step.html", context, status=202)


@require_POST
@clinic_page
def topup_check(request: HttpRequest, clinic_id: str) -> HttpResponse:
    """The payer's browser is back from the provider's step: ask about the payment and settle it."""
    fields = read_token(str(request.POST.get("token", ""))[:2000], clinic_id, "payment")
    frame = _frame(clinic_id)
    billing = ledger.billing()
    if request.POST.get("razorpay_payment_id"):
        checkout = {
            name: str(request.POST.get(name, ""))[:200]
            for name in ("razorpay_order_id", "razorpay_payment_id", "razorpay_signature")
        }
        bought = billing.confirm_checkout("razorpay", checkout)
    else:
        bought = billing.confirm_payment(str(fields["payment"]))
    if bought.clinic_id != clinic_id:
        raise Http404("no such payment")
    return _after_payment(request, clinic_id, frame, bought)


# -- disputes -----------------------------------------------------------------------------------------


@require_POST
@clinic_page
def dispute(request: HttpRequest, clinic_id: str) -> HttpResponse:
    """A charge's Dispute button: only the reasons its form offered, keyed per charge (a charge is
    disputed once; a double submit replays the first answer)."""
    fields = read_token(str(request.POST.get("token", ""))[:2000], clinic_id, "dispute")
    form = DisputeForm(request.POST, reasons=list(fields.get("reasons", ())))
    if not form.is_valid():
        return _problem(request, clinic_id, "Pick one of the reasons offered for this charge.", 400)
    charge_id = int(fields["charge"])
    try:
        opened = ledger.billing().open_dispute(
            clinic_id, charge_id, reason=form.cleaned_data["reason"], key=f"dashboard:dispute:{charge_id}"
        )
    except ForeignDispute:
        raise UnknownCharge(f"no posted charge {charge_id}") from None
    shown = _frame(clinic_id)["shown"]
    said = {
        "approved": f"Dispute on charge {charge_id} approved: {_both(shown, opened.refunded_credits)} refunded.",
        "open": f"Dispute on charge {charge_id} opened: our team will review it.",
        "rejected": f"Dispute on charge {charge_id} rejected: {opened.reason}",
    }[opened.status]
    (messages.success if opened.status != "rejected" else messages.warning)(request, said)
    return redirect(url("home", clinic_id) + "#recent")


# -- the ledger ---------------------------------------------------------------------------------------


def _ledger_query(clinic_id: str, form: LedgerFilterForm, zone: ZoneInfo) -> dict[str, Any]:
    data = form.cleaned_data
    since = datetime.combine(data["since"], time(), zone) if data.get("since") else None
    until = datetime.combine(data["until"] + timedelta(days=1), time(), zone) if data.get("until") else None
    return {
        "kinds": [data["kind"]] if data.get("kind") else None,
        "since": since,
        "until": until,
    }


@require_GET
@clinic_page
def ledger_page(request: HttpRequest, clinic_id: str) -> HttpResponse:
    """Every transaction, newest first, filtered by kind and dates, a page at a time."""
    frame = _frame(clinic_id)
    form = LedgerFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return render(request, "creditbook/dashboard/ledger.html", {**frame, "form": form, "rows": []}, status=400)
    if not request.GET:
        form = LedgerFilterForm({})
        form.is_valid()
    zone = frame["clinic_zone"]
    query = _ledger_query(clinic_id, form, zone)
    page = ledger.billing().transactions(
        clinic_id, **query, page_size=LEDGER_PAGE, cursor=form.cleaned_data.get("cursor") or None
    )
    shown: Shown = frame["shown"]
    rows = [
        {
            "row": row,
            "when": _aware(row.at).astimezone(zone),
            "credits": f"{'+' if row.signed_credits > 0 else ''}{shown.credits(row.signed_credits)}",
            "money": f"{'+' if row.signed_credits > 0 else ''}{shown.money(row.signed_credits)}",
            "what": _what(row),
        }
        for row in page.rows
    ]
    params = request.GET.copy()
    params.pop("cursor", None)
    following = None
    if page.next_cursor:
        params["cursor"] = page.next_cursor
        following = "?" + params.urlencode()
        params.pop("cursor")
    context = {
        **frame,
        "form": form,
        "rows": rows,
        "total": page.total,
        "next_url": following,
        "csv_url": url("ledger_csv", clinic_id) + ("?" + params.urlencode() if params else ""),
    }
    return render(request, "creditbook/dashboard/ledger.html", context)


def _what(row: Any) -> str:
    parts = [row.product.replace("_", " ") if row.product else ""]
    if row.units and row.units > 1:
        parts.append(f"× {row.units:,}")
    return " ".join(p for p in parts if p)


def csv_cell(value: object) -> str:
    """A value as a CSV cell a spreadsheet will not run: text starting with = + - @ tab or CR is
    prefixed with ' (OWASP's CSV injection advice). Numbers the ledger itself produced (ints and
    Decimals: credits, money, ids) are written as numbers, so -180 stays a number an analyst can sum;
    anything that arrived as text (a reason, a note) is escaped, even when it looks like a number."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_DANGEROUS) else text


@require_GET
@clinic_page
def ledger_csv(request: HttpRequest, clinic_id: str) -> HttpResponse:
    """The filtered ledger as CSV, every page of it (up to CSV_MAX_ROWS rows), streamed."""
    frame = _frame(clinic_id)
    form = LedgerFilterForm(request.GET)
    if not form.is_valid():
        return _problem(request, clinic_id, "The ledger's filters are not valid: fix them and export again.", 400)
    query = _ledger_query(clinic_id, form, frame["clinic_zone"])
    shown: Shown = frame["shown"]
    zone = frame["clinic_zone"]

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        header = ["id", "date", "kind", "status", "product", "units", "credits", f"money ({shown.currency})",
                  "reason", "note", "dispute"]  # fmt: skip
        writer.writerow(header)
        cursor, written = None, 0
        while written < CSV_MAX_ROWS:
            page = ledger.billing().transactions(clinic_id, **query, page_size=500, cursor=cursor)
            for row in page.rows:
                money = credits_to_money(row.signed_credits, shown.money_per_credit)
                cells = [row.id, _aware(row.at).astimezone(zone).isoformat(), row.kind, row.status, row.product,
                         row.units, row.signed_credits, money, row.reason, row.note, row.dispute_status]  # fmt: skip
                writer.writerow([csv_cell(c) for c in cells])
                written += 1
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            cursor = page.next_cursor
            if cursor is None:
                return

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ledger-{clinic_id}.csv"'
    return response


# -- alert preferences --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@clinic_page
def alerts(request: HttpRequest, clinic_id: str) -> HttpResponse:
    """Where the clinic's alerts go (e-mail addresses, webhooks) and which alerts each receives."""
    billing = ledger.billing()
    frame = _frame(clinic_id)
    new_form, secret, status = EndpointForm(), None, 200
    if request.method == "POST" and request.POST.get("action") == "add":
        new_form = EndpointForm(request.POST)
        if new_form.is_valid():
            data = new_form.cleaned_data
            kinds = data["kinds"] or [value for value, _ in EVENT_CHOICES]
            try:
                _, secret = billing.add_notification_endpoint(clinic_id, data["channel"], data["target"], kinds)
                messages.success(request, f"Alerts will go to {data['target']}.")
                new_form = EndpointForm()
            except CreditbookError as exc:
                new_form.add_error("target", exc.message)
                status = 400
        else:
            status = 400
    elif request.method == "POST":
        choice = ChoiceForm(request.POST)
        if not choice.is_valid():
            errors = " ".join(" ".join(e) for e in choice.errors.values())
            return _problem(request, clinic_id, f"Those alert choices were not saved: {errors}", 400)
        data = choice.cleaned_data
        kinds = data["kinds"] if data["active"] else (data["kinds"] or [value for value, _ in EVENT_CHOICES])
        billing.set_notification_endpoint(data["endpoint"], clinic_id, kinds, active=data["active"])
        messages.success(request, "Alert choices saved.")
        return redirect(url("alerts", clinic_id))
    endpoints = []
    for endpoint in billing.notification_endpoints(clinic_id):
        chosen = set(endpoint.kinds) or {value for value, _ in EVENT_CHOICES}
        endpoints.append(
            {
                "endpoint": endpoint,
                "channel": str(endpoint.channel),
                "kinds": [(value, EVENT_LABELS[value], value in chosen) for value, _ in EVENT_CHOICES],
            }
        )
    context = {**frame, "endpoints": endpoints, "new_form": new_form, "secret": secret}
    return render(request, "creditbook/dashboard/alerts.html", context, status=status)
