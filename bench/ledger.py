"""Ledger benchmark: charges through `Billing`, beside baselines measured in the same run.

Every figure is printed beside its baseline, and beside the same figure for the code before the
fast charge path (commit BEFORE, extracted into a scratch folder and run in child processes with
its own benchmark functions), so that "how much faster" is measured, not remembered:

- SQLite, one writer (WAL, synchronous=FULL), lead charges on 1,000 clinics: single charges beside
  a raw sqlite3 loop of BEGIN IMMEDIATE; guarded UPDATE; INSERT; COMMIT (target >= 35%), and
  `charge_batch` of 100 beside the same raw loop's per-row rate (target >= 70%); and for scale,
  the floor: the statements a charge runs, in bare sqlite3 with nothing to decide.
- PostgreSQL at 1, 4 and 16 clients beside pgbench's tpcb-like transaction at the same client
  counts (`pgbench -i -s 10`, its own throw-away database); Billing clients are separate processes
  charging their own share of the clinics, started together behind a barrier (target >= 70%).
  Beside each, the CPU one transaction takes on each side (the server's processes, read from
  /proc; the clients' own): server and clients share this machine's cores, so what the client
  spends caps the rate (`ceiling`).
- A busy month: charge p50 on a clinic with 1,000 charges already in its month beside one with
  none, interleaved (target: within 20%).
- History: page 20 beside page 1, by cursor and by page number (target: within 20%).
- Reconcile on SQLite at 100,000 and 1,000,000 transactions (target: < 5 s at 1M), beside the
  reconcile of the code before on the same file.

Clients are warmed before the clock starts: each charges its clinics once, as a running server
has (the state a charge reads is then kept: engine/billing/charges.py). The machine these run on
is shared: read each figure against its baseline from the same run, not against another run.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import ROOT, table

CLINICS = 1_000
SQLITE_CHARGES = 4_000
BATCH = 100
SECONDS = float(os.environ.get("CREDITBOOK_BENCH_SECONDS", "8"))
CLIENTS = (1, 4, 16)
PROCESSES = int(os.environ.get("CREDITBOOK_BENCH_PROCESSES", str(os.cpu_count() or 2)))
PG_URL = os.environ.get("CREDITBOOK_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: the commit the fast charge path started from: its charge path is measured in the same run
BEFORE = "0a1ce247950c07af217bcf9f5235412804531343"
RECONCILE_SIZES = tuple(int(n) for n in os.environ.get("CREDITBOOK_BENCH_RECONCILE", "100000,1000000").split(","))
TARGETS = {"single": 0.35, "batched": 0.70, "postgres": 0.70}


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def _lead(i: int) -> Any:
    from engine.pricing.requests import LeadRequest

    prices = (3_000, 7_500, 15_000, 30_000, 75_000, 150_000)
    return LeadRequest(product="lead_call" if i % 3 else "lead_chat", package_price=Decimal(prices[i % len(prices)]))


def _prepare(url: str, clinics: int = CLINICS) -> None:
    """`clinics` Indian clinics with ₹1,000,000 each (not timed)."""
    from engine.billing import Billing

    billing = Billing(url)
    for path in ("in/in-clinic-leads-v1.xlsx", "in/in-clinic-leads-v2.xlsx"):
        billing.publish_pricebook(ROOT / "pricebooks" / path, actor="bench", key=path, at=START - timedelta(days=400))
    for n in range(clinics):
        billing.register_clinic(f"c{n:04d}", f"Clinic {n}", "IN", key="register", at=START)
        billing.purchase(f"c{n:04d}", 1_000_000, payment_method="upi_ok", key="topup", at=START)
    billing.db.dispose()


def _warm(billing: Any, clinics: list[str], prefix: str, at: datetime = START) -> None:
    """Charge each clinic once (a running server's state: compiled pricebooks, kept clinic states)."""
    for clinic in clinics:
        billing.charge(clinic, _lead(0), key=f"{prefix}-warm-{clinic}", at=at)


# -- the code before -----------------------------------------------------------------------------


@contextlib.contextmanager
def before() -> Iterator[Callable[[str], Any] | None]:
    """Run Python in the code of commit BEFORE: `run(source)` executes `source` in a child process
    whose `import engine`, `storage` and `bench` are that commit's, and returns what it prints
    last, as JSON. None when the commit cannot be had (no git, a shallow clone)."""
    folder = Path(tempfile.mkdtemp(prefix="creditbook-before-"))
    try:
        archive = subprocess.run(["git", "archive", BEFORE], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        shutil.rmtree(folder, ignore_errors=True)
        yield None
        return
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")

    def run(source: str) -> Any:
        environment = {**os.environ, "PYTHONPATH": str(folder)}
        out = subprocess.run(
            [sys.executable, "-c", source], cwd=folder, env=environment, capture_output=True, text=True, check=True
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    try:
        yield run
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- SQLite ----------------------------------------------------------------------------------------


def raw_sqlite(folder: Path, count: int = 20_000, per_commit: int = 1) -> dict[str, float]:
    """The bare minimum a ledger write is: one guarded UPDATE and one INSERT, `per_commit` of them
    per durable commit."""
    path = folder / f"raw-{per_commit}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE wallet (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, lim INTEGER NOT NULL)")
    conn.execute("CREATE TABLE entry (id INTEGER PRIMARY KEY, wallet INTEGER REFERENCES wallet(id), amount INTEGER)")
    conn.executemany("INSERT INTO wallet VALUES (?, ?, 0)", [(i, 10**12) for i in range(CLINICS)])

    def write(i: int) -> None:
        conn.execute(
            "UPDATE wallet SET balance = balance - ? WHERE id = ? AND balance - ? >= -lim", (250, i % CLINICS, 250)
        )
        conn.execute("INSERT INTO entry (wallet, amount) VALUES (?, ?)", (i % CLINICS, -250))

    return _committed(conn, count, per_commit, write)


def _committed(conn: sqlite3.Connection, count: int, per_commit: int, write: Callable[[int], None]) -> dict[str, float]:
    """`write(i)` for `count` values of i, `per_commit` of them per durable commit (BEGIN IMMEDIATE
    ... COMMIT): the rate, and each commit's p50 and p99 in ms. Closes `conn`."""
    latencies = []
    started = time.perf_counter()
    for first in range(0, count, per_commit):
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for i in range(first, first + per_commit):
            write(i)
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    conn.close()
    p50, p99 = _percentiles(latencies)
    return {"rate": count / elapsed, "p50": p50, "p99": p99}


def floor_sqlite(folder: Path, per_commit: int = 1) -> dict[str, float]:
    """What a charge's writes cost with no Python deciding them: bare sqlite3 running the
    statements storage/fast_sqlite.py runs for a lead charge (key look-up, state check, guarded
    debit, lot, transaction row with its quote, allocation, legs, counters, key with its outcome)
    on a ledger prepared as `billing_sqlite`'s, the values made before the clock starts."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from storage import clinics
    from storage import fast_sqlite as one_call

    check = clinics._VERIFY_READ  # the state check, as SQLite runs it
    state = check._plan(sqlite_dialect.dialect(), None)

    url = f"sqlite:///{folder / f'floor-{per_commit}.db'}"
    _prepare(url)
    conn = sqlite3.connect(folder / f"floor-{per_commit}.db", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    wallets = dict(conn.execute("SELECT clinic_id, id FROM accounts WHERE kind = 'wallet'").fetchall())
    lots = dict(conn.execute("SELECT wallet_id, max(id) FROM lots GROUP BY wallet_id").fetchall())
    counter = conn.execute("SELECT id FROM accounts WHERE clinic_id IS NULL").fetchone()[0]  # a system account
    quote = json.dumps({"quote": "x" * 900})  # a stored quote's size
    outcome = json.dumps({"outcome": "x" * 380})
    names = sorted(wallets)

    def write(i: int) -> None:
        clinic = names[i % len(names)]
        wallet, lot = wallets[clinic], lots[wallets[clinic]]
        at = f"2026-03-02 09:{i // 60 % 60:02d}:{i % 60:02d}.000000"
        conn.execute(one_call._KEY, (clinic, f"floor-{i}")).fetchone()
        when = START + timedelta(seconds=i)
        conn.execute(state.sql, check._params(state, {"b_wallet": wallet, "b_at": when})).fetchone()
        conn.execute(one_call._DEBIT, (250, at, wallet, 250)).fetchone()
        conn.execute(one_call._TAKE, (250, lot, wallet, 250))
        row = (clinic, "posted", 250, at, "in-clinic-leads", "lead_call", 1, 2, "h" * 64, '["LP-03"]', quote)
        transaction = conn.execute(one_call._TRANSACTION, (*row, None, None, 0)).fetchone()[0]
        conn.execute(one_call._ALLOCATION, (lot, transaction, 250))
        conn.execute(one_call._LEGS, (transaction, wallet, -250, transaction, counter, 250))
        conn.execute(one_call._USAGE, (clinic, at[:10], "lead_call", 250, 1))
        conn.execute(one_call._STORE_KEY, (clinic, f"floor-{i}", "h" * 64, outcome, transaction, at))

    return _committed(conn, SQLITE_CHARGES, per_commit, write)


def billing_sqlite(folder: Path, batch: int = 0) -> dict[str, float]:
    """Lead charges on 1,000 clinics, one at a time or `batch` per charge_batch (p50/p99: per call)."""
    from engine.billing import Billing
    from engine.billing.results import ChargeResult

    url = f"sqlite:///{folder / f'ledger-{batch}.db'}"
    _prepare(url)
    billing = Billing(url)
    names = [f"c{n:04d}" for n in range(CLINICS)]
    _warm(billing, names, "w")
    requests = [_lead(i) for i in range(SQLITE_CHARGES)]
    at = [START + timedelta(seconds=i + 1) for i in range(SQLITE_CHARGES)]
    latencies = []
    started = time.perf_counter()
    if batch:
        for first in range(0, SQLITE_CHARGES, batch):
            items = [
                {"clinic_id": names[i % CLINICS], "request": requests[i], "key": f"b-{i}", "at": at[i]}
                for i in range(first, first + batch)
            ]
            t = time.perf_counter()
            answers = billing.charge_batch(items)
            latencies.append(time.perf_counter() - t)
            assert all(isinstance(a, ChargeResult) and a.approved for a in answers), answers[:3]
    else:
        for i, request in enumerate(requests):
            t = time.perf_counter()
            result = billing.charge(names[i % CLINICS], request, key=f"b-{i}", at=at[i])
            latencies.append(time.perf_counter() - t)
            assert result.approved
    elapsed = time.perf_counter() - started
    assert billing.reconcile().ok
    billing.db.dispose()
    p50, p99 = _percentiles(latencies)
    return {"rate": SQLITE_CHARGES / elapsed, "p50": p50, "p99": p99}


def busy_month(url: str, history: bool = True, charges: int = 400) -> dict[str, float]:
    """Charge p50 on a clinic with 1,000 charges already in its month beside one with none,
    charged in turn (so the machine's noise falls on both alike)."""
    from bench import history as bulk
    from engine.billing import Billing

    billing = Billing(url)
    for path in ("in/in-clinic-leads-v1.xlsx", "in/in-clinic-leads-v2.xlsx"):
        billing.publish_pricebook(ROOT / "pricebooks" / path, actor="bench", key=path, at=START - timedelta(days=400))
    for clinic in ("busy", "quiet"):
        billing.register_clinic(clinic, clinic, "IN", key="register", at=START)
        billing.purchase(clinic, 10_000_000, payment_method="upi_ok", key="topup", at=START)
    billing.db.dispose()
    month = START + timedelta(hours=1)  # 1,000 charges in the 18 days before: the same month
    last = bulk.history(Path(url.removeprefix("sqlite:///")), ["busy"], 1_000, month, timedelta(minutes=25))
    billing = Billing(url)
    latencies: dict[str, list[float]] = {"busy": [], "quiet": []}
    for i in range(charges):
        for clinic, found in latencies.items():
            at = last + timedelta(seconds=i + 1)
            t = time.perf_counter()
            billing.charge(clinic, _lead(i), key=f"m-{i}", at=at)
            found.append(time.perf_counter() - t)
    assert billing.reconcile().ok
    billing.db.dispose()
    return {clinic: statistics.median(found[5:]) * 1000 for clinic, found in latencies.items()}


def history_pages(url: str, rows: int = 2_000, repeat: int = 15) -> dict[str, float]:
    """Milliseconds (median) for page 1 (with the total) and page 20, by cursor and by page number,
    of a clinic with `rows` charges, 50 a page."""
    from engine.billing import Billing

    billing = Billing(url)
    for path in ("in/in-clinic-leads-v1.xlsx", "in/in-clinic-leads-v2.xlsx"):
        billing.publish_pricebook(ROOT / "pricebooks" / path, actor="bench", key=path, at=START - timedelta(days=400))
    billing.register_clinic("h", "h", "IN", key="register", at=START)
    billing.purchase("h", 10_000_000, payment_method="upi_ok", key="topup", at=START)
    for first in range(0, rows, 500):
        items = [
            {"clinic_id": "h", "request": _lead(i), "key": f"h-{i}", "at": START + timedelta(minutes=i + 1)}
            for i in range(first, first + 500)
        ]
        billing.charge_batch(items)
    cursors = [None]
    for _ in range(19):
        cursors.append(billing.transactions("h", cursor=cursors[-1]).next_cursor)

    def timed(read: Callable[[], Any]) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            read()
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1000

    found = {
        "page 1": timed(lambda: billing.transactions("h")),
        "page 20 (cursor)": timed(lambda: billing.transactions("h", cursor=cursors[19])),
        "page 20 (number)": timed(lambda: billing.transactions("h", page=20)),
    }
    assert billing.transactions("h", page=20).rows == billing.transactions("h", cursor=cursors[19]).rows
    billing.db.dispose()
    return found


def reconcile_sizes(folder: Path, sizes: tuple[int, ...], run_before: Callable[[str], Any] | None) -> list[Any]:
    """Seconds to reconcile SQLite ledgers of each size (1,000 clinics), now and before."""
    from bench import history as bulk
    from engine.billing import Billing

    found = []
    for size in sizes:
        path = folder / f"reconcile-{size}.db"
        billing = Billing(f"sqlite:///{path}")
        pricebook = ROOT / "pricebooks" / "in" / "in-clinic-leads-v2.xlsx"
        billing.publish_pricebook(pricebook, actor="bench", key="p", at=START - timedelta(days=400))
        billing.db.dispose()
        names = bulk.clinics(path, CLINICS, 10**12, START)
        bulk.history(path, names, size // CLINICS - 1, START + timedelta(seconds=1), timedelta(seconds=3))
        billing = Billing(f"sqlite:///{path}", migrate=False)
        started = time.perf_counter()
        report = billing.reconcile()
        now = time.perf_counter() - started
        assert report.ok and report.transactions == size, report.drifts[:3]
        billing.db.dispose()
        old = None
        if run_before is not None:
            old = run_before(
                "import json, time\nfrom storage.database import Database\nfrom storage.reconcile import reconcile\n"
                f"db = Database({f'sqlite:///{path}'!r})\nt = time.perf_counter()\nok = db.read(reconcile).ok\n"
                "print(json.dumps({'seconds': time.perf_counter() - t, 'ok': ok}))"
            )["seconds"]
        found.append((size, now, old))
        path.unlink()
    return found


# -- PostgreSQL ------------------------------------------------------------------------------------


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


def server_cpu() -> float | None:
    """CPU seconds the local PostgreSQL server has used so far: every live postgres process, plus
    what the postmaster has collected from its children that ended (a benchmark's backends end
    with their connections). None when the server is not on this machine (or not readable)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if name != "postgres":
            continue
        found = True
        utime, stime, cutime, cstime = (int(fields[n]) for n in (11, 12, 13, 14))
        total += utime + stime + (cutime + cstime if fields[1] == "1" else 0)  # ppid 1: the postmaster
    return total / ticks if found else None


def _cpu_per(rate: float, seconds: float | None, client: float | None) -> dict[str, float]:
    """µs of server and client CPU per transaction (absent when not measured)."""
    done = rate * SECONDS
    found = {}
    if seconds is not None:
        found["server_us"] = seconds / done * 1e6
    if client is not None:
        found["client_us"] = client / done * 1e6
    return found


def pgbench(clients: int, database: str) -> dict[str, float]:
    """pgbench's tpcb-like transaction (3 UPDATEs, a SELECT, an INSERT) at `clients`, with the
    server's and pgbench's own CPU per transaction."""
    logs = Path(tempfile.mkdtemp(prefix="pgbench-"))
    server_before, children = server_cpu(), os.times()
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
        after, ended = server_cpu(), os.times()
        server = None if after is None or server_before is None else after - server_before
        client = ended.children_user + ended.children_system - children.children_user - children.children_system
        return {"rate": tps, "p50": p50, "p99": p99, **_cpu_per(tps, server, client)}
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def _client(url: str, clinics: list[str], threads: int, start: Any, results: Any, offset: int, base: datetime) -> None:
    """One client process running `threads` callers, each charging its own share of `clinics`, at
    times from `base` on (a clinic's time only moves forward: each run starts a day later)."""
    import threading

    from engine.billing import Billing

    billing = Billing(url, migrate=False)
    requests = [_lead(i) for i in range(500)]
    _warm(billing, clinics, f"c{offset}-{base:%j}", base)
    collected: list[list[float]] = [[] for _ in range(threads)]

    def caller(k: int) -> None:
        mine, latencies = clinics[k::threads], collected[k]
        stop = time.perf_counter() + SECONDS
        i = 0
        while time.perf_counter() < stop:
            t = time.perf_counter()
            at = base + timedelta(seconds=i + 1)
            billing.charge(mine[i % len(mine)], requests[i % 500], key=f"b-{offset}-{k}-{i}-{base:%j}", at=at)
            latencies.append(time.perf_counter() - t)
            i += 1

    workers = [threading.Thread(target=caller, args=(k,)) for k in range(threads)]
    start.wait()
    cpu = time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(([latency for latencies in collected for latency in latencies], time.process_time() - cpu))


def billing_postgres(clients: int, url: str, base: datetime) -> dict[str, float]:
    """`clients` concurrent callers: one process each up to PROCESSES, then threads inside them (a
    caller waiting on the database releases the GIL; more processes than cores only thrash)."""
    ctx = multiprocessing.get_context("spawn")
    processes = min(clients, PROCESSES)
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    names = [f"c{n:04d}" for n in range(CLINICS)]
    workers = [
        ctx.Process(target=_client, args=(url, names[k::processes], clients // processes, barrier, results, k, base))
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()  # the clients have warmed: the server's CPU from here on is the charges'
    server_before = server_cpu()
    latencies: list[float] = []
    client = 0.0
    for _ in workers:
        found, cpu = results.get()
        latencies.extend(found)
        client += cpu
    after = server_cpu()
    for worker in workers:
        worker.join()
    p50, p99 = _percentiles(latencies)
    rate = len(latencies) / SECONDS
    server = None if after is None or server_before is None else after - server_before
    return {"rate": rate, "p50": p50, "p99": p99, **_cpu_per(rate, server, client)}


@contextlib.contextmanager
def _databases(*prefixes: str) -> Iterator[list[str]]:
    names = [f"{prefix}_{uuid.uuid4().hex[:8]}" for prefix in prefixes]
    try:
        for name in names:
            _admin(f'CREATE DATABASE "{name}"')
        yield names
    finally:
        for name in names:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the report ------------------------------------------------------------------------------------

_OLD_SQLITE = (
    "import json\nfrom pathlib import Path\nfrom bench import ledger\n"
    "print(json.dumps(ledger.billing_sqlite(Path({folder!r}))))"
)
_OLD_POSTGRES = (  # a fresh ledger for each run: its clients charge from START on, and time only moves forward
    "import json\nfrom bench import ledger\n"
    "if __name__ == '__main__':\n"
    "    found = {{}}\n"
    "    for clients, url in zip({clients!r}, {urls!r}):\n"
    "        ledger._prepare(url)\n"
    "        found[clients] = ledger.billing_postgres(clients, url)\n"
    "    print(json.dumps(found))"
)


CORES = os.cpu_count() or 1


def _ceiling(found: dict[str, float]) -> float:
    """Transactions a second this machine's cores allow at the CPU each one takes, both sides."""
    return CORES / ((found["server_us"] + found["client_us"]) / 1e6)


def _figure(found: dict[str, float] | None) -> str:
    return "–" if found is None else f"{found['rate']:,.0f} ({found['p50']:.2f} / {found['p99']:.2f})"


def run() -> None:
    print("== ledger: charges through Billing beside raw baselines and the code before (commit BEFORE) ==")
    rows, extra = [], []
    folder = Path(tempfile.mkdtemp(prefix="creditbook-bench-"))
    with before() as run_before:
        try:
            raw = raw_sqlite(folder)
            single = billing_sqlite(folder)
            batched = billing_sqlite(folder, batch=BATCH)
            (folder / "old").mkdir()
            old = None if run_before is None else run_before(_OLD_SQLITE.format(folder=str(folder / "old")))
            rows.append(("SQLite, single charges", "raw sqlite3 UPDATE+INSERT", raw, single, old, "single"))
            rows.append((f"SQLite, batches of {BATCH}", "the same raw loop, per row", raw, batched, None, "batched"))
            extra.append(("raw sqlite3, 100 rows a commit", raw_sqlite(folder, per_commit=BATCH)))
            extra.append(("a charge's own statements in bare sqlite3, one a commit", floor_sqlite(folder)))
            extra.append((f"the same, {BATCH} a commit", floor_sqlite(folder, per_commit=BATCH)))
            month = busy_month(f"sqlite:///{folder / 'month.db'}")
            pages = {"SQLite": history_pages(f"sqlite:///{folder / 'pages.db'}")}
            reconciled = reconcile_sizes(folder, RECONCILE_SIZES, run_before)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        prefixes = (
            "creditbook_bench",
            "creditbook_pgbench",
            "creditbook_pages",
            *(["creditbook_before"] * len(CLIENTS)),
        )
        with _databases(*prefixes) as names:
            ledger_db, pgbench_db, pages_db, *before_dbs = names
            initialise = ["pgbench", *_pg_args(), "-i", "-s", "10", "-q", pgbench_db]
            subprocess.run(initialise, capture_output=True, check=True)
            url = _database_url(ledger_db)
            _prepare(url)
            olds = {}
            if run_before is not None:
                source = _OLD_POSTGRES.format(urls=[_database_url(name) for name in before_dbs], clients=CLIENTS)
                olds = {int(c): found for c, found in run_before(source).items()}
            for n, clients in enumerate(CLIENTS):
                where = f"PostgreSQL, {clients} client{'s' * (clients > 1)}"
                found = (pgbench(clients, pgbench_db), billing_postgres(clients, url, START + timedelta(days=n + 1)))
                rows.append((where, "pgbench tpcb-like", *found, olds.get(clients), "postgres"))
            from engine.billing import Billing

            checked = Billing(url, migrate=False)
            assert checked.reconcile().ok, "the benchmark left the ledger inconsistent"
            checked.db.dispose()
            pages["PostgreSQL"] = history_pages(_database_url(pages_db))
    print(
        table(
            [
                "charges",
                "baseline",
                "baseline/s (p50 / p99 ms)",
                "Billing/s (p50 / p99 ms)",
                "ratio",
                "target",
                "before/s (p50 / p99 ms)",
                "now / before",
            ],
            [
                (
                    where,
                    name,
                    _figure(base),
                    _figure(ours),
                    f"{ours['rate'] / base['rate']:.0%}",
                    f"{'PASS' if ours['rate'] >= TARGETS[kind] * base['rate'] else 'below'} (>= {TARGETS[kind]:.0%})",
                    _figure(old),
                    "–" if old is None else f"{ours['rate'] / old['rate']:.1f}×",
                )
                for where, name, base, ours, old, kind in rows
            ],
        )
    )
    for name, found in extra:
        print(f"(for scale: {name}: {_figure(found)})")
    cpu_rows = [(where, base, ours) for where, _, base, ours, _, kind in rows if kind == "postgres"]
    if all("server_us" in base and "server_us" in ours for _, base, ours in cpu_rows):
        print(
            table(
                ["CPU per transaction (µs)", "pgbench: server + client", "Billing: server + client", "ceiling"],
                [
                    (
                        where,
                        f"{base['server_us']:,.0f} + {base['client_us']:,.0f}",
                        f"{ours['server_us']:,.0f} + {ours['client_us']:,.0f}",
                        f"{_ceiling(base):,.0f}/s vs {_ceiling(ours):,.0f}/s",
                    )
                    for where, base, ours in cpu_rows
                ],
            )
        )
        print(
            f"(ceiling: what {CORES} cores' CPU allows at that CPU per transaction, server and client on the same\n"
            " machine. A Python client spends its share of the cores pgbench's C client leaves to the server.)"
        )
    print()
    ratio = month["busy"] / month["quiet"]
    print(
        f"charge p50 with 1,000 charges in the clinic's month: {month['busy']:.2f} ms; empty month: "
        f"{month['quiet']:.2f} ms; ratio {ratio:.2f} ({'PASS' if ratio <= 1.2 else 'above'}: within 20%)"
    )
    print(
        table(
            [
                "history, 2,000 rows, 50 a page",
                "page 1 ms (with total)",
                "page 20 by cursor ms",
                "page 20 by number ms",
                "cursor / page 1",
                "target",
            ],
            [
                (
                    where,
                    f"{found['page 1']:.2f}",
                    f"{found['page 20 (cursor)']:.2f}",
                    f"{found['page 20 (number)']:.2f}",
                    f"{found['page 20 (cursor)'] / found['page 1']:.2f}",
                    "PASS" if found["page 20 (cursor)"] <= 1.2 * found["page 1"] else "above (<= 1.2)",
                )
                for where, found in pages.items()
            ],
        )
    )
    print(
        table(
            ["reconcile, SQLite", "seconds", "before (s)", "target"],
            [
                (
                    f"{size:,} transactions",
                    f"{now:.2f}",
                    "–" if old is None else f"{old:.2f}",
                    ("PASS" if now < 5 else "above") + " (< 5 s)" if size >= 1_000_000 else "",
                )
                for size, now, old in reconciled
            ],
        )
    )
    print(
        "A charge is one call: on PostgreSQL of storage/fast.py's function (lock, state check, key, guarded\n"
        "debit, lots, transaction, allocations, legs, term, counters, key with its outcome: one round trip), on\n"
        "SQLite of the same steps on one sqlite3 cursor (storage/fast_sqlite.py), priced from the clinic state\n"
        "its previous charge left. The quote, policy and alerts are Python. The baselines write two rows\n"
        "(sqlite3) or five (pgbench); a charge writes nine: its own statements in bare sqlite3 (above) are the\n"
        "floor no Python can pass."
    )
