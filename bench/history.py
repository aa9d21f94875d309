"""Bulk ledger histories for the ledger benchmark: years of charges written in seconds.

Posting a million charges through `Billing.charge` would take the benchmark an hour, so these write
the rows a posted lead charge leaves — the transaction, its allocation, its two legs, its key with
its outcome, the clinic's usage counters — straight into an SQLite ledger with sqlite3's
executemany, and move each wallet's balance and lot as the charges would have. The result is a
ledger every check of storage/reconcile.py passes (`history` asserts it when asked), so that what
the benchmark then times (a charge in a busy month, a history page, a reconcile) runs on a ledger
shaped like a real one.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a datetime on SQLite (UTC wall time)
CREDITS = 250


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime(SQLITE_TIME)


def clinics(path: Path, count: int, funded: int, at: datetime, prefix: str = "h") -> list[str]:
    """`count` Indian clinics, each with a wallet and one top-up of `funded` credits (a lot that
    never expires, its two legs, the credited payment it names), written directly. The pricebook
    must be published already."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        (pricebook,) = conn.execute("select pricebook_id from pricebook_versions limit 1").fetchone()
        cash = _system_account(conn, "cash", "IN")
        names = [f"{prefix}{n:05d}" for n in range(count)]
        conn.executemany(
            "insert into clinics (id, name, market, pricebook_id, segment, bundle, timezone, created_at) "
            "values (?, ?, 'IN', ?, 'standard', 0, 'Asia/Kolkata', ?)",
            [(name, name, pricebook, _when(at)) for name in names],
        )
        conn.executemany(
            "insert into accounts (kind, market, clinic_id, balance, overdraft_limit, version, last_at) "
            "values ('wallet', 'IN', ?, ?, 0, 1, ?)",
            [(name, funded, _when(at)) for name in names],
        )
        wallets = dict(conn.execute("select clinic_id, id from accounts where kind = 'wallet'").fetchall())
        first = _next_id(conn, "transactions")

        def legs(name: str) -> tuple[tuple[int, int], tuple[int, int]]:
            return (wallets[name], funded), (cash, -funded)

        conn.executemany(
            "insert into transactions (id, clinic_id, kind, status, credits, at, unfunded, refunded, payment_id) "
            "values (?, ?, 'topup', 'posted', ?, ?, 0, 0, ?)",
            [(first + n, name, funded, _when(at), f"bench-{name}") for n, name in enumerate(names)],
        )
        conn.executemany(  # the credited payment each top-up names (reconcile's check (i))
            "insert into payment_attempts (reference, clinic_id, origin, idempotency_key, provider, provider_id, "
            "method, credits, amount, currency, status, created_at, answered_at, settled_at, topup_id) "
            "values (?, ?, 'purchase', 'topup', 'fake', ?, 'upi_ok', ?, ?, 'INR', 'credited', ?, ?, ?, ?)",
            [
                (f"bench-{name}", name, f"bench-{name}", funded, funded, _when(at), _when(at), _when(at), first + n)
                for n, name in enumerate(names)
            ],
        )
        conn.executemany(
            "insert into lots (wallet_id, kind, source, amount, remaining, created_at, expired, transaction_id) "
            "values (?, 'paid', 'topup', ?, ?, ?, 0, ?)",
            [(wallets[name], funded, funded, _when(at), first + n) for n, name in enumerate(names)],
        )
        conn.executemany(
            "insert into entries (transaction_id, account_id, amount) values (?, ?, ?)",
            [(first + n, account, amount) for n, name in enumerate(names) for account, amount in legs(name)],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return names


def _system_account(conn: sqlite3.Connection, kind: str, market: str) -> int:
    found = conn.execute(
        "select id from accounts where kind = ? and market = ? and clinic_id is null", (kind, market)
    ).fetchone()
    if found is not None:
        return int(found[0])
    cursor = conn.execute(
        "insert into accounts (kind, market, balance, overdraft_limit, version) values (?, ?, 0, 0, 0)", (kind, market)
    )
    return int(cursor.lastrowid or 0)


def _next_id(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"select coalesce(max(id), 0) + 1 from {table}").fetchone()[0])


