"""The admin console, for staff behind the admin login: the dispute queue, manual adjustments,
revenue by month, bonus and expired credits, and the ledger's reconciliation. Without a configured
password (Streamlit secrets `admin_password` or CREDITBOOK_ADMIN_PASSWORD) the page is read-only.
A decision's note and an adjustment's amount and reason are cleared once posted, so one click
never applies an old note to the next dispute or posts an adjustment twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from engine.money import currency_symbol, format_credits, format_money
from simulator.app.access import staff_page
from simulator.app.display import MONEY_AXIS, Column, credit_metric, credits_field, localized, metric_rows, table
from simulator.app.labels import label, market_label, quantity
from simulator.app.services import billing, reset, submit

DECIDE_FIELDS = ("decide_id", "decide_note")
ADJUST_FIELDS = ("adjust_credits", "adjust_reason")


def flash(message: str) -> None:
    st.session_state["admin_flash"] = message
    st.rerun()


def _money_of(clinics: dict[str, Any]) -> dict[str, tuple[Decimal, str]]:
    """What one credit is worth, and in which currency, for each market that has clinics."""
    found = {}
    for market in {c.market for c in clinics.values()}:
        meta = billing().pricebook_in_force(market).meta
        found[market] = (meta.money_per_credit, meta.currency)
    return found


def disputes(allowed: bool, clinics: dict[str, Any]) -> None:
    st.subheader("Dispute queue")
    queue = billing().disputes(status="open")
    if not queue:
        st.caption("No open disputes.")
        return
    money = _money_of(clinics)
    rows = []
    for d in queue:
        market = clinics[d.clinic_id].market if d.clinic_id in clinics else "IN"
        per, currency = money.get(market, (Decimal(1), "INR"))
        rows.append(
            {
                "dispute": d.id,
                "clinic": f"{clinics[d.clinic_id].name} ({d.clinic_id})" if d.clinic_id in clinics else d.clinic_id,
                "charge": d.charge_id,
                "what": quantity(d.product, 1, currency) if d.product else "",
                "amount": format_credits(d.credits, per, currency),
                "reason": label(d.reason),
                "opened": d.opened_at.strftime("%Y-%m-%d %H:%M"),
                "policy": d.decision_reason or "",
            }
        )
    frame = pd.DataFrame(rows).rename(
        columns={
            "dispute": "Dispute",
            "clinic": "Clinic",
            "charge": "Charge",
            "what": "What",
            "amount": "Amount (credits and money)",
            "reason": "Reason",
            "opened": "Opened (UTC)",
            "policy": "Policy",
        }
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="queue")
    if not allowed:
        return
    by_id = {d.id: d for d in queue}
    with st.form("decide"):
        left, right = st.columns([2, 3])
        chosen = left.selectbox(
            "Dispute",
            list(by_id),
            format_func=lambda i: f"{i} · {by_id[i].clinic_id} · charge {by_id[i].charge_id}",
            key="decide_id",
        )
        note = right.text_input("Note (kept with the decision)", max_chars=500, key="decide_note")
        approve, reject = st.columns(2)
        approved = approve.form_submit_button("Approve: refund the charge", key="decide_approve")
        rejected = reject.form_submit_button("Reject: no refund", key="decide_reject")
    if not (approved or rejected):
        return
    if not note.strip():
        st.error("A decision needs a note.")
        return
    act = billing().approve_dispute if approved else billing().reject_dispute
    result = submit(
        f"decide-{chosen}", lambda key: act(int(chosen), actor="admin", note=note.strip(), key=key), clear=DECIDE_FIELDS
    )
    if result is None:
        return
    clinic = clinics.get(result.clinic_id)
    who = f"{clinic.name} ({result.clinic_id})" if clinic else result.clinic_id
    if result.status == "approved":
        per, currency = _money_of(clinics).get(clinic.market if clinic else "IN", (Decimal(1), "INR"))
        refund = format_credits(result.refunded_credits, per, currency)
        flash(f"Dispute {result.dispute_id} approved: refunded {refund} to {who}.")
    else:
        flash(f"Dispute {result.dispute_id} rejected: no refund to {who}.")


def adjustments(allowed: bool, clinics: dict[str, Any]) -> None:
    st.subheader("Manual adjustment")
    if not allowed:
        st.caption("Needs the admin password.")
        return
    clinic_id = st.selectbox(
        "Clinic",
        list(clinics),
        format_func=lambda c: f"{clinics[c].name} ({c}) · {market_label(clinics[c].market)}",
        key="adjust_clinic",
        on_change=reset,
        args=ADJUST_FIELDS,
    )
    clinic = clinics[clinic_id]
    per, currency = _money_of(clinics)[clinic.market]
    with st.form("adjust"):
        st.markdown(f"Adjusting **{clinic.name}** · `{clinic.id}` · {market_label(clinic.market)}")
        left, right = st.columns(2)
        credits = credits_field(
            left, "Credits, negative takes back", per, currency, value=0, step=100, key="adjust_credits"
        )
        reason = right.text_input("Reason", max_chars=500, key="adjust_reason")
        submitted = st.form_submit_button("Adjust", key="adjust_submit")
    if not submitted:
        return
    result = submit(
        f"adjust-{clinic_id}",
        lambda key: billing().adjust(clinic_id, int(credits), actor="admin", reason=reason, key=key),
        clear=ADJUST_FIELDS,
    )
    if result is None:
        return
    flash(
        f"Adjusted {clinic.name} ({clinic_id}) by {format_credits(result.credits, per, currency)}; "
        f"balance {format_credits(result.balance, per, currency)}."
    )


def revenue() -> None:
    st.subheader("Revenue")
    market = st.radio("Market", ["US", "IN"], horizontal=True, key="revenue_market", format_func=market_label)
    from engine.errors import CreditbookError

    try:
        report = billing().revenue_report(market)
    except CreditbookError as exc:
        st.warning(str(exc))
        return
    per, currency = report.money_per_credit, report.currency
    symbol = currency_symbol(currency)
    rows = pd.DataFrame(
        [
            {
                "month": r.period,
                "money": float(r.topup_money),
                "paid": r.paid_credits,
                "bonus": r.bonus_credits,
                "expired": r.expired_credits,
                "charged": r.charged_credits,
                "refunded": r.refunded_credits,
            }
            for r in report.rows
        ],
        columns=["month", "money", "paid", "bonus", "expired", "charged", "refunded"],
    )
    cells = metric_rows(3, per_row=3)
    credit_metric(cells[0], "Outstanding (liability)", report.outstanding_credits, per, currency)
    credit_metric(cells[1], "Bonus credits granted", int(rows["bonus"].sum()), per, currency)
    cells[2].metric("Open disputes", report.open_disputes)
    if not len(rows):
        return
    st.altair_chart(
        localized(
            alt.Chart(rows)
            .mark_bar()
            .encode(
                x=alt.X("month:O", title="Month", axis=alt.Axis(labelAngle=0)),
                y=alt.Y("money:Q", title=f"Top-ups paid ({symbol})", axis=alt.Axis(format=MONEY_AXIS)),
                tooltip=["month", alt.Tooltip("money:Q", title=f"top-ups ({symbol})", format=MONEY_AXIS)],
            )
            .properties(height=260),
            currency,
        ),
        width="stretch",
    )
    credit_columns = {
        name: Column(f"{name.capitalize()} credits", "credits")
        for name in ("paid", "bonus", "expired", "charged", "refunded")
    }
    frame = table(
        rows,
        {"month": Column("Month"), "money": Column(f"Top-ups paid ({symbol})", "money", places=2), **credit_columns},
        currency,
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="revenue_rows")
    st.caption(
        f"Total top-ups paid: {format_money(rows['money'].sum(), currency, places=2)} · "
        f"one credit is worth {format_money(per, currency, per)}"
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
    allowed = staff_page("Admin")
    if allowed is False:
        return
    found = st.session_state.pop("admin_flash", None)
    if found:
        st.success(found)
    clinics = {c.id: c for c in billing().clinics()}
    disputes(bool(allowed), clinics)
    adjustments(bool(allowed), clinics)
    revenue()
    reconciliation()


main()
