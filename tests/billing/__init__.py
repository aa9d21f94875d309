"""Tests of engine.billing on a real ledger database (SQLite and PostgreSQL)."""
