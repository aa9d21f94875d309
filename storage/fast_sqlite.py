"""`creditbook_charge` on SQLite: the one-round-trip function's steps, over the driver's cursor.

SQLite has no server and no round trips; what a charge cost there was Python: each of its dozen
statements built and read through storage/statements.py (parameters through SQLAlchemy's type
processors, a result object per statement), the door's checks around them, and the key claimed
by one statement and answered by another. Here a charge decided in Python from a kept state —
the same `FastCharge` PostgreSQL's function takes (storage/fast.py) — is written by the steps of
that function, each a plain statement on one kept sqlite3 cursor, inside the caller's write
transaction (BEGIN IMMEDIATE: it holds SQLite's write lock, so nothing can change between the
checks and the writes):

1. the idempotency key, read: a key already used answers `replay` with its stored outcome, or
   `conflict` (another request) — the key itself is written last, with its outcome (step 4): no
   one else can write it meanwhile;
2. the wallet, still in the state the charge was priced from — its version, the version of its
   pricebook in force at the charge's time and its pin (storage/clinics.py `unchanged`, the check
   a kept state passes on every path) — or `stale`: nothing was written, billing reads the clinic
   and prices the charge anew;
3. the guarded debit (THE statement of storage/accounts.py, same WHERE), which must agree with the
   prediction, and each lot's part, compare-and-set — or the declined transaction, when the
   prediction says the guard refuses it (checked here: a wrong prediction raises);
4. the transaction row, its allocations and two legs, the term's units and the usage counters,
   and the key with its outcome and transaction id.

A prediction that does not hold raises `LedgerError`: the caller's transaction rolls back and
nothing is written. The rows are those `transfers.post` writes for the same charge
(tests/billing/test_fast_path.py compares them table by table, on both databases).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Date
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeEngine

from storage import clinics
from storage.errors import LedgerError
from storage.fast import Answer, FastCharge, Status
from storage.schema import UTCDateTime
from storage.statements import driver_error


def _processor(kind: TypeEngine[Any]) -> Callable[[Any], Any]:
    """How SQLAlchemy writes a value of this type on SQLite: these rows must be stored exactly as
    those written through it (the same text, so that they sort and compare the same in SQL)."""
    dialect = sqlite.dialect()
    found = kind.dialect_impl(dialect).bind_processor(dialect)
    assert found is not None  # SQLite's DATETIME and DATE write text
    return found


_WHEN: Final = _processor(UTCDateTime())  # an aware datetime → its UTC wall time, as text
_DAY: Final = _processor(Date())

_KEY: Final = "SELECT operation, request_hash, outcome FROM idempotency_keys WHERE scope = ? AND key = ?"
#: whether the guarded debit would take the credits (a declined prediction is checked by it)
_GUARD: Final = "SELECT balance - ? >= -overdraft_limit FROM accounts WHERE id = ? AND kind = 'wallet'"
_DEBIT: Final = (
    "UPDATE accounts SET balance = balance - ?, version = version + 1, last_at = ? "
    "WHERE id = ? AND kind = 'wallet' AND balance - ? >= -overdraft_limit RETURNING balance"
)
_TOUCH: Final = "UPDATE accounts SET last_at = ?, version = version + 1 WHERE id = ? RETURNING balance"
_TAKE: Final = "UPDATE lots SET remaining = remaining - ? WHERE id = ? AND wallet_id = ? AND remaining >= ?"
_TRANSACTION: Final = (  # the columns a charge fills, then its `described()` values, then what no charge has
    "INSERT INTO transactions (clinic_id, kind, status, credits, at, pricebook_id, product, units, "
    "pricebook_version, pricebook_hash, rule_ids, quote, reason, patient_ref, unfunded, actor, note, related_id, "
    "payment_id, refunded) "
    "VALUES (?, 'charge', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, 0) RETURNING id"
)
_ALLOCATION: Final = "INSERT INTO allocations (lot_id, transaction_id, kind, amount) VALUES (?, ?, 'charge', ?)"
_LEGS: Final = "INSERT INTO entries (transaction_id, account_id, amount) VALUES (?, ?, ?), (?, ?, ?)"
_TERM: Final = "UPDATE terms SET units = units + ? WHERE id = ?"
_USAGE: Final = (
    "INSERT INTO usage_days (clinic_id, day, product, charged, units, refunded, charge_refunded) "
    "VALUES (?, ?, ?, ?, ?, 0, 0) ON CONFLICT (clinic_id, day, product) "
    "DO UPDATE SET charged = charged + excluded.charged, units = units + excluded.units"
)
_STORE_KEY: Final = (
    "INSERT INTO idempotency_keys (scope, key, operation, request_hash, outcome, transaction_id, created_at) "
    "VALUES (?, ?, 'charge', ?, ?, ?, ?)"
)


def post_charge(conn: Connection, charge: FastCharge) -> Answer:
    """Post one charge in the caller's write transaction (see the module docstring)."""
    return post_charges(conn, [charge])[0]


