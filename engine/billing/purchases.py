"""Buying credits through the payment gateway: packages, pay-as-you-go top-ups, bonus lots, referrals.

A purchase claims its idempotency key, calls the gateway outside any database transaction with a
reference derived from the key (so a retry never pays twice), then settles: a paid top-up is
credited exactly once per payment id through the ledger's door (a paid lot, with its bonus lots and
the referral reward), a failed payment is recorded and changes nothing, a pending one is credited
when it settles (`confirm_payment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.billing import state as clinic_state
from engine.billing import wallet
from engine.billing.context import Context, Keyed, check_key
from engine.billing.errors import InvalidAmount, PaymentGatewayError, UnknownCharge, UnknownClinic, UnknownPackage
from engine.billing.gateway import GatewayUnavailable, Payment, PaymentStatus
from engine.billing.results import PurchaseResult
from engine.pricebook.model import CompiledPricebook, PackageRule
from engine.vocabulary import (
    AccountKind,
    LotKind,
    LotSource,
    Recipient,
    TransactionKind,
    TransactionStatus,
)
from engine.vocabulary import PaymentStatus as StoredStatus
from rules import PolicyEngine, ReferralFacts, TopUpFacts, normalise_code
from storage import accounts, clinics, idempotency, payments, promotions, transfers
from storage.accounts import Wallet
from storage.clinics import Clinic, Holding
from storage.database import Connection
from storage.lots import NewLot
from storage.payments import PaymentRow


@dataclass(frozen=True)
class PurchaseRequest:
    clinic_id: str
    package_or_amount: str | int
    payment_method: str
    key: str
    promo_code: str | None = None

    def keyed(self) -> Keyed:
        request = {
            "clinic": self.clinic_id,
            "what": self.package_or_amount,
            "method": self.payment_method,
            "promo": normalise_code(self.promo_code),
        }
        return Keyed(self.clinic_id, self.key, "purchase", request)


@dataclass(frozen=True)
class Order:
    """What a purchase buys, settled against one payment."""

    clinic_id: str
    key: str
    package: PackageRule | None
    credits: int
    promo_code: str | None


def purchase(ctx: Context, asked: PurchaseRequest, at: datetime) -> PurchaseResult:
    """Buy credits: a package code (its credits at the package rate, valid for its period) or a
    number of pay-as-you-go credits (see the module docstring)."""
    check_key(asked.key)
    keyed = asked.keyed()

    def plan(conn: Connection) -> tuple[idempotency.Claim, CompiledPricebook, Order]:
        found = clinics.clinic(conn, asked.clinic_id)
        if found is None:
            raise UnknownClinic(f"no clinic {asked.clinic_id!r}", clinic_id=asked.clinic_id)
        current = ctx.catalog.in_force(conn, found.pricebook_id, at)
        package, credits = what_is_bought(current, asked.package_or_amount)
        claimed = idempotency.claim(conn, keyed.scope, keyed.key, keyed.operation, keyed.digest(), at)
        return claimed, current, Order(asked.clinic_id, asked.key, package, credits, asked.promo_code)

    claimed, current, order = ctx.db.run(plan)
    if claimed.replay:
        return PurchaseResult.model_validate({**(claimed.outcome or {}), "replayed": True})
    money = order.credits * current.meta.money_per_credit
    try:
        paid = ctx.gateway.create_payment(
            f"{asked.clinic_id}:{asked.key}", money, current.meta.currency, asked.payment_method
        )
    except GatewayUnavailable as exc:
        raise PaymentGatewayError(f"the payment provider is unavailable ({exc}); retry with the same key") from exc
    return settle(ctx, paid, order, at)


def what_is_bought(current: CompiledPricebook, package_or_amount: str | int) -> tuple[PackageRule | None, int]:
    """A package code's package and credits, or a number of pay-as-you-go credits (at least the
    pricebook's minimum top-up)."""
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


