"""Settling payment attempts: whatever reports a payment, it is credited exactly once.

A payment attempt (storage/payments.py) is recorded and committed before its provider is called;
then `pay` asks the provider — outside any database transaction — and `settle` records the answer
in one transaction under the clinic's wallet lock:

- paid: the attempt is marked credited (compare-and-set) and credited through the ledger's door:
  the paid lot, the package it holds or the pay-as-you-go term it starts, the bonuses and perks
  its plan promised (their uses were reserved when it was recorded), and the referral reward of a
  first paid top-up. A payment the provider reports paid is credited even after the attempt was
  given up on (a late Checkout payment): money is never taken without credits.
- failed: the attempt is marked failed, its reserved promotion uses are given back, a failed
  top-up transaction is recorded, and no balance changes.
- pending: the provider's payment id and the payer's next step (3-D Secure, Checkout) are kept.

The purchase call, a webhook (engine/billing/webhooks.py) and the sweeper
(engine/billing/sweeper.py) all end here, as often and in whatever order they come: the compare-
and-set decides which of them credits, the others replay the stored outcome. The provider's
answer is believed only when it matches the attempt (its reference, amount and currency);
otherwise nothing is credited, the mismatch is noted on the attempt for review, and
PaymentGatewayError is raised.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.billing import notices, wallet
from engine.billing import state as clinic_state
from engine.billing.context import Context
from engine.billing.errors import PaymentGatewayError
from engine.billing.payments.amounts import to_minor
from engine.billing.payments.protocol import (
    GatewayUnavailable,
    Payment,
    PaymentGateway,
    PaymentRequest,
    PaymentStatus,
)
from engine.billing.results import NextActionView, PurchaseResult
from engine.billing.topups import PlannedBonus, promised
from engine.pricebook.model import CompiledPricebook
from engine.vocabulary import (
    AccountKind,
    EventKind,
    LotKind,
    LotSource,
    PaymentOrigin,
    Recipient,
    TransactionKind,
    TransactionStatus,
)
from engine.vocabulary import PaymentStatus as Stored
from rules import PolicyEngine, ReferralFacts
from storage import accounts, autotopups, clinics, idempotency, payments, promotions, transfers
from storage.accounts import Wallet
from storage.clinics import Clinic, Holding
from storage.database import Connection, LostRace
from storage.lots import NewLot
from storage.payments import Attempt

#: past this age an attempt whose provider id was never recorded is not sent to the provider again
#: (Stripe keeps an idempotency key for 24 hours): the payment is looked up by its reference instead
RESUME_WINDOW = timedelta(hours=23)


def request_of(attempt: Attempt) -> PaymentRequest:
    minor = to_minor(attempt.amount, attempt.currency)
    if minor is None:  # recorded payable since engine/billing/topups.py; an attempt migrated from before may not be
        raise PaymentGatewayError(f"payment {attempt.reference} of {attempt.amount} {attempt.currency} is not payable")
    return PaymentRequest(
        reference=attempt.reference,
        clinic_id=attempt.clinic_id,
        amount_minor=minor,
        currency=attempt.currency,
        method=attempt.method,
        customer=attempt.customer,
        off_session=attempt.origin == PaymentOrigin.AUTO_TOPUP,
        description=f"creditbook: {attempt.credits:,} credits for {attempt.clinic_id}",
    )


def unreached(attempt: Attempt) -> Payment:
    """What to settle an attempt on when its provider has no payment for its reference."""
    request = request_of(attempt)
    return Payment(
        None,
        attempt.reference,
        request.amount_minor,
        request.currency,
        PaymentStatus.FAILED,
        "the payment never reached the provider",
    )


def ask(gateway: PaymentGateway, attempt: Attempt, at: datetime) -> Payment:
    """The provider's answer for an attempt: read back when its payment id is known, else created
    (idempotent by reference) — or, past the provider's idempotency window, looked up instead."""
    if attempt.provider_id is not None:
        return gateway.get_payment(attempt.provider_id)
    if at - attempt.created_at > RESUME_WINDOW:
        return gateway.find_payment(attempt.reference) or unreached(attempt)
    return gateway.create_payment(request_of(attempt))


