"""Buying credits through the payment gateway: packages, pay-as-you-go top-ups, bonus lots, referrals."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.billing import support
from engine.billing.base import ALL_CLINICS, BillingBase
from engine.billing.errors import (
    InvalidAmount,
    PaymentGatewayError,
    UnknownCharge,
    UnknownPackage,
)
from engine.billing.gateway import GatewayUnavailable, Payment, PaymentStatus
from engine.billing.results import (
    PurchaseResult,
)
from engine.billing.state import load_state, start_term
from engine.pricebook.model import CompiledPricebook, PackageRule
from rules import ReferralFacts, TopUpFacts
from storage import ledger
from storage.schema import (
    holdings,
    idempotency_keys,
    payments,
    perks,
    promo_uses,
    referrals,
)


class PurchaseOperations(BillingBase):
    """Buying credits through the payment gateway: packages, pay-as-you-go top-ups, bonus lots, referrals."""

    def purchase(
        self,
        clinic_id: str,
        package_or_amount: str | int,
        payment_method: str,
        key: str,
        promo_code: str | None = None,
        at: datetime | None = None,
    ) -> PurchaseResult:
        """Buy credits: a package code (its credits at the package rate, valid for its period) or a
        number of pay-as-you-go credits. The gateway is charged outside any database transaction,
        with a reference derived from the key, so a retry never pays twice; a paid top-up credits
        exactly once per payment id, with its bonus lots; a failed payment is recorded and changes
        nothing; a pending one credits when it settles (confirm_payment)."""
        when = self._at(at)
        key = support.check_key(key)
        request = {
            "clinic": clinic_id,
            "what": package_or_amount,
            "method": payment_method,
            "promo": (promo_code or "").strip().upper() or None,
        }
        digest = support.request_hash("purchase", request)

        def plan(conn: Connection) -> tuple[ledger.Claim, CompiledPricebook, PackageRule | None, int]:
            found = support.clinic(conn, clinic_id)
            current = self._current(conn, found.pricebook_id, when)
            package, credits = self._what(current, package_or_amount)
            claimed = ledger.claim(conn, clinic_id, key, "purchase", digest, when)
            return claimed, current, package, credits

        claimed, current, package, credits = self.db.run(plan)
        if claimed.replay:
            return PurchaseResult.model_validate({**claimed.outcome, "replayed": True})  # type: ignore[dict-item]
        money = credits * current.meta.money_per_credit
        try:
            payment = self.gateway.create_payment(f"{clinic_id}:{key}", money, current.meta.currency, payment_method)
        except GatewayUnavailable as exc:
            raise PaymentGatewayError(f"the payment provider is unavailable ({exc}); retry with the same key") from exc
        return self._settle(payment, clinic_id, key, package, credits, promo_code, when)

    @staticmethod
    def _what(current: CompiledPricebook, package_or_amount: str | int) -> tuple[PackageRule | None, int]:
        if isinstance(package_or_amount, str):
            code = package_or_amount.strip().upper()
            package = next((p for p in current.packages if p.package_code == code), None)
            if package is None:
                known = ", ".join(p.package_code for p in current.packages) or "none"
                raise UnknownPackage(f"{current.label} sells no package {code!r} (packages: {known})")
            credits = package.total_credits
            if credits != credits.to_integral_value():
                raise InvalidAmount(f"package {code} is worth a fractional number of credits ({credits})")
            return package, int(credits)
        if isinstance(package_or_amount, bool) or not isinstance(package_or_amount, int):
            raise InvalidAmount(f"buy a package code or a whole number of credits, not {package_or_amount!r}")
        if package_or_amount < current.meta.topup_min_credits:
            raise InvalidAmount(
                f"the smallest top-up is {current.format_credits(current.meta.topup_min_credits)}; "
                f"asked for {package_or_amount:,}"
            )
        return None, package_or_amount

    def confirm_payment(self, payment_id: str, at: datetime | None = None) -> PurchaseResult:
        """The provider's webhook (or a poll) for a pending payment: credits once, however often."""
        when = self._at(at)

        def find(conn: Connection) -> Any:
            return conn.execute(select(payments).where(payments.c.id == payment_id)).first()

        row = self.db.read(find)
        if row is None:
            raise UnknownCharge(f"no payment {payment_id!r}")
        payment = self.gateway.get_payment(payment_id)
        current_package = None
        if row.package_code:
            current_package = self.db.read(
                lambda conn: next(
                    p
                    for p in self.catalog.in_force(
                        conn, support.clinic(conn, row.clinic_id).pricebook_id, row.created_at
                    ).packages
                    if p.package_code == row.package_code
                )
            )
        return self._settle(
            payment, row.clinic_id, row.idempotency_key, current_package, int(row.credits), row.promo_code, when
        )

    def _settle(
        self,
        payment: Payment,
        clinic_id: str,
        key: str,
        package: PackageRule | None,
        credits: int,
        promo_code: str | None,
        at: datetime,
    ) -> PurchaseResult:
        def transaction(conn: Connection) -> PurchaseResult:
            found = support.clinic(conn, clinic_id)
            wallet = ledger.wallet(conn, clinic_id, lock=True)
            assert wallet is not None
            current = self._current(conn, found.pricebook_id, at)
            claimed = conn.execute(
                select(idempotency_keys).where(idempotency_keys.c.scope == clinic_id, idempotency_keys.c.key == key)
            ).first()
            stored = conn.execute(select(payments).where(payments.c.id == payment.id)).first()
            if stored is not None and (stored.clinic_id != clinic_id or stored.idempotency_key != key):
                raise PaymentGatewayError(
                    f"the provider returned payment {payment.id}, which already paid another purchase "
                    f"({stored.clinic_id}, key {stored.idempotency_key!r}); nothing was credited"
                )
            if (
                stored is not None
                and stored.status in ("credited", "failed")
                and claimed is not None
                and claimed.outcome
            ):
                return PurchaseResult.model_validate({**json.loads(claimed.outcome), "replayed": True})
            common = {
                "clinic_id": clinic_id,
                "payment_id": payment.id,
                "currency": current.meta.currency,
                "package_code": package.package_code if package else None,
                "paid_credits": credits,
                "money": payment.amount,
            }
            if stored is None:
                conn.execute(
                    insert(payments).values(
                        id=payment.id,
                        clinic_id=clinic_id,
                        amount=payment.amount,
                        currency=payment.currency,
                        credits=credits,
                        package_code=common["package_code"],
                        promo_code=promo_code,
                        idempotency_key=key,
                        status=payment.status.value,
                        failure=payment.failure,
                        created_at=at,
                    )
                )
            if payment.status is PaymentStatus.PENDING:
                return PurchaseResult(
                    status="pending",
                    balance=wallet.balance,
                    message="payment pending: credits arrive when it settles",
                    **common,
                )
            if payment.status is PaymentStatus.FAILED:
                conn.execute(
                    update(payments)
                    .where(payments.c.id == payment.id, payments.c.status != "credited")
                    .values(status="failed", failure=payment.failure, settled_at=at)
                )
                txn = ledger.insert_transaction(
                    conn,
                    clinic_id=clinic_id,
                    kind="topup",
                    status="failed",
                    credits=credits,
                    at=at,
                    payment_id=payment.id,
                    reason=payment.failure or "payment failed",
                )
                result = PurchaseResult(
                    status="failed",
                    balance=wallet.balance,
                    transaction_ids=(txn,),
                    message=f"payment failed: {payment.failure}; nothing was credited",
                    **common,
                )
                self._store(conn, clinic_id, key, result, txn)
                return result
            if not ledger.mark_payment_credited(conn, payment.id, at):  # another delivery credited it first
                again = conn.execute(
                    select(idempotency_keys.c.outcome).where(
                        idempotency_keys.c.scope == clinic_id, idempotency_keys.c.key == key
                    )
                ).scalar()
                return PurchaseResult.model_validate(
                    {**json.loads(again or "{}"), **common, "status": "credited", "replayed": True}
                )
            result = self._credit(conn, found, wallet, current, package, credits, promo_code, payment, at)
            self._store(conn, clinic_id, key, result, result.transaction_ids[0])
            return result

        return self.db.run(transaction)

    @staticmethod
    def _store(conn: Connection, clinic_id: str, key: str, result: PurchaseResult, transaction_id: int) -> None:
        conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.scope == clinic_id, idempotency_keys.c.key == key)
            .values(outcome=json.dumps(result.outcome(), sort_keys=True, default=str), transaction_id=transaction_id)
        )

    def _credit(
        self,
        conn: Connection,
        found: support.Clinic,
        wallet: ledger.Wallet,
        current: CompiledPricebook,
        package: PackageRule | None,
        credits: int,
        promo_code: str | None,
        payment: Payment,
        at: datetime,
    ) -> PurchaseResult:
        market = found.market
        txn = ledger.insert_transaction(
            conn,
            clinic_id=found.id,
            kind="topup",
            status="posted",
            credits=credits,
            at=at,
            payment_id=payment.id,
            pricebook_id=current.pricebook_id,
            pricebook_version=current.version,
            pricebook_hash=current.semantic_hash,
            note=f"package {package.package_code}" if package else "pay-as-you-go",
        )
        if package is not None:
            expires: datetime | None = at + timedelta(days=package.period_days)
            conn.execute(
                insert(holdings).values(
                    clinic_id=found.id,
                    product=package.product,
                    package_code=package.package_code,
                    starts_at=at,
                    ends_at=expires,
                    transaction_id=txn,
                )
            )
        else:
            days = current.meta.topup_validity_days
            expires = None if days is None else at + timedelta(days=days)
        state = load_state(conn, found.id, at)  # with the package just bought, for the remaining estimate
        if package is None:
            for product in current.products:  # the PAYG term starts with the first purchase (DOMAIN §3)
                start_term(conn, state, product.product, at, current)
        self._add_credits(
            conn, wallet, credits, "paid", "package" if package else "topup", at, expires, txn, ("cash", market)
        )
        ids = [txn]
        policy = self._policy(current)
        uses = self._promo_uses(conn, current.pricebook_id, found.id)
        totals = self._promo_uses(conn, current.pricebook_id, ALL_CLINICS)
        decision = policy.topup(
            TopUpFacts(
                clinic_id=found.id,
                paid_credits=credits,
                at=at,
                promo_code=promo_code,
                clinic_uses=uses,
                total_uses=totals,
            )
        )
        bonus_rules = []
        for bonus in decision.bonuses:
            promo = policy.promos[bonus.rule_id]
            if not self._count_use(conn, current.pricebook_id, bonus.rule_id, found.id, promo.max_total):
                continue  # the last one went to another clinic a moment ago: the ledger enforces the limit
            ids.append(
                self._grant(
                    conn,
                    found.id,
                    wallet.id,
                    market,
                    bonus.credits,
                    bonus.rule_id,
                    bonus.expires_at,
                    txn,
                    at,
                    current,
                    "bonus",
                )
            )
            bonus_rules.append(bonus.rule_id)
        for perk in decision.perks:
            conn.execute(
                insert(perks).values(
                    clinic_id=found.id,
                    perk=perk.perk,
                    rule_id=perk.rule_id,
                    starts_at=at,
                    until=perk.until,
                    transaction_id=txn,
                )
            )
        ids.extend(self._referral(conn, found, current, credits, at, txn))
        balance = ledger.balance_of(conn, wallet.id)
        bonus_credits = sum(b.credits for b in decision.bonuses if b.rule_id in bonus_rules)
        message = f"credited {current.format_credits(credits)}"
        if bonus_credits:
            message += f" and a bonus of {current.format_credits(bonus_credits)}"
        notes = "; ".join(decision.notes)
        return PurchaseResult(
            status="credited",
            clinic_id=found.id,
            payment_id=payment.id,
            package_code=package.package_code if package else None,
            paid_credits=credits,
            money=payment.amount,
            currency=current.meta.currency,
            bonus_credits=bonus_credits,
            bonus_rule_ids=tuple(bonus_rules),
            perks=tuple(p.perk for p in decision.perks),
            balance=balance,
            transaction_ids=tuple(ids),
            remaining=self._remaining(state, current, balance, at),
            message=message + (f" ({notes})" if notes else ""),
        )

    def _add_credits(
        self,
        conn: Connection,
        wallet: ledger.Wallet,
        credits: int,
        kind: str,
        source: str,
        at: datetime,
        expires: datetime | None,
        txn: int,
        counter: tuple[str, str],
    ) -> int:
        """New credits into a lot (repaying any overdraft first) with their double-entry legs."""
        debt = ledger.debt(conn, wallet.id)
        ledger.credit_wallet(conn, wallet.id, credits)
        lot = ledger.add_lot(conn, wallet.id, kind, source, credits, at, expires, txn, debt)
        system = ledger.system_account(conn, *counter)
        ledger.post_legs(conn, txn, [(wallet.id, credits), (system, -credits)])
        return lot

    def _grant(
        self,
        conn: Connection,
        clinic_id: str,
        wallet_id: int,
        market: str,
        credits: int,
        rule_id: str,
        expires: datetime | None,
        related: int | None,
        at: datetime,
        current: CompiledPricebook,
        kind: str,
    ) -> int:
        txn = ledger.insert_transaction(
            conn,
            clinic_id=clinic_id,
            kind=kind,
            status="posted",
            credits=credits,
            at=at,
            related_id=related,
            rule_ids=[rule_id],
            pricebook_id=current.pricebook_id,
            pricebook_version=current.version,
            pricebook_hash=current.semantic_hash,
        )
        wallet = ledger.wallet(conn, clinic_id)
        assert wallet is not None and wallet.id == wallet_id
        self._add_credits(conn, wallet, credits, "granted", kind, at, expires, txn, ("promotion_expense", market))
        return txn

    @staticmethod
    def _promo_uses(conn: Connection, pricebook_id: str, clinic_id: str) -> dict[str, int]:
        return {
            row.rule_id: int(row.uses)
            for row in conn.execute(
                select(promo_uses).where(promo_uses.c.pricebook_id == pricebook_id, promo_uses.c.clinic_id == clinic_id)
            )
        }

    @staticmethod
    def _count_use(conn: Connection, pricebook_id: str, rule_id: str, clinic_id: str, max_total: int | None) -> bool:
        """Count one more use of a promotion; False (nothing counted) when the total limit is reached."""
        for who, limit in ((ALL_CLINICS, max_total), (clinic_id, None)):
            key = {"pricebook_id": pricebook_id, "rule_id": rule_id, "clinic_id": who}
            exists = conn.execute(select(promo_uses.c.uses).where(*(promo_uses.c[k] == v for k, v in key.items())))
            if exists.first() is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(promo_uses).values(**key, uses=0))
                except IntegrityError:  # created concurrently: fine, it is updated below
                    pass
            guard = [promo_uses.c[k] == v for k, v in key.items()]
            if limit is not None:
                guard.append(promo_uses.c.uses < limit)
            if conn.execute(update(promo_uses).where(*guard).values(uses=promo_uses.c.uses + 1)).rowcount != 1:
                return False
        return True

    def _referral(
        self, conn: Connection, found: support.Clinic, current: CompiledPricebook, paid: int, at: datetime, topup: int
    ) -> list[int]:
        if found.referred_by is None:
            return []
        first = (
            conn.execute(
                select(func.count())
                .select_from(payments)
                .where(payments.c.clinic_id == found.id, payments.c.status == "credited")
            ).scalar_one()
            == 1
        )
        rewarded = conn.execute(
            select(referrals).where(referrals.c.referrer_id == found.referred_by, referrals.c.referred_id == found.id)
        ).first()
        referrer_rewards = conn.execute(
            select(func.count())
            .select_from(referrals)
            .where(referrals.c.referrer_id == found.referred_by, referrals.c.rewarded_id.is_not(None))
        ).scalar_one()
        decision = self._policy(current).referral(
            ReferralFacts(
                referrer_id=found.referred_by,
                referred_id=found.id,
                paid_credits=paid,
                at=at,
                first_paid_topup=first,
                already_rewarded=rewarded is not None and rewarded.rewarded_id is not None,
                referrer_rewards=int(referrer_rewards),
            )
        )
        if not decision.rewarded:
            return []
        ids = []
        referrer_wallet = ledger.wallet(conn, found.referred_by, lock=True)
        own_wallet = ledger.wallet(conn, found.id)
        assert referrer_wallet is not None and own_wallet is not None
        for bonus in decision.bonuses:
            wallet_id = referrer_wallet.id if bonus.clinic_id == found.referred_by else own_wallet.id
            ids.append(
                self._grant(
                    conn,
                    bonus.clinic_id,
                    wallet_id,
                    found.market,
                    bonus.credits,
                    bonus.rule_id,
                    bonus.expires_at,
                    topup,
                    at,
                    current,
                    "referral",
                )
            )
        if rewarded is None:
            conn.execute(
                insert(referrals).values(
                    referrer_id=found.referred_by, referred_id=found.id, rewarded_id=ids[0], rewarded_at=at
                )
            )
        else:
            conn.execute(
                update(referrals)
                .where(
                    referrals.c.referrer_id == found.referred_by,
                    referrals.c.referred_id == found.id,
                    referrals.c.rewarded_id.is_(None),
                )
                .values(rewarded_id=ids[0], rewarded_at=at)
            )
        return ids
