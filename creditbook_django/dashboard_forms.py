"""The clinic dashboard's forms: every value a clinic sends is checked here, with one plain message
per field, before the dashboard's views call engine.Billing.

Forms that move money or open a dispute carry a *form token*: signed by the server when the form is
rendered, naming the clinic it was rendered for and a fresh idempotency key (and, for a dispute, the
charge and the reasons offered). A double submit therefore reuses the same key and is answered once
by the ledger; a token rendered for another clinic, edited, or older than TOKEN_MAX_AGE is refused.
The top-up form also carries the currency it was rendered in, so an amount typed for one clinic
can never be paid in another clinic's currency.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from django import forms
from django.core import signing
from django.core.validators import MinValueValidator

from engine.bounds import OPERATION_CREDITS_MAX
from engine.errors import CreditbookError
from engine.vocabulary import EventKind, NotifyChannel, TransactionKind

TOKEN_MAX_AGE = 24 * 3600  # seconds a rendered form may wait before it is submitted
PROMO_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
CREDITS = "credits"  # the top-up form's "what": pay-as-you-go credits rather than a package
#: the payment methods a clinic picks from, by the provider that serves its currency
PAYMENT_METHODS: dict[str, tuple[tuple[str, str], ...]] = {
    "fake": (
        ("card_ok", "Card (test: succeeds)"),
        ("upi_ok", "UPI (test: succeeds)"),
        ("card_action", "Card with 3-D Secure (test)"),
        ("card_declined", "Card (test: declined)"),
    ),
    "stripe": (("pm_card_visa", "Card (Stripe)"),),
    "razorpay": (("razorpay_checkout", "Razorpay Checkout (UPI, cards, netbanking)"),),
}
EVENT_LABELS: dict[str, str] = {
    EventKind.LOW_BALANCE: "Balance below the alert threshold",
    EventKind.CREDITS_EXPIRING: "Credits expiring soon",
    EventKind.TOPUP_SETTLED: "Top-up paid",
    EventKind.TOPUP_FAILED: "Top-up failed",
    EventKind.AUTO_TOPUP_FAILED: "Auto top-up failed",
    EventKind.DISPUTE_DECIDED: "Dispute decided",
    EventKind.VERSION_PUBLISHED: "New price list published",
}
EVENT_CHOICES = tuple((kind.value, EVENT_LABELS[kind]) for kind in EventKind)
KIND_CHOICES = (("", "All kinds"), *((kind.value, kind.value.capitalize()) for kind in TransactionKind))


class TokenInvalid(CreditbookError):
    """A form token that was not rendered for this clinic and form (or is too old)."""

    code = "form_token_invalid"
    status = 400


def new_token(clinic_id: str, purpose: str, **fields: Any) -> str:
    """A signed token for a form rendered now: the clinic, a fresh idempotency key and `fields`."""
    return signing.dumps({"c": clinic_id, "k": uuid.uuid4().hex, **fields}, salt=f"creditbook.dashboard.{purpose}")


def read_token(token: str, clinic_id: str, purpose: str) -> dict[str, Any]:
    """The token's fields (with its key as "k"), if it was rendered for this clinic and purpose."""
    try:
        fields = signing.loads(token, salt=f"creditbook.dashboard.{purpose}", max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise TokenInvalid("this form has expired or was not made for this clinic: open it again") from None
    if not isinstance(fields, dict) or fields.get("c") != clinic_id:
        raise TokenInvalid("this form was made for another clinic: open it again")
    return fields


class TopUpForm(forms.Form):
    """What to buy (credits or a package), the promotion code and how to pay."""

    what = forms.ChoiceField(label="Buy")
    credits = forms.IntegerField(label="Credits", required=False, max_value=OPERATION_CREDITS_MAX)
    promo_code = forms.CharField(label="Promotion code (optional)", required=False, max_length=64)
    payment_method = forms.ChoiceField(label="Pay with")
    currency = forms.CharField(widget=forms.HiddenInput)
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, currency: str, min_credits: int, packages: Sequence[tuple[str, str]], provider: str, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.expected_currency = currency
        self.fields["what"].choices = [(CREDITS, "Credits (pay as you go)"), *packages]
        self.fields["credits"].min_value = min_credits
        self.fields["credits"].widget.attrs.update(min=str(min_credits), step="1", autocomplete="off")
        self.fields["credits"].validators.append(MinValueValidator(min_credits))
        self.fields["promo_code"].widget.attrs.update(autocomplete="off", autocapitalize="characters")
        self.fields["payment_method"].choices = PAYMENT_METHODS.get(provider, PAYMENT_METHODS["fake"])

    def clean_promo_code(self) -> str | None:
        code = (self.cleaned_data.get("promo_code") or "").strip()
        if not code:
            return None
        if not PROMO_CODE.fullmatch(code):
            raise forms.ValidationError("A promotion code is letters, digits, '-' and '_' (at most 64).")
        return code.upper()

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"]
        if currency != self.expected_currency:
            raise forms.ValidationError(
                f"This form was filled in {currency[:3]!s}; this clinic pays in {self.expected_currency}. Start again."
            )
        return str(currency)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("what") == CREDITS and cleaned.get("credits") is None and "credits" not in self.errors:
            self.add_error("credits", "Say how many credits to buy.")
        return cleaned

    def bought(self) -> str | int:
        """What Billing is asked for: a package code, or a number of credits."""
        what = self.cleaned_data["what"]
        return int(self.cleaned_data["credits"]) if what == CREDITS else str(what)


class DisputeForm(forms.Form):
    """One charge's Dispute button: the reasons that apply to its product, and its token."""

    reason = forms.ChoiceField(label="Reason")
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, reasons: Sequence[str], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["reason"].choices = [(r, r.replace("_", " ").capitalize()) for r in reasons]


class LedgerFilterForm(forms.Form):
    """The full ledger's filters: a kind and a date range (in the clinic's time zone, both days
    included)."""

    kind = forms.ChoiceField(choices=KIND_CHOICES, required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    cursor = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        for name in ("since", "until"):
            day = cleaned.get(name)
            if isinstance(day, date) and not (date(2000, 1, 1) <= day <= date(2100, 12, 31)):
                self.add_error(name, "Pick a date between 2000 and 2100.")
        if isinstance(since, date) and isinstance(until, date) and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned


class EndpointForm(forms.Form):
    """A new place for alerts: an e-mail address or a webhook URL, and the alerts it receives."""

    channel = forms.ChoiceField(
        choices=((NotifyChannel.EMAIL.value, "E-mail"), (NotifyChannel.WEBHOOK.value, "Webhook"))
    )
    target = forms.CharField(label="Address or URL", max_length=2000)
    kinds = forms.MultipleChoiceField(
        label="Alerts", choices=EVENT_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )


class ChoiceForm(forms.Form):
    """Which alerts an existing endpoint receives, and whether it is on."""

    endpoint = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    kinds = forms.MultipleChoiceField(choices=EVENT_CHOICES, required=False, widget=forms.CheckboxSelectMultiple)
    active = forms.BooleanField(required=False, label="On")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("active") and not cleaned.get("kinds"):
            self.add_error("kinds", "Pick at least one alert, or switch the address off.")
        return cleaned