def pay(ctx: Context, attempt: Attempt, at: datetime) -> PurchaseResult:
    """Ask the provider about a recorded attempt (outside any transaction), then settle it."""
    try:
        payment = ask(ctx.gateway.for_provider(attempt.provider), attempt, at)
    except GatewayUnavailable as exc:
        raise PaymentGatewayError(
            f"the payment provider did not answer ({exc}); payment {attempt.reference} is recorded and will be "
            "settled by a retry with the same key, the provider's webhook or the sweeper",
            reference=attempt.reference,
        ) from exc
    return settle(ctx, attempt, payment, at)


@dataclass(frozen=True)
class _Mismatch:
    problem: str


def settle(ctx: Context, recorded: Attempt, payment: Payment, at: datetime) -> PurchaseResult:
    """Record the provider's answer for one attempt (see the module docstring); `recorded` is the
    attempt as read before the provider was asked (it is read again under the wallet lock)."""
    reference, clinic_id = recorded.reference, recorded.clinic_id

    def transaction(conn: Connection) -> PurchaseResult | _Mismatch:
        found = clinic_state.load(conn, clinic_id, at, lock=True)
        posted_at = clinic_state.clinic_time(found, at)  # a clinic's time only moves forward
        attempt = payments.attempt(conn, reference, lock=True)
        if attempt is None:
            raise PaymentGatewayError(f"no payment attempt {reference!r}", reference=reference)
        problem = _mismatch(attempt, payment)
        if problem is not None:
            return _Mismatch(problem)
        current = clinic_state.current(ctx.catalog, conn, found, at)
        if attempt.status == Stored.CREDITED:
            return _replay(conn, attempt, found.wallet.balance, current)
        if payment.status is PaymentStatus.SUCCEEDED:
            return _credit(conn, found, current, attempt, payment, posted_at)
        if attempt.status == Stored.FAILED:
            return _replay(conn, attempt, found.wallet.balance, current)
        if payment.status is PaymentStatus.FAILED:
            return _fail(conn, found.wallet, current, attempt, payment, posted_at)
        action = asdict(payment.next_action) if payment.next_action else None
        held = payments.record_answer(conn, reference, payment.id, action, at)
        return _result(
            attempt,
            current,
            "pending",
            found.wallet.balance,
            message=PENDING_MESSAGE,
            payment_id=held,
            next_action=action,
        )

    outcome = ctx.db.run(transaction)
    if isinstance(outcome, _Mismatch):
        ctx.db.run(lambda conn: payments.note_failure(conn, reference, outcome.problem, at))
        raise PaymentGatewayError(f"{outcome.problem}; nothing was credited (kept for review)", reference=reference)
    return outcome


def _mismatch(attempt: Attempt, payment: Payment) -> str | None:
    """Why the provider's answer cannot be this attempt's payment, if it cannot."""
    minor = to_minor(attempt.amount, attempt.currency)
    if payment.reference != attempt.reference:
        return f"the provider answered for reference {payment.reference}, not {attempt.reference}"
    if attempt.provider_id is not None and payment.id is not None and payment.id != attempt.provider_id:
        return f"the provider answered with payment {payment.id}, but the attempt holds {attempt.provider_id}"
    if (payment.amount_minor, payment.currency.upper()) != (minor, attempt.currency.upper()):
        return (
            f"the provider reports {payment.amount_minor} minor units of {payment.currency} for {attempt.reference}, "
            f"which was recorded as {minor} of {attempt.currency}"
        )
    return None


def _result(
    attempt: Attempt,
    current: CompiledPricebook,
    status: str,
    balance: int,
    *,
    message: str,
    payment_id: str | None = None,
    next_action: dict[str, Any] | None = None,
    **figures: Any,
) -> PurchaseResult:
    """A purchase result for an attempt; `figures` are what crediting gave (bonuses, perks, ids) and
    whether it is `replayed`."""
    return PurchaseResult(
        status=status,
        clinic_id=attempt.clinic_id,
        payment_id=payment_id or attempt.provider_id,
        package_code=attempt.package_code,
        paid_credits=attempt.credits,
        money=attempt.amount,
        currency=current.meta.currency,
        balance=balance,
        reference=attempt.reference,
        provider=attempt.provider,
        next_action=NextActionView(**next_action) if next_action else None,
        message=message,
        **figures,
    )


