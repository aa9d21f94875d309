"""fast charges: usage counters, history and reconcile indexes, the one-round-trip charge function

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00

- usage_days: a clinic's posted charges and refunds per day (in its time zone) and product, kept by
  the ledger's door in the transaction that posts them (storage/usage.py), filled here from the
  ledger's own rows. "This month" and "the last 30 days" read them instead of summing the history.
- indexes that let reads stop growing with a clinic's history: (clinic_id, at, id) for keyset
  history pages, a partial index of the charges with an unfunded part (repaid oldest first), and
  the amount beside the key of the entries' and allocations' indexes, so that reconcile sums them
  from the index alone instead of looking every row up in its table.
- PostgreSQL: `creditbook_charge(...)`, which posts a charge priced in Python in one round trip
  (storage/fast.py says what it does and why it is safe).

(down_revision is 0005, the notification outbox, the latest on main when this branch merged it;
the payments branch's 0003 was not on main yet: the chain is fixed when the two meet.)

The function's text is storage/migrations/charge_function_0005.py's, the text storage/fast.py held
when this shipped, moved there verbatim when migration 0006 replaced the function's body: only
this import changed, and what this migration does is byte for byte what it did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage import usage
from storage.migrations import charge_function_0005 as fast  # the frozen text (see above)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    integers = " and ".join(f"typeof({c}) = 'integer'" for c in ("charged", "units", "refunded", "charge_refunded"))
    checks = [sa.CheckConstraint(integers, name=op.f("ck_usage_days_integers"))]
    op.create_table(
        "usage_days",
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("charged", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("charge_refunded", sa.BigInteger(), nullable=False),
        *(checks if sqlite else []),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"], name=op.f("fk_usage_days_clinic_id_clinics")),
        sa.PrimaryKeyConstraint("clinic_id", "day", "product", name=op.f("pk_usage_days")),
    )
    bind = op.get_bind()
    usage.fill(bind, usage.recount(bind))
    for table, name, _before, after in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, after)
    op.create_index(
        "ix_transactions_unfunded",
        "transactions",
        ["clinic_id", "id"],
        sqlite_where=sa.text("unfunded > 0"),
        postgresql_where=sa.text("unfunded > 0"),
    )
    if bind.dialect.name == "postgresql":
        op.execute(fast.CHARGE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(fast.DROP_CHARGE_FUNCTION)
    op.drop_index("ix_transactions_unfunded", table_name="transactions")
    for table, name, before, _after in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, before)
    op.drop_table("usage_days")


INDEXES = (  # (table, index, its columns before, after)
    ("transactions", "ix_transactions_clinic_at", ["clinic_id", "at"], ["clinic_id", "at", "id"]),
    ("entries", "ix_entries_account", ["account_id"], ["account_id", "amount"]),
    ("entries", "ix_entries_transaction", ["transaction_id"], ["transaction_id", "amount"]),
    ("allocations", "ix_allocations_lot", ["lot_id"], ["lot_id", "amount"]),
)
