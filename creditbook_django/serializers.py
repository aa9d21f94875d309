"""What goes over the wire: request bodies checked at the boundary, and results as a clinic should
see them.

Every amount is an `Amount`: whole `credits` (an integer), their `money` value as a decimal string
(never a float), the `currency`, and `display`, the amount as a person reads it in that market
("908,964 credits ($90.8964)", "12,34,567 credits (₹12,34,567)"). Customer-facing results leave out
what is internal to the ledger (rule ids, actors, pricebook ids, hashes); the engine's results are
read attribute by attribute, never handed to DRF whole (a pydantic model would render as pairs, its
Decimals as floats).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engine.bounds import CODE_MAX, ID_MAX, LABEL_MAX, NOTE_MAX, OPERATION_CREDITS_MAX
from engine.money import credits_to_money, decimal_text, format_credits
from engine.vocabulary import DisputeReason, Market, PromoType, TransactionKind


@dataclass(frozen=True)
class Rate:
    """What one credit is worth in a clinic's pricebook."""

    currency: str
    money_per_credit: Decimal

    def amount(self, credits: int) -> dict[str, Any]:
        return {
            "credits": int(credits),
            "money": str(credits_to_money(credits, self.money_per_credit)),
            "currency": self.currency,
            "display": format_credits(credits, self.money_per_credit, self.currency),
        }


# -- building blocks ----------------------------------------------------------------------------


class AmountSerializer(serializers.Serializer):
    credits = serializers.IntegerField(help_text="Whole credits.")
    money = serializers.CharField(help_text='Their money value, a decimal string (e.g. "90.8964").')
    currency = serializers.CharField(help_text="ISO 4217 code.")
    display = serializers.CharField(help_text="As a person reads it: '908,964 credits ($90.8964)'.")


class MoneySerializer(serializers.Serializer):
    amount = serializers.CharField(help_text="A decimal string.")
    currency = serializers.CharField()


@extend_schema_field(AmountSerializer)
class AmountField(serializers.Field):
    """Credits (an int attribute) shown as an Amount in the context's `rate`."""

    def to_representation(self, value: int) -> dict[str, Any]:
        return self.context["rate"].amount(value)


@extend_schema_field(AmountSerializer(allow_null=True))
class OptionalAmountField(AmountField):
    """An amount that may be absent (DRF renders None without calling the field)."""


class RemainingSerializer(serializers.Serializer):
    sms_segments = serializers.IntegerField(allow_null=True, help_text="More SMS segments the balance buys.")
    voice_minutes = serializers.IntegerField(allow_null=True, help_text="More voice minutes the balance buys.")


class PracticeQuery(serializers.Serializer):
    practice_id = serializers.CharField(
        required=False, max_length=ID_MAX, help_text="The clinic (default: the caller's only clinic)."
    )


# -- the practice note's four endpoints -----------------------------------------------------------


class PackageSerializer(serializers.Serializer):
    code = serializers.CharField(source="package_code")
    product = serializers.CharField()
    clinic_size = serializers.CharField()
    included_units = serializers.IntegerField()
    unit_price_credits = serializers.DecimalField(max_digits=24, decimal_places=4, coerce_to_string=True)
    price = AmountField(source="total_credits")
    period_days = serializers.IntegerField()


class PackagesSerializer(serializers.Serializer):
    practice_id = serializers.CharField(source="clinic_id")
    currency = serializers.CharField()
    min_topup = AmountField(source="topup_min_credits")
    packages = PackageSerializer(many=True)


class PurchaseRequest(PracticeQuery):
    package = serializers.CharField(required=False, max_length=CODE_MAX, help_text="A package code, or ...")
    credits = serializers.IntegerField(
        required=False, min_value=1, max_value=OPERATION_CREDITS_MAX, help_text="... pay-as-you-go credits."
    )
    payment_method = serializers.CharField(max_length=CODE_MAX)
    promo_code = serializers.CharField(required=False, max_length=CODE_MAX)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("package" in attrs) == ("credits" in attrs):
            raise serializers.ValidationError({"package": "give either a package code or a number of credits"})
        return attrs


class PurchaseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["credited", "pending", "failed"])
    practice_id = serializers.CharField(source="clinic_id")
    payment_id = serializers.CharField(allow_null=True)
    package_code = serializers.CharField(allow_null=True)
    paid = AmountField(source="paid_credits")
    bonus = AmountField(source="bonus_credits")
    perks = serializers.ListField(child=serializers.CharField())
    balance = AmountField()
    transaction_ids = serializers.ListField(child=serializers.IntegerField())
    remaining = RemainingSerializer(allow_null=True)
    message = serializers.CharField()