PENDING_MESSAGE = "payment pending: credits arrive when it settles"


def _failed_message(failure: str | None) -> str:
    return f"payment failed: {failure or 'no reason given'}; nothing was credited"


def _replay(conn: Connection, attempt: Attempt, balance: int, current: CompiledPricebook) -> PurchaseResult:
    """An attempt already settled: the outcome stored with its purchase key, replayed."""
    if attempt.idempotency_key is not None:
        stored = idempotency.stored_outcome(conn, attempt.clinic_id, attempt.idempotency_key)
        if stored:
            return PurchaseResult.model_validate({**stored, "replayed": True})
    if attempt.status == Stored.CREDITED:
        return _result(attempt, current, "credited", balance, message="credited earlier", replayed=True)
    return _result(attempt, current, "failed", balance, message=_failed_message(attempt.failure), replayed=True)


def _fail(
    conn: Connection, held: Wallet, current: CompiledPricebook, attempt: Attempt, payment: Payment, at: datetime
) -> PurchaseResult:
    """A failed payment is recorded (a failed top-up transaction), gives back the promotion uses
    it reserved, and changes no balance."""
    failure = payment.failure or "payment failed"
    if payment.id is not None:
        payments.record_answer(conn, attempt.reference, payment.id, None, at)
    if not payments.mark_failed(conn, attempt.reference, failure, at):
        raise LostRace(f"payment attempt {attempt.reference} was settled by another transaction")
    bonuses, _ = promised(attempt.promotion)
    for bonus in bonuses:
        promotions.release_use(conn, attempt.promotion["pricebook_id"], bonus.rule_id, attempt.clinic_id)
    failed = transfers.Transfer(
        kind=TransactionKind.TOPUP,
        wallet=held,
        credits=attempt.credits,
        counter=AccountKind.CASH,
        effect=transfers.Fund(NewLot(LotKind.PAID, LotSource.TOPUP, None)),
        at=at,
        details=transfers.Details(payment_id=attempt.reference, reason=failure[:2000]),
    )
    transaction_id = transfers.record(conn, failed, TransactionStatus.FAILED)
    result = _result(
        attempt,
        current,
        "failed",
        held.balance,
        message=_failed_message(failure),
        payment_id=payment.id,
        transaction_ids=(transaction_id,),
    )
    if attempt.idempotency_key is not None:
        idempotency.store_outcome_by_key(
            conn, attempt.clinic_id, attempt.idempotency_key, result.outcome(), transaction_id
        )
    auto = attempt.origin == PaymentOrigin.AUTO_TOPUP
    if auto:
        autotopups.finish(conn, attempt.clinic_id, attempt.reference, failure, at)
    what = "auto top-up" if auto else "top-up"
    told = f"Your {what} of {current.format_credits(attempt.credits)} failed: {failure}. Nothing was charged"
    told += "; auto top-up is paused until its settings are saved again." if auto else "."
    kind = EventKind.AUTO_TOPUP_FAILED if auto else EventKind.TOPUP_FAILED
    notices.tell(conn, kind, attempt.clinic_id, _settled(attempt, current, result, f"{what} failed", told), at)
    return result


