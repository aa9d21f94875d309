"""creditbook's vocabulary, declared once.

Every fixed word the system knows (products and their units, plans, number types, promotion kinds,
dispute reasons, rounding modes, and the ledger's own kinds and statuses) is a string enum here. The
workbook schema builds its dropdown lists from these, the request and compiled models type their
fields with them, the rules decide on them and the ledger stores their values; nothing else spells
them as string literals. Members are `str`, so they compare equal to the text a workbook or a
database row holds and serialise as that text (a pricebook's canonical JSON, and so its semantic
hash, is unchanged by using them).

This module is a leaf: it imports nothing of creditbook, so every layer can use it.
"""

from __future__ import annotations

from enum import StrEnum

# -- what is sold ---------------------------------------------------------------------------------


class Product(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    LEAD_CHAT = "lead_chat"
    LEAD_CALL = "lead_call"

    @property
    def unit(self) -> Unit:
        return PRODUCT_UNITS[self]

    @property
    def is_lead(self) -> bool:
        return self in LEAD_CHANNEL_OF_PRODUCT

    @property
    def is_messaging(self) -> bool:
        return self in (Product.SMS, Product.VOICE)


class Unit(StrEnum):
    SEGMENT = "segment"
    MINUTE = "minute"
    LEAD = "lead"


class PricingMode(StrEnum):
    """How a product's usage is priced (the Products sheet's `pricing`)."""

    GRADUATED = "graduated"
    VOLUME = "volume"
    PACKAGE = "package"
    LEAD_TABLE = "lead_table"


TIER_MODES: tuple[PricingMode, ...] = (PricingMode.GRADUATED, PricingMode.VOLUME, PricingMode.PACKAGE)


class Channel(StrEnum):
    CHAT = "chat"
    CALL = "call"


# Keyed by Product members; a StrEnum member hashes as its text, so a product name read from a row or
# a request (a plain str) finds the same entry.
PRODUCT_UNITS: dict[str, Unit] = {
    Product.SMS: Unit.SEGMENT,
    Product.VOICE: Unit.MINUTE,
    Product.LEAD_CHAT: Unit.LEAD,
    Product.LEAD_CALL: Unit.LEAD,
}
LEAD_CHANNEL_OF_PRODUCT: dict[str, Channel] = {Product.LEAD_CHAT: Channel.CHAT, Product.LEAD_CALL: Channel.CALL}


class Plan(StrEnum):
    """The one plan that is not a package code: pay-as-you-go. A clinic's plan is PAYG or the
    package codes it holds (codes come from the workbook, so they are not members here)."""

    PAYG = "PAYG"


class NumberType(StrEnum):
    """The number a message or call is sent from (sender type / caller ID)."""

    LONG_CODE = "long_code"
    TOLL_FREE = "toll_free"
    SHORT_CODE = "short_code"
    LOCAL = "local"


SMS_NUMBER_TYPES: tuple[NumberType, ...] = (NumberType.LONG_CODE, NumberType.TOLL_FREE, NumberType.SHORT_CODE)
VOICE_NUMBER_TYPES: tuple[NumberType, ...] = (NumberType.LOCAL, NumberType.TOLL_FREE)


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class TimeWindow(StrEnum):
    BUSINESS_HOURS = "business_hours"
    AFTER_HOURS = "after_hours"


class CallOutcome(StrEnum):
    """How a call ended (docs/telecom.md §6): only completed calls and voicemail drops bill."""

    COMPLETED = "completed"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    NO_ANSWER_ALT = "no_answer"
    FAILED = "failed"
    CANCELED = "canceled"
    CANCELLED = "cancelled"


BILLED_CALL_OUTCOMES: frozenset[CallOutcome] = frozenset({CallOutcome.COMPLETED, CallOutcome.VOICEMAIL})


class Market(StrEnum):
    US = "US"
    IN = "IN"


class Segment(StrEnum):
    """A clinic's customer segment; decides its overdraft limit."""

    STANDARD = "standard"
    PREFERRED = "preferred"


class Rounding(StrEnum):
    """How a charge line is rounded to whole credits (docs/domain.md §1). The workbook offers the first
    four; ceiling and floor exist for callers that need them."""

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    UP = "up"
    DOWN = "down"
    CEILING = "ceiling"
    FLOOR = "floor"


WORKBOOK_ROUNDINGS: tuple[Rounding, ...] = (Rounding.HALF_UP, Rounding.HALF_EVEN, Rounding.UP, Rounding.DOWN)

# -- promotions and policies ----------------------------------------------------------------------


class PromoType(StrEnum):
    FIXED_BONUS = "fixed_bonus"
    PCT_BONUS = "pct_bonus"
    REFERRAL = "referral"


class Beneficiary(StrEnum):
    """Who a promotion's bonus goes to, as the workbook states it."""

    PAYER = "payer"
    REFERRER = "referrer"
    BOTH = "both"


class Recipient(StrEnum):
    """Who one granted bonus went to (a referral's `both` becomes two bonuses)."""

    PAYER = "payer"
    REFERRER = "referrer"
    REFERRED = "referred"


class AppliesTo(StrEnum):
    """Which plans a bundle discount applies to."""

    PAYG = "payg"
    PACKAGES = "packages"
    BOTH = "both"


class DisputeReason(StrEnum):
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    NOT_REACHABLE = "not_reachable"
    MISTAKENLY_CHARGED = "mistakenly_charged"


class DisputeMode(StrEnum):
    """How the workbook says a dispute reason is decided."""

    REVIEW = "review"
    AUTO_APPROVE_DUPLICATE = "auto_approve_duplicate"


class DisputeOutcome(StrEnum):
    """What the dispute policy decided when the dispute was opened."""

    AUTO_APPROVED = "auto_approved"
    ADMIN_REVIEW = "admin_review"
    REJECTED = "rejected"


class DisputeStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


class AlertKind(StrEnum):
    LOW_BALANCE_CREDITS = "low_balance_credits"
    LOW_BALANCE_RUNWAY_DAYS = "low_balance_runway_days"
    EXPIRING_CREDITS_DAYS = "expiring_credits_days"


# -- the ledger -----------------------------------------------------------------------------------


class TransactionKind(StrEnum):
    TOPUP = "topup"
    BONUS = "bonus"
    REFERRAL = "referral"
    CHARGE = "charge"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    EXPIRY = "expiry"


GRANT_KINDS: frozenset[TransactionKind] = frozenset({TransactionKind.BONUS, TransactionKind.REFERRAL})


class TransactionStatus(StrEnum):
    POSTED = "posted"
    DECLINED = "declined"
    FAILED = "failed"


class AccountKind(StrEnum):
    WALLET = "wallet"
    CASH = "cash"
    USAGE_REVENUE = "usage_revenue"
    PROMOTION_EXPENSE = "promotion_expense"
    EXPIRED = "expired"
    ADJUSTMENTS = "adjustments"


SYSTEM_ACCOUNTS: tuple[AccountKind, ...] = tuple(kind for kind in AccountKind if kind is not AccountKind.WALLET)


class LotKind(StrEnum):
    """Paid credits were bought; granted credits were given (bonus, referral, adjustment)."""

    PAID = "paid"
    GRANTED = "granted"


class LotSource(StrEnum):
    TOPUP = "topup"
    PACKAGE = "package"
    BONUS = "bonus"
    REFERRAL = "referral"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class AllocationKind(StrEnum):
    """What an allocation did to a lot: positive amounts take from it, negative put back."""

    CHARGE = "charge"
    REPAY = "repay"
    EXPIRE = "expire"
    REFUND = "refund"
    ADJUST = "adjust"


class EventKind(StrEnum):
    """What creditbook tells a clinic or the company about (docs/domain.md §13)."""

    LOW_BALANCE = "low_balance"  # the balance crossed below the alert threshold (once per crossing)
    CREDITS_EXPIRING = "credits_expiring"  # credits start to expire within the alert window
    TOPUP_SETTLED = "topup_settled"
    TOPUP_FAILED = "topup_failed"
    AUTO_TOPUP_FAILED = "auto_topup_failed"
    DISPUTE_DECIDED = "dispute_decided"
    VERSION_PUBLISHED = "version_published"


class NotifyChannel(StrEnum):
    """How a notification reaches people."""

    WEBHOOK = "webhook"
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # every attempt failed: kept for a person to look at and replay


class PaymentStatus(StrEnum):
    """A payment attempt as the ledger records it (storage/payments.py). `created` and `pending` are
    in flight: recorded before the provider was called, and not settled yet."""

    CREATED = "created"  # recorded; the provider has not answered yet
    PENDING = "pending"  # the provider answered: waiting for the payer (3-D Secure, Checkout) or the bank
    CREDITED = "credited"  # settled paid: credited exactly once
    FAILED = "failed"  # settled unpaid: declined, cancelled, abandoned; changed no balance


IN_FLIGHT_PAYMENTS: tuple[PaymentStatus, ...] = (PaymentStatus.CREATED, PaymentStatus.PENDING)


class PaymentProvider(StrEnum):
    """Who takes the money: one gateway per currency by configuration (DOMAIN §11)."""

    FAKE = "fake"
    STRIPE = "stripe"
    RAZORPAY = "razorpay"


class PaymentOrigin(StrEnum):
    """Why a payment attempt exists."""

    PURCHASE = "purchase"  # a clinic bought credits (Billing.purchase)
    AUTO_TOPUP = "auto_topup"  # a charge left the balance below the clinic's auto top-up threshold


class WebhookStatus(StrEnum):
    """What became of a provider's webhook (the inbox, storage/payments.py)."""

    RECEIVED = "received"  # verified and recorded; not processed yet (or the process died)
    SETTLED = "settled"  # its payment attempt was read back and settled (or already was)
    UNKNOWN = "unknown"  # no attempt of ours has its reference: kept for review, never dropped
    IGNORED = "ignored"  # an event type that settles nothing


class PromoRefusal(StrEnum):
    """Why a promo code does not apply to a top-up (the preview says so; a purchase is refused)."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    USED_UP = "used_up"
    NOT_APPLICABLE = "not_applicable"


class AutoTopUpMode(StrEnum):
    """How an auto top-up decides what to buy (DOMAIN §11)."""

    FIXED = "fixed"  # as many multiples of a fixed amount as bring the balance to the threshold, capped
    TARGET = "target"  # exactly the gap to a target balance, at least the minimum top-up


__all__ = [
    "BILLED_CALL_OUTCOMES",
    "GRANT_KINDS",
    "IN_FLIGHT_PAYMENTS",
    "LEAD_CHANNEL_OF_PRODUCT",
    "PRODUCT_UNITS",
    "SMS_NUMBER_TYPES",
    "SYSTEM_ACCOUNTS",
    "TIER_MODES",
    "VOICE_NUMBER_TYPES",
    "WORKBOOK_ROUNDINGS",
    "AccountKind",
    "AlertKind",
    "AllocationKind",
    "AppliesTo",
    "AutoTopUpMode",
    "Beneficiary",
    "CallOutcome",
    "Channel",
    "DeliveryStatus",
    "Direction",
    "DisputeMode",
    "DisputeOutcome",
    "DisputeReason",
    "DisputeStatus",
    "EventKind",
    "LotKind",
    "LotSource",
    "Market",
    "NotifyChannel",
    "NumberType",
    "PaymentOrigin",
    "PaymentProvider",
    "PaymentStatus",
    "Plan",
    "PricingMode",
    "Product",
    "PromoRefusal",
    "PromoType",
    "Recipient",
    "Rounding",
    "Segment",
    "TimeWindow",
    "TransactionKind",
    "TransactionStatus",
    "Unit",
    "WebhookStatus",
]
