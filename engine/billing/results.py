"""What billing operations return. Every amount is credits (int) with its money value beside it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)

    def outcome(self) -> dict[str, Any]:
        """The JSON stored with the idempotency key and replayed to a retried request."""
        return self.model_dump(mode="json")


class Remaining(_Result):
    sms_segments: int | None = None
    voice_minutes: int | None = None


class ClinicResult(_Result):
    clinic_id: str
    market: str
    pricebook_id: str
    segment: str
    overdraft_limit: int
    replayed: bool = False


class NextActionView(_Result):
    """The step the payer's browser must take to finish a pending payment: Stripe 3-D Secure
    (`client_secret` for Stripe.js handleNextAction) or Razorpay Checkout (`order_id`, `key_id`)."""

    kind: str
    client_secret: str | None = None
    redirect_url: str | None = None
    order_id: str | None = None
    key_id: str | None = None


class PurchaseResult(_Result):
    status: Literal["credited", "failed", "pending"]
    clinic_id: str
    payment_id: str | None = None
    package_code: str | None = None
    paid_credits: int = 0
    money: Decimal = Decimal(0)
    currency: str = ""
    bonus_credits: int = 0
    bonus_rule_ids: tuple[str, ...] = ()
    perks: tuple[str, ...] = ()
    balance: int = 0
    transaction_ids: tuple[int, ...] = ()
    remaining: Remaining | None = None
    message: str = ""
    replayed: bool = False
    reference: str | None = None  # creditbook's reference of the payment attempt
    provider: str | None = None  # fake | stripe | razorpay
    next_action: NextActionView | None = None  # set while pending on the payer (3-D Secure, Checkout)


class ChargeResult(_Result):
    approved: bool
    clinic_id: str
    transaction_id: int
    product: str
    units: int
    credits: int
    money: Decimal
    currency: str
    balance: int
    rule_ids: tuple[str, ...] = ()
    pricebook: str = ""
    summary: str = ""
    decline_reason: str | None = None
    alerts: tuple[str, ...] = ()
    remaining: Remaining | None = None
    warnings: tuple[str, ...] = ()
    replayed: bool = False
    auto_topup: PurchaseResult | None = None  # the auto top-up this charge started, if any (not replayed)


class DisputeResult(_Result):
    dispute_id: int
    clinic_id: str
    charge_id: int
    status: Literal["open", "approved", "rejected"]
    decision: str
    reason: str
    refund_id: int | None = None
    refunded_credits: int = 0
    balance: int | None = None
    replayed: bool = False


class RefundResult(_Result):
    clinic_id: str
    charge_id: int
    refund_id: int
    credits: int
    balance: int
    replayed: bool = False


class AdjustmentResult(_Result):
    clinic_id: str
    transaction_id: int
    credits: int
    balance: int
    replayed: bool = False


class ExpiryResult(_Result):
    lots: int
    credits: int
    wallets: int
    transaction_ids: tuple[int, ...] = ()
    alerts: int = 0  # events written: alerts that started to hold with the expiry or with time alone


class BalanceView(_Result):
    """The clinic dashboard's header (lead billing note) and the practice note's balance check."""

    clinic_id: str
    currency: str
    money_per_credit: Decimal
    balance: int
    overdraft_limit: int
    used_this_month: int
    refunds_granted_this_month: int
    expiring_soon: int
    expiring_within_days: int
    leads_this_month: int
    lead_credits_this_month: int
    sms_segments_this_month: int
    voice_minutes_this_month: int
    month_starts: datetime
    alerts: tuple[str, ...] = ()
    remaining: Remaining | None = None


class TransactionView(_Result):
    id: int
    at: datetime
    kind: str
    status: str
    credits: int
    signed_credits: int  # what it did to the wallet
    product: str | None = None
    units: int | None = None
    rule_ids: tuple[str, ...] = ()
    pricebook: str | None = None
    reason: str | None = None
    note: str | None = None
    actor: str | None = None
    related_id: int | None = None
    dispute_id: int | None = None
    dispute_status: str | None = None
    disputable: bool = False
    refunded: int = 0


class TransactionPage(_Result):
    """One page of a clinic's history, newest first. `next_cursor` continues after its last row
    (stable while new rows arrive); `total` is counted on the first page only (None after)."""

    clinic_id: str
    total: int | None
    page: int
    page_size: int
    rows: tuple[TransactionView, ...]
    next_cursor: str | None = None


class DisputeView(_Result):
    id: int
    clinic_id: str
    charge_id: int
    reason: str
    status: str
    decision: str | None
    decision_reason: str | None
    opened_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    note: str | None
    credits: int
    product: str | None


class RevenueRow(_Result):
    period: str
    topup_money: Decimal
    paid_credits: int
    bonus_credits: int
    expired_credits: int
    charged_credits: int
    refunded_credits: int


class RevenueReport(_Result):
    market: str
    currency: str
    money_per_credit: Decimal
    rows: tuple[RevenueRow, ...]
    outstanding_credits: int  # what wallets hold: the liability
    overdrawn_credits: int  # what preferred clinics owe
    open_disputes: int


class PublishResult(_Result):
    pricebook_id: str
    version: int
    semantic_hash: str
    effective_from: datetime
    published_at: datetime
    replayed: bool = False


class TopUpQuote(_Result):
    """What a top-up will cost and earn, before any money moves (Billing.quote_topup).

    `amount` is whole minor units of the currency (`amount_minor` of them); when the credits asked
    for were not (100,001 US credits are $10.0001), `paid_credits` is rounded up to the next payable
    amount and `rounded_up_from` says from what. A promo code that does not apply leaves the price
    standing and says why in `promo_refusal` (unknown, expired, not_yet_valid, used_up,
    not_applicable) and `promo_reason`; a purchase with that code is refused."""

    clinic_id: str
    currency: str
    money_per_credit: Decimal
    package_code: str | None = None
    paid_credits: int
    rounded_up_from: int | None = None
    amount: Decimal
    amount_minor: int
    bonus_credits: int = 0
    bonus_rule_ids: tuple[str, ...] = ()
    perks: tuple[str, ...] = ()
    promo_code: str | None = None
    promo_applies: bool = False
    promo_refusal: str | None = None
    promo_reason: str | None = None
    provider: str
    notes: tuple[str, ...] = ()
    message: str = ""


class InFlightView(_Result):
    reference: str
    clinic_id: str
    status: str
    provider: str
    credits: int
    amount: Decimal
    currency: str
    age_seconds: int


class SweptAttempt(_Result):
    """One attempt a sweep settled (or left pending), with what it was worth."""

    reference: str
    clinic_id: str
    settled_as: Literal["credited", "failed", "pending"]
    credits: int
    money: Decimal
    currency: str
    shown: str  # "1,000,000 credits ($100.00)"


class SweepResult(_Result):
    """What one sweep of the payment attempts in flight did."""

    examined: int = 0
    attempts: tuple[SweptAttempt, ...] = ()
    credited: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # "reference: why" for attempts the provider could not be asked about


class WebhookResult(_Result):
    """What a verified webhook did: `status` settled, unknown (recorded for review), ignored, or
    duplicate (the same event again: nothing new happened)."""

    provider: str
    event_id: str
    status: Literal["settled", "unknown", "ignored", "duplicate", "received"]
    reference: str | None = None
    purchase: PurchaseResult | None = None


class AutoTopUpView(_Result):
    """A clinic's auto top-up setting and its state."""

    clinic_id: str
    enabled: bool
    method: str
    threshold: int
    mode: Literal["fixed", "target"]
    amount: int  # fixed: credits per multiple; target: the balance to reach
    cap: int | None = None
    in_flight: str | None = None
    paused: bool = False
    last_failure: str | None = None
    last_failure_at: datetime | None = None
    currency: str = ""
    money_per_credit: Decimal = Decimal(1)
    replayed: bool = False