class BalanceSerializer(serializers.Serializer):
    practice_id = serializers.CharField(source="clinic_id")
    balance = AmountField()
    overdraft_limit = AmountField()
    used_this_month = AmountField()
    refunds_granted_this_month = AmountField()
    expiring_soon = AmountField(help_text="Credits whose lots expire within `expiring_within_days`.")
    expiring_within_days = serializers.IntegerField()
    leads_this_month = serializers.IntegerField()
    lead_spend_this_month = AmountField(source="lead_credits_this_month")
    sms_segments_this_month = serializers.IntegerField()
    voice_minutes_this_month = serializers.IntegerField()
    month_starts = serializers.DateTimeField()
    alerts = serializers.ListField(child=serializers.CharField())
    remaining = RemainingSerializer(allow_null=True)


class TransactionsQuery(PracticeQuery):
    cursor = serializers.CharField(required=False, max_length=200, help_text="`next_cursor` of the previous page.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200)
    kind = serializers.MultipleChoiceField(
        required=False,
        choices=[kind.value for kind in TransactionKind],
        help_text="Only these kinds (repeat the parameter for several).",
    )


class DisputeLinkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class TransactionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    status = serializers.CharField(help_text="posted, declined or failed")
    amount = AmountField(source="signed_credits", help_text="What it did to the balance (negative: spent).")
    product = serializers.CharField(allow_null=True)
    units = serializers.IntegerField(allow_null=True)
    declined_because = serializers.SerializerMethodField()
    related_id = serializers.IntegerField(allow_null=True, help_text="A refund's charge, a bonus's top-up.")
    dispute = serializers.SerializerMethodField()
    disputable = serializers.BooleanField()
    refunded = AmountField()

    def get_declined_because(self, row: Any) -> str | None:
        return None if row.status == "posted" else row.reason

    @extend_schema_field(DisputeLinkSerializer(allow_null=True))
    def get_dispute(self, row: Any) -> dict[str, Any] | None:
        return None if row.dispute_id is None else {"id": row.dispute_id, "status": row.dispute_status}


class TransactionPageSerializer(serializers.Serializer):
    practice_id = serializers.CharField(source="clinic_id")
    count = serializers.IntegerField(source="total", allow_null=True, help_text="All matching rows (first page only).")
    results = TransactionSerializer(many=True, source="rows")
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as ?cursor= for the next page.")
    next = serializers.SerializerMethodField(help_text="The next page's URL, or null on the last page.")

    def get_next(self, page: Any) -> str | None:
        return self.context.get("next")


# -- quotes, promotions, disputes -----------------------------------------------------------------


class QuoteRequest(PracticeQuery):
    request = serializers.JSONField(
        help_text="What to price: an SMS campaign ({product: sms, body, recipients}), a voice campaign "
        "({product: voice, recipients, expected_seconds} or {product: voice, calls: [...]}), usage "
        "({product, units}) or a lead ({product: lead_chat|lead_call, specialty, city, package_price})."
    )


class EstimateSerializer(serializers.Serializer):
    practice_id = serializers.CharField(source="clinic_id")
    product = serializers.CharField(source="quote.product")
    units = serializers.IntegerField(source="quote.units")
    plan = serializers.CharField(source="quote.plan")
    cost = AmountField(source="quote.credits")
    balance = AmountField()
    balance_after = AmountField()
    approved = serializers.BooleanField(help_text="Whether a charge now would be approved.")
    decline_reason = serializers.CharField(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField(), source="quote.warnings")


class PromotionSerializer(serializers.Serializer):
    code = serializers.CharField(source="promo_code", allow_null=True, help_text="Type it at top-up; null: automatic.")
    kind = serializers.ChoiceField(choices=[kind.value for kind in PromoType])
    bonus = OptionalAmountField(source="bonus_credits")
    bonus_percent = serializers.SerializerMethodField(help_text="A percentage of the paid credits, as a string.")
    bonus_cap = OptionalAmountField(source="bonus_cap_credits")
    perk = serializers.CharField(allow_null=True)
    perk_days = serializers.IntegerField(allow_null=True)
    min_topup = AmountField(source="min_topup_credits")
    max_topup = OptionalAmountField(source="max_topup_credits", help_text="Top-ups of this much or more do not get it.")
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True, help_text="The first instant it no longer applies.")
    stackable = serializers.BooleanField()
    uses_left = serializers.IntegerField(
        allow_null=True, help_text="How many more times you may get it (null: no limit)."
    )
    used_up = serializers.BooleanField()

    def get_bonus_percent(self, promo: Any) -> str | None:
        return None if promo.bonus_pct is None else decimal_text(promo.bonus_pct * 100)


