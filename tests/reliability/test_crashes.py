"""R10, R11, R21: processes killed mid-transaction, a PostgreSQL server stopped with -m immediate,
and SQLite's locking modes across processes. After each crash every acknowledged operation is
present exactly once and nothing partial is."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import select as poll
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from engine.billing import Billing
from storage.database import Database
from storage.schema import entries, idempotency_keys, payment_attempts, transactions
from tests.reliability.broken import broken
from tests.reliability.workers import charging_loop, contended_charges
from tests.support.clock import START, Clock
from tests.support.reliability import PUBLISHED, Ledger, findings, scale

FORK = multiprocessing.get_context("fork")


def _read_lines(fd: int, until: float) -> list[str]:
    """Everything the child wrote until it exited (EOF) or `until` passed."""
    chunks = b""
    while time.time() < until:
        ready, _, _ = poll.select([fd], [], [], 0.05)
        if ready:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks += data
    return chunks.decode().splitlines()


def _wait_ready(fd: int, timeout: float = 30) -> list[str]:
    lines: list[str] = []
    deadline = time.time() + timeout
    buffer = b""
    while b"ready\n" not in buffer and time.time() < deadline:
        ready, _, _ = poll.select([fd], [], [], 0.05)
        if ready:
            buffer += os.read(fd, 65536)
    assert b"ready\n" in buffer, "the child never became ready"
    lines.extend(buffer.decode().splitlines())
    return lines


def acknowledged_are_present_once(billing: Billing, acks: dict[str, int]) -> list[str]:
    """Every acknowledged key has exactly its transaction; every charge or top-up has its key and
    its legs; no key points at nothing."""

    def read(conn: Any) -> list[str]:
        problems = []
        keys = {row.key: row for row in conn.execute(select(idempotency_keys))}
        for key, txn in acks.items():
            row = keys.get(key)
            if row is None or row.transaction_id != txn or row.outcome is None:
                problems.append(f"acknowledged {key} → {txn} is missing or different: {row}")
        keyed = Counter(row.transaction_id for row in keys.values() if row.transaction_id is not None)
        legs = dict(
            conn.execute(select(entries.c.transaction_id, func.count()).group_by(entries.c.transaction_id)).all()
        )
        for txn in conn.execute(
            select(transactions.c.id, transactions.c.kind, transactions.c.status, transactions.c.credits)
        ):
            if txn.kind in ("charge", "topup") and keyed.get(txn.id) != 1:
                problems.append(f"transaction {txn.id} ({txn.kind}) has {keyed.get(txn.id, 0)} keys")
            if txn.status == "posted" and txn.credits and not legs.get(txn.id):
                problems.append(f"posted transaction {txn.id} has no legs")
        credited = {
            row.idempotency_key
            for row in conn.execute(select(payment_attempts).where(payment_attempts.c.status == "credited"))
        }
        for row in keys.values():
            # a purchase claims its key before calling the payment provider (never inside a database
            # transaction): killed in between, the key stays "in flight" until the client retries it;
            # nothing may have been credited for it
            if row.outcome is None and (row.operation != "purchase" or row.key in credited):
                problems.append(f"key {row.key} ({row.operation}) has an effect but no stored outcome")
        return problems

    return billing.db.read(read)


def _acks(lines: list[str]) -> dict[str, int]:
    return {parts[1]: int(parts[2]) for parts in (line.split() for line in lines) if parts and parts[0] == "ack"}


def test_r10_sigkill_mid_transaction_sqlite(ledger: Ledger, seed: int, request: pytest.FixtureRequest) -> None:
    if "sqlite" not in request.node.callspec.id:
        pytest.skip("SIGKILL of an embedded database's process is SQLite's test (PostgreSQL's is R11)")
    clinics = [ledger.wallet(f"c{n}", 100_000) for n in range(4)]
    ledger.billing.db.dispose()  # the child opens its own connections
    rng = random.Random(seed)
    acknowledged: dict[str, int] = {}
    kills = scale(20, 200)
    for kill in range(kills):
        read_fd, write_fd = os.pipe()
        child = FORK.Process(target=charging_loop, args=(ledger.url, write_fd, clinics, f"k{kill}", rng.random()))
        child.start()
        os.close(write_fd)
        lines = _wait_ready(read_fd)
        time.sleep(rng.uniform(0.05, 0.15))
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join()
        lines += _read_lines(read_fd, time.time() + 1)
        os.close(read_fd)
        acknowledged.update(_acks(lines))
        problems = findings(ledger.billing) + acknowledged_are_present_once(ledger.billing, acknowledged)
        assert not problems, f"after kill {kill + 1} (seed {seed}): {problems[:5]}"
    committed = ledger.billing.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(transactions)).scalar_one()
    )
    print(f"R10: {kills} kills, {len(acknowledged)} acknowledged, {committed} transactions committed, 0 violations")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThrowAwayCluster:
    """A PostgreSQL cluster of the test's own, in a temporary folder, on a free port."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="creditbook-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.as_postgres = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres")
        self._run(str(self.BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run(
            str(self.BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start"
        )

    def stop(self, mode: str) -> None:
        self._run(str(self.BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def test_r11_postgres_clients_killed_and_server_stopped_immediately(
    seed: int, reliability_pricebook: Path, request: pytest.FixtureRequest
) -> None:
    if "sqlite" in request.node.name:
        pytest.skip("PostgreSQL only")
    if not ThrowAwayCluster.BIN.exists():
        message = "PostgreSQL 15 server binaries are not installed"
        if os.environ.get("CREDITBOOK_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    cluster = ThrowAwayCluster()
    try:
        cluster.create()
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE ledger"))
        admin.dispose()
        url = cluster.url("ledger")
        billing = Billing(Database(url), clock=Clock(START))
        billing.publish_pricebook(reliability_pricebook, actor="reliability", key="publish", at=PUBLISHED)
        clinics = []
        for n in range(8):
            billing.register_clinic(f"c{n}", f"c{n}", "IN", key=f"register-{n}")
            billing.purchase(f"c{n}", 100_000, payment_method="upi_ok", key=f"fund-{n}")
            clinics.append(f"c{n}")
        billing.db.dispose()
        rng = random.Random(seed)
        seconds = scale(4, 30)
        go = FORK.Event()
        children = []
        for k in range(8):
            read_fd, write_fd = os.pipe()
            child = FORK.Process(
                target=charging_loop, args=(url, write_fd, clinics, f"p{k}", rng.random(), seconds, go)
            )
            child.start()
            os.close(write_fd)
            children.append((child, read_fd, _wait_ready(read_fd)))
        go.set()  # every client starts now, and runs for `seconds`
        deadline = time.time() + seconds
        time.sleep(seconds * 0.2)
        for child, _, _ in children[:2]:  # kill -9 two clients mid-load
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        time.sleep(seconds * 0.2)
        cluster.stop("immediate")  # the server dies mid-load: no checkpoint, no goodbye
        time.sleep(1.0)
        cluster.start()
        acknowledged: dict[str, int] = {}
        errors = 0
        for child, read_fd, ready in children:
            lines = ready + _read_lines(read_fd, deadline + 60)
            child.join(timeout=60)
            os.close(read_fd)
            acknowledged.update(_acks(lines))
            errors += sum(1 for line in lines if line.startswith("error"))
        billing = Billing(Database(url), migrate=False)
        problems = findings(billing) + acknowledged_are_present_once(billing, acknowledged)
        survivors = [child.exitcode for child, _, _ in children[2:]]
        billing.db.dispose()
        print(
            f"R11: {len(acknowledged)} acknowledged operations, all present once after recovery; "
            f"{errors} client errors retried; survivors' exit codes {survivors}"
        )
        assert errors > 0, "the server stop was never seen by a client: the test did not test"
        assert not problems, f"(seed {seed}) {problems[:5]}"
        assert survivors == [0] * 6
    finally:
        cluster.destroy()


R21 = {
    "BEGIN IMMEDIATE": ({}, "sound"),
    "deferred BEGIN, retried": ({"write_begin": "BEGIN"}, "sound"),
    "deferred read-modify-write": ({"write_begin": "BEGIN", "attempts": 1}, "read_modify_write"),
}


@pytest.mark.parametrize("mode", list(R21))
def test_r21_sqlite_locking_modes_across_processes(
    ledger: Ledger, mode: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if "sqlite" not in request.node.callspec.id:
        pytest.skip("SQLite's mode matrix (PostgreSQL's isolation matrix is R20)")
    options, variant = R21[mode]
    credits, processes, each = scale(100, 1_000), 8, scale(25, 500)
    clinic = ledger.wallet("hot", credits)
    ledger.billing.db.dispose()
    outcomes: Counter[str] = Counter()
    with broken(variant, monkeypatch):  # inherited by the forked children
        pipes = []
        for k in range(processes):
            read_fd, write_fd = os.pipe()
            child = FORK.Process(target=contended_charges, args=(ledger.url, write_fd, clinic, f"p{k}", each, options))
            child.start()
            os.close(write_fd)
            pipes.append((child, read_fd))
        for child, read_fd in pipes:
            for line in _read_lines(read_fd, time.time() + 120):
                outcomes[line.split()[0] if not line.startswith("error") else line] += 1
            child.join()
            os.close(read_fd)
    outcomes.pop("ready", None)
    problems = findings(ledger.billing)
    if outcomes.get("approved") != credits or any(k.startswith("error") for k in outcomes):
        problems.append(f"outcomes {dict(outcomes)}")
    print(f"R21 {mode}: {dict(outcomes)}")
    if variant == "sound":
        assert not problems, problems[:5]
    else:
        ledger.damaged_on_purpose = True
        assert problems, "a deferred read-modify-write went unnoticed: this test cannot fail"
