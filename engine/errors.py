"""The one error root of creditbook's public API.

Every refusal the engine, the rules, the ledger or a payment adapter raises derives from
`CreditbookError`, with a stable machine `code` (what a program branches on; never reworded) and
the HTTP `status` a web layer should answer with. Lower-level errors (a database driver's, a
payment SDK's, pydantic's) are mapped to one of these where they enter, in the layer that calls
them (the httpx model: `map_exceptions` at the transport boundary), so a caller catches one type.

This module is a leaf: it imports nothing of creditbook, so every layer (storage included) can
derive its errors from it without importing another layer.

| class | code | status | raised when |
|---|---|---|---|
| `CreditbookError` | `creditbook_error` | 400 | (the root; never raised itself) |
| `InvalidInput` | `invalid_input` | 422 | a value is outside what creditbook accepts or stores (see engine/bounds.py) |
| `PricebookError` | `pricebook_invalid` | 422 | a workbook that does not compile (engine.pricebook) |
| `QuoteError` | `quote_invalid` | 422 | a quote request that cannot be priced (engine.pricing) |
| `PolicyError` | `policy_facts_invalid` | 422 | facts the policy rules cannot decide on (rules) |
| `IdempotencyConflict` | `idempotency_conflict` | 409 | a key reused for another request |
| `DatabaseBusy` | `database_busy` | 503 | the database stayed busy through every retry |
| `OutOfOrder` | `out_of_order` | 409 | an operation dated before the clinic's latest posted one |
| `StorageError` | `storage_error` | 500 | the database refused what it should accept (a bug, a damaged ledger) |
| billing errors | see engine/billing/errors.py | | |
"""

from __future__ import annotations

from typing import Any, ClassVar


class CreditbookError(Exception):
    """Base of every error creditbook's public API raises.

    `code` is stable and machine-readable; `status` is the HTTP status a web layer answers with;
    `detail` holds structured context (a field name, an amount) safe to show the caller."""

    code: ClassVar[str] = "creditbook_error"
    status: ClassVar[int] = 400

    def __init__(self, message: str = "", **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def problem(self) -> dict[str, Any]:
        """The error as an RFC 9457 problem-details body (what an HTTP API returns)."""
        body: dict[str, Any] = {
            "type": f"urn:creditbook:error:{self.code}",
            "title": self.title(),
            "status": self.status,
        }
        body["code"] = self.code
        body["detail"] = self.message
        body.update({key: value for key, value in self.detail.items() if value is not None})
        return body

    @classmethod
    def title(cls) -> str:
        """A short, human title of the error kind (the class docstring's first line)."""
        doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
        return doc.rstrip(".")


class InvalidInput(CreditbookError):
    """A value outside what creditbook accepts or can store."""

    code = "invalid_input"
    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)
        self.field = field


class IdempotencyConflict(CreditbookError):
    """The idempotency key was already used for a different request."""

    code = "idempotency_conflict"
    status = 409


class DatabaseBusy(CreditbookError):
    """The database stayed busy through every retry; retry later with the same idempotency key."""

    code = "database_busy"
    status = 503


class OutOfOrder(CreditbookError):
    """An operation dated before the clinic's latest posted operation: a clinic's time only moves forward."""

    code = "out_of_order"
    status = 409


class StorageError(CreditbookError):
    """The database refused an operation it should have accepted (a bug or a damaged ledger)."""

    code = "storage_error"
    status = 500


__all__ = ["CreditbookError", "DatabaseBusy", "IdempotencyConflict", "InvalidInput", "OutOfOrder", "StorageError"]
