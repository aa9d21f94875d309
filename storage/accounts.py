"""Accounts: clinic wallets (a cached balance and an overdraft limit) and the system accounts.

A wallet's balance changes only through the two statements at the bottom of this module, and only
storage/transfers.py (the ledger's one door) calls them: `debit` is THE guarded statement — one
UPDATE that refuses to take the wallet further below zero than its own overdraft limit — and
`credit` refuses to pass BALANCE_MAX. Neither reads the balance into Python first.

System accounts (cash, usage revenue, promotion expense, expired credits, adjustments) keep no
cached balance: their balance is the sum of their entries. One `usage_revenue` row updated by every
charge of a market would serialise all clinics' charges on PostgreSQL.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.bounds import BALANCE_MAX
from engine.vocabulary import SYSTEM_ACCOUNTS, AccountKind
from storage.schema import accounts, clinics
from storage.statements import Statement

B = bindparam


@dataclass(frozen=True)
class Wallet:
    id: int
    clinic_id: str
    market: str
    balance: int
    overdraft_limit: int
    last_at: datetime | None = None  # the time of the latest posted operation
    timezone: str = "UTC"  # the clinic's: its usage is counted by its own days (storage/usage.py)
    version: int = 0  # changes with everything a charge reads about the clinic (see `bump`)


_SYSTEM_IDS: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], int]] = weakref.WeakKeyDictionary()


def known_system_account(engine: Engine, kind: AccountKind, market: str) -> int | None:
    """The id of a system account this process has already found committed, else None."""
    return _SYSTEM_IDS.get(engine, {}).get((kind, market))


def system_account(conn: Connection, kind: AccountKind, market: str) -> int:
    """The id of a system account (created on first use, one per kind and market). Ids found
    committed are remembered per database engine: they never change once created."""
    if kind not in SYSTEM_ACCOUNTS:
        raise ValueError(f"{kind!r} is not a system account")
    known = _SYSTEM_IDS.setdefault(conn.engine, {})
    if (kind, market) in known:
        return known[(kind, market)]
    query = select(accounts.c.id).where(
        accounts.c.kind == kind, accounts.c.market == market, accounts.c.clinic_id.is_(None)
    )
    found = conn.execute(query).scalar()
    if found is not None:
        known[(kind, market)] = int(found)
        return int(found)
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    insert(accounts)
                    .values(kind=kind, market=market, balance=0, overdraft_limit=0, version=0)
                    .returning(accounts.c.id)
                ).scalar_one()
            )  # not remembered: this transaction may still roll back
    except IntegrityError:  # another transaction created it first
        return int(conn.execute(query).scalar_one())


def create_wallet(conn: Connection, clinic_id: str, market: str, overdraft_limit: int) -> int:
    return int(
        conn.execute(
            insert(accounts)
            .values(
                kind=AccountKind.WALLET,
                market=market,
                clinic_id=clinic_id,
                balance=0,
                overdraft_limit=overdraft_limit,
                version=0,
            )
            .returning(accounts.c.id)
        ).scalar_one()
    )


def wallet(conn: Connection, clinic_id: str, lock: bool = False) -> Wallet | None:
    """The clinic's wallet; with `lock`, its row is locked until the transaction ends (PostgreSQL:
    FOR UPDATE; SQLite's BEGIN IMMEDIATE already holds the database's write lock)."""
    query = (
        select(
            accounts.c.id,
            accounts.c.clinic_id,
            accounts.c.market,
            accounts.c.balance,
            accounts.c.overdraft_limit,
            accounts.c.last_at,
            clinics.c.timezone,
            accounts.c.version,
        )
        .select_from(accounts.join(clinics, clinics.c.id == accounts.c.clinic_id))
        .where(accounts.c.clinic_id == clinic_id, accounts.c.kind == AccountKind.WALLET.value)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=accounts, key_share=False)
    row = conn.execute(query).first()
    return None if row is None else wallet_of_row(row)


def wallet_of_row(row: Any) -> Wallet:
    """A Wallet from a row with the wallet's columns (and the clinic's timezone)."""
    return Wallet(
        int(row.id),
        row.clinic_id,
        row.market,
        int(row.balance),
        int(row.overdraft_limit),
        row.last_at,
        row.timezone,
        int(row.version),
    )


def balance_of(conn: Connection, wallet_id: int) -> int:
    return int(conn.execute(select(accounts.c.balance).where(accounts.c.id == wallet_id)).scalar_one())


def clinic_of(conn: Connection, wallet_id: int) -> str:
    return str(conn.execute(select(accounts.c.clinic_id).where(accounts.c.id == wallet_id)).scalar_one())


def set_overdraft_limit(conn: Connection, wallet_id: int, limit: int) -> bool:
    """Change a wallet's limit; refused (False) while the wallet is further overdrawn than the new one."""
    result = conn.execute(
        update(accounts)
        .where(accounts.c.id == wallet_id, accounts.c.balance >= -limit)
        .values(overdraft_limit=limit, version=accounts.c.version + 1)
    )
    return result.rowcount == 1


