"""What can be quoted, and in which context: the typed request models of the public API.

Every bad request — a negative or fractional count, an unknown product or package, an empty or
overlong body, a quote for a date before the pricebook takes effect — raises one error type,
QuoteError, whose message names the field. Pydantic's own validation errors are translated into
it, so a caller handles one exception whatever went wrong.

Counts are bounded where they enter (engine/bounds.py): units, recipients, leads and the term's
usage at most UNITS_MAX, a package price at most MONEY_MAX, a call at most CALL_SECONDS_MAX, a
balance within ±BALANCE_MAX, the date within DATE_MIN..DATE_MAX; every Decimal must be finite (NaN
and infinities are refused, -0 reads as 0). So no later Decimal or integer arithmetic of a quote can
overflow, and quote.py refuses a result past OPERATION_CREDITS_MAX.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.bounds import BALANCE_MAX, DATE_MAX, DATE_MIN, DAYS_MAX, MONEY_MAX, UNITS_MAX
from engine.errors import InvalidInput
from engine.vocabulary import CallOutcome, Direction, NumberType, Plan, Product, Segment, TimeWindow

#: the longest call a voice request may carry, in seconds (a duration of DAYS_MAX days)
CALL_SECONDS_MAX = DAYS_MAX * 86_400


def _unsigned_zero(value: Decimal) -> Decimal:
    return value + 0  # Decimal('-0') + 0 is Decimal('0')


NonNegative = Annotated[int, Field(ge=0, le=UNITS_MAX, strict=True)]
Seconds = Annotated[Decimal, Field(ge=0, le=CALL_SECONDS_MAX, allow_inf_nan=False), AfterValidator(_unsigned_zero)]
Money = Annotated[Decimal, Field(ge=0, le=MONEY_MAX, allow_inf_nan=False), AfterValidator(_unsigned_zero)]
_ENUM_REPR = re.compile(r"<\w+\.\w+: ('[^']*')>")


class QuoteError(InvalidInput):
    """A request that cannot be priced; `field` names the offending field."""

    code = "quote_invalid"

    @classmethod
    def from_validation(cls, error: ValidationError) -> QuoteError:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or "request"
        message = first.get("msg", "is invalid")
        if first.get("type") == "int_type" or first.get("type") == "int_from_float":
            message = "must be a whole number"
        elif first.get("type") == "greater_than_equal":
            limit = (first.get("ctx") or {}).get("ge", 0)
            message = "cannot be negative" if limit == 0 else f"must be at least {limit}"
        elif first.get("type") == "less_than_equal":
            limit = (first.get("ctx") or {}).get("le", 0)
            message = f"must be at most {limit:,}" if isinstance(limit, int | Decimal) else f"must be at most {limit}"
        elif first.get("type") in ("finite_number", "decimal_parsing"):
            message = "must be a finite number"
        elif first.get("type") == "missing":
            message = "is required"
        elif first.get("type") == "extra_forbidden":
            message = "is not a field of this request"
        given = first.get("input")
        if first.get("type") in ("literal_error", "enum") and isinstance(given, str | int | float | Decimal):
            message = _ENUM_REPR.sub(r"\1", message)  # <Product.SMS: 'sms'> reads 'sms'
            message = f"{given!r} is not allowed: {message[0].lower()}{message[1:]}"
        extra = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
        return cls(field, message + extra)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise QuoteError.from_validation(exc) from None


class CallRecord(_Model):
    """One call of a voice campaign as the carrier reported it."""

    duration_s: Seconds
    outcome: CallOutcome = CallOutcome.COMPLETED


class SmsCampaign(_Model):
    """An SMS campaign: one body × recipients, a list of rendered bodies, or a template with
    per-recipient fields ({first_name}). Exactly one of the three forms."""

    product: Literal[Product.SMS] = Product.SMS
    body: str | None = None
    recipients: NonNegative | None = None
    bodies: tuple[str, ...] | None = None
    template: str | None = None
    recipient_fields: tuple[Mapping[str, str], ...] | None = None
    number_type: Literal[NumberType.LONG_CODE, NumberType.TOLL_FREE, NumberType.SHORT_CODE] = NumberType.LONG_CODE
    direction: Direction = Direction.OUTBOUND
    time_window: TimeWindow | None = None
    smart_encoding: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> SmsCampaign:
        forms = [
            self.body is not None or self.recipients is not None,
            self.bodies is not None,
            self.template is not None or self.recipient_fields is not None,
        ]
        if sum(forms) != 1:
            raise ValueError("give exactly one of: body with recipients, bodies, or template with recipient_fields")
        if forms[0] and (self.body is None or self.recipients is None):
            raise ValueError("body and recipients go together")
        if forms[2] and (self.template is None or self.recipient_fields is None):
            raise ValueError("template and recipient_fields go together")
        return self


class VoiceCampaign(_Model):
    """A voice campaign: recipients × expected seconds (to quote), or the call records (to charge)."""

    product: Literal[Product.VOICE] = Product.VOICE
    recipients: NonNegative | None = None
    expected_seconds: Seconds | None = None
    calls: tuple[CallRecord, ...] | None = None
    number_type: Literal[NumberType.LOCAL, NumberType.TOLL_FREE] = NumberType.LOCAL
    direction: Direction = Direction.OUTBOUND
    time_window: TimeWindow | None = None

    @model_validator(mode="after")
    def _one_form(self) -> VoiceCampaign:
        planned = self.recipients is not None or self.expected_seconds is not None
        if planned == (self.calls is not None):
            raise ValueError("give either recipients with expected_seconds, or calls")
        if planned and (self.recipients is None or self.expected_seconds is None):
            raise ValueError("recipients and expected_seconds go together")
        return self


class Usage(_Model):
    """Units already counted (segments or minutes): what the simulator and the Tests sheet price."""

    product: Literal[Product.SMS, Product.VOICE]
    units: NonNegative
    number_type: NumberType | None = None
    direction: Direction = Direction.OUTBOUND
    time_window: TimeWindow | None = None


class LeadRequest(_Model):
    """One or more leads of a channel, specialty, city and treatment package price."""

    product: Literal[Product.LEAD_CHAT, Product.LEAD_CALL]
    specialty: str | None = None
    city: str | None = None
    package_price: Money | None = None
    quantity: Annotated[int, Field(ge=1, le=UNITS_MAX, strict=True)] = 1


Request = SmsCampaign | VoiceCampaign | Usage | LeadRequest
REQUEST_TYPES: dict[str, type[SmsCampaign] | type[VoiceCampaign] | type[LeadRequest]] = {
    Product.SMS: SmsCampaign,
    Product.VOICE: VoiceCampaign,
    Product.LEAD_CHAT: LeadRequest,
    Product.LEAD_CALL: LeadRequest,
}


class QuoteContext(_Model):
    """Who is buying and when: the plan (PAYG or package codes), the bundle, the customer segment,
    the usage so far in the current term per product, the date, and optionally the balance."""

    at: Annotated[AwareDatetime, Field(ge=DATE_MIN, le=DATE_MAX)]
    plan: str | tuple[str, ...] = Plan.PAYG
    bundle: bool = False
    segment: Segment = Segment.STANDARD
    term_usage: Mapping[str, NonNegative] = Field(default_factory=dict)
    balance: Annotated[int, Field(ge=-BALANCE_MAX, le=BALANCE_MAX, strict=True)] | None = None

    @functools.cached_property
    def plans(self) -> tuple[str, ...]:
        """The plan codes, normalised once (quotes read them on every call)."""
        codes = (self.plan,) if isinstance(self.plan, str) else self.plan
        return tuple(code.strip().upper() for code in codes if code.strip())

    def used(self, product: str) -> int:
        return int(self.term_usage.get(product, 0))


def as_request(request: Request | Mapping[str, Any]) -> Request:
    """Accept a request model or a plain dict (the CLI and JSON callers send dicts)."""
    if isinstance(request, BaseModel):
        return request
    if not isinstance(request, Mapping):
        raise QuoteError("request", "must be an SmsCampaign, VoiceCampaign, Usage or LeadRequest")
    product = request.get("product")
    if "units" in request and product in ("sms", "voice"):
        return Usage(**request)
    kind = REQUEST_TYPES.get(str(product))
    if kind is None:
        raise QuoteError("product", f"unknown product {product!r}; expected one of {', '.join(REQUEST_TYPES)}")
    return kind(**request)


def as_context(context: QuoteContext | Mapping[str, Any] | None, at: datetime | None = None) -> QuoteContext:
    if isinstance(context, QuoteContext):
        return context
    data = dict(context or {})
    if at is not None:
        data.setdefault("at", at)
    return QuoteContext(**data)
