"""Ledger benchmark: lead charges per second through `Billing.charge` on 1,000 clinics, beside
baselines measured in the same run on the same machine:

- SQLite (one writer): a raw sqlite3 loop of `BEGIN IMMEDIATE; guarded UPDATE; INSERT; COMMIT` with
  the ledger's own settings (WAL, synchronous=FULL).
- PostgreSQL at 1, 4 and 16 clients: pgbench's tpcb-like transaction at the same client counts
  (`pgbench -i -s 10`, its own throw-away database). Billing clients are separate processes, each
  charging its own share of the clinics, started together behind a barrier.

Each row prints throughput, p50/p99 latency and the ratio to its baseline. Target: >= 50%.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import ROOT, table

CLINICS = 1_000
SQLITE_CHARGES = 4_000
SECONDS = float(os.environ.get("CREDITBOOK_BENCH_SECONDS", "8"))
CLIENTS = (1, 4, 16)
PROCESSES = int(os.environ.get("CREDITBOOK_BENCH_PROCESSES", str(os.cpu_count() or 2)))
PG_URL = os.environ.get("CREDITBOOK_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TARGET = 0.5


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


# -- SQLite ------------------------------------------------------------------------------------------


def raw_sqlite(folder: Path, count: int = 20_000) -> dict[str, float]:
    """The bare minimum a ledger write is: one guarded UPDATE and one INSERT per durable commit."""
    path = folder / "raw.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE wallet (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, lim INTEGER NOT NULL)")
    conn.execute("CREATE TABLE entry (id INTEGER PRIMARY KEY, wallet INTEGER REFERENCES wallet(id), amount INTEGER)")
    conn.executemany("INSERT INTO wallet VALUES (?, ?, 0)", [(i, 10**12) for i in range(CLINICS)])
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE wallet SET balance = balance - ? WHERE id = ? AND balance - ? >= -lim", (250, i % CLINICS, 250)
        )
        conn.execute("INSERT INTO entry (wallet, amount) VALUES (?, ?)", (i % CLINICS, -250))
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    conn.close()
    p50, p99 = _percentiles(latencies)
    return {"rate": count / elapsed, "p50": p50, "p99": p99}


def _lead(i: int) -> Any:
    from engine.pricing.requests import LeadRequest

    prices = (3_000, 7_500, 15_000, 30_000, 75_000, 150_000)
    return LeadRequest(product="lead_call" if i % 3 else "lead_chat", package_price=Decimal(prices[i % len(prices)]))


def _prepare(url: str) -> None:
    """1,000 Indian clinics with ₹1,000,000 each (not timed)."""
    from engine.billing import Billing

    billing = Billing(url)
    for path in ("in/in-clinic-leads-v1.xlsx", "in/in-clinic-leads-v2.xlsx"):
        billing.publish_pricebook(ROOT / "pricebooks" / path, actor="bench", key=path, at=START - timedelta(days=400))
    for n in range(CLINICS):
        billing.register_clinic(f"c{n:04d}", f"Clinic {n}", "IN", key="register", at=START)
        billing.purchase(f"c{n:04d}", 1_000_000, payment_method="upi_ok", key="topup", at=START)
    billing.db.dispose()


def billing_sqlite(folder: Path) -> dict[str, float]:
    from engine.billing import Billing

    url = f"sqlite:///{folder / 'ledger.db'}"
    _prepare(url)
    billing = Billing(url)
    requests = [_lead(i) for i in range(SQLITE_CHARGES)]
    latencies = []
    started = time.perf_counter()
    for i, request in enumerate(requests):
        t = time.perf_counter()
        result = billing.charge(f"c{i % CLINICS:04d}", request, key=f"bench-{i}", at=START + timedelta(seconds=i))
        latencies.append(time.perf_counter() - t)
        assert result.approved
    elapsed = time.perf_counter() - started
    assert billing.reconcile().ok
    billing.db.dispose()
    p50, p99 = _percentiles(latencies)
    return {"rate": SQLITE_CHARGES / elapsed, "p50": p50, "p99": p99}


# -- PostgreSQL --------------------------------------------------------------------------------------


def _admin(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def _database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _pg_args() -> list[str]:
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    return ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]


def pgbench(clients: int, database: str) -> dict[str, float]:
    """pgbench's tpcb-like transaction (3 UPDATEs, a SELECT, an INSERT) at `clients`."""
    logs = Path(tempfile.mkdtemp(prefix="pgbench-"))
    try:
        out = subprocess.run(
            [
                "pgbench",
                *_pg_args(),
                "-n",
                "-b",
                "tpcb-like",
                "-c",
                str(clients),
                "-j",
                str(min(clients, 2)),
                "-T",
                str(int(SECONDS)),
                "-l",
                f"--log-prefix={logs / 'tx'}",
                database,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
        latencies = [
            int(line.split()[2]) / 1e6 for log in logs.iterdir() for line in log.read_text().splitlines() if line
        ]
        p50, p99 = _percentiles(latencies)
        return {"rate": tps, "p50": p50, "p99": p99}
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def _client(url: str, clinics: list[str], threads: int, start: Any, results: Any, offset: int) -> None:
    """One client process running `threads` callers, each charging its own share of `clinics`."""
    import threading

    from engine.billing import Billing

    billing = Billing(url, migrate=False)
    requests = [_lead(i) for i in range(500)]
    billing.charge(clinics[0], requests[0], key=f"warm-{offset}", at=START)  # connect, compile, warm caches
    collected: list[list[float]] = [[] for _ in range(threads)]

    def caller(k: int) -> None:
        mine, latencies = clinics[k::threads], collected[k]
        stop = time.perf_counter() + SECONDS
        i = 0
        while time.perf_counter() < stop:
            t = time.perf_counter()
            billing.charge(
                mine[i % len(mine)], requests[i % 500], key=f"b-{offset}-{k}-{i}", at=START + timedelta(seconds=i)
            )
            latencies.append(time.perf_counter() - t)
            i += 1

    workers = [threading.Thread(target=caller, args=(k,)) for k in range(threads)]
    start.wait()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put([latency for latencies in collected for latency in latencies])


def billing_postgres(clients: int, url: str) -> dict[str, float]:
    """`clients` concurrent callers: one process each up to PROCESSES, then threads inside them (a
    caller waiting on the database releases the GIL; more processes than cores only thrash)."""
    ctx = multiprocessing.get_context("spawn")
    processes = min(clients, PROCESSES)
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    names = [f"c{n:04d}" for n in range(CLINICS)]
    workers = [
        ctx.Process(target=_client, args=(url, names[k::processes], clients // processes, barrier, results, k))
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    latencies: list[float] = []
    for _ in workers:
        latencies.extend(results.get())
    for worker in workers:
        worker.join()
    p50, p99 = _percentiles(latencies)
    return {"rate": len(latencies) / SECONDS, "p50": p50, "p99": p99}


def run() -> None:
    print("== ledger: lead charges through Billing.charge on 1,000 clinics, beside raw baselines ==")
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="creditbook-bench-"))
    try:
        raw = raw_sqlite(folder)
        ours = billing_sqlite(folder)
        rows.append(("SQLite, 1 writer", "raw sqlite3 UPDATE+INSERT", raw, ours))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    suffix = uuid.uuid4().hex[:8]
    ledger_db, pgbench_db = f"creditbook_bench_{suffix}", f"creditbook_pgbench_{suffix}"
    try:
        _admin(f'CREATE DATABASE "{ledger_db}"')
        _admin(f'CREATE DATABASE "{pgbench_db}"')
        subprocess.run(["pgbench", *_pg_args(), "-i", "-s", "10", "-q", pgbench_db], capture_output=True, check=True)
        url = _database_url(ledger_db)
        _prepare(url)
        for clients in CLIENTS:
            rows.append(
                (
                    f"PostgreSQL, {clients} client{'s' * (clients > 1)}",
                    "pgbench tpcb-like",
                    pgbench(clients, pgbench_db),
                    billing_postgres(clients, url),
                )
            )
        from engine.billing import Billing

        checked = Billing(url, migrate=False)
        assert checked.reconcile().ok, "the benchmark left the ledger inconsistent"
        checked.db.dispose()
    finally:
        for name in (ledger_db, pgbench_db):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        table(
            ["database", "baseline", "baseline tx/s", "p50/p99 ms", "Billing.charge/s", "p50/p99 ms", "ratio", "≥ 50%"],
            [
                (
                    where,
                    name,
                    f"{base['rate']:,.0f}",
                    f"{base['p50']:.2f} / {base['p99']:.2f}",
                    f"{ours['rate']:,.0f}",
                    f"{ours['p50']:.2f} / {ours['p99']:.2f}",
                    f"{ours['rate'] / base['rate']:.0%}",
                    "PASS" if ours["rate"] >= TARGET * base["rate"] else "below",
                )
                for where, name, base, ours in rows
            ],
        )
    )
    print(
        "A charge is one idempotent database transaction of about a dozen statements (claim the key, read the\n"
        "clinic, wallet, version, packages, terms and lots, guarded debit, transaction row, lot updates and\n"
        "allocations, double-entry legs, stored outcome) plus the Python quote, policy and alerts; the\n"
        "baselines write two rows (sqlite3) or five (pgbench) with nothing computed between them."
    )
