"""Buying credits: a package or pay-as-you-go credits, paid through the currency's payment provider.

A purchase never loses money, because it happens in three steps with a record before each risk:

1. **Record.** One database transaction, under the clinic's wallet lock: claim the idempotency key,
   work out the top-up's terms exactly as the preview does (engine/billing/topups.py: the package or
   credits, the money in whole minor units, the promotions), refuse — before any money moves — a
   promo code that does not apply or an amount that cannot be paid, reserve the promised bonuses'
   uses, and insert the payment attempt (reference, clinic, credits, money, package, promo,
   status `created`). It commits before the provider hears of it.
2. **Ask.** The provider is called outside any database transaction, with the attempt's reference
   (derived from the clinic and the key), so a retry — or a process that died after the provider
   took the money — finds the same payment instead of paying twice.
3. **Settle** (engine/billing/settlement.py): credited exactly once, failed, or pending on the
   payer; from this call, a webhook or the sweeper, whichever comes first.

A retry with the same key replays a settled outcome, and resumes an attempt in flight: it asks the
provider again by reference and settles. `confirm_payment` and `confirm_checkout` settle a pending
payment when the payer's browser reports back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from engine.billing import settlement, topups
from engine.billing import state as clinic_state
from engine.billing.context import Context, Keyed, check_key
from engine.billing.errors import InvalidAmount, PaymentGatewayError, PromoCodeRefused, UnknownCharge
from engine.billing.payments.protocol import GatewayUnavailable, payment_reference
from engine.billing.results import PurchaseResult
from engine.bounds import BALANCE_MAX
from engine.vocabulary import PaymentOrigin, PaymentProvider
from rules import PolicyEngine, normalise_code
from storage import idempotency, payments, promotions
from storage.database import Connection
from storage.payments import Attempt, NewAttempt


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


def purchase(ctx: Context, asked: PurchaseRequest, at: datetime) -> PurchaseResult:
    """Buy credits: a package code or a number of pay-as-you-go credits (see the module docstring)."""
    check_key(asked.key)  # every other argument was checked by the facade (engine/billing/arguments.py)
    keyed = asked.keyed()

    def record(conn: Connection) -> tuple[idempotency.Claim, Attempt | None]:
        found = clinic_state.load(conn, asked.clinic_id, at, lock=True)  # one clinic's promo limits hold
        claimed = idempotency.claim(conn, keyed.scope, keyed.key, keyed.operation, keyed.digest(), at)
        if claimed.replay:
            return claimed, None
        existing = payments.for_key(conn, asked.clinic_id, asked.key)
        if existing is not None:  # an attempt in flight under this key: resume it
            return claimed, existing
        current = clinic_state.current(ctx.catalog, conn, found, at)
        uses = topups.Uses.read(conn, current.pricebook_id, asked.clinic_id)
        terms = topups.plan(
            current, asked.clinic_id, asked.package_or_amount, asked.promo_code, at, uses, round_up=False
        )
        if terms.refusal is not None:
            raise PromoCodeRefused(
                f"{terms.reason}; nothing was charged", refusal=terms.refusal.value, promo_code=terms.promo_code
            )
        if found.wallet.balance + terms.credits + terms.bonus_credits > BALANCE_MAX:
            raise InvalidAmount(f"the wallet would hold more than {BALANCE_MAX:,} credits; nothing was charged")
        reserve(conn, terms, asked.clinic_id)
        provider = ctx.gateway.for_currency(terms.currency).provider
        reference = new_reference(conn, provider, PaymentOrigin.PURCHASE, asked.clinic_id, asked.key)
        payments.insert_attempt(
            conn,
            NewAttempt(
                reference=reference,
                clinic_id=asked.clinic_id,
                origin=PaymentOrigin.PURCHASE,
                idempotency_key=asked.key,
                provider=provider,
                method=asked.payment_method,
                customer=None,
                credits=terms.credits,
                amount=terms.amount,
                currency=terms.currency,
                package_code=terms.package.package_code if terms.package else None,
                promo_code=terms.promo_code,
                promotion=terms.promotion(),
                created_at=at,
            ),
        )
        return claimed, payments.attempt(conn, reference)

    claimed, attempt = ctx.db.run(record)
    if attempt is None:
        return PurchaseResult.model_validate({**(claimed.outcome or {}), "replayed": True})
    return settlement.pay(ctx, attempt, at)


def new_reference(conn: Connection, provider: str, origin: PaymentOrigin, clinic_id: str, key: str) -> str:
    """The reference of a new payment attempt (engine/billing/payments/protocol.py). A real
    provider's references hash in this ledger's namespace, so that ledgers sharing a provider
    account never collide; the fake's do not (it is in-memory, and a demo ledger seeded twice from
    one seed stays the same ledger, row for row)."""
    namespace = "" if provider == PaymentProvider.FAKE else payments.namespace(conn)
    return payment_reference(namespace, origin, clinic_id, key)


def reserve(conn: Connection, terms: topups.TopUpPlan, clinic_id: str) -> None:
    """Count the uses of the promotions a top-up was promised, now, so that the last use of a
    limited promotion goes to one payer; a promo code whose last use went a moment ago is refused."""
    policy = PolicyEngine.of(terms.pricebook)
    for bonus in terms.bonuses:
        promo = policy.promos[bonus.rule_id]
        if not promotions.count_use(conn, terms.pricebook.pricebook_id, bonus.rule_id, clinic_id, promo.max_total):
            raise PromoCodeRefused(
                f"the last use of {bonus.rule_id} was given a moment ago; nothing was charged (preview again)",
                refusal="used_up",
                promo_code=terms.promo_code,
            )


def confirm_payment(ctx: Context, payment_id: str, at: datetime) -> PurchaseResult:
    """The payer's browser (or a poll) reports a pending payment: read it back from the provider
    and settle it; credits once, however often. `payment_id` is the provider's id or our reference."""
    found = ctx.db.read(lambda conn: payments.find(conn, payment_id))
    if found is None:
        raise UnknownCharge(f"no payment {payment_id!r}")
    return settlement.pay(ctx, found, at)


def confirm_checkout(ctx: Context, provider: str, fields: Mapping[str, str], at: datetime) -> PurchaseResult:
    """A Checkout callback (Razorpay: order id, payment id and signature): the signature is verified
    with the provider's key before anything is read back and settled."""
    gateway = ctx.gateway.for_provider(provider)
    payment_id = gateway.verify_checkout(fields)
    found = ctx.db.read(lambda conn: payments.by_provider_id(conn, gateway.provider, payment_id))
    if found is None:
        try:
            reported = gateway.get_payment(payment_id)
        except GatewayUnavailable as exc:
            raise PaymentGatewayError(f"the payment provider did not answer ({exc}); retry") from exc
        found = ctx.db.read(lambda conn: payments.attempt(conn, reported.reference))
    if found is None:
        raise UnknownCharge(f"no payment attempt for {payment_id!r}")
    return settlement.pay(ctx, found, at)
