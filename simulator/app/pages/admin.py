"""The admin console: the dispute queue, manual adjustments, revenue by month, bonus and expired
credits, and the ledger's reconciliation. Changes need the admin password (Streamlit secrets
`admin_password` or CREDITBOOK_ADMIN_PASSWORD); without one configured the page is read-only."""

from __future__ import annotations

import hmac

import altair as alt
import pandas as pd
import streamlit as st

from engine.billing import BillingError
from simulator.app.services import (
    admin_password,
    billing,
    credit_metric,
    is_admin,
    money,
    shown,
    submit,
)


def gate() -> bool:
    """True when changes are allowed."""
    password = admin_password()
    if password is None:
        st.info("Read-only: no admin password is configured (Streamlit secrets or CREDITBOOK_ADMIN_PASSWORD).")
        return False
    if is_admin():
        return True
    typed = st.text_input("Admin password", type="password", key="admin_password")
    if typed:
        if hmac.compare_digest(typed.encode(), password.encode()):
            st.session_state["admin_ok"] = True
            st.rerun()
        st.error("Wrong password.")
    return False


def credit_money(clinic_id: str, credits: int) -> str:
    """What `credits` of this clinic's market are worth."""
    market = next((c.market for c in billing().clinics() if c.id == clinic_id), "IN")
    meta = billing().pricebook_in_force(market).meta
    return shown(credits, meta.money_per_credit, meta.currency).split("(")[-1].rstrip(")")


def disputes(allowed: bool) -> None:
    st.subheader("Dispute queue")
    queue = billing().disputes(status="open")
    if not queue:
        st.caption("No open disputes.")
        return
    frame = pd.DataFrame(
        [
            {
                "dispute": d.id,
                "clinic": d.clinic_id,
                "charge": d.charge_id,
                "product": d.product,
                "credits": d.credits,
                "money": credit_money(d.clinic_id, d.credits),
                "reason": d.reason,
                "opened (UTC)": d.opened_at.strftime("%Y-%m-%d %H:%M"),
                "policy": d.decision_reason,
            }
            for d in queue
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="queue")
    if not allowed:
        return
    with st.form("decide"):
        left, right = st.columns([1, 3])
        chosen = left.selectbox("Dispute", [d.id for d in queue], key="decide_id")
        note = right.text_input("Note (kept with the decision)", key="decide_note")
        approve, reject = st.columns(2)
        approved = approve.form_submit_button("Approve: refund the charge", key="decide_approve")
        rejected = reject.form_submit_button("Reject", key="decide_reject")
    if approved or rejected:
        if not note.strip():
            st.error("A decision needs a note.")
            return
        act = billing().approve_dispute if approved else billing().reject_dispute
        result = submit(f"decide-{chosen}", lambda key: act(int(chosen), actor="admin", note=note, key=key))
        if result is None:
            return
        st.session_state["admin_flash"] = (
            f"Dispute {result.dispute_id} {result.status}; refunded {result.refunded_credits:,} credits "
            f"to {result.clinic_id}."
        )
        st.rerun()


def adjustments(allowed: bool) -> None:
    st.subheader("Manual adjustment")
    if not allowed:
        st.caption("Needs the admin password.")
        return
    clinics = billing().clinics()
    with st.form("adjust"):
        left, middle = st.columns(2)
        clinic = left.selectbox("Clinic", [c.id for c in clinics], key="adjust_clinic")
        credits = middle.number_input("Credits (negative takes credits back)", value=0, step=100, key="adjust_credits")
        reason = st.text_input("Reason", key="adjust_reason")
        submitted = st.form_submit_button("Adjust", key="adjust_submit")
    if submitted:
        result = submit(
            f"adjust-{clinic}",
            lambda key: billing().adjust(clinic, int(credits), actor="admin", reason=reason, key=key),
        )
        if result is None:
            return
        st.session_state["admin_flash"] = (
            f"Adjusted {clinic} by {result.credits:+,} credits; balance {result.balance:,}."
        )
        st.rerun()


def revenue() -> None:
    st.subheader("Revenue")
    market = st.radio("Market", ["US", "IN"], horizontal=True, key="revenue_market")
    try:
        report = billing().revenue_report(market)
    except BillingError as exc:
        st.warning(str(exc))
        return
    rows = pd.DataFrame(
        [
            {
                "month": r.period,
                "top-up money": float(r.topup_money),
                "paid credits": r.paid_credits,
                "bonus credits": r.bonus_credits,
                "expired credits": r.expired_credits,
                "charged credits": r.charged_credits,
                "refunded credits": r.refunded_credits,
            }
            for r in report.rows
        ]
    )
    cols = st.columns(3)
    per = report.money_per_credit
    credit_metric(cols[0], "Outstanding (liability)", report.outstanding_credits, per, report.currency)
    bonus = int(rows["bonus credits"].sum()) if len(rows) else 0
    credit_metric(cols[1], "Bonus credits granted", bonus, per, report.currency)
    cols[2].metric("Open disputes", report.open_disputes)
    if len(rows):
        st.altair_chart(
            alt.Chart(rows)
            .mark_bar()
            .encode(
                x=alt.X("month:O", title="Month"),
                y=alt.Y("top-up money:Q", title=f"Top-up money ({report.currency})"),
                tooltip=list(rows.columns),
            )
            .properties(height=260),
            width="stretch",
        )
        st.dataframe(rows, hide_index=True, width="stretch", key="revenue_rows")
        st.caption(
            f"Total top-up money: {money(rows['top-up money'].sum(), report.currency)} · "
            f"one credit is worth {shown(1, per, report.currency).split('(')[-1].rstrip(')')}"
        )


def reconciliation() -> None:
    st.subheader("Reconciliation")
    result = billing().reconcile()
    if result.ok:
        st.success(
            f"OK: {result.accounts:,} accounts, {result.lots:,} lots and {result.transactions:,} transactions "
            "agree with their entries and allocations."
        )
    else:
        st.error(f"{len(result.drifts)} drift(s)")
        st.dataframe(pd.DataFrame([{"drift": str(d)} for d in result.drifts]), hide_index=True)


def main() -> None:
    st.title("Admin")
    flash = st.session_state.pop("admin_flash", None)
    if flash:
        st.success(flash)
    allowed = gate()
    disputes(allowed)
    adjustments(allowed)
    revenue()
    reconciliation()


main()
