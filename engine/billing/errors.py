"""One error type per way a billing request can be wrong. Each leaves nothing behind: the database
transaction is rolled back and no idempotency key is stored."""

from __future__ import annotations

from storage.database import DatabaseBusy
from storage.ledger import IdempotencyConflict


class BillingError(Exception):
    """Base of billing refusals."""


class UnknownClinic(BillingError):
    """No clinic with this id."""


class ClinicExists(BillingError):
    """A clinic with this id is already registered."""


class InvalidAmount(BillingError):
    """A negative, zero or out-of-range number of credits or units."""


class InvalidKey(BillingError):
    """An idempotency key that is empty, too long, or not text."""


class UnknownPackage(BillingError):
    """A package code the clinic's pricebook does not sell."""


class UnknownCharge(BillingError):
    """No posted charge with this id for this clinic."""


class UnknownDispute(BillingError):
    """No dispute with this id."""


class ForeignDispute(BillingError):
    """The dispute or charge belongs to another clinic."""


class DisputeClosed(BillingError):
    """The dispute was already decided (approved, rejected) or the charge is already disputed."""


class RefundExceeded(BillingError):
    """A refund larger than what is left of the charge."""


class AdjustmentRefused(BillingError):
    """A negative adjustment that would take the wallet past its overdraft limit."""


class NoPricebook(BillingError):
    """No published pricebook version is in force for this market at this time."""


class PricebookRejected(BillingError):
    """A pricebook that cannot be published (findings, unchanged, not later than the last version)."""


class PaymentGatewayError(BillingError):
    """The payment provider failed transiently; retry with the same idempotency key.

    The one refusal that keeps something: the key stays reserved for this exact request (with no
    outcome yet), because the provider may have taken the money before it timed out. The retry
    finds that payment by its reference; another request under the key is a conflict."""


__all__ = [
    "AdjustmentRefused",
    "BillingError",
    "ClinicExists",
    "DatabaseBusy",
    "DisputeClosed",
    "ForeignDispute",
    "IdempotencyConflict",
    "InvalidAmount",
    "InvalidKey",
    "NoPricebook",
    "PaymentGatewayError",
    "PricebookRejected",
    "RefundExceeded",
    "UnknownCharge",
    "UnknownClinic",
    "UnknownDispute",
    "UnknownPackage",
]
