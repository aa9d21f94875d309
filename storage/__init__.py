"""The SQL credit ledger (SQLAlchemy + Alembic, SQLite and PostgreSQL): built in a later issue."""
