"""Auto top-up: "clients don't need to worry too much about how many credits they have left".

A clinic opts in with a saved payment method (Stripe: a customer and its payment method, charged
off-session), a threshold, and either

- a **fixed** amount, bought in as many multiples as bring the balance back to the threshold, at
  most `cap` credits per auto top-up; or
- a **target** balance: exactly the gap, at least the pricebook's minimum top-up (rounded up to a
  whole minor unit of the currency), at most `cap` when one is set.

It is triggered by the Billing facade after a charge's transaction has committed — never inside it —
when the balance the charge left is below the threshold. Starting one is a compare-and-set on the
clinic's setting (storage/autotopups.py), so at most one auto top-up is in flight per clinic however
many charges cross the threshold at once; the attempt is recorded, the provider called and the
payment settled exactly like a purchase (engine/billing/settlement.py), and settling it clears the
marker. A failure is recorded on the attempt and on the setting, pauses auto top-up until the clinic
saves its settings again (a declined card is not retried on every charge), and is returned as an
alert of the charge that triggered it.

Bonus promotions do not apply to auto top-ups: the pricebook has no way yet to say that one does.

Which clinics have auto top-up is cached per process for `CACHE_SECONDS`, so a charge of a clinic
without it costs no extra database read; a setting saved in another process is seen within that time.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from engine.billing import purchases, settlement, topups
from engine.billing import state as clinic_state
from engine.billing.context import Context, Done, Keyed
from engine.billing.errors import AutoTopUpRefused, PaymentGatewayError
from engine.billing.payments.amounts import credits_step, payable_credits
from engine.billing.results import AutoTopUpView, ChargeResult, PurchaseResult
from engine.bounds import CODE_MAX, OPERATION_CREDITS_MAX, REFERENCE_MAX, check_credits, check_optional_text, check_text
from engine.errors import InvalidInput
from engine.pricebook.model import CompiledPricebook
from engine.vocabulary import AutoTopUpMode, PaymentOrigin
from storage import autotopups, payments
from storage.autotopups import AutoTopUp, Choice
from storage.database import Connection, Database
from storage.payments import Attempt, NewAttempt

CACHE_SECONDS: Final = 5.0


class _Enabled:
    """The clinics with auto top-up on, per database, read at most every CACHE_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clinics: weakref.WeakKeyDictionary[Database, tuple[float, frozenset[str]]] = weakref.WeakKeyDictionary()

    def has(self, ctx: Context, clinic_id: str) -> bool:
        with self._lock:
            cached = self._clinics.get(ctx.db)
        if cached is None or time.monotonic() - cached[0] > CACHE_SECONDS:
            cached = (time.monotonic(), frozenset(ctx.db.read(autotopups.enabled_clinics)))
            with self._lock:
                self._clinics[ctx.db] = cached
        return clinic_id in cached[1]

    def forget(self, ctx: Context) -> None:
        with self._lock:
            self._clinics.pop(ctx.db, None)


ENABLED = _Enabled()


def configure(
    ctx: Context,
    clinic_id: str,
    setting: Mapping[str, object],
    key: str,
    at: datetime,
) -> AutoTopUpView:
    """Save a clinic's auto top-up setting (refused when it cannot work; see AutoTopUpRefused)."""

    def work(conn: Connection, at: datetime) -> Done:
        found = clinic_state.load(conn, clinic_id, at)
        current = clinic_state.current(ctx.catalog, conn, found, at)
        gateway = ctx.gateway.for_currency(current.meta.currency)
        if setting["enabled"] and not gateway.supports_saved_methods:
            raise AutoTopUpRefused(
                f"auto top-up needs a provider that charges a saved payment method with no payer present; "
                f"{current.meta.currency} is taken by {gateway.provider}, which creditbook does not charge off-session"
            )
        choice = _choice(clinic_id, setting, current, at)
        autotopups.save(conn, choice)
        saved = autotopups.settings(conn, clinic_id)
        assert saved is not None
        return Done(view(saved, current), None)

    try:
        result = ctx.idempotent(Keyed(clinic_id, key, "auto_topup", dict(setting)), work, AutoTopUpView, at)
    except InvalidInput as error:
        raise AutoTopUpRefused(str(error), field=error.field) from None
    ENABLED.forget(ctx)
    return result


def _choice(clinic_id: str, setting: Mapping[str, object], current: CompiledPricebook, at: datetime) -> Choice:
    meta = current.meta
    method = check_text("method", setting["method"], CODE_MAX)
    customer = check_optional_text("customer", setting["customer"], REFERENCE_MAX)
    threshold = check_credits("threshold", setting["threshold"], minimum=0)
    amount, target, cap = setting["amount"], setting["target"], setting["cap"]
    if (amount is None) == (target is None):
        raise AutoTopUpRefused("give either a fixed amount or a target balance", field="amount")
    if cap is not None:
        cap = check_credits("cap", cap)
    step = credits_step(meta.money_per_credit, meta.currency)
    if amount is not None:
        amount = check_credits("amount", amount, minimum=meta.topup_min_credits)
        below, above = payable_credits(amount, meta.money_per_credit, meta.currency)
        if amount != above:
            raise AutoTopUpRefused(
                f"amount: {amount:,} credits is not a whole amount to pay; use {below:,} or {above:,}"
            )
        cap = amount if cap is None else cap
        if cap < amount:
            raise AutoTopUpRefused(f"cap: {cap:,} credits is below one top-up of {amount:,}", field="cap")
        return Choice(
            clinic_id, bool(setting["enabled"]), method, customer, threshold, AutoTopUpMode.FIXED, amount, cap, at
        )
    target = check_credits("target", target, minimum=1)
    if target <= threshold:
        raise AutoTopUpRefused("target: the target balance must be above the threshold", field="target")
    if cap is not None and cap < max(meta.topup_min_credits, step):
        raise AutoTopUpRefused(f"cap: at least the minimum top-up of {meta.topup_min_credits:,} credits", field="cap")
    return Choice(
        clinic_id, bool(setting["enabled"]), method, customer, threshold, AutoTopUpMode.TARGET, target, cap, at
    )


