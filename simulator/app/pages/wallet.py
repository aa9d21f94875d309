"""A clinic's wallet (the lead note's dashboard): the balance header, top-ups through the payment
gateway with a promotion code, recent charges with a Dispute button, and the full history."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from simulator.app.services import billing, credit_metric, shown, submit
from simulator.export import safe

KINDS = ["topup", "bonus", "referral", "charge", "refund", "adjustment", "expiry"]
METHODS = {
    "card_ok": "Card (succeeds)",
    "upi_ok": "UPI (succeeds)",
    "card_declined": "Card (declined)",
    "card_pending": "Card (pending: settles later)",
}


def flash(kind: str, message: str) -> None:
    """Show `message` after the rerun that refreshes the balance."""
    st.session_state["wallet_flash"] = (kind, message)
    st.rerun()


def show_flash() -> None:
    found = st.session_state.pop("wallet_flash", None)
    if found is not None:
        getattr(st, found[0])(found[1])


def header(clinic_id: str) -> object:
    view = billing().balance(clinic_id)
    money = view.money_per_credit
    cols = st.columns(4)
    credit_metric(cols[0], "Balance", view.balance, money, view.currency)
    credit_metric(cols[1], "Used this month", view.used_this_month, money, view.currency)
    credit_metric(cols[2], "Refunds granted this month", view.refunds_granted_this_month, money, view.currency)
    credit_metric(
        cols[3], f"Expiring within {view.expiring_within_days} days", view.expiring_soon, money, view.currency
    )
    detail = []
    if view.leads_this_month:
        detail.append(
            f"{view.leads_this_month:,} leads this month ({shown(view.lead_credits_this_month, money, view.currency)})"
        )
    if view.sms_segments_this_month or view.voice_minutes_this_month:
        detail.append(
            f"{view.sms_segments_this_month:,} SMS segments and "
            f"{view.voice_minutes_this_month:,} voice minutes this month"
        )
    if view.remaining is not None and view.remaining.sms_segments is not None:
        detail.append(
            f"the balance still buys {view.remaining.sms_segments:,} SMS segments "
            f"or {view.remaining.voice_minutes or 0:,} voice minutes"
        )
    if view.overdraft_limit:
        detail.append(f"may overdraw to {shown(-view.overdraft_limit, money, view.currency)}")
    if detail:
        st.caption(" · ".join(detail))
    for alert in view.alerts:
        st.warning(alert)
    return view


def top_up(clinic_id: str, market: str) -> None:
    packages = [p.package_code for p in billing().list_packages(market)]
    with st.form("topup", clear_on_submit=False):
        st.subheader("Top up")
        left, middle, right = st.columns(3)
        what = left.selectbox("What", ["Credits", *packages], key="topup_what")
        credits = middle.number_input(
            "Credits", min_value=1, value=10_000 if market == "IN" else 1_000_000, step=1_000, key="topup_credits"
        )
        method = right.selectbox("Payment", list(METHODS), format_func=METHODS.get, key="topup_method")
        promo = st.text_input("Promotion code (optional)", key="topup_promo")
        submitted = st.form_submit_button("Pay", key="topup_pay")
    if not submitted:
        return
    result = submit(
        f"topup-{clinic_id}",
        lambda key: billing().purchase(
            clinic_id,
            int(credits) if what == "Credits" else what,
            payment_method=method,
            key=key,
            promo_code=promo or None,
        ),
    )
    if result is None:
        return
    if result.status == "credited":
        flash("success", result.message)
    elif result.status == "pending":
        flash("info", f"{result.message} (payment {result.payment_id})")
    else:
        flash("error", result.message)


def recent(clinic_id: str, view: object) -> None:
    st.subheader("Recent charges")
    page = billing().transactions(clinic_id, kinds=["charge"], status="posted", page_size=20)
    if not page.rows:
        st.caption("No charges yet.")
        return
    frame = pd.DataFrame(
        [
            {
                "id": r.id,
                "when (UTC)": r.at.strftime("%Y-%m-%d %H:%M"),
                "what": f"{r.product} × {r.units}",
                "credits": r.credits,
                "money": shown(r.credits, view.money_per_credit, view.currency).split("(")[-1].rstrip(")"),  # type: ignore[attr-defined]
                "rules": ", ".join(r.rule_ids),
                "dispute": r.dispute_status or ("can dispute" if r.disputable else ""),
            }
            for r in page.rows
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="recent")
    disputable = [r.id for r in page.rows if r.disputable]
    if not disputable:
        return
    with st.form("dispute"):
        left, right = st.columns(2)
        charge = left.selectbox("Charge", disputable, key="dispute_charge")
        reason = right.selectbox(
            "Reason", ["duplicate", "invalid", "not_reachable", "mistakenly_charged"], key="dispute_reason"
        )
        submitted = st.form_submit_button("Dispute", key="dispute_submit")
    if submitted:
        result = submit(
            f"dispute-{charge}", lambda key: billing().open_dispute(clinic_id, int(charge), reason=reason, key=key)
        )
        if result is None:
            return
        kind = {"approved": "success", "open": "info"}.get(result.status, "warning")
        flash(kind, f"Dispute {result.dispute_id}: {result.status} — {result.reason}")


def history(clinic_id: str, view: object) -> None:
    st.subheader("All transactions")
    left, middle, right = st.columns(3)
    kinds = left.multiselect("Kinds", KINDS, key="history_kinds")
    status = middle.selectbox("Status", ["any", "posted", "declined", "failed"], key="history_status")
    days = right.select_slider("Period", ["7 days", "30 days", "90 days", "all"], value="all", key="history_days")
    since = None
    if days != "all":
        since = datetime.combine(datetime.now(UTC).date(), time(), UTC) - timedelta(days=int(days.split()[0]))
    page = billing().transactions(
        clinic_id, kinds=kinds or None, status=None if status == "any" else status, since=since, page_size=1000
    )
    currency, per_credit = view.currency, view.money_per_credit  # type: ignore[attr-defined]
    frame = pd.DataFrame(
        [
            {
                "id": r.id,
                "when (UTC)": r.at.strftime("%Y-%m-%d %H:%M"),
                "kind": r.kind,
                "status": r.status,
                "credits": r.signed_credits if r.status == "posted" else r.credits,
                "money": float(r.signed_credits * per_credit) if r.status == "posted" else 0.0,
                "what": (
                    f"refund of charge {r.related_id}"
                    if r.kind == "refund"
                    else f"{r.product} × {r.units}"
                    if r.product
                    else (r.note or "")
                ),
                "rules": ", ".join(r.rule_ids),
                "reason / note": r.reason or "",
                "pricebook": r.pricebook or "",
            }
            for r in page.rows
        ]
    )
    st.caption(f"{page.total:,} transactions; money in {currency}")
    st.dataframe(frame, hide_index=True, width="stretch", key="history")
    csv = frame.map(safe).to_csv(index=False).encode("utf-8") if len(frame) else b""
    st.download_button("Export (CSV)", csv, f"{clinic_id}-transactions.csv", "text/csv", key="history_csv")


def main() -> None:
    st.title("Clinic wallet")
    clinics = billing().clinics()
    if not clinics:
        st.warning("The ledger has no clinics yet: run `creditbook demo seed` (make app does it for you).")
        return
    names = {c.id: f"{c.name} ({c.id})" for c in clinics}
    clinic_id = st.selectbox("Clinic", list(names), format_func=names.get, key="wallet_clinic")
    clinic = next(c for c in clinics if c.id == clinic_id)
    show_flash()
    view = header(clinic_id)
    top_up(clinic_id, clinic.market)
    recent(clinic_id, view)
    history(clinic_id, view)


main()