def post_charges(conn: Connection, charges: Sequence[FastCharge]) -> list[Answer]:
    """Post charges one after another in the caller's write transaction: a stale one writes nothing
    and the others are posted; a failure of the database (or a prediction that does not hold)
    raises, and the caller's transaction rolls back."""
    cursor = _cursor(conn)
    try:
        return [_post(conn, cursor, charge) for charge in charges]
    except conn.dialect.loaded_dbapi.Error as error:  # busy, locked, full: storage/database.py decides
        raise driver_error(conn, "creditbook_charge (SQLite)", None, error, cursor) from error


def _post(conn: Connection, cursor: Any, charge: FastCharge) -> Answer:
    row = charge.row
    described = charge.described()  # checked before anything is read or written
    clinic = row["clinic_id"]
    found = cursor.execute(_KEY, (clinic, charge.key)).fetchone()
    if found is not None:
        operation, request_hash, outcome = found
        if operation != "charge" or request_hash != charge.request_hash:
            return Answer("conflict")
        return Answer("slow") if outcome is None else Answer("replay", stored=outcome)
    wallet, version, pricebook, in_force, pinned = charge.state
    if not clinics.unchanged(conn, wallet, (version, in_force, pinned), row["at"]):
        return Answer("stale")
    at = _WHEN(row["at"])
    credits = row["credits"]
    if charge.approve:
        balance = _spend(cursor, charge, wallet, credits, at)
        status: Status = "posted"
    else:
        if cursor.execute(_GUARD, (credits, wallet)).fetchone()[0]:
            raise LedgerError(f"wallet {wallet} can take {credits} credits: the prediction declined them")
        balance, status = charge.balance, "declined"
    transaction_id = cursor.execute(_TRANSACTION, (clinic, status, credits, at, pricebook, *described)).fetchone()[0]
    if charge.approve:
        _record(cursor, charge, wallet, credits, transaction_id)
    head, tail = charge.outcome
    outcome = f"{head}{transaction_id}{tail}"
    cursor.execute(
        _STORE_KEY, (clinic, charge.key, charge.request_hash, outcome, transaction_id, _WHEN(charge.claimed_at))
    )
    return Answer(status, transaction_id, balance)


def _spend(cursor: Any, charge: FastCharge, wallet: int, credits: int, at: Any) -> int:
    """The guarded debit and the lots' parts (or the touch of a free charge): the balance after."""
    if not credits:
        return int(cursor.execute(_TOUCH, (at, wallet)).fetchone()[0])
    after = cursor.execute(_DEBIT, (credits, at, wallet, credits)).fetchone()
    if not _agrees(after, charge):
        raise LedgerError(f"wallet {wallet} took {credits} credits to {after}, not the predicted {charge.balance}")
    for lot, part in charge.taken.by_lot if charge.taken is not None else ():
        if cursor.execute(_TAKE, (part, lot, wallet, part)).rowcount != 1:
            raise LedgerError(f"the lots of wallet {wallet} changed under the prediction")
    return int(after[0])


def _agrees(after: Any, charge: FastCharge) -> bool:
    """The guarded debit took the credits and left the balance the prediction said."""
    return after is not None and after[0] == charge.balance


def _record(cursor: Any, charge: FastCharge, wallet: int, credits: int, transaction_id: int) -> None:
    """A posted charge's allocations, legs, term units and usage counters."""
    row = charge.row
    if credits:
        for lot, part in charge.taken.by_lot if charge.taken is not None else ():
            cursor.execute(_ALLOCATION, (lot, transaction_id, part))
        cursor.execute(_LEGS, (transaction_id, wallet, -credits, transaction_id, charge.counter, credits))
    if charge.term is not None:
        term, units = charge.term
        cursor.execute(_TERM, (units, term))
    day = _DAY(charge.day)
    cursor.execute(_USAGE, (row["clinic_id"], day, row["product"] or "", credits, row["units"] or 0))


def _cursor(conn: Connection) -> Any:
    """The cursor kept with this driver connection (one per connection, used by one thread at a time)."""
    fairy = conn.connection
    driver = fairy.driver_connection
    cursor = fairy.info.get("creditbook_sqlite_cursor")
    if cursor is None or getattr(cursor, "connection", None) is not driver:
        cursor = fairy.info["creditbook_sqlite_cursor"] = driver.cursor()  # type: ignore[union-attr]
    return cursor