def view(saved: AutoTopUp, current: CompiledPricebook) -> AutoTopUpView:
    return AutoTopUpView(
        clinic_id=saved.clinic_id,
        enabled=saved.enabled,
        method=saved.method,
        threshold=saved.threshold,
        mode=saved.mode,
        amount=saved.amount,
        cap=saved.cap,
        in_flight=saved.in_flight,
        paused=saved.paused,
        last_failure=saved.last_failure,
        last_failure_at=saved.last_failure_at,
        currency=current.meta.currency,
        money_per_credit=current.meta.money_per_credit,
    )


def setting_of(ctx: Context, clinic_id: str, at: datetime) -> AutoTopUpView | None:
    def read(conn: Connection) -> AutoTopUpView | None:
        saved = autotopups.settings(conn, clinic_id)
        if saved is None:
            return None
        found = clinic_state.load(conn, clinic_id, at)
        return view(saved, clinic_state.current(ctx.catalog, conn, found, at))

    return ctx.db.read(read)


def credits_to_buy(saved: AutoTopUp, balance: int, current: CompiledPricebook) -> int:
    """What one auto top-up buys now (see the module docstring)."""
    meta = current.meta
    if saved.mode == AutoTopUpMode.FIXED:
        multiples = max(1, math.ceil((saved.threshold - balance) / saved.amount))
        if saved.cap is not None:
            multiples = max(1, min(multiples, saved.cap // saved.amount))
        return min(multiples * saved.amount, OPERATION_CREDITS_MAX - OPERATION_CREDITS_MAX % saved.amount)
    gap = max(saved.amount - balance, meta.topup_min_credits)
    credits = payable_credits(min(gap, OPERATION_CREDITS_MAX), meta.money_per_credit, meta.currency)[1]
    if saved.cap is not None and credits > saved.cap:
        credits = max(payable_credits(saved.cap, meta.money_per_credit, meta.currency)[0], meta.topup_min_credits)
    return credits


def after_charge(ctx: Context, charged: ChargeResult, at: datetime) -> ChargeResult:
    """Start the clinic's auto top-up when the charge (committed) left its balance below the
    threshold; the charge's result carries what became of it, and its failure as an alert."""
    if charged.replayed or not ENABLED.has(ctx, charged.clinic_id):
        return charged
    attempt = ctx.db.run(lambda conn: _start(ctx, conn, charged.clinic_id, at))
    if attempt is None:
        return charged
    try:
        bought = settlement.pay(ctx, attempt, at)
    except PaymentGatewayError as exc:
        alert = f"auto top-up of {attempt.credits:,} credits is in flight: {exc.message}"
        return charged.model_copy(update={"alerts": (*charged.alerts, alert)})
    return charged.model_copy(update={"auto_topup": bought, "alerts": (*charged.alerts, *_alerts(bought))})


def _alerts(bought: PurchaseResult) -> tuple[str, ...]:
    if bought.status == "failed":
        return (f"auto top-up failed — {bought.message}; auto top-up is paused until its settings are saved again",)
    if bought.status == "pending":
        return (f"auto top-up of {bought.paid_credits:,} credits is pending at the payment provider",)
    return ()


def _start(ctx: Context, conn: Connection, clinic_id: str, at: datetime) -> Attempt | None:
    """Claim and record the clinic's next auto top-up, if its balance is below the threshold and
    none is in flight (one transaction, under the wallet lock; the provider is called after it)."""
    found = clinic_state.load(conn, clinic_id, at, lock=True)
    saved = autotopups.settings(conn, clinic_id)
    if saved is None or not saved.enabled or saved.paused or saved.in_flight or found.wallet.balance >= saved.threshold:
        return None
    current = clinic_state.current(ctx.catalog, conn, found, at)
    credits = credits_to_buy(saved, found.wallet.balance, current)

    provider = ctx.gateway.for_currency(current.meta.currency).provider

    def reference_of(sequence: int) -> str:
        return purchases.new_reference(conn, provider, PaymentOrigin.AUTO_TOPUP, clinic_id, str(sequence))

    sequence = autotopups.start(conn, clinic_id, reference_of)
    if sequence is None:
        return None
    terms = topups.paid_terms(current, credits, None, round_up=True)
    reference = reference_of(sequence)
    payments.insert_attempt(
        conn,
        NewAttempt(
            reference=reference,
            clinic_id=clinic_id,
            origin=PaymentOrigin.AUTO_TOPUP,
            idempotency_key=None,
            provider=provider,
            method=saved.method,
            customer=saved.customer,
            credits=terms.credits,
            amount=terms.amount,
            currency=terms.currency,
            package_code=None,
            promo_code=None,
            promotion=terms.promotion(),
            created_at=at,
        ),
    )
    return payments.attempt(conn, reference)


__all__ = ["CACHE_SECONDS", "after_charge", "configure", "credits_to_buy", "setting_of"]
