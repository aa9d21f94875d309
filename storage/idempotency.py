"""Idempotency keys: claimed in the same database transaction as the effect, stored with its outcome.

Same key and same request → the stored outcome (a declined key stays declined). Same key and a
different request → IdempotencyConflict. A claim commits with the effect, or not at all — except
for a payment attempt, which is committed before the provider is called (engine/billing/purchases.py)
so that a crash can never leave money taken and nothing recorded.

Keys are unique per scope: a clinic's id, or an internal scope for operations that belong to no
clinic. Internal scopes start with ':' — outside the identifier alphabet (engine/bounds.py) — so no
clinic id can ever collide with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.errors import IdempotencyConflict
from storage.schema import idempotency_keys
from storage.statements import Statement

ADMIN_SCOPE: Final = ":admin"  # publishing, dispute decisions: operations of the company, not a clinic
B = bindparam


@dataclass(frozen=True)
class Claim:
    """An idempotency key: new (`outcome` None, proceed) or already answered (`outcome` replayed)."""

    id: int
    outcome: dict[str, Any] | None
    replay: bool


_CLAIM = {  # INSERT ... ON CONFLICT DO NOTHING: one statement, no savepoint, on both databases
    name: Statement(dialect.insert(idempotency_keys).on_conflict_do_nothing().returning(idempotency_keys.c.id))
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_CLAIMED = select(idempotency_keys).where(
    idempotency_keys.c.scope == B("b_scope"), idempotency_keys.c.key == B("b_key")
)
_STORE = Statement(
    update(idempotency_keys)
    .where(idempotency_keys.c.id == B("b_id"))
    .values(outcome=B("b_outcome"), transaction_id=B("b_txn"))
)


def claim(conn: Connection, scope: str, key: str, operation: str, request_hash: str, at: datetime) -> Claim:
    """Claim `key` for this request in the current transaction, or replay its stored outcome."""
    values = {"scope": scope, "key": key, "operation": operation, "request_hash": request_hash, "created_at": at}
    new_id = _CLAIM[conn.dialect.name].run(conn, values).scalar()
    if new_id is not None:
        return Claim(int(new_id), None, replay=False)
    existing = conn.execute(_CLAIMED, {"b_scope": scope, "b_key": key}).one()
    if existing.request_hash != request_hash or existing.operation != operation:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used for a different {existing.operation} "
            "request; use a new key for a new request",
            key=key,
        )
    outcome = None if existing.outcome is None else json.loads(existing.outcome)
    return Claim(int(existing.id), outcome, replay=outcome is not None)


def outcome_text(outcome: dict[str, Any]) -> str:
    """An outcome as stored with its key (storage/fast.py stores charges' the same way)."""
    return json.dumps(outcome, sort_keys=True, default=str)


def store_outcome(conn: Connection, claim_id: int, outcome: dict[str, Any], transaction_id: int | None) -> None:
    _STORE.run(conn, {"b_id": claim_id, "b_outcome": outcome_text(outcome), "b_txn": transaction_id})


def stored_outcome(conn: Connection, scope: str, key: str) -> dict[str, Any] | None:
    """The outcome stored under a key, if it has one yet."""
    text = conn.execute(
        select(idempotency_keys.c.outcome).where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
    ).scalar()
    return None if text is None else dict(json.loads(text))


def store_outcome_by_key(
    conn: Connection, scope: str, key: str, outcome: dict[str, Any], transaction_id: int | None
) -> None:
    """Store the outcome of a key claimed in an earlier transaction (a settled payment attempt)."""
    conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
        .values(outcome=json.dumps(outcome, sort_keys=True, default=str), transaction_id=transaction_id)
    )
