"""Charging SMS campaigns, voice call records and leads: quote → overdraft policy → guarded debit."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, update

from engine.billing import support
from engine.billing.base import BillingBase, Done
from engine.billing.results import (
    ChargeResult,
    Remaining,
)
from engine.pricebook.model import CompiledPricebook
from engine.pricing.quote import Quote, quote
from engine.pricing.requests import QuoteContext, Request, Usage, as_request
from rules import AlertFacts, ChargeFacts
from storage import ledger
from storage.schema import (
    terms,
    transactions,
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
            found = support.clinic(conn, clinic_id)
            wallet = ledger.wallet(conn, clinic_id, lock=True)
            assert wallet is not None
            self._expire_wallet(conn, found, wallet.id, at)  # a lot is usable iff now < expires_at
            wallet = ledger.wallet(conn, clinic_id)
            assert wallet is not None
            current = self._current(conn, found.pricebook_id, at)
            pricing, term = self._pricing_version(conn, found, priced.product, current, at)
            context = QuoteContext(
                at=at,
                plan=support.active_packages(conn, clinic_id, at) or "PAYG",
                bundle=found.bundle,
                segment=found.segment,
                term_usage={priced.product: int(term.units) if term is not None else 0},
                balance=wallet.balance,
            )
            result = quote(pricing, priced, context)
            decision = self._policy(current).overdraft(
                ChargeFacts(segment=found.segment, balance=wallet.balance, amount=result.credits)
            )
            approved = decision.approved and ledger.debit_wallet(conn, wallet.id, result.credits)
            rule_ids = list(result.rule_ids) + list(decision.rule_ids)
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
            if not approved:
                reason = decision.reason if not decision.approved else "declined by the ledger's overdraft guard"
                txn = ledger.insert_transaction(conn, status="declined", reason=reason, **common)
                return Done(self._charge_result(conn, found, current, result, txn, False, reason, at), txn)
            txn = ledger.insert_transaction(conn, status="posted", **common)
            if result.credits:
                taken = ledger.take(conn, wallet.id, result.credits, txn, at)
                if taken.unfunded:
                    conn.execute(update(transactions).where(transactions.c.id == txn).values(unfunded=taken.unfunded))
                revenue = ledger.system_account(conn, "usage_revenue", found.market)
                ledger.move_system(conn, revenue, result.credits)
                ledger.post_legs(conn, txn, [(wallet.id, -result.credits), (revenue, result.credits)])
            if term is not None and result.plan == "PAYG":
                conn.execute(update(terms).where(terms.c.id == term.id).values(units=terms.c.units + result.units))
            return Done(self._charge_result(conn, found, current, result, txn, True, None, at), txn)

        request_data = {"clinic": clinic_id, "request": priced.model_dump(mode="json"), "patient": patient_ref}
        return self._idempotent(clinic_id, key, "charge", request_data, work, ChargeResult, when)

    def _pricing_version(
        self, conn: Connection, found: support.Clinic, product: str, current: CompiledPricebook, at: datetime
    ) -> tuple[CompiledPricebook, Any]:
        """Prices come from the clinic's pin, else its pay-as-you-go term's version, else the current one."""
        pinned = self.catalog.pinned(conn, found.id, at)
        held = set(support.active_packages(conn, found.id, at))
        on_package = any(p.package_code in held and p.product == product for p in current.packages)
        term = None if on_package else support.term_for(conn, self.catalog, found.id, product, at, current)
        if pinned is not None:
            return pinned, term
        if term is not None:
            return self.catalog.version(conn, term.pricebook_id, int(term.version)), term
        return current, term

    def _charge_result(
        self,
        conn: Connection,
        found: support.Clinic,
        current: CompiledPricebook,
        result: Quote,
        txn: int,
        approved: bool,
        reason: str | None,
        at: datetime,
    ) -> ChargeResult:
        balance = ledger.balance_of(conn, ledger.wallet(conn, found.id).id)  # type: ignore[union-attr]
        return ChargeResult(
            approved=approved,
            clinic_id=found.id,
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
            alerts=self._alerts(conn, found, current, balance, at),
            remaining=self._remaining(conn, found, current, balance, at),
            warnings=result.warnings,
        )

    def _remaining(
        self, conn: Connection, found: support.Clinic, current: CompiledPricebook, balance: int, at: datetime
    ) -> Remaining | None:
        """How many more SMS segments and voice minutes the balance buys at the clinic's rates."""
        products = [p.product for p in current.products if p.product in ("sms", "voice")]
        if not products:
            return None
        counts: dict[str, int | None] = {}
        plans = support.active_packages(conn, found.id, at) or "PAYG"
        for product in products:
            term = support.term_for(conn, self.catalog, found.id, product, at, current, start_if_missing=False)
            context = QuoteContext(
                at=at,
                plan=plans,
                bundle=found.bundle,
                term_usage={product: int(term.units) if term is not None else 0},
                balance=balance,
            )
            estimate = quote(current, Usage(product=product, units=0), context).remaining  # type: ignore[arg-type]
            counts[product] = (
                None if estimate is None else (estimate.sms_segments if product == "sms" else estimate.voice_minutes)
            )
        return Remaining(sms_segments=counts.get("sms"), voice_minutes=counts.get("voice"))

    def _alerts(
        self, conn: Connection, found: support.Clinic, current: CompiledPricebook, balance: int, at: datetime
    ) -> tuple[str, ...]:
        policy = self._policy(current)
        used = support.charged_since(conn, found.id, at - timedelta(days=30), at + timedelta(microseconds=1))
        wallet = ledger.wallet(conn, found.id)
        assert wallet is not None
        soon, earliest = ledger.expiring(conn, wallet.id, at, at + timedelta(days=policy.expiring_window_days))
        decision = policy.alerts(
            AlertFacts(
                balance=balance,
                trailing_daily_credits=Decimal(used) / 30,
                expiring_credits=soon,
                earliest_expiry=earliest,
            )
        )
        return tuple(alert.message for alert in decision.alerts)
