"""One error type per way a billing request can be refused, each with its stable code and HTTP status.

Every refusal leaves nothing behind: the database transaction is rolled back and no idempotency key
is stored (the one exception, PaymentGatewayError, is documented on the class). All derive from
`BillingError`, itself a `engine.errors.CreditbookError`, so a caller can catch the whole family,
one kind, or every creditbook error.

A declined charge is *not* an error: it is recorded and returned (`ChargeResult.approved` False).
"""

from __future__ import annotations

from engine.errors import CreditbookError, DatabaseBusy, IdempotencyConflict, InvalidInput, StorageError


class BillingError(CreditbookError):
    """A billing request was refused."""

    code = "billing_refused"
    status = 400


class UnknownClinic(BillingError):
    """No clinic with this id."""

    code = "unknown_clinic"
    status = 404


class ClinicExists(BillingError):
    """A clinic with this id is already registered."""

    code = "clinic_exists"
    status = 409


class InvalidAmount(BillingError, InvalidInput):
    """A negative, zero or out-of-range number of credits or units, or an invalid argument."""

    code = "invalid_amount"
    status = 422

    def __init__(self, message: str, field: str = "credits", **detail: object) -> None:
        CreditbookError.__init__(self, message, field=field, **detail)
        self.field = field


class InvalidKey(BillingError):
    """An idempotency key that is empty, too long, or not text."""

    code = "invalid_idempotency_key"
    status = 400


class UnknownPackage(BillingError):
    """A package code the clinic's pricebook does not sell."""

    code = "unknown_package"
    status = 404


class UnknownCharge(BillingError):
    """No posted charge (or payment) with this id for this clinic."""

    code = "unknown_charge"
    status = 404


class UnknownDispute(BillingError):
    """No dispute with this id."""

    code = "unknown_dispute"
    status = 404


class ForeignDispute(BillingError):
    """The dispute or charge belongs to another clinic.

    A web layer answers this exactly like UnknownCharge/UnknownDispute (404) to a clinic user, so
    that a refusal never reveals whether another clinic's charge exists."""

    code = "foreign_dispute"
    status = 404


class DisputeClosed(BillingError):
    """The dispute was already decided (approved, rejected) or the charge is already disputed."""

    code = "dispute_closed"
    status = 409


class RefundExceeded(BillingError):
    """A refund larger than what is left of the charge."""

    code = "refund_exceeded"
    status = 409


class AdjustmentRefused(BillingError):
    """A negative adjustment or a segment change that would take the wallet past its overdraft limit."""

    code = "adjustment_refused"
    status = 409


class NoPricebook(BillingError):
    """No published pricebook version is in force for this market at this time."""

    code = "no_pricebook"
    status = 409


class PricebookRejected(BillingError):
    """A pricebook that cannot be published (findings, unchanged, not later than the last version)."""

    code = "pricebook_rejected"
    status = 422


class PaymentGatewayError(BillingError):
    """The payment provider failed transiently; retry with the same idempotency key.

    The one refusal that keeps something: the payment attempt stays recorded under the key (with no
    outcome yet), because the provider may have taken the money before it timed out. The retry,
    a webhook or the sweeper settles it by its reference; another request under the key is a
    conflict."""

    code = "payment_gateway_error"
    status = 502


class PromoCodeRefused(BillingError):
    """A promo code that does not apply to this top-up: unknown, expired, not yet valid, used up or
    not for this amount. Refused before any money moves; `refusal` says which (engine.vocabulary.PromoRefusal)."""

    code = "promo_code_refused"
    status = 422


class WebhookRejected(BillingError):
    """A payment provider's webhook or Checkout callback whose signature does not verify (or whose
    body cannot be read). Nothing is recorded: only a verified message is evidence of a payment."""

    code = "webhook_rejected"
    status = 400


class AutoTopUpRefused(BillingError):
    """Auto top-up settings that cannot work: amounts out of range or not whole minor units, a cap
    below the amount, or a clinic whose payment provider cannot charge a saved method off-session."""

    code = "auto_topup_refused"
    status = 422


__all__ = [
    "AdjustmentRefused",
    "AutoTopUpRefused",
    "BillingError",
    "ClinicExists",
    "DatabaseBusy",
    "DisputeClosed",
    "ForeignDispute",
    "IdempotencyConflict",
    "InvalidAmount",
    "InvalidInput",
    "InvalidKey",
    "NoPricebook",
    "PaymentGatewayError",
    "PricebookRejected",
    "PromoCodeRefused",
    "RefundExceeded",
    "StorageError",
    "UnknownCharge",
    "UnknownClinic",
    "UnknownDispute",
    "UnknownPackage",
    "WebhookRejected",
]