def history(path: Path, names: list[str], per_clinic: int, first: datetime, step: timedelta) -> datetime:
    """`per_clinic` posted lead charges of CREDITS credits for each clinic, one every `step` from
    `first` (the clinics' charges interleaved in time), each with its key, allocation and legs;
    the wallets, lots and usage counters moved to match. Returns the time of the last charge."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # a bulk load: durability is not what is measured
    try:
        conn.execute("BEGIN IMMEDIATE")
        revenue = _system_account(conn, "usage_revenue", "IN")
        named = set(names)
        wallets = {
            clinic_id: wallet_id
            for clinic_id, wallet_id in conn.execute("select clinic_id, id from accounts where kind = 'wallet'")
            if clinic_id in named
        }
        lots = dict(conn.execute("select wallet_id, min(id) from lots where expired = 0 group by wallet_id").fetchall())
        zone = ZoneInfo("Asia/Kolkata")
        next_id = _next_id(conn, "transactions")
        days: Counter[tuple[str, date]] = Counter()
        last = first
        batch = 20_000
        pending: list[tuple[int, str, datetime]] = []
        for n in range(per_clinic * len(names)):
            at = first + step * n
            name = names[n % len(names)]
            pending.append((next_id + n, name, at))
            days[(name, at.astimezone(zone).date())] += 1
            last = at
            if len(pending) == batch:
                _write(conn, pending, wallets, lots, revenue)
                pending = []
        _write(conn, pending, wallets, lots, revenue)
        moved = per_clinic * CREDITS
        conn.executemany(
            "update accounts set balance = balance - ?, version = version + 1, last_at = ? where id = ?",
            [(moved, _when(last), wallets[name]) for name in names],
        )
        conn.executemany(
            "update lots set remaining = remaining - ? where id = ?", [(moved, lots[wallets[name]]) for name in names]
        )
        conn.executemany(
            "insert into usage_days (clinic_id, day, product, charged, units, refunded, charge_refunded) "
            "values (?, ?, 'lead_call', ?, ?, 0, 0) on conflict (clinic_id, day, product) do update set "
            "charged = charged + excluded.charged, units = units + excluded.units",
            [(name, day.isoformat(), count * CREDITS, count) for (name, day), count in days.items()],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return last


def _write(
    conn: sqlite3.Connection,
    pending: list[tuple[int, str, datetime]],
    wallets: dict[str, int],
    lots: dict[int, int],
    revenue: int,
) -> None:
    conn.executemany(
        "insert into transactions (id, clinic_id, kind, status, credits, at, product, units, pricebook_id, "
        "pricebook_version, rule_ids, unfunded, refunded) values "
        "(?, ?, 'charge', 'posted', ?, ?, 'lead_call', 1, 'in-clinic-leads', 2, '[\"LP-03\"]', 0, 0)",
        [(txn, name, CREDITS, _when(at)) for txn, name, at in pending],
    )
    conn.executemany(
        "insert into allocations (lot_id, transaction_id, kind, amount) values (?, ?, 'charge', ?)",
        [(lots[wallets[name]], txn, CREDITS) for txn, name, _ in pending],
    )
    conn.executemany(
        "insert into entries (transaction_id, account_id, amount) values (?, ?, ?)",
        [row for txn, name, _ in pending for row in ((txn, wallets[name], -CREDITS), (txn, revenue, CREDITS))],
    )
    conn.executemany(
        "insert into idempotency_keys (scope, key, operation, request_hash, outcome, transaction_id, created_at) "
        "values (?, ?, 'charge', ?, '{}', ?, ?)",
        [(name, f"bulk-{txn}", "0" * 64, txn, _when(at)) for txn, name, at in pending],
    )
