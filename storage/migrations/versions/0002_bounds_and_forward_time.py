"""bounds and forward time: integer amounts on SQLite, a wallet's latest operation, wider codes

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 07:00:00

- SQLite stores whatever it is given (an overflowing integer becomes a float): every amount column
  gets a CHECK that it is an integer (PostgreSQL's BIGINT already refuses).
- accounts.last_at: the time of the wallet's latest posted operation, so that a clinic's time only
  moves forward (an operation dated before it is refused); filled from the ledger's own rows.
- package codes widen to engine.bounds.CODE_MAX (64), the length the workbook validator accepts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INTEGERS = {
    "accounts": ("balance", "overdraft_limit"),
    "transactions": ("credits", "unfunded", "refunded"),
    "entries": ("amount",),
    "lots": ("amount", "remaining"),
    "allocations": ("amount",),
}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("last_at", storage.schema.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "update accounts set last_at = (select max(t.at) from transactions t "
        "where t.clinic_id = accounts.clinic_id and t.status = 'posted') where kind = 'wallet'"
    )
    for table in ("holdings", "payments"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "package_code",
                type_=sa.String(length=64),
                existing_type=sa.String(length=32),
                existing_nullable=table == "payments",
            )
    if sqlite:
        for table, columns in INTEGERS.items():
            with op.batch_alter_table(table) as batch:
                batch.create_check_constraint(
                    op.f(f"ck_{table}_integers"), " and ".join(f"typeof({c}) = 'integer'" for c in columns)
                )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for table in INTEGERS:
            with op.batch_alter_table(table) as batch:
                batch.drop_constraint(op.f(f"ck_{table}_integers"), type_="check")
    for table in ("holdings", "payments"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "package_code",
                type_=sa.String(length=32),
                existing_type=sa.String(length=64),
                existing_nullable=table == "payments",
            )
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("last_at")
