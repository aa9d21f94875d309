"""What a web server's workers need from the ledger's database: many processes may migrate an empty
database at once (one migrates, the others find nothing to do), a Database created before a fork
works in the child, the pool is bounded, and on PostgreSQL the tables live in a schema of their own."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from storage.database import Database
from storage.schema import metadata

FORK = multiprocessing.get_context("fork")


def _migrate(url: str, schema: str | None, start: Any, results: Any) -> None:
    start.wait(30)
    try:
        Database(url, schema=schema).upgrade()
        results.put("ok")
    except Exception as error:  # reported to the parent, which fails the test with it
        results.put(f"{type(error).__name__}: {error}")


@pytest.mark.parametrize("schema", [None, "creditbook"])
def test_four_workers_migrate_an_empty_postgres_database_at_once(postgres_database: str, schema: str | None) -> None:
    start, results = FORK.Event(), FORK.Queue()
    workers = [FORK.Process(target=_migrate, args=(postgres_database, schema, start, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert outcomes == ["ok"] * 4
    engine = create_engine(postgres_database)
    where = schema or "public"
    with engine.connect() as conn:
        tables = set(
            conn.execute(text("select table_name from information_schema.tables where table_schema = :s"), {"s": where})
            .scalars()
            .all()
        )
        versions = conn.execute(text(f'select count(*) from "{where}".alembic_version')).scalar()
        public = set(
            conn.execute(text("select table_name from information_schema.tables where table_schema = 'public'"))
            .scalars()
            .all()
        )
    engine.dispose()
    assert set(metadata.tables) <= tables and versions == 1
    if schema is not None:
        assert not public & set(metadata.tables)  # nothing of the ledger beside the host's own tables


def test_a_database_created_before_a_fork_works_in_the_child(ledger_url: str) -> None:
    database = Database(ledger_url)
    database.upgrade()
    database.read(lambda conn: conn.execute(text("select 1")).scalar())  # a pooled connection exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own connections, the right answers
        try:
            answer = database.read(lambda conn: conn.execute(text("select count(*) from clinics")).scalar())
            os.write(write, str(answer).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 100).decode()
    os.close(read)
    assert status == 0 and answer == "0"
    assert database.read(lambda conn: conn.execute(text("select count(*) from clinics")).scalar()) == 0
    database.dispose()


def test_pool_size_and_schema_names_are_checked() -> None:
    with pytest.raises(ValueError, match="schema"):
        Database("postgresql+psycopg://x@127.0.0.1/x", schema='x"; drop table clinics; --')
    with pytest.raises(ValueError, match="pool_size"):
        Database("postgresql+psycopg://x@127.0.0.1/x", pool_size=0)
