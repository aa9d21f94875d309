"""Connections that keep a money ledger consistent on SQLite and PostgreSQL.

SQLite (the embedded default): WAL, synchronous=FULL, foreign keys on, a busy timeout, and every
write transaction opened with BEGIN IMMEDIATE — a deferred BEGIN that reads and then writes fails
at once with SQLITE_BUSY when another writer got in first, and the busy timeout does not cover that
upgrade (SQLAlchemy's pysqlite "serializable isolation" recipe). PostgreSQL: READ COMMITTED, with
a row lock on the wallet and the guarded updates of storage/accounts.py.

Serialization failures, deadlocks, busy databases and lost connections are retried with backoff
and are never reported as anything but "try again": a lost race must never read as "insufficient
credits". (A lost connection is detected when used rather than pinged before every transaction:
the ping is a round trip per charge, and every write is keyed, so retrying is safe.)
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import QueuePool, StaticPool

from engine.errors import DatabaseBusy, StorageError
from storage import statements
from storage.errors import Conflict, ValueRefused

T = TypeVar("T")
#: An open database transaction, as the ledger's functions take it. Layers above storage name it
#: through this alias and never import SQLAlchemy themselves.
__all__ = [
    "Autocommit",
    "Connection",
    "Database",
    "DatabaseBusy",
    "LostRace",
    "database_url",
    "is_retryable",
    "savepoint",
]
DEFAULT_URL = "sqlite:///creditbook.db"
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock not available
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class LostRace(RuntimeError):
    """A compare-and-set found its row changed: another transaction got there first. Rolled back
    and retried like a serialization failure (it cannot happen under the wallet lock; it is the
    defence when a path runs without one)."""


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("CREDITBOOK_DATABASE_URL") or DEFAULT_URL


def is_retryable(error: BaseException) -> bool:
    """A failure that rolled the transaction back and can succeed on a second try."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:  # the server went away: a new connection may succeed, and
            return True  # every write is keyed, so a retry after an unacknowledged commit replays it
        original = error.orig
        state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
        if state in RETRYABLE_SQLSTATES:
            return True
        if isinstance(error, OperationalError):
            message = str(original).lower()
            return "database is locked" in message or "database is busy" in message
    return False


def _sqlite_engine(url: str, **options: Any) -> Engine:
    # A small pool: reusing a connection keeps SQLite's page cache and skips the open/close (and
    # pragma) cost of every transaction; each pooled connection is used by one thread at a time.
    if make_url(url).database in (None, "", ":memory:"):  # one shared connection holds the whole database
        pooling: dict[str, Any] = {"poolclass": StaticPool}
    else:
        pooling = {"poolclass": QueuePool, "pool_size": 8, "max_overflow": 24}
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **pooling, **options)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see below)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":  # a held connection: `Database.begun` begins
            return
        readonly = options.get("creditbook_readonly", False)
        begin = "BEGIN" if readonly else options.get("creditbook_write_begin", "BEGIN IMMEDIATE")
        # on the driver's connection: SQLAlchemy's execution context costs more than the BEGIN itself
        statements.execute(connection, begin)

    return engine


def _mapped(error: DBAPIError | LostRace) -> StorageError:
    """A driver error as creditbook's own (httpx's map_exceptions): the driver's message goes to the
    exception's cause, never into the message a caller might show."""
    if isinstance(error, IntegrityError):
        return Conflict("the database refused a duplicate or a broken reference")
    if isinstance(error, DataError):
        return ValueRefused("the database refused a value")
    return StorageError(f"the database failed: {type(getattr(error, 'orig', error)).__name__}")


SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
MIGRATION_LOCK = 0x6372_6564_6974  # "credit": the advisory lock every migrating process takes on PostgreSQL
_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()


_ABANDONED: list[Connection] = []  # a forked child's inherited held connections: never used, never closed


def _forget_pools_in_child() -> None:
    """After a fork the child must not use the parent's pooled connections (two processes on one
    socket read each other's answers): it drops them without closing them, and opens its own. The
    connections the parent's threads held (`Database.transaction`, autocommit) are kept out of
    reach, never closed: closing one would end the parent's session."""
    for database in list(_OPEN):
        _ABANDONED.extend(database._held.values())
        database._held.clear()
        database.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_pools_in_child)


