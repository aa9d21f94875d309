"""Facts in, decisions out: the typed inputs and outputs of the policy engine.

Facts are what the ledger knows (a paid amount, a balance, how often a clinic used a promotion);
decisions are what the rules conclude, each naming the rule_ids that produced it. A declined
charge or a rejected dispute is a decision like any other, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, computed_field

from engine.errors import InvalidInput
from engine.money import format_credits
from engine.vocabulary import AlertKind, DisputeOutcome, Recipient, Segment

Count = Annotated[int, Field(ge=0, strict=True)]


class PolicyError(InvalidInput):
    """Facts that cannot be decided on; `field` names the offending field."""

    code = "policy_facts_invalid"


class _Facts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "facts"
            raise PolicyError(field, first.get("msg", "is invalid")) from None


class _Decision(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- top-ups and referrals ------------------------------------------------------------------------


class TopUpFacts(_Facts):
    """A paid top-up that settled: how much, when, with which promo code, and how often this clinic
    (and everyone) already received each promotion (rule_id → count)."""

    clinic_id: str
    paid_credits: Annotated[int, Field(ge=1, strict=True)]
    at: AwareDatetime
    promo_code: str | None = None
    clinic_uses: Mapping[str, Count] = Field(default_factory=dict)
    total_uses: Mapping[str, Count] = Field(default_factory=dict)


class Bonus(_Decision):
    """Granted credits: own lot, own expiry, no cash value."""

    rule_id: str
    credits: int
    beneficiary: Recipient
    clinic_id: str
    expires_at: datetime | None = None


class Perk(_Decision):
    """An entitlement that is not credits (e.g. featured placement), with its end."""

    rule_id: str
    perk: str
    clinic_id: str
    until: datetime


class Note(NamedTuple):
    """Why a promotion did not apply, as data: `kind` and what the sentence needs."""

    kind: Literal[
        "clinic_limit",
        "total_limit",
        "not_combined",
        "unknown_code",
        "code_not_valid_now",
        "code_minimum",
        "code_not_for_amount",
    ]
    subject: str  # a rule_id or a promo code
    value: Any = None


class TopUpDecision(_Decision):
    paid_credits: int
    bonuses: tuple[Bonus, ...] = ()
    perks: tuple[Perk, ...] = ()
    rule_ids: tuple[str, ...] = ()
    promo_code: str | None = None
    code_status: Literal["none", "applied", "not_applied", "unknown"] = "none"
    reasons: tuple[Note, ...] = ()
    currency: str = ""
    money_per_credit: Decimal = Decimal(1)

    @property
    def bonus_credits(self) -> int:
        return sum(b.credits for b in self.bonuses)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy refuses decorators over @property
    @property
    def notes(self) -> tuple[str, ...]:
        """The reasons in words (worded when read)."""
        return tuple(self._word(note) for note in self.reasons)

    def _word(self, note: Note) -> str:
        def credits(amount: int) -> str:
            return format_credits(amount, self.money_per_credit, self.currency)

        if note.kind == "clinic_limit":
            return f"{note.subject}: this clinic already received it {note.value} time(s)"
        if note.kind == "total_limit":
            return f"{note.subject}: all {note.value} have been given"
        if note.kind == "not_combined":
            return f"{note.subject}: not combined; the best single promotion applies"
        if note.kind == "unknown_code":
            return f"promo code {note.subject} is not known"
        if note.kind == "code_not_valid_now":
            return f"promo code {note.subject} is not valid on {note.value:%Y-%m-%d %H:%M %Z}"
        if note.kind == "code_minimum":
            return f"promo code {note.subject} needs a top-up of at least {credits(note.value)}"
        return f"promo code {note.subject} does not apply to a top-up of {credits(note.value)}"


class ReferralFacts(_Facts):
    """The referred clinic's paid top-up settled: is it its first, and was this pair rewarded already?"""

    referrer_id: str
    referred_id: str
    paid_credits: Annotated[int, Field(ge=1, strict=True)]
    at: AwareDatetime
    first_paid_topup: bool
    already_rewarded: bool = False
    referrer_rewards: Count = 0
    total_rewards: Count = 0


class ReferralDecision(_Decision):
    bonuses: tuple[Bonus, ...] = ()
    rule_ids: tuple[str, ...] = ()
    reason: str = ""
    idempotency_key: str  # one reward per referring/referred pair, whatever the deliveries

    @property
    def rewarded(self) -> bool:
        return bool(self.bonuses)


# -- overdraft ------------------------------------------------------------------------------------


class ChargeFacts(_Facts):
    segment: Segment
    balance: int
    amount: Annotated[int, Field(ge=0, strict=True)]


class OverdraftDecision(_Decision):
    approved: bool
    segment: str
    limit: int  # how far below zero the balance may go
    balance: int
    amount: int
    balance_after: int  # the balance after the charge if approved; unchanged if declined
    rule_ids: tuple[str, ...] = ()
    currency: str = ""
    money_per_credit: Decimal = Decimal(1)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form: mypy refuses decorators over @property
    @property
    def reason(self) -> str:
        """Why, in words (worded when read: charging millions of leads never reads it)."""

        def credits(amount: int) -> str:
            return format_credits(amount, self.money_per_credit, self.currency)

        after = self.balance - self.amount
        if self.amount == 0:
            return "nothing to charge"
        if self.approved:
            if after >= 0:
                return "within the balance"
            return f"overdraft of {credits(-after)} within the {self.segment} limit of {credits(self.limit)}"
        if self.limit:
            return (
                f"declined: the balance would be {credits(after)}, further below zero than the "
                f"{self.segment} overdraft limit of {credits(self.limit)}"
            )
        return (
            f"declined: insufficient credits ({credits(self.balance)} for a charge of {credits(self.amount)}); "
            f"{self.segment} clinics have no overdraft"
        )


# -- disputes -------------------------------------------------------------------------------------


class DisputeFacts(_Facts):
    """A dispute a clinic opens on a charge. `previous_charge_at` is the latest earlier charge for
    the same patient phone to the same clinic, if any (what makes a lead a duplicate)."""

    reason: str
    product: str
    charged_at: AwareDatetime
    opened_at: AwareDatetime
    previous_charge_at: AwareDatetime | None = None


class DisputeDecision(_Decision):
    outcome: DisputeOutcome
    reason: str
    rule_ids: tuple[str, ...] = ()
    window_ends_at: datetime | None = None


# -- alerts ---------------------------------------------------------------------------------------


class AlertFacts(_Facts):
    """A clinic's wallet now: balance, trailing average credits per day, credits that expire within
    the pricebook's expiring-credits window (see PolicyEngine.expiring_window_days)."""

    balance: int
    trailing_daily_credits: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    expiring_credits: Count = 0
    earliest_expiry: AwareDatetime | None = None


class Alert(_Decision):
    kind: AlertKind
    rule_id: str
    message: str
    threshold: int


class AlertDecision(_Decision):
    alerts: tuple[Alert, ...] = ()
    rule_ids: tuple[str, ...] = ()
    runway_days: Decimal | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(a.kind for a in self.alerts)
