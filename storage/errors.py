"""Storage's own error: the ledger found its rows inconsistent.

Driver errors never leave storage as themselves: storage/database.py maps them at the boundary
(retryable ones are retried and become DatabaseBusy; the rest become StorageError)."""

from __future__ import annotations

from engine.errors import StorageError


class LedgerError(StorageError):
    """The ledger found its own rows inconsistent (a bug or a damaged database): never a refusal of
    the request, always a reason to stop and look."""

    code = "ledger_inconsistent"


class Conflict(StorageError):
    """A row the operation writes already exists (two requests raced to create the same thing)."""

    code = "conflict"
    status = 409


class ValueRefused(StorageError):
    """The database refused a value (too long, out of range): a bound engine/bounds.py should have
    caught first."""

    code = "value_refused"
    status = 422