def _postgres_engine(url: str, schema: str | None, isolation: str, pool_size: int, **options: Any) -> Engine:
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, isolation_level=isolation, **options)
    if schema is not None:

        @event.listens_for(engine, "connect")
        def _search_path(dbapi_connection: Any, _record: Any) -> None:
            # Every table (and Alembic's version table) lives in the ledger's own schema, beside a
            # host application's tables but never among them.
            cursor = dbapi_connection.cursor()
            cursor.execute(f'SET search_path TO "{schema}"')
            cursor.close()
            dbapi_connection.commit()

    return engine


def _idle(conn: Connection) -> bool:
    """No transaction is left open on the connection."""
    try:
        driver: Any = conn.connection.driver_connection
        if conn.dialect.name == "sqlite":
            return not driver.in_transaction
        from psycopg.pq import TransactionStatus  # PostgreSQL's driver: only a PostgreSQL ledger gets here

        return bool(driver.info.transaction_status == TransactionStatus.IDLE)
    except Exception:  # a connection that cannot even say is not kept
        return False


class Autocommit:
    """Work run on the connection the calling thread keeps (`Database._held_connection`), whose
    statements are each a transaction of their own unless the work opens one (`Database.begun`).
    On PostgreSQL a charge posted by one function call (storage/fast.py) then costs one round trip
    instead of three (BEGIN, the call, COMMIT); on SQLite the work begins its write transaction
    itself, without SQLAlchemy's connection checkout, transaction objects and events around it."""

    def __init__(self, work: Callable[[Connection], T]):
        self.work = work

    def __call__(self, connection: Connection) -> Any:
        return self.work(connection)


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """Undo the block's writes if it raises, keeping the transaction's earlier ones (one item of a
    batch). On the driver's connection: SQLAlchemy's nested transaction costs more than the item."""
    statements.execute(conn, "SAVEPOINT creditbook_item")
    try:
        yield
    except BaseException:
        statements.execute(conn, "ROLLBACK TO SAVEPOINT creditbook_item")
        statements.execute(conn, "RELEASE SAVEPOINT creditbook_item")
        raise
    statements.execute(conn, "RELEASE SAVEPOINT creditbook_item")