# Built once (storage/statements.py): SQLAlchemy's compile and cache-key cost is most of a small
# statement's cost in Python.
_DEBIT = Statement(
    update(accounts)
    .where(
        accounts.c.id == B("b_wallet"),
        accounts.c.kind == AccountKind.WALLET.value,
        accounts.c.balance - B("b_amount") >= -accounts.c.overdraft_limit,
    )
    .values(balance=accounts.c.balance - B("b_amount"), version=accounts.c.version + 1, last_at=B("b_at"))
    .returning(accounts.c.balance)
)
_CREDIT = Statement(
    update(accounts)
    .where(
        accounts.c.id == B("b_wallet"),
        accounts.c.kind == AccountKind.WALLET.value,
        accounts.c.balance <= BALANCE_MAX - B("b_amount"),
    )
    .values(balance=accounts.c.balance + B("b_amount"), version=accounts.c.version + 1, last_at=B("b_at"))
    .returning(accounts.c.balance)
)


_TOUCH = Statement(
    update(accounts).where(accounts.c.id == B("b_wallet")).values(last_at=B("b_at"), version=accounts.c.version + 1)
)
_BUMP = Statement(
    update(accounts)
    .where(accounts.c.clinic_id == B("b_clinic"), accounts.c.kind == AccountKind.WALLET.value)
    .values(version=accounts.c.version + 1)
)


def debit(conn: Connection, wallet_id: int, amount: int, at: datetime) -> int | None:
    """THE guarded statement: take `amount` unless that would put the wallet further below zero
    than its own overdraft limit. Returns the new balance, or None: declined, nothing changed."""
    return _DEBIT.run(conn, {"b_wallet": wallet_id, "b_amount": amount, "b_at": at}).scalar()


def credit(conn: Connection, wallet_id: int, amount: int, at: datetime) -> int | None:
    """Add credits; None (nothing changed) when the balance would pass BALANCE_MAX."""
    return _CREDIT.run(conn, {"b_wallet": wallet_id, "b_amount": amount, "b_at": at}).scalar()


def touch(conn: Connection, wallet_id: int, at: datetime) -> None:
    """Record a posted operation that moved no credits (a free charge, an empty expiry)."""
    _TOUCH.run(conn, {"b_wallet": wallet_id, "b_at": at})


def bump(conn: Connection, clinic_id: str) -> None:
    """Mark the clinic's state changed (a term started, a package held, a pin, a new segment).

    A wallet's `version` changes with every change to what a charge reads about its clinic: the
    balance, the limit and the latest time (the statements above), the lots (only ever changed
    with the balance), and the rows of storage/clinics.py, which call this. A charge priced from
    a state read earlier (a cached one: engine/billing/state.py) is posted only while the version
    it was read at is still the wallet's (storage/fast.py), so it can never be priced stale."""
    _BUMP.run(conn, {"b_clinic": clinic_id})
