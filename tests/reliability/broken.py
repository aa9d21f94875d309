"""Deliberately broken ledgers: the negative controls of the reliability battery.

A concurrency test that cannot fail proves nothing, so each one also runs against a variant with
some of the ledger's defences removed, and must then find the damage. A variant is a set of
defects, each one a real bug seen in ledgers (reference §1):

- `unguarded_debit`: the debit checks nothing (`balance = balance - :a`); only the schema's CHECK is
  left to object.
- `rmw_debit`: the debit reads the balance, decides in Python and writes the new value back.
- `unlocked`: no wallet (or payment attempt) row lock (PostgreSQL); on SQLite a deferred BEGIN in a
  transaction that reads before it writes, with no retry to hide what happens on the lock upgrade.
- `no_dispute_cas`, `no_refund_cas`, `no_payment_cas`, `no_expiry_cas`: a state transition that
  does not check the state it starts from (approve an approved dispute, refund past the charge,
  credit a payment twice, expire an expired lot).
- `unchecked_state`: charges priced from a kept clinic state that is never checked against the
  wallet (engine/billing/charges.py): the one-call posting loses every check — the state check,
  the guard, the lots' compare-and-set and the debit's agreement with the prediction — on
  PostgreSQL by replacing the function (storage/fast.py) with one without them, on SQLite by
  patching them out of storage/fast_sqlite.py and making storage/clinics.py's `unchanged` (the
  state check of SQLite's call and of a kept state through the door) always agree.

They patch module attributes of the running process (and, for `unchecked_state` on PostgreSQL,
the function in the test's database) for the duration of a `with` block. The Python defects are
defects of the door posting statement by statement, so the given databases post every charge
through it while they apply (`Database.fast` off).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from storage import accounts as accounts_module
from storage import clinics, fast, fast_sqlite, idempotency
from storage import disputes as disputes_module
from storage import lots as lots_module
from storage import payments as payments_module
from storage.schema import accounts, allocations, disputes, lots, payment_attempts, transactions

PRESETS = {
    "sound": (),
    "unguarded": ("unguarded_debit",),
    "read_modify_write": ("rmw_debit", "unlocked"),
    "unchecked_state": ("unchecked_state",),
}
VARIANTS = tuple(PRESETS)


def _unguarded_debit(conn: Any, wallet_id: int, amount: int, at: Any) -> int | None:
    return conn.execute(
        update(accounts)
        .where(accounts.c.id == wallet_id)
        .values(balance=accounts.c.balance - amount)
        .returning(accounts.c.balance)
    ).scalar()


def _rmw_debit(conn: Any, wallet_id: int, amount: int, at: Any) -> int | None:
    row = conn.execute(select(accounts.c.balance, accounts.c.overdraft_limit).where(accounts.c.id == wallet_id)).one()
    if row.balance - amount < -row.overdraft_limit:
        return None
    time.sleep(0.0005)  # the window every real system has between its read and its write
    conn.execute(update(accounts).where(accounts.c.id == wallet_id).values(balance=row.balance - amount))
    return int(row.balance - amount)


WINDOW = 0.05  # how long a broken transition lingers between its read and its write: long enough
# that racing transactions overlap every time, so the negative control cannot pass by luck


def _decide_without_cas(conn: Any, dispute_id: int, decision: Any) -> bool:
    time.sleep(WINDOW)
    conn.execute(
        update(disputes)
        .where(disputes.c.id == dispute_id)
        .values(status=decision.status.value, decided_at=decision.at, decided_by=decision.actor, note=decision.note)
    )
    return True


def _refund_without_cas(conn: Any, charge_id: int, amount: int) -> bool:
    time.sleep(WINDOW)
    conn.execute(
        update(transactions).where(transactions.c.id == charge_id).values(refunded=transactions.c.refunded + amount)
    )
    return True


def _credit_without_cas(conn: Any, reference: str, topup_id: int, at: Any) -> bool:
    time.sleep(WINDOW)
    conn.execute(
        update(payment_attempts)
        .where(payment_attempts.c.reference == reference)
        .values(status="credited", topup_id=topup_id, settled_at=at)
    )
    return True


def _expire_without_cas(conn: Any, lot_id: int, transaction_id: int) -> int:
    remaining = int(conn.execute(select(lots.c.amount).where(lots.c.id == lot_id)).scalar_one())
    conn.execute(update(lots).where(lots.c.id == lot_id).values(expired=True, remaining=0))
    conn.execute(
        insert(allocations).values(lot_id=lot_id, transaction_id=transaction_id, kind="expire", amount=remaining)
    )
    return remaining


# the defects that replace one storage function by a copy without its guard
_REPLACED: dict[str, tuple[Any, str, Callable[..., Any]]] = {
    "unguarded_debit": (accounts_module, "debit", _unguarded_debit),
    "rmw_debit": (accounts_module, "debit", _rmw_debit),
    "no_dispute_cas": (disputes_module, "decide", _decide_without_cas),
    "no_refund_cas": (lots_module, "mark_refunded", _refund_without_cas),
    "no_payment_cas": (payments_module, "mark_credited", _credit_without_cas),
    "no_expiry_cas": (lots_module, "expire_lot", _expire_without_cas),
}


@contextlib.contextmanager
def broken(variant: str | tuple[str, ...], monkeypatch: pytest.MonkeyPatch, *databases: Any) -> Iterator[None]:
    """Apply the variant's defects to the ledger code and to the given `Database`s until the block ends."""
    defects = PRESETS.get(variant, (variant,)) if isinstance(variant, str) else variant
    with monkeypatch.context() as patch, contextlib.ExitStack() as undo:
        if defects and "unchecked_state" not in defects:
            for database in databases:
                patch.setattr(database, "fast", False)
        for defect in defects:
            replaced = _REPLACED.get(defect)
            if replaced is not None:
                module, name, function = replaced
                patch.setattr(module, name, function)
            elif defect == "unlocked":
                _unlock(patch, databases)
            elif defect == "unchecked_state":
                patch.setattr(clinics, "unchanged", lambda conn, wallet, priced_from, at: True)
                for database in databases:
                    undo.enter_context(_unchecked_function(database, patch))
            else:
                raise ValueError(defect)
        yield


