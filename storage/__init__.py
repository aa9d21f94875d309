"""The SQL credit ledger (SQLAlchemy Core + Alembic, on SQLite or PostgreSQL). It knows credits,
ids and metadata, never prices.

Every balance change goes through one door, `storage.transfers.post`, which writes the transaction,
the guarded wallet change, the lots, the double-entry legs and the clinic's usage counters in one
place; storage.fast is the same door for a charge as one PostgreSQL function call (one round trip),
tested row for row against it. The other modules hold the rows billing needs around it: accounts
(wallets and system accounts), clinics (and the state a charge reads under the wallet lock),
usage (the counters), idempotency keys, lots, payments, promotions, disputes, published pricebook
versions, read-only reports, and reconcile (every invariant recomputed). database.py opens
connections, retries what is retryable and maps driver errors to creditbook's.
"""
