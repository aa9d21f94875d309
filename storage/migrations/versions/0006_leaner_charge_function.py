"""the one-round-trip charge function, leaner: the key claimed once, with its outcome, after the wallet's lock

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00

PostgreSQL only: `creditbook_charge(...)` gets storage/fast.py's new body, same signature and same
OUT columns (its callers do not change). Migration 0005's body claimed the idempotency key first
and stored the outcome with a second UPDATE of the same row at the end, and withdrew the claim of
a charge it found stale; this one locks the wallet first (reading the pricebook version in force
and the pin in the same statement), looks the key up, and claims it at the end with its outcome
in one INSERT — raising SQLSTATE 40001, for the caller to retry, when another operation claimed
it meanwhile — and debits a single lot with a plain UPDATE and INSERT instead of joining `unnest`.
storage/fast.py's docstring says why each of its guarantees still holds.

The body is storage/fast.py's CHARGE_FUNCTION, which must stay this migration's: the next body
is a new migration, and this text then moves verbatim to storage/migrations/ as 0005's did.
Downgrade reinstalls 0005's body, frozen in storage/migrations/charge_function_0005.py.
"""

from __future__ import annotations

from alembic import op

from storage import fast
from storage.migrations.charge_function_0005 import CHARGE_FUNCTION as CHARGE_FUNCTION_0005

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(fast.CHARGE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHARGE_FUNCTION_0005)