# what the unchecked function leaves out of storage/fast.py's (each must be found, or the control is void)
_CHECKS = (
    "IF v_version IS DISTINCT FROM p_version",  # the state check becomes "IF false AND ..."
    " AND a.balance - p_credits >= -a.overdraft_limit",  # the guard
    " AND l.remaining >= p_parts[1]",  # the lots' compare-and-set: one lot
    " AND l.remaining >= t.part",  # and many
    "IF o_balance IS DISTINCT FROM p_balance THEN",  # agreeing with the prediction
    "IF v_count <> coalesce(cardinality(p_lots), 0) THEN",
)


# and what it leaves out of storage/fast_sqlite.py's statements (the checks in Python are patched)
_SQLITE_CHECKS = {"_DEBIT": " AND balance - ? >= -overdraft_limit", "_TAKE": " AND remaining >= ?"}


@contextlib.contextmanager
def _unchecked_function(database: Any, patch: pytest.MonkeyPatch) -> Iterator[None]:
    if database.dialect != "postgresql":
        for name, check in _SQLITE_CHECKS.items():
            sql = getattr(fast_sqlite, name)
            assert check in sql, f"storage/fast_sqlite.py's {name} no longer has {check!r}"
            patch.setattr(fast_sqlite, name, sql.replace(check, " AND ? IS NOT NULL"))
        patch.setattr(fast_sqlite, "_agrees", lambda after, charge: after is not None)
        yield
        return
    broken_sql = fast.CHARGE_FUNCTION
    for check in _CHECKS:
        assert check in broken_sql, f"storage/fast.py's function no longer has {check!r}"
        replacement = "" if check.startswith(" AND") else check.replace("IF ", "IF false AND ", 1)
        broken_sql = broken_sql.replace(check, replacement, 1)
    install = lambda sql: database.run(lambda conn: conn.connection.driver_connection.execute(sql))  # noqa: E731
    install(broken_sql)
    try:
        yield
    finally:
        install(fast.CHARGE_FUNCTION)


def _unlock(patch: pytest.MonkeyPatch, databases: tuple[Any, ...]) -> None:
    original_state, original_wallet, claim = clinics.load_state, accounts_module.wallet, idempotency.claim
    original_attempt = payments_module.attempt
    patch.setattr(clinics, "load_state", lambda conn, clinic, at, lock=False: original_state(conn, clinic, at))
    patch.setattr(accounts_module, "wallet", lambda conn, clinic, lock=False: original_wallet(conn, clinic))
    patch.setattr(payments_module, "attempt", lambda conn, reference, lock=False: original_attempt(conn, reference))

    def read_first(conn: Any, *args: Any) -> Any:  # a transaction that reads before it writes
        conn.execute(select(accounts.c.balance).where(accounts.c.kind == "wallet")).all()
        time.sleep(0.0005)
        return claim(conn, *args)

    patch.setattr(idempotency, "claim", read_first)
    for database in databases:
        patch.setattr(database, "write_begin", "BEGIN")  # SQLite: deferred, the lock taken late
        patch.setattr(database, "attempts", 1)  # and no retry to hide what that does