def confirm_payment(ctx: Context, payment_id: str, at: datetime) -> PurchaseResult:
    """The provider's webhook (or a poll) for a pending payment: credits once, however often."""
    row = ctx.db.read(lambda conn: payments.payment(conn, payment_id))
    if row is None:
        raise UnknownCharge(f"no payment {payment_id!r}")
    paid = ctx.gateway.get_payment(payment_id)
    package = None
    if row.package_code:

        def find(conn: Connection) -> PackageRule:
            found = clinics.clinic(conn, row.clinic_id)
            assert found is not None
            sold = ctx.catalog.in_force(conn, found.pricebook_id, row.created_at).packages
            return next(p for p in sold if p.package_code == row.package_code)

        package = ctx.db.read(find)
    order = Order(row.clinic_id, row.idempotency_key, package, int(row.credits), row.promo_code)
    return settle(ctx, paid, order, at)


def settle(ctx: Context, paid: Payment, order: Order, at: datetime) -> PurchaseResult:
    """Record what the provider answered and credit a paid payment exactly once."""

    def transaction(conn: Connection) -> PurchaseResult:
        found = clinic_state.load(conn, order.clinic_id, at, lock=True)
        posted_at = clinic_state.clinic_time(found, at)
        current = clinic_state.current(ctx.catalog, conn, found, at)
        stored = payments.payment(conn, paid.id)
        if stored is not None and (stored.clinic_id != order.clinic_id or stored.idempotency_key != order.key):
            raise PaymentGatewayError(
                f"the provider returned payment {paid.id}, which already paid another purchase "
                f"({stored.clinic_id}, key {stored.idempotency_key!r}); nothing was credited"
            )
        before = idempotency.stored_outcome(conn, order.clinic_id, order.key)
        if stored is not None and stored.status in (StoredStatus.CREDITED, StoredStatus.FAILED) and before:
            return PurchaseResult.model_validate({**before, "replayed": True})
        if stored is None:
            payments.insert_payment(conn, _payment_row(paid, order, at))
        common = _common(paid, order, current)
        if paid.status is PaymentStatus.PENDING:
            return PurchaseResult(
                status="pending",
                balance=found.wallet.balance,
                message="payment pending: credits arrive when it settles",
                **common,
            )
        if paid.status is PaymentStatus.FAILED:
            return _failed(conn, found.wallet, paid, order, at, common)
        if not payments.mark_credited(conn, paid.id, posted_at):  # another delivery credited it first
            again = idempotency.stored_outcome(conn, order.clinic_id, order.key) or {}
            return PurchaseResult.model_validate({**again, **common, "status": "credited", "replayed": True})
        result = credit(conn, found, current, order, paid, posted_at)
        idempotency.store_outcome_by_key(conn, order.clinic_id, order.key, result.outcome(), result.transaction_ids[0])
        return result

    return ctx.db.run(transaction)


def _payment_row(paid: Payment, order: Order, at: datetime) -> PaymentRow:
    return PaymentRow(
        id=paid.id,
        clinic_id=order.clinic_id,
        amount=paid.amount,
        currency=paid.currency,
        credits=order.credits,
        package_code=order.package.package_code if order.package else None,
        promo_code=order.promo_code,
        idempotency_key=order.key,
        status=paid.status.value,
        failure=paid.failure,
        created_at=at,
        settled_at=None,
    )


def _common(paid: Payment, order: Order, current: CompiledPricebook) -> dict[str, object]:
    return {
        "clinic_id": order.clinic_id,
        "payment_id": paid.id,
        "currency": current.meta.currency,
        "package_code": order.package.package_code if order.package else None,
        "paid_credits": order.credits,
        "money": paid.amount,
    }