class PromotionsSerializer(serializers.Serializer):
    practice_id = serializers.CharField(source="clinic_id")
    at = serializers.DateTimeField()
    promotions = PromotionSerializer(many=True)


class DisputeRequest(PracticeQuery):
    charge_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    reason = serializers.ChoiceField(choices=[reason.value for reason in DisputeReason])


class DisputeResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="dispute_id")
    practice_id = serializers.CharField(source="clinic_id")
    charge_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["open", "approved", "rejected"])
    decision = serializers.CharField()
    decision_reason = serializers.CharField(source="reason")
    refunded = AmountField(source="refunded_credits")
    balance = OptionalAmountField()


class DisputesQuery(PracticeQuery):
    status = serializers.ChoiceField(required=False, choices=["open", "approved", "rejected"])


class DisputeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    practice_id = serializers.CharField(source="clinic_id")
    charge_id = serializers.IntegerField()
    product = serializers.CharField(allow_null=True)
    charged = AmountField(source="credits")
    reason = serializers.CharField()
    status = serializers.CharField()
    decision = serializers.CharField(allow_null=True)
    decision_reason = serializers.CharField(allow_null=True)
    note = serializers.CharField(allow_null=True, help_text="What the reviewer wrote.")
    opened_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


# -- server-to-server charges -------------------------------------------------------------------


class LeadChargeRequest(PracticeQuery):
    product = serializers.ChoiceField(choices=["lead_chat", "lead_call"])
    specialty = serializers.CharField(required=False, max_length=LABEL_MAX * 2)
    city = serializers.CharField(required=False, max_length=LABEL_MAX * 2)
    package_price = serializers.DecimalField(
        required=False, max_digits=18, decimal_places=4, min_value=Decimal(0), coerce_to_string=True
    )
    quantity = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
    patient_ref = serializers.CharField(required=False, max_length=128, help_text="Who the lead was for (hashed).")


class CampaignChargeRequest(PracticeQuery):
    request = serializers.JSONField(help_text="An SMS campaign ({product: sms, ...}) or voice call records.")


class ChargeSerializer(serializers.Serializer):
    practice_id = serializers.CharField(source="clinic_id")
    transaction_id = serializers.IntegerField()
    approved = serializers.BooleanField()
    product = serializers.CharField()
    units = serializers.IntegerField()
    cost = AmountField(source="credits")
    balance = AmountField()
    alerts = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    remaining = RemainingSerializer(allow_null=True)


# -- staff --------------------------------------------------------------------------------------


class DecisionRequest(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX, default="")


class AdjustmentRequest(serializers.Serializer):
    practice_id = serializers.CharField(max_length=ID_MAX)
    credits = serializers.IntegerField(
        min_value=-OPERATION_CREDITS_MAX, max_value=OPERATION_CREDITS_MAX, help_text="Signed: negative takes credits."
    )
    reason = serializers.CharField(max_length=NOTE_MAX)


class AdjustmentSerializer(serializers.Serializer):
    practice_id = serializers.CharField(source="clinic_id")
    transaction_id = serializers.IntegerField()
    credits = AmountField()
    balance = AmountField()


class RevenueQuery(serializers.Serializer):
    market = serializers.ChoiceField(choices=[market.value for market in Market])
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class RevenueRowSerializer(serializers.Serializer):
    period = serializers.CharField(help_text="YYYY-MM in the pricebook's time zone.")
    topup_money = serializers.SerializerMethodField()
    paid = AmountField(source="paid_credits")
    bonus = AmountField(source="bonus_credits")
    expired = AmountField(source="expired_credits")
    charged = AmountField(source="charged_credits")
    refunded = AmountField(source="refunded_credits")

    @extend_schema_field(MoneySerializer)
    def get_topup_money(self, row: Any) -> dict[str, str]:
        return {"amount": str(row.topup_money), "currency": self.context["rate"].currency}


class RevenueSerializer(serializers.Serializer):
    market = serializers.CharField()
    currency = serializers.CharField()
    months = RevenueRowSerializer(many=True, source="rows")
    outstanding = AmountField(source="outstanding_credits", help_text="What wallets hold: the liability.")
    overdrawn = AmountField(source="overdrawn_credits", help_text="What preferred clinics owe.")
    open_disputes = serializers.IntegerField()
