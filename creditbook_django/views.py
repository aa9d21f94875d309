"""The endpoints. Each view checks its input at the boundary, names the clinic through
creditbook_django/identity.py, calls one `engine.Billing` method and serializes its result; the
prices, policies and ledger rules are all creditbook's (this module holds no business logic).

Every POST needs an `Idempotency-Key` header (Stripe's convention): it is passed to Billing,
which stores the outcome with it in the same database transaction as the change. The same key and
request answer the stored outcome again, marked `Idempotent-Replayed: true`; the same key with
another request is 409. Keys are scoped per clinic (staff decisions: per ledger).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from creditbook_django import identity, ledger, problems, rates
from creditbook_django import serializers as s
from creditbook_django.authentication import ApiKeyAuthentication
from creditbook_django.conf import config
from creditbook_django.parsers import SafeJSONParser
from creditbook_django.schema import CreditbookAutoSchema, documented
from creditbook_django.serializers import Rate
from engine.billing.errors import ForeignDispute, UnknownCharge, UnknownDispute
from engine.bounds import INT64_MAX, OPERATION_CREDITS_MAX
from engine.errors import InvalidInput

NUMBER_PLACES = 6
#: request fields that hold numbers, which JSON callers may also send as decimal strings
NUMERIC_FIELDS = frozenset({"units", "recipients", "quantity", "expected_seconds", "duration_s", "package_price"})
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")
REPLAYED = "Idempotent-Replayed"
DISPUTE_ID = OpenApiParameter("dispute_id", int, OpenApiParameter.PATH, description="A dispute's id.")
KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="A unique key per operation (1-200 visible ASCII characters); a retry with the same key and "
    "request answers the stored outcome, marked Idempotent-Replayed.",
)


class IsCaller(BasePermission):
    """An authenticated user or API client."""

    def has_permission(self, request: Request, view: Any) -> bool:
        identity.caller(request)
        return True


class _View(APIView):
    renderer_classes: ClassVar = [JSONRenderer]
    parser_classes: ClassVar = [SafeJSONParser]
    permission_classes: ClassVar = [IsCaller]
    schema = CreditbookAutoSchema()
    staff_permission: ClassVar[str | None] = None  # a Django permission the caller must hold

    def get_authenticators(self) -> list[Any]:
        return [ApiKeyAuthentication(), *(kind() for kind in api_settings.DEFAULT_AUTHENTICATION_CLASSES)]

    def get_exception_handler(self) -> Any:
        return problems.handle

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        needed = self.staff_permission
        if needed is not None and not identity.caller(request).has_perm(request, needed):
            self.permission_denied(request, message=f"this needs the {needed} permission")

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def checked(serializer: type[Serializer], data: Any) -> dict[str, Any]:
        form = serializer(data=data)
        form.is_valid(raise_exception=True)
        return dict(form.validated_data)

    def query(self, serializer: type[Serializer]) -> dict[str, Any]:
        params = self.request.query_params
        data = {key: params.getlist(key) if key == "kind" else params.get(key) for key in params}
        return self.checked(serializer, data)

    def body(self, serializer: type[Serializer]) -> dict[str, Any]:
        data = self.request.data
        if not isinstance(data, dict):
            data = {"non_field_errors": None} if data is None else data
        return self.checked(serializer, data)

    def clinic(self, asked: dict[str, Any]) -> str:
        return identity.clinic_for(self.request, asked.get("practice_id"))

    @staticmethod
    def key(request: Request) -> str:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            raise problems.IdempotencyKeyMissing("send an Idempotency-Key header with every POST")
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise problems.IdempotencyKeyInvalid("an Idempotency-Key is 1 to 200 visible ASCII characters")
        return key

    @staticmethod
    def answer(serializer: type[Serializer], result: Any, rate: Rate, status: int = 200, **context: Any) -> Response:
        data = serializer(result, context={"rate": rate, **context}).data
        replayed = getattr(result, "replayed", False)
        return Response(data, status=status, headers={REPLAYED: "true"} if replayed else None)


# -- the practice note's four endpoints -----------------------------------------------------------


class PackagesView(_View):
    @documented(parameters=[s.PracticeQuery], responses=s.PackagesSerializer, summary="Credit packages on sale")
    def get(self, request: Request) -> Response:
        clinic = self.clinic(self.query(s.PracticeQuery))
        offered = ledger.billing().offers(clinic)
        rate = rates.remember(clinic, Rate(offered.currency, offered.money_per_credit))
        return self.answer(s.PackagesSerializer, offered, rate)


class PurchaseView(_View):
    @documented(
        request=s.PurchaseRequest,
        parameters=[KEY_PARAMETER],
        responses={201: s.PurchaseSerializer, 202: s.PurchaseSerializer},
        summary="Buy a package or pay-as-you-go credits",
    )
    def post(self, request: Request) -> Response:
        key = self.key(request)
        asked = self.body(s.PurchaseRequest)
        clinic = self.clinic(asked)
        wanted = asked["package"] if asked.get("package") is not None else asked["credits"]
        bought = ledger.billing().purchase(
            clinic,
            wanted,
            payment_method=asked["payment_method"],
            key=key,
            promo_code=asked.get("promo_code"),
        )
        rate = rates.rate_of(clinic)
        if bought.status == "failed":
            raise problems.PaymentFailed(
                bought.message,
                payment_id=bought.payment_id,
                transaction_id=bought.transaction_ids[0] if bought.transaction_ids else None,
                replayed=bought.replayed or None,
            )
        return self.answer(s.PurchaseSerializer, bought, rate, status=201 if bought.status == "credited" else 202)


class BalanceView(_View):
    @documented(parameters=[s.PracticeQuery], responses=s.BalanceSerializer, summary="A clinic's balance")
    def get(self, request: Request) -> Response:
        clinic = self.clinic(self.query(s.PracticeQuery))
        view = ledger.billing().balance(clinic)
        rate = rates.remember(clinic, Rate(view.currency, view.money_per_credit))
        return self.answer(s.BalanceSerializer, view, rate)


class TransactionsView(_View):
    @documented(
        parameters=[s.TransactionsQuery], responses=s.TransactionPageSerializer, summary="A clinic's transactions"
    )
    def get(self, request: Request) -> Response:
        asked = self.query(s.TransactionsQuery)
        clinic = self.clinic(asked)
        kinds = sorted(asked["kind"]) if asked.get("kind") else None
        page = ledger.billing().transactions(
            clinic, kinds=kinds, page_size=asked.get("limit") or config().page_size, cursor=asked.get("cursor")
        )
        following = None
        if page.next_cursor is not None:
            params = [(k, v) for k, v in request.query_params.lists() for v in v if k != "cursor"]
            following = request.build_absolute_uri(
                f"{request.path}?{urlencode([*params, ('cursor', page.next_cursor)])}"
            )
        return self.answer(s.TransactionPageSerializer, page, rates.rate_of(clinic), next=following)


# -- quotes, promotions, disputes -----------------------------------------------------------------


class QuoteView(_View):
    @documented(
        request=s.QuoteRequest,
        parameters=[KEY_PARAMETER],
        responses=s.EstimateSerializer,
        summary="What a request would cost now (nothing is charged or stored)",
    )
    def post(self, request: Request) -> Response:
        self.key(request)  # required like every POST; a quote stores nothing, so it is not kept
        asked = self.body(s.QuoteRequest)
        clinic = self.clinic(asked)
        estimate = ledger.billing().estimate(clinic, _request_object(asked["request"]))
        return self.answer(s.EstimateSerializer, estimate, rates.rate_of(clinic))


class PromotionsView(_View):
    @documented(parameters=[s.PracticeQuery], responses=s.PromotionsSerializer, summary="Promotions available now")
    def get(self, request: Request) -> Response:
        clinic = self.clinic(self.query(s.PracticeQuery))
        offered = ledger.billing().offers(clinic)
        rate = rates.remember(clinic, Rate(offered.currency, offered.money_per_credit))
        return self.answer(s.PromotionsSerializer, offered, rate)


class DisputesView(_View):
    @documented(parameters=[s.DisputesQuery], responses=s.DisputeSerializer(many=True), summary="A clinic's disputes")
    def get(self, request: Request) -> Response:
        asked = self.query(s.DisputesQuery)
        clinic = self.clinic(asked)
        listed = ledger.billing().disputes(status=asked.get("status"), clinic_id=clinic)
        return Response(s.DisputeSerializer(listed, many=True, context={"rate": rates.rate_of(clinic)}).data)

    @documented(
        request=s.DisputeRequest,
        parameters=[KEY_PARAMETER],
        responses={201: s.DisputeResultSerializer},
        summary="Dispute a charge",
    )
    def post(self, request: Request) -> Response:
        key = self.key(request)
        asked = self.body(s.DisputeRequest)
        clinic = self.clinic(asked)
        try:
            opened = ledger.billing().open_dispute(clinic, asked["charge_id"], reason=asked["reason"], key=key)
        except ForeignDispute:  # another clinic's charge reads exactly like one that does not exist
            raise UnknownCharge(f"no posted charge {asked['charge_id']}") from None
        return self.answer(s.DisputeResultSerializer, opened, rates.rate_of(clinic), status=201)


class DisputeView(_View):
    @documented(parameters=[s.PracticeQuery, DISPUTE_ID], responses=s.DisputeSerializer, summary="One dispute")
    def get(self, request: Request, dispute_id: str) -> Response:
        clinic = self.clinic(self.query(s.PracticeQuery))
        number = row_id(dispute_id)
        found = next((d for d in ledger.billing().disputes(status=None, clinic_id=clinic) if d.id == number), None)
        if found is None:  # another clinic's dispute reads exactly like one that does not exist
            raise UnknownDispute(f"no dispute {dispute_id}")
        return self.answer(s.DisputeSerializer, found, rates.rate_of(clinic))


# -- server-to-server charges -------------------------------------------------------------------


class _ChargeView(_View):
    def charge(self, request: Request, asked: dict[str, Any], what: dict[str, Any], patient: str | None) -> Response:
        key = self.key(request)
        who = identity.caller(request)
        clinic = self.clinic(asked)
        if not who.can_charge:
            self.permission_denied(request, message="this caller may not charge clinics")
        charged = ledger.billing().charge(clinic, what, key=key, patient_ref=patient)
        rate = rates.rate_of(clinic)
        if not charged.approved:
            raise problems.ChargeDeclined(
                charged.decline_reason or "declined",
                transaction_id=charged.transaction_id,
                cost=rate.amount(charged.credits),
                balance=rate.amount(charged.balance),
                replayed=charged.replayed or None,
            )
        return self.answer(s.ChargeSerializer, charged, rate, status=201)


class LeadChargeView(_ChargeView):
    @documented(
        request=s.LeadChargeRequest,
        parameters=[KEY_PARAMETER],
        responses={201: s.ChargeSerializer},
        summary="Charge a lead (server-to-server)",
    )
    def post(self, request: Request) -> Response:
        self.key(request)
        asked = self.body(s.LeadChargeRequest)
        fields = ("product", "specialty", "city", "package_price", "quantity")
        lead = {name: asked[name] for name in fields if name in asked}
        return self.charge(request, asked, lead, asked.get("patient_ref"))


class CampaignChargeView(_ChargeView):
    @documented(
        request=s.CampaignChargeRequest,
        parameters=[KEY_PARAMETER],
        responses={201: s.ChargeSerializer},
        summary="Charge an SMS or voice campaign (server-to-server; off unless CREDITBOOK['CAMPAIGN_CHARGES'])",
    )
    def post(self, request: Request) -> Response:
        if not config().campaign_charges:
            raise problems.CampaignChargesOff("campaign charging is not switched on for this API")
        self.key(request)
        asked = self.body(s.CampaignChargeRequest)
        return self.charge(request, asked, _request_object(asked["request"]), None)


def row_id(text: str) -> int:
    """A dispute's or charge's id from a path: a positive whole number the ledger can hold."""
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= INT64_MAX):
        raise InvalidInput("dispute_id", f"must be a positive whole number, not {text[:40]!r}")
    return int(text)


def _request_object(value: Any) -> dict[str, Any]:
    """A quote or campaign request as JSON gave it: an object whose every number (and numeric field
    sent as a string) is finite, within
    what one operation may count (engine/bounds.py) and has at most NUMBER_PLACES decimals; the
    engine checks the rest (its fields, products and forms) and names the field it refuses."""
    if not isinstance(value, dict):
        raise InvalidInput("request", "must be a JSON object with a product")
    for path, number in _numbers(value, "request"):
        if isinstance(number, bool):
            continue
        exact = Decimal(number)
        exponent = exact.as_tuple().exponent  # a letter for NaN and infinities
        if not isinstance(exponent, int) or abs(exact) > OPERATION_CREDITS_MAX or exponent < -NUMBER_PLACES:
            raise InvalidInput(
                path, f"must be a finite number within ±{OPERATION_CREDITS_MAX:,} with at most {NUMBER_PLACES} decimals"
            )
    return value


def _numbers(value: Any, path: str) -> Iterator[tuple[str, int | Decimal]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _numbers(item, f"{path}[{n}]")
    elif isinstance(value, int | Decimal):
        yield path, value
    elif isinstance(value, str) and path.rsplit(".", 1)[-1] in NUMERIC_FIELDS:
        try:
            yield path, Decimal(value)
        except ArithmeticError:
            return  # not a number at all: the engine names the field


# -- staff --------------------------------------------------------------------------------------


class DecisionView(_View):
    staff_permission = "creditbook.decide_disputes"

    @documented(
        request=s.DecisionRequest,
        parameters=[KEY_PARAMETER, DISPUTE_ID],
        responses=s.DisputeResultSerializer,
        summary="Approve or reject an open dispute (staff)",
    )
    def post(self, request: Request, dispute_id: str) -> Response:
        key = self.key(request)
        number = row_id(dispute_id)
        asked = self.body(s.DecisionRequest)
        billing = ledger.billing()
        decide = billing.approve_dispute if asked["decision"] == "approve" else billing.reject_dispute
        decided = decide(number, actor=identity.caller(request).actor, note=asked["note"], key=key)
        return self.answer(s.DisputeResultSerializer, decided, rates.rate_of(decided.clinic_id))


class AdjustmentView(_View):
    staff_permission = "creditbook.adjust_credits"

    @documented(
        request=s.AdjustmentRequest,
        parameters=[KEY_PARAMETER],
        responses={201: s.AdjustmentSerializer},
        summary="Adjust a clinic's credits (staff)",
    )
    def post(self, request: Request) -> Response:
        key = self.key(request)
        asked = self.body(s.AdjustmentRequest)
        clinic = identity.clinic_for(request, asked["practice_id"])
        adjusted = ledger.billing().adjust(
            clinic, asked["credits"], actor=identity.caller(request).actor, reason=asked["reason"], key=key
        )
        return self.answer(s.AdjustmentSerializer, adjusted, rates.rate_of(clinic), status=201)


class RevenueView(_View):
    staff_permission = "creditbook.view_revenue"

    @documented(parameters=[s.RevenueQuery], responses=s.RevenueSerializer, summary="Revenue by month (staff)")
    def get(self, request: Request) -> Response:
        asked = self.query(s.RevenueQuery)
        report = ledger.billing().revenue_report(asked["market"], since=asked.get("since"), until=asked.get("until"))
        return self.answer(s.RevenueSerializer, report, Rate(report.currency, report.money_per_credit))