def _failed(
    conn: Connection, held: Wallet, paid: Payment, order: Order, at: datetime, common: dict[str, object]
) -> PurchaseResult:
    """A failed payment is recorded (a failed top-up transaction) and changes no balance."""
    payments.mark_failed(conn, paid.id, paid.failure, at)
    failed = transfers.Transfer(
        kind=TransactionKind.TOPUP,
        wallet=held,
        credits=order.credits,
        counter=AccountKind.CASH,
        effect=transfers.Fund(NewLot(LotKind.PAID, LotSource.TOPUP, None)),
        at=at,
        details=transfers.Details(payment_id=paid.id, reason=paid.failure or "payment failed"),
    )
    transaction_id = transfers.record(conn, failed, TransactionStatus.FAILED)
    result = PurchaseResult(
        status="failed",
        balance=held.balance,
        transaction_ids=(transaction_id,),
        message=f"payment failed: {paid.failure}; nothing was credited",
        **common,  # type: ignore[arg-type]
    )
    idempotency.store_outcome_by_key(conn, order.clinic_id, order.key, result.outcome(), transaction_id)
    return result


def credit(
    conn: Connection,
    found: clinic_state.ClinicState,
    current: CompiledPricebook,
    order: Order,
    paid: Payment,
    at: datetime,
) -> PurchaseResult:
    """Credit a paid order: its paid lot, the package it holds or the pay-as-you-go term it starts,
    then the bonuses, perks and referral reward the pricebook's promotions give."""
    clinic, package = found.clinic, order.package
    if package is not None:
        expires: datetime | None = at + timedelta(days=package.period_days)
        shape = NewLot(LotKind.PAID, LotSource.PACKAGE, expires)
    else:
        days = current.meta.topup_validity_days
        expires = None if days is None else at + timedelta(days=days)
        shape = NewLot(LotKind.PAID, LotSource.TOPUP, expires)
    topup = transfers.post(
        conn,
        transfers.Transfer(
            kind=TransactionKind.TOPUP,
            wallet=found.wallet,
            credits=order.credits,
            counter=AccountKind.CASH,
            effect=transfers.Fund(shape),
            at=at,
            stamp=transfers.Stamp(current.pricebook_id, current.version, current.semantic_hash),
            details=transfers.Details(
                payment_id=paid.id, note=f"package {package.package_code}" if package else "pay-as-you-go"
            ),
        ),
    )
    assert isinstance(topup, transfers.Posted)
    if package is not None:
        assert expires is not None
        clinics.add_holding(
            conn, Holding(clinic.id, package.product, package.package_code, at, expires, topup.transaction_id)
        )
        found = clinic_state.load(conn, clinic.id, at)  # with the package just bought, for the estimate
    else:
        for product in current.products:  # the PAYG term starts with the first purchase
            clinic_state.start_term(conn, found, product.product, at, current)
    ids = [topup.transaction_id]
    bonuses, perks, notes = _promotions(conn, found, current, order, topup.transaction_id, at)
    ids.extend(transaction_id for transaction_id, _ in bonuses)
    ids.extend(_referral(conn, clinic, current, order.credits, at, topup.transaction_id))
    balance = accounts.balance_of(conn, found.wallet.id)
    bonus_credits = sum(credits for _, (_, credits) in bonuses)
    message = f"credited {current.format_credits(order.credits)}"
    if bonus_credits:
        message += f" and a bonus of {current.format_credits(bonus_credits)}"
    return PurchaseResult(
        status="credited",
        clinic_id=clinic.id,
        payment_id=paid.id,
        package_code=package.package_code if package else None,
        paid_credits=order.credits,
        money=paid.amount,
        currency=current.meta.currency,
        bonus_credits=bonus_credits,
        bonus_rule_ids=tuple(rule_id for _, (rule_id, _) in bonuses),
        perks=perks,
        balance=balance,
        transaction_ids=tuple(ids),
        remaining=wallet.remaining(found, current, balance, at),
        message=message + (f" ({'; '.join(notes)})" if notes else ""),
    )