class Database:
    """One ledger database. `run(fn)` executes `fn(connection)` in a write transaction, retrying
    what is retryable; `read(fn)` does the same for read-only work (no write lock on SQLite).

    `pool_size` bounds the connections one process opens to PostgreSQL (as many again may overflow
    under a burst); `schema` puts the ledger's tables in a PostgreSQL schema of their own. A
    Database created before a fork is safe to use in the child (it opens its own connections).

    `fast` (default on) lets billing post charges from clinic states it kept since an earlier
    operation, verified by the wallet's version (engine/billing/charges.py), in one call (on
    PostgreSQL one round trip, storage/fast.py; on SQLite storage/fast_sqlite.py); off, every
    charge reads its clinic under the wallet lock and goes through the door statement by statement
    — the reference the fast path is tested against.
    Each thread that charges keeps one of the pool's connections, in autocommit, between charges
    (`_held_connection`): the pool bounds those threads as well (`pool_size` and as many again on
    PostgreSQL, 32 on SQLite)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        echo: bool = False,
        attempts: int = 30,
        isolation: str = "READ COMMITTED",
        pool_size: int = 20,
        schema: str | None = None,
        fast: bool = True,
    ):
        self.url = database_url(url)
        self.attempts = attempts
        self.isolation = isolation
        self.fast = fast
        if schema is not None and not SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"a schema name is lower-case letters, digits and _, not {schema!r}")
        if not 1 <= pool_size <= 200:
            raise ValueError("pool_size is between 1 and 200")
        self.schema = schema if not self.url.startswith("sqlite") else None
        if self.url.startswith("sqlite"):
            self.engine = _sqlite_engine(self.url, echo=echo)
        else:
            self.engine = _postgres_engine(self.url, self.schema, isolation, pool_size, echo=echo)
        # PostgreSQL: the autocommit connection each thread keeps between `Autocommit` runs
        self._held: dict[threading.Thread, Connection] = {}
        self._held_lock = threading.Lock()
        _OPEN.add(self)
        self.retries = 0  # how many times a transaction was retried (for benchmarks and tests)
        self.fault: Callable[[Connection], None] | None = None  # tests inject failures here
        self.write_begin: str | None = None  # SQLite: how write transactions begin (tests break it on purpose)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, readonly: bool = False, autocommit: bool = False) -> Iterator[Connection]:
        """One attempt: commit on success, roll back on any exception (`autocommit`: on the
        connection this thread keeps, `_held_connection`, each statement commits on its own unless
        the work opens a transaction with `begun`)."""
        if autocommit:
            held = self._held_connection()
            try:
                yield held
            except BaseException:
                if held.invalidated or not _idle(held):  # broken, or left inside a transaction: not kept
                    self._drop_held(held)
                raise
            return
        with self.engine.connect() as opened:
            options: dict[str, Any] = {"creditbook_readonly": True} if readonly else {}
            if self.write_begin is not None:  # the reliability tests' broken variant: a deferred BEGIN
                options["creditbook_write_begin"] = self.write_begin
            connection = opened.execution_options(**options) if options else opened
            with connection.begin():
                yield connection

    def _held_connection(self) -> Connection:
        """This thread's autocommit connection, kept between runs: checking a connection out of the
        pool and setting and resetting its isolation level cost more Python than posting a charge.
        Each thread that posts charges keeps one of the pool's connections; those of threads that
        have ended are returned when a thread opens its own."""
        thread = threading.current_thread()
        held = self._held.get(thread)
        if held is not None:
            if not held.closed and not held.invalidated:
                return held
            self._drop_held(held)
        with self._held_lock:
            for other, connection in list(self._held.items()):
                if not other.is_alive():
                    del self._held[other]
                    connection.close()
        opened = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        with self._held_lock:
            self._held[thread] = opened
        return opened

    def _drop_held(self, held: Connection) -> None:
        with self._held_lock:
            for thread, connection in list(self._held.items()):
                if connection is held:
                    del self._held[thread]
        held.close()

    @contextmanager
    def begun(self, conn: Connection) -> Iterator[Connection]:
        """A write transaction on a connection an `Autocommit` run holds: at the database's isolation
        on PostgreSQL (the work a charge could not do in one statement), BEGIN IMMEDIATE on SQLite
        (or the reliability tests' broken `write_begin`)."""
        begin = f"BEGIN ISOLATION LEVEL {self.isolation}"
        if self.dialect == "sqlite":
            begin = self.write_begin or "BEGIN IMMEDIATE"
        statements.execute(conn, begin)
        try:
            yield conn
        except BaseException:
            if not conn.invalidated:
                statements.execute(conn, "ROLLBACK")
            raise
        statements.execute(conn, "COMMIT")

    def run(self, work: Callable[[Connection], T], readonly: bool = False) -> T:
        delay = 0.002
        autocommit = isinstance(work, Autocommit)
        for attempt in range(1, self.attempts + 1):
            try:
                with self.transaction(readonly, autocommit) as connection:
                    if self.fault is not None and not readonly:
                        self.fault(connection)
                    return work(connection)
            except (DBAPIError, LostRace) as error:
                retryable = isinstance(error, LostRace) or is_retryable(error)
                if not retryable:
                    raise _mapped(error) from error
                if attempt == self.attempts:
                    raise DatabaseBusy(f"the database stayed busy after {attempt} attempts") from error
                self.retries += 1
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, work: Callable[[Connection], T]) -> T:
        return self.run(work, readonly=True)

    def upgrade(self) -> None:
        """Bring the schema to the latest Alembic revision (`creditbook db upgrade`). Safe when many
        processes start at once: on PostgreSQL each takes one advisory lock first (the first
        migrates, the others then find nothing to do); SQLite's BEGIN IMMEDIATE already serialises
        them."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                if self.schema is not None:
                    connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        with self._held_lock:
            held = list(self._held.values())
            self._held.clear()
        for connection in held:
            connection.close()
        self.engine.dispose()
