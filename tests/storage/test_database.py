"""The database layer: migrations match the schema, SQLite runs with the settings a ledger needs,
write transactions take the write lock up front, and only retryable failures are retried."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage.database import MIGRATIONS, Database, DatabaseBusy, is_retryable
from storage.schema import metadata


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_database")
    )
    db = Database(url)
    db.upgrade()
    yield db
    db.dispose()


def test_migrations_build_exactly_the_declared_schema(database: Database) -> None:
    def differences(conn: Connection) -> list[Any]:
        return compare_metadata(MigrationContext.configure(conn), metadata)

    assert database.read(differences) == []
    database.upgrade()  # a second upgrade is a no-op
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert database.read(lambda conn: conn.execute(text("select version_num from alembic_version")).scalar()) == head


def test_sqlite_runs_with_wal_full_sync_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'ledger.db'}")

    def pragmas(conn: Connection) -> dict[str, Any]:
        return {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }

    found = db.read(pragmas)
    assert found["journal_mode"] == "wal" and found["synchronous"] == 2  # 2 = FULL
    assert found["foreign_keys"] == 1 and found["busy_timeout"] >= 5000


def test_sqlite_write_transactions_take_the_write_lock_before_their_first_read(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    other = sqlite3.connect(path, timeout=0, isolation_level=None)

    def only_reads(conn: Connection) -> str:
        conn.execute(text("select count(*) from clinics"))
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            return str(exc)
        other.execute("ROLLBACK")
        return "no lock held"

    assert db.run(only_reads) == "database is locked"
    assert db.read(only_reads) == "no lock held"  # reads do not block writers
    other.close()


def test_retryable_failures_are_retried_and_then_reported_as_busy(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'ledger.db'}", attempts=4)
    failures = iter([True, True, False])

    def flaky(conn: Connection) -> None:
        if next(failures):
            raise OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))

    db.fault = flaky
    assert db.run(lambda conn: conn.execute(text("select 7")).scalar()) == 7
    assert db.retries == 2

    def locked(conn: Connection) -> None:
        raise OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))

    db.fault = locked
    with pytest.raises(DatabaseBusy, match="busy after 4 attempts"):
        db.run(lambda conn: None)


def test_only_lost_races_are_retryable() -> None:
    class PgError(Exception):
        def __init__(self, sqlstate: str):
            self.sqlstate = sqlstate

    assert is_retryable(OperationalError("x", {}, PgError("40001")))  # serialization failure
    assert is_retryable(OperationalError("x", {}, PgError("40P01")))  # deadlock
    assert not is_retryable(IntegrityError("x", {}, PgError("23505")))  # a real constraint violation
    assert not is_retryable(OperationalError("x", {}, sqlite3.OperationalError("no such table: lots")))
    assert not is_retryable(ValueError("database is locked"))


def test_a_postgres_serialization_failure_is_retried_not_reported(postgres_database: str) -> None:
    db = Database(postgres_database)
    attempts = []

    def conflicting(conn: Connection) -> int:
        attempts.append(1)
        if len(attempts) == 1:  # a real 40001 raised by the server
            conn.execute(text("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$"))
        return int(conn.execute(text("select 1")).scalar_one())

    assert db.run(conflicting) == 1 and len(attempts) == 2 and db.retries == 1
    level = db.read(lambda conn: conn.execute(text("show transaction_isolation")).scalar())
    assert level == "read committed"
    db.dispose()


def test_sqlite_refuses_an_amount_that_is_not_an_integer(tmp_path: Path) -> None:
    """An integer that overflows SQLite's arithmetic becomes a float: the schema's CHECK refuses it
    (PostgreSQL's BIGINT refuses it on its own), and the error reaches the caller as a Conflict."""
    from storage.errors import Conflict

    db = Database(f"sqlite:///{tmp_path / 'ledger.db'}")
    db.upgrade()

    def overflow(conn: Connection) -> None:
        conn.execute(
            text(
                "insert into accounts (kind, market, balance, overdraft_limit, version) values ('cash', 'IN', 0, 0, 0)"
            )
        )
        conn.execute(text("update accounts set balance = 9223372036854775807 + 1"))

    with pytest.raises(Conflict):
        db.run(overflow)
    assert db.read(lambda conn: conn.execute(text("select count(*) from accounts")).scalar()) == 0
