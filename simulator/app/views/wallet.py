"""A clinic's wallet, for support staff behind the admin login: the balance header, top-ups through
the payment gateway with a promotion code, recent charges with a Dispute button, and the full
history. Every action names the clinic it acts on; amounts and notes reset after a successful
submit and whenever another clinic is picked (so a US amount is never paid by an Indian clinic)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from engine.money import currency_symbol, format_credits, format_money, format_number
from simulator.app.access import staff_page
from simulator.app.display import Column, credit_metric, credits_field, metric_rows, table
from simulator.app.labels import LABELS, label, market_label, quantity
from simulator.app.services import billing, refusal, reset, submit
from simulator.export import safe

KINDS = ["topup", "bonus", "referral", "charge", "refund", "adjustment", "expiry"]
REASONS = ["duplicate", "invalid", "not_reachable", "mistakenly_charged"]
METHODS = {
    "card_ok": "Card (succeeds)",
    "upi_ok": "UPI (succeeds)",
    "card_declined": "Card (declined)",
    "card_pending": "Card (pending: settles later)",
}
TOPUP_FIELDS = ("topup_what", "topup_credits", "topup_method", "topup_promo")
DISPUTE_FIELDS = ("dispute_charge", "dispute_reason")
DEFAULT_CREDITS = {"IN": 10_000, "US": 1_000_000}


def flash(kind: str, message: str) -> None:
    """Show `message` after the rerun that refreshes the balance."""
    st.session_state["wallet_flash"] = (kind, message)
    st.rerun()


def show_flash() -> None:
    found = st.session_state.pop("wallet_flash", None)
    if found is not None:
        getattr(st, found[0])(found[1])


def acting_on(clinic: Any) -> str:
    """Whose wallet an action changes: name, id and market, at the top of every form."""
    return f"**{clinic.name}** · `{clinic.id}` · {market_label(clinic.market)}"


def header(clinic: Any) -> Any:
    view = billing().balance(clinic.id)
    per, currency = view.money_per_credit, view.currency
    cells = metric_rows(4)
    credit_metric(cells[0], "Balance", view.balance, per, currency)
    credit_metric(cells[1], "Used this month", view.used_this_month, per, currency)
    credit_metric(cells[2], "Refunds this month", view.refunds_granted_this_month, per, currency)
    credit_metric(cells[3], f"Expiring in {view.expiring_within_days} days", view.expiring_soon, per, currency)
    detail = []
    if view.leads_this_month:
        leads = view.leads_this_month
        detail.append(
            f"{format_number(leads, currency)} {'lead' if leads == 1 else 'leads'} this month "
            f"({format_credits(view.lead_credits_this_month, per, currency)})"
        )
    if view.sms_segments_this_month or view.voice_minutes_this_month:
        detail.append(
            f"{quantity('sms', view.sms_segments_this_month, currency)} and "
            f"{quantity('voice', view.voice_minutes_this_month, currency)} this month"
        )
    if view.remaining is not None and view.remaining.sms_segments is not None:
        detail.append(
            f"the balance still buys {quantity('sms', view.remaining.sms_segments, currency)} "
            f"or {quantity('voice', view.remaining.voice_minutes or 0, currency)}"
        )
    if view.overdraft_limit:
        detail.append(f"may overdraw to {format_credits(-view.overdraft_limit, per, currency)}")
    if detail:
        st.caption(" · ".join(detail))
    for alert in view.alerts:
        st.warning(alert)
    return view


def top_up(clinic: Any, view: Any) -> None:
    packages = [p.package_code for p in billing().list_packages(clinic.market)]
    symbol = currency_symbol(view.currency)
    with st.form("topup", clear_on_submit=False):
        st.subheader("Top up")
        st.markdown(f"For {acting_on(clinic)}")
        left, middle, right = st.columns(3)
        what = left.selectbox("What", ["Credits", *packages], key="topup_what")
        credits = credits_field(
            middle,
            "Credits",
            view.money_per_credit,
            view.currency,
            value=DEFAULT_CREDITS.get(clinic.market, 10_000),
            min_value=1,
            step=1_000,
            key="topup_credits",
            help=f"Ignored when a package is chosen. Paid in {symbol}.",
        )
        method = right.selectbox("Payment", list(METHODS), format_func=METHODS.__getitem__, key="topup_method")
        promo = st.text_input("Promotion code (optional)", max_chars=64, key="topup_promo")
        preview_at, pay_at = st.columns(2)
        previewed = preview_at.form_submit_button("Preview", key="topup_preview")
        submitted = pay_at.form_submit_button("Pay", key="topup_pay", type="primary")
    asked = int(credits) if what == "Credits" else what
    assert method is not None  # a selectbox over options that are never empty always has one chosen
    if previewed:
        preview(clinic, asked, method, promo.strip() or None)
    if not submitted:
        return
    result = submit(  # a code the preview refuses is refused here too, before any money moves
        f"topup-{clinic.id}",
        lambda key: billing().purchase(
            clinic.id, asked, payment_method=method, key=key, promo_code=promo.strip() or None
        ),
        clear=TOPUP_FIELDS,
    )
    if result is None:
        return
    if result.status == "credited":
        flash("success", f"{clinic.name}: {result.message}")
    elif result.status == "pending":
        flash("info", f"{clinic.name}: {result.message} (payment {result.payment_id})")
    else:
        flash("error", f"{clinic.name}: {result.message}")


def preview(clinic: Any, asked: int | str, method: str, promo: str | None) -> None:
    """What the top-up will cost and earn (Billing.quote_topup), before any money moves: the money
    to pay, the paid and bonus credits with the promotion and perks, or why the code does not apply."""
    from engine.errors import CreditbookError

    try:
        quote = billing().quote_topup(clinic.id, asked, promo_code=promo, payment_method=method)
    except CreditbookError as exc:
        st.error(refusal(exc))
        return
    per, currency = quote.money_per_credit, quote.currency
    paid = format_credits(quote.paid_credits, per, currency)
    lines = [f"**Pay {format_money(quote.amount, currency, per)}** for {paid}"]
    if quote.rounded_up_from is not None:
        lines.append(
            f"{format_number(quote.rounded_up_from, currency)} credits are not a whole amount to pay: "
            f"rounded up to {format_number(quote.paid_credits, currency)}"
        )
    if quote.bonus_credits:
        rules = ", ".join(quote.bonus_rule_ids)
        lines.append(f"Bonus: {format_credits(quote.bonus_credits, per, currency)} ({rules})")
    if quote.perks:
        lines.append("Perks: " + ", ".join(perk.replace("_", " ") for perk in quote.perks))
    st.info("  \n".join(lines))
    if quote.promo_refusal is not None:
        st.warning(f"The code cannot be used: {quote.promo_reason}. Pay without it, or change the code.")


def pricing_rules(rule_ids: tuple[str, ...], policy_ids: set[str]) -> str:
    """The rules that priced a charge: the overdraft policy that let it through is not a price."""
    return ", ".join(r for r in rule_ids if r not in policy_ids)


def recent(clinic: Any, view: Any, allowed: bool) -> None:
    st.subheader("Recent charges")
    page = billing().transactions(clinic.id, kinds=["charge"], status="posted", page_size=20)
    if not page.rows:
        st.caption("No charges yet.")
        return
    currency, per = view.currency, view.money_per_credit
    policy_ids = {rule.rule_id for rule in billing().pricebook_in_force(clinic.market).overdraft}
    frame = pd.DataFrame(
        [
            {
                "id": r.id,
                "when": r.at.strftime("%Y-%m-%d %H:%M"),
                "what": quantity(r.product, r.units, currency),
                "credits": r.credits,
                "money": r.credits * per,
                "rules": pricing_rules(r.rule_ids, policy_ids),
                "dispute": label(r.dispute_status) or ("can dispute" if r.disputable else ""),
            }
            for r in page.rows
        ]
    )
    symbol = currency_symbol(currency)
    shown = table(
        frame,
        {
            "id": Column("Charge"),
            "when": Column("When (UTC)"),
            "what": Column("What"),
            "credits": Column("Credits", "credits"),
            "money": Column(f"Money ({symbol})", "money"),
            "rules": Column("Priced by rule"),
            "dispute": Column("Dispute"),
        },
        currency,
        per,
    )
    st.dataframe(shown, hide_index=True, width="stretch", key="recent")
    disputable = [r.id for r in page.rows if r.disputable]
    if not disputable or not allowed:
        return
    with st.form("dispute", clear_on_submit=True):
        st.markdown(f"Open a dispute for {acting_on(clinic)}")
        left, right = st.columns(2)
        charge = left.selectbox("Charge", disputable, key="dispute_charge")
        reason = right.selectbox("Reason", REASONS, format_func=label, key="dispute_reason")
        submitted = st.form_submit_button("Dispute", key="dispute_submit")
    if not submitted:
        return
    result = submit(
        f"dispute-{charge}",
        lambda key: billing().open_dispute(clinic.id, int(charge), reason=reason, key=key),
        clear=DISPUTE_FIELDS,
    )
    if result is None:
        return
    refund = format_credits(result.refunded_credits, per, currency)
    messages = {
        "approved": ("success", f"Dispute {result.dispute_id} on charge {charge} approved: refunded {refund}."),
        "open": ("info", f"Dispute {result.dispute_id} on charge {charge} opened: it waits for an admin's decision."),
        "rejected": ("warning", f"Dispute {result.dispute_id} on charge {charge} rejected: {result.reason}"),
    }
    flash(*messages.get(result.status, ("info", f"Dispute {result.dispute_id}: {label(result.status)}")))


def _what(row: Any, currency: str) -> str:
    if row.kind == "refund":
        return f"refund of charge {row.related_id}"
    if row.product:
        return quantity(row.product, row.units, currency)
    return row.note or ""


def history(clinic: Any, view: Any) -> None:
    st.subheader("All transactions")
    left, middle, right = st.columns(3)
    kinds = left.multiselect("Kinds", KINDS, format_func=label, key="history_kinds")
    status = middle.selectbox(
        "Status", ["any", "posted", "declined", "failed"], format_func=label, key="history_status"
    )
    days = right.select_slider("Period", ["7 days", "30 days", "90 days", "all"], value="all", key="history_days")
    since = None
    if days != "all":
        since = datetime.combine(datetime.now(UTC).date(), time(), UTC) - timedelta(days=int(days.split()[0]))
    page = billing().transactions(
        clinic.id, kinds=kinds or None, status=None if status == "any" else status, since=since, page_size=1000
    )
    currency, per = view.currency, view.money_per_credit
    rows = [
        {
            "id": r.id,
            "when": r.at.strftime("%Y-%m-%d %H:%M"),
            "kind": label(r.kind),
            "status": label(r.status),
            "credits": r.signed_credits if r.status == "posted" else r.credits,
            "money": r.signed_credits * per if r.status == "posted" else Decimal(0),
            "what": _what(r, currency),
            "reason": label(r.reason) if r.reason in LABELS else (r.reason or ""),
            "pricebook": r.pricebook or "",
        }
        for r in page.rows
    ]
    symbol = currency_symbol(currency)
    columns = {
        "id": Column("Transaction"),
        "when": Column("When (UTC)"),
        "kind": Column("Kind"),
        "status": Column("Status"),
        "credits": Column("Credits (+ in, − out)", "credits"),
        "money": Column(f"Money ({symbol})", "money"),
        "what": Column("What"),
        "reason": Column("Reason or note"),
        "pricebook": Column("Pricebook"),
    }
    frame = table(pd.DataFrame(rows, columns=list(columns)), columns, currency, per)
    st.caption(f"{format_number(page.total, currency)} transactions; declined and failed ones moved no credits")
    st.dataframe(frame, hide_index=True, width="stretch", key="history")
    csv = frame.map(safe).to_csv(index=False).encode("utf-8") if len(frame) else b""
    st.download_button("Export (CSV)", csv, f"{clinic.id}-transactions.csv", "text/csv", key="history_csv")


def main() -> None:
    allowed = staff_page("Clinic wallet")
    if allowed is False:
        return
    clinics = billing().clinics()
    if not clinics:
        st.warning("The ledger has no clinics yet: run `creditbook demo seed` (make app does it for you).")
        return
    names = {c.id: f"{c.name} ({c.id})" for c in clinics}
    clinic_id = st.selectbox(
        "Clinic",
        list(names),
        format_func=names.__getitem__,
        key="wallet_clinic",
        on_change=reset,
        args=(*TOPUP_FIELDS, *DISPUTE_FIELDS),
    )
    clinic = next(c for c in clinics if c.id == clinic_id)
    st.markdown(f"Acting on {acting_on(clinic)}")
    show_flash()
    view = header(clinic)
    if allowed:
        top_up(clinic, view)
    recent(clinic, view, bool(allowed))
    history(clinic, view)


main()