def _promotions(
    conn: Connection,
    found: clinic_state.ClinicState,
    current: CompiledPricebook,
    order: Order,
    topup_id: int,
    at: datetime,
) -> tuple[list[tuple[int, tuple[str, int]]], tuple[str, ...], tuple[str, ...]]:
    """The bonuses (transaction, (rule, credits)), perks and notes of a settled top-up."""
    clinic = found.clinic
    policy = PolicyEngine.of(current)
    decision = policy.topup(
        TopUpFacts(
            clinic_id=clinic.id,
            paid_credits=order.credits,
            at=at,
            promo_code=order.promo_code,
            clinic_uses=promotions.uses(conn, current.pricebook_id, clinic.id),
            total_uses=promotions.uses(conn, current.pricebook_id),
        )
    )
    bonuses = []
    for bonus in decision.bonuses:
        promo = policy.promos[bonus.rule_id]
        if not promotions.count_use(conn, current.pricebook_id, bonus.rule_id, clinic.id, promo.max_total):
            continue  # the last one went to another clinic a moment ago: the ledger enforces the limit
        grant = Grant(TransactionKind.BONUS, bonus.rule_id, bonus.credits, bonus.expires_at, topup_id)
        bonuses.append((grant_credits(conn, found.wallet, grant, current, at), (bonus.rule_id, bonus.credits)))
    for perk in decision.perks:
        promotions.grant_perk(conn, promotions.PerkGrant(clinic.id, perk.perk, perk.rule_id, at, perk.until, topup_id))
    return bonuses, tuple(p.perk for p in decision.perks), decision.notes


@dataclass(frozen=True)
class Grant:
    """Granted credits (no cash value): a promotion's bonus or a referral reward."""

    kind: TransactionKind
    rule_id: str
    credits: int
    expires_at: datetime | None
    related_id: int  # the top-up that earned it


def grant_credits(conn: Connection, held: Wallet, grant: Grant, current: CompiledPricebook, at: datetime) -> int:
    """A granted lot through the ledger's door, paid for by the promotion expense account."""
    source = LotSource.BONUS if grant.kind is TransactionKind.BONUS else LotSource.REFERRAL
    posted = transfers.post(
        conn,
        transfers.Transfer(
            kind=grant.kind,
            wallet=held,
            credits=grant.credits,
            counter=AccountKind.PROMOTION_EXPENSE,
            effect=transfers.Fund(NewLot(LotKind.GRANTED, source, grant.expires_at)),
            at=at,
            stamp=transfers.Stamp(current.pricebook_id, current.version, current.semantic_hash, (grant.rule_id,)),
            details=transfers.Details(related_id=grant.related_id),
        ),
    )
    assert isinstance(posted, transfers.Posted)
    return posted.transaction_id


def _referral(
    conn: Connection, clinic: Clinic, current: CompiledPricebook, paid: int, at: datetime, topup_id: int
) -> list[int]:
    """Reward a referral on the referred clinic's first paid top-up: both clinics (as the pricebook
    says) get their granted credits, once per pair."""
    if clinic.referred_by is None:
        return []
    decision = PolicyEngine.of(current).referral(
        ReferralFacts(
            referrer_id=clinic.referred_by,
            referred_id=clinic.id,
            paid_credits=paid,
            at=at,
            first_paid_topup=payments.credited_count(conn, clinic.id) == 1,
            already_rewarded=promotions.referral(conn, clinic.referred_by, clinic.id).rewarded,
            referrer_rewards=promotions.referrer_rewards(conn, clinic.referred_by),
        )
    )
    if not decision.rewarded:
        return []
    referrer = accounts.wallet(conn, clinic.referred_by, lock=True)
    own = accounts.wallet(conn, clinic.id)
    assert referrer is not None and own is not None
    ids = []
    for bonus in decision.bonuses:
        held = referrer if bonus.beneficiary is Recipient.REFERRER else own
        grant = Grant(TransactionKind.REFERRAL, bonus.rule_id, bonus.credits, bonus.expires_at, topup_id)
        when = max(at, held.last_at or at)  # the other clinic's time only moves forward too
        ids.append(grant_credits(conn, held, grant, current, when))
    promotions.reward_referral(conn, clinic.referred_by, clinic.id, ids[0], at)
    return ids
