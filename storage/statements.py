"""Hot-path statements: SQLAlchemy Core objects compiled once per dialect, run on the DBAPI cursor.

The statements stay declared in Core (one definition, both databases, typed columns); what this
module skips is SQLAlchemy's per-execution bookkeeping (execution context, events, result
objects), which costs ~20 µs a statement against ~4 µs for the cursor itself — a charge runs a
dozen of them. Binds and results go through the same type processors SQLAlchemy would apply
(UTCDateTime included), and the cursor belongs to the connection's open transaction, so a
statement run here commits or rolls back with everything else.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    sql: str
    order: tuple[str, ...] | None  # positional parameter names, or None for named parameters
    binds: dict[str, Processor]
    constants: dict[str, Any]  # literals the statement binds itself (kind = 'wallet')
    results: tuple[Processor, ...]
    row: type  # a namedtuple of the result's column names
    defaults: dict[str, Any]  # an INSERT's scalar column defaults


class Statement:
    """`Statement(core_statement).run(conn, params)` → the DBAPI cursor, after the statement ran."""

    def __init__(self, statement: ClauseElement, insert_keys: Sequence[str] | None = None):
        self.statement = statement
        self.insert_keys = tuple(insert_keys) if insert_keys is not None else None
        self._plans: dict[tuple[str, tuple[str, ...] | None], _Plan] = {}
        self._lock = threading.Lock()

    def _plan(self, dialect: Dialect, keys: tuple[str, ...] | None) -> _Plan:
        found = self._plans.get((dialect.name, keys))
        if found is not None:
            return found
        compiled = self.statement.compile(dialect=dialect, column_keys=list(keys) if keys else None)
        binds: dict[str, Processor] = {}
        constants: dict[str, Any] = {}
        for bind, name in compiled.bind_names.items():
            binds[name] = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if not bind.required and bind.value is not None:
                constants[name] = bind.value
        columns = list(getattr(self.statement, "selected_columns", None) or self._returning())
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        row = namedtuple("Row", [column.key for column in columns] or ["_"], rename=True)  # type: ignore[misc]
        defaults = {}
        if isinstance(self.statement, Insert):
            for column in self.statement.table.columns:
                default = column.default
                if default is not None and getattr(default, "is_scalar", False):
                    defaults[column.key] = default.arg
        plan = _Plan(
            sql=compiled.string,
            order=tuple(compiled.positiontup or ()) if dialect.positional else None,
            binds=binds,
            constants=constants,
            results=results,
            row=row,
            defaults=defaults,
        )
        with self._lock:
            self._plans[(dialect.name, keys)] = plan
        return plan

    def _returning(self) -> list[Any]:
        """The columns an INSERT/UPDATE ... RETURNING gives back (none for a plain one)."""
        descriptions = getattr(self.statement, "returning_column_descriptions", None) or []
        return [d["expr"] for d in descriptions if hasattr(d["expr"], "type")]

    def _params(self, plan: _Plan, params: Mapping[str, Any]) -> Any:
        values = {**plan.defaults, **plan.constants, **params}
        for name, processor in plan.binds.items():
            if processor is not None and name in values:
                values[name] = processor(values[name])
        if plan.order is None:
            return values
        return tuple(values[name] for name in plan.order)

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        keys = self.insert_keys or (tuple(sorted(params)) if isinstance(self.statement, Insert) and params else None)
        plan = self._plan(conn.dialect, keys)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        values = self._params(plan, params or {})
        try:
            cursor.execute(plan.sql, values)
        except conn.dialect.loaded_dbapi.Error as error:
            raise driver_error(conn, plan.sql, values, error, cursor) from error
        return _Result(cursor, plan)

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        keys = tuple(sorted(rows[0]))
        plan = self._plan(conn.dialect, keys)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        values = [self._params(plan, row) for row in rows]
        try:
            cursor.executemany(plan.sql, values)
        except conn.dialect.loaded_dbapi.Error as error:
            raise driver_error(conn, plan.sql, values, error, cursor) from error
        cursor.close()


def execute(conn: Connection, sql: str) -> None:
    """A statement without parameters or rows (BEGIN, SAVEPOINT, COMMIT) on the driver's connection,
    a failure raised as SQLAlchemy raises it (storage/database.py retries by that)."""
    driver: Any = conn.connection.driver_connection
    try:
        driver.execute(sql)
    except conn.dialect.loaded_dbapi.Error as error:
        raise driver_error(conn, sql, (), error, None) from error


def driver_error(conn: Connection, sql: str, params: Any, error: Exception, cursor: Any) -> DBAPIError:
    """The driver's error as SQLAlchemy would have raised it (OperationalError, IntegrityError...),
    so that storage.database can tell a lost race (retry) from a real failure, and a dropped
    connection is invalidated in the pool."""
    dbapi_connection = conn.connection.dbapi_connection
    invalidated = conn.dialect.is_disconnect(error, dbapi_connection, cursor)
    if invalidated:
        conn.invalidate(error)
    return DBAPIError.instance(
        sql, params, error, conn.dialect.loaded_dbapi.Error, connection_invalidated=invalidated, dialect=conn.dialect
    )


class _Result:
    """The few ways the hot path reads a result. Rows are fetched at once and the cursor closed, so
    no statement is left running when the transaction commits."""

    def __init__(self, cursor: Any, plan: _Plan):
        raw = cursor.fetchall() if cursor.description else []
        self.rowcount = int(cursor.rowcount)
        cursor.close()
        convert, make = plan.results, plan.row
        self.rows = [make(*(v if p is None else p(v) for v, p in zip(r, convert, strict=False))) for r in raw]

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def all(self) -> list[Any]:
        return self.rows