def _credit(
    conn: Connection,
    found: clinic_state.ClinicState,
    current: CompiledPricebook,
    attempt: Attempt,
    payment: Payment,
    at: datetime,
) -> PurchaseResult:
    """Credit a paid attempt once: its paid lot, the package it holds or the pay-as-you-go term it
    starts, then the bonuses and perks it was promised and the referral reward."""
    clinic = found.clinic
    package = None
    if attempt.package_code is not None:
        package = next(p for p in current.packages if p.package_code == attempt.package_code)
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
            credits=attempt.credits,
            counter=AccountKind.CASH,
            effect=transfers.Fund(shape),
            at=at,
            stamp=transfers.Stamp(current.pricebook_id, current.version, current.semantic_hash),
            details=transfers.Details(
                payment_id=attempt.reference,
                note=f"package {package.package_code}" if package else "pay-as-you-go",
            ),
        ),
    )
    assert isinstance(topup, transfers.Posted)
    late = attempt.status == Stored.FAILED  # given up on, then paid: its promotion uses were given back
    if not payments.mark_credited(conn, attempt.reference, topup.transaction_id, at):
        raise LostRace(f"payment attempt {attempt.reference} was credited by another transaction")
    if payment.id is not None and attempt.provider_id is None:
        payments.record_answer(conn, attempt.reference, payment.id, None, at)
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
    bonuses, perks = promised(attempt.promotion)
    granted: list[PlannedBonus] = []
    for bonus in bonuses:
        if late and not _reserve(conn, attempt, bonus, current):
            continue  # the last use went to someone else while this payment was given up on
        grant = Grant(
            TransactionKind.BONUS, bonus.rule_id, bonus.credits, _after(at, bonus.seconds), topup.transaction_id
        )
        ids.append(grant_credits(conn, found.wallet, grant, current, at))
        granted.append(bonus)
    for perk in perks:
        until = at + timedelta(seconds=perk.seconds)
        promotions.grant_perk(
            conn, promotions.PerkGrant(clinic.id, perk.perk, perk.rule_id, at, until, topup.transaction_id)
        )
    ids.extend(_referral(conn, clinic, current, attempt.credits, at, topup.transaction_id))
    balance = accounts.balance_of(conn, found.wallet.id)
    bonus_credits = sum(bonus.credits for bonus in granted)
    message = f"credited {current.format_credits(attempt.credits)}"
    if bonus_credits:
        message += f" and a bonus of {current.format_credits(bonus_credits)}"
    result = _result(
        attempt,
        current,
        "credited",
        balance,
        payment_id=payment.id or attempt.provider_id,
        bonus_credits=bonus_credits,
        bonus_rule_ids=tuple(bonus.rule_id for bonus in granted),
        perks=tuple(perk.perk for perk in perks),
        transaction_ids=tuple(ids),
        remaining=wallet.remaining(found, current, balance, at),
        message=message,
    )
    if attempt.idempotency_key is not None:
        idempotency.store_outcome_by_key(
            conn, attempt.clinic_id, attempt.idempotency_key, result.outcome(), topup.transaction_id
        )
    if attempt.origin == PaymentOrigin.AUTO_TOPUP:
        autotopups.finish(conn, attempt.clinic_id, attempt.reference, None, at)
    settled = _settled(attempt, current, result, "top-up credited", f"{message.capitalize()}.")
    notices.tell(conn, EventKind.TOPUP_SETTLED, attempt.clinic_id, settled, at)
    notices.balance_changed(conn, found, current, balance, at)  # a low balance that no longer holds re-arms
    return result


def _settled(
    attempt: Attempt, current: CompiledPricebook, result: PurchaseResult, subject: str, message: str
) -> dict[str, Any]:
    """The payload of a settled payment's outbox event."""
    return {
        "subject": f"{attempt.clinic_id}: {subject}",
        "message": message,
        "reference": attempt.reference,
        "origin": attempt.origin,
        "paid_credits": attempt.credits,
        "bonus_credits": result.bonus_credits,
        "money": attempt.amount,
        "currency": current.meta.currency,
        "money_per_credit": current.meta.money_per_credit,
        "balance": result.balance,
    }


def _after(at: datetime, seconds: int | None) -> datetime | None:
    return None if seconds is None else at + timedelta(seconds=seconds)


def _reserve(conn: Connection, attempt: Attempt, bonus: PlannedBonus, current: CompiledPricebook) -> bool:
    """Count one more use of a promotion for this attempt (its total limit enforced by the ledger)."""
    promo = PolicyEngine.of(current).promos.get(bonus.rule_id)
    limit = promo.max_total if promo is not None else None
    return promotions.count_use(conn, attempt.promotion["pricebook_id"], bonus.rule_id, attempt.clinic_id, limit)


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
