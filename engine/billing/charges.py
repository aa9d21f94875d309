"""Charging SMS campaigns, voice call records and leads: quote → overdraft policy → guarded debit."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, update

from engine.billing.base import BillingBase, Done
from engine.billing.results import (
    ChargeResult,
    Remaining,
)
from engine.billing.state import TRAILING, ClinicState, current_pricebook, load_state, pricing_version, start_term
from engine.pricebook.model import CompiledPricebook
from engine.pricing.quote import Quote, quote
from engine.pricing.requests import QuoteContext, Request, Usage, as_request
from rules import AlertFacts, ChargeFacts
from storage import ledger
from storage.schema import (
    terms,
)


class ChargeOperations(BillingBase):
    """Charging SMS campaigns, voice call records and leads: quote → overdraft policy → guarded debit."""

    def charge(
        self,
        clinic_id: str,
        request: Request | dict[str, Any],
        key: str,
        at: datetime | None = None,
        patient_ref: str | None = None,
    ) -> ChargeResult:
        """Charge an SMS campaign, voice call records or leads: quote → overdraft policy → one guarded
        transaction that takes credits from lots, records the legs with the pricing trace, counts the
        term's usage and stores the outcome. A decline is recorded with its reason and quote."""
        when = self._at(at)
        priced = as_request(request)

        def work(conn: Connection, at: datetime) -> Done:
            state = self._locked_state(conn, clinic_id, at)
            found, wallet = state.clinic, state.wallet
            current = current_pricebook(self.catalog, conn, state, at)
            on_package = state.packages_cover(priced.product, current)
            term = None if on_package else start_term(conn, state, priced.product, at, current)
            pricing = pricing_version(self.catalog, conn, state, priced.product, current, at)
            context = QuoteContext(
                at=at,
                plan=state.plan(),
                bundle=found.bundle,
                segment=found.segment,
                term_usage={priced.product: term.units if term is not None else 0},
            )
            result = quote(pricing, priced, context)
            policy = self._policy(current)
            limit = policy.overdraft_limit(found.segment)
            if limit != wallet.overdraft_limit:  # a new version changed the segment's limit: the wallet follows
                ledger.set_overdraft_limit(conn, wallet.id, limit)
            balance = ledger.debit_wallet(conn, wallet.id, result.credits)  # the guard enforces that limit
            if balance is None:  # declined: the rules say why, and by which rule
                decision = policy.overdraft(
                    ChargeFacts(segment=found.segment, balance=wallet.balance, amount=result.credits)
                )
                rule_ids = list(result.rule_ids) + list(decision.rule_ids)
            else:
                rule_ids = list(result.rule_ids) + list(policy.overdraft_rule_ids(found.segment, result.credits))
            common = {
                "clinic_id": clinic_id,
                "kind": "charge",
                "credits": result.credits,
                "at": at,
                "product": result.product,
                "units": result.units,
                "pricebook_id": result.pricebook_id,
                "pricebook_version": result.version,
                "pricebook_hash": result.semantic_hash,
                "rule_ids": rule_ids,
                "quote": result.model_dump(mode="json"),
                "patient_ref": patient_ref,
            }
            if balance is None:
                reason = decision.reason if not decision.approved else "declined by the ledger's overdraft guard"
                txn = ledger.insert_transaction(conn, status="declined", reason=reason, **common)
                return Done(self._charge_result(conn, state, current, result, txn, wallet.balance, reason, at), txn)
            if result.credits:
                taken = ledger.take(
                    conn, wallet.id, result.credits, 0, at, usable=ledger.spending_order(state.lots, at), defer=True
                )
                common["unfunded"] = taken.unfunded
            txn = ledger.insert_transaction(conn, status="posted", **common)
            if result.credits:
                ledger.record_allocations(conn, taken, txn)
                revenue = ledger.system_account(conn, "usage_revenue", found.market)
                ledger.post_legs(conn, txn, [(wallet.id, -result.credits), (revenue, result.credits)])
                state.spend(taken, result.credits)
            if term is not None and result.plan == "PAYG":
                conn.execute(update(terms).where(terms.c.id == term.id).values(units=terms.c.units + result.units))
                term.units += result.units
            return Done(self._charge_result(conn, state, current, result, txn, balance, None, at), txn)

        request_data = {"clinic": clinic_id, "request": priced.model_dump(mode="json"), "patient": patient_ref}
        return self._idempotent(clinic_id, key, "charge", request_data, work, ChargeResult, when)

    def _locked_state(self, conn: Connection, clinic_id: str, at: datetime) -> ClinicState:
        """The clinic's state under its wallet lock, with lots whose time is up expired first (a lot
        is usable iff now < expires_at)."""
        state = load_state(conn, clinic_id, at, lock=True)
        if state.due_lots(at):
            self._expire_wallet(conn, state.clinic, state.wallet.id, at)
            state = load_state(conn, clinic_id, at)
        return state

    def _charge_result(
        self,
        conn: Connection,
        state: ClinicState,
        current: CompiledPricebook,
        result: Quote,
        txn: int,
        balance: int,
        reason: str | None,
        at: datetime,
    ) -> ChargeResult:
        return ChargeResult(
            approved=reason is None,
            clinic_id=state.clinic.id,
            transaction_id=txn,
            product=result.product,
            units=result.units,
            credits=result.credits,
            money=result.money,
            currency=result.currency,
            balance=balance,
            rule_ids=result.rule_ids,
            pricebook=f"{result.pricebook_id} v{result.version}",
            summary=result.summary,
            decline_reason=reason,
            alerts=self._alerts(conn, state, current, balance, at),
            remaining=self._remaining(state, current, balance, at),
            warnings=result.warnings,
        )

    @staticmethod
    def _remaining(state: ClinicState, current: CompiledPricebook, balance: int, at: datetime) -> Remaining | None:
        """How many more SMS segments and voice minutes the balance buys at the clinic's rates."""
        products = [p.product for p in current.products if p.product in ("sms", "voice")]
        if not products:
            return None
        context = QuoteContext(
            at=at,
            plan=state.plan(),
            bundle=state.clinic.bundle,
            term_usage={product: state.term_units(product) for product in products},
            balance=balance,
        )
        estimate = quote(current, Usage(product=products[0], units=0), context).remaining  # type: ignore[arg-type]
        if estimate is None:
            return None
        return Remaining(sms_segments=estimate.sms_segments, voice_minutes=estimate.voice_minutes)

    def _alerts(
        self, conn: Connection, state: ClinicState, current: CompiledPricebook, balance: int, at: datetime
    ) -> tuple[str, ...]:
        policy = self._policy(current)
        used = state.charged_30d
        soon, earliest = state.expiring(at, at + timedelta(days=policy.expiring_window_days))
        decision = policy.alerts(
            AlertFacts(
                balance=balance,
                trailing_daily_credits=Decimal(used) / TRAILING.days,
                expiring_credits=soon,
                earliest_expiry=earliest,
            )
        )
        return tuple(alert.message for alert in decision.alerts)
