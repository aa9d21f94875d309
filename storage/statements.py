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
from sqlalchemy.engine.interfaces import DBAPIModule
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.schema import ScalarElementColumnDefault

Processor = Callable[[Any], Any] | None
Converter = Callable[[Any], Any]


_REQUIRED: Any = object()  # a parameter with no value of its own: the caller must give it


@dataclass(frozen=True)
class _Plan:
    sql: str
    positional: bool
    slots: tuple[tuple[str, Processor, Any], ...]  # each parameter: name, bind processor, value when not given
    fallback: dict[str, Any]  # named parameters: the values when not given (constants, INSERT defaults)
    converting: tuple[tuple[int, Converter], ...]  # result columns that have a result processor
    row: Any  # a namedtuple of the result's column names


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
        assert isinstance(compiled, SQLCompiler)  # a statement (not DDL) compiles with the dialect's SQLCompiler
        binds: dict[str, Processor] = {}
        fallback: dict[str, Any] = {}
        if isinstance(self.statement, Insert):  # an INSERT's scalar column defaults
            for column in self.statement.table.columns:
                default = column.default
                if isinstance(default, ScalarElementColumnDefault):
                    fallback[column.key] = default.arg
        for bind, name in compiled.bind_names.items():
            binds[name] = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if not bind.required and bind.value is not None:  # literals the statement binds itself
                fallback[name] = bind.value
        names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(binds)
        columns = list(getattr(self.statement, "selected_columns", None) or self._returning())
        results = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
        plan = _Plan(
            sql=compiled.string,
            positional=dialect.positional,
            slots=tuple((name, binds.get(name), fallback.get(name, _REQUIRED)) for name in names),
            fallback=fallback,
            converting=tuple((n, processor) for n, processor in enumerate(results) if processor is not None),
            row=namedtuple("Row", [column.key for column in columns] or ["_"], rename=True),
        )
        with self._lock:
            self._plans[(dialect.name, keys)] = plan
        return plan

    def _returning(self) -> list[Any]:
        """The columns an INSERT/UPDATE ... RETURNING gives back (none for a plain one)."""
        descriptions = getattr(self.statement, "returning_column_descriptions", None) or []
        return [d["expr"] for d in descriptions if hasattr(d["expr"], "type")]

    @staticmethod
    def _params(plan: _Plan, params: Mapping[str, Any]) -> Any:
        """The DBAPI parameters: each value through its type's bind processor (a None stays None, as
        every processor returns it), in the statement's order (qmark) or by name (pyformat)."""
        values = []
        for name, processor, fallback in plan.slots:
            value = params.get(name, fallback)
            if value is _REQUIRED:
                raise KeyError(f"no value for the statement's parameter {name!r}")
            values.append(value if processor is None or value is None else processor(value))
        if plan.positional:
            return values
        return {**plan.fallback, **params, **{slot[0]: value for slot, value in zip(plan.slots, values, strict=True)}}

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        keys = self.insert_keys or (tuple(sorted(params)) if isinstance(self.statement, Insert) and params else None)
        plan = self._plan(conn.dialect, keys)
        # SQLAlchemy types driver_connection Optional; a connection checked out of the pool has one
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
        plan = self._plan(conn.dialect, self.insert_keys or tuple(sorted(rows[0])))
        # SQLAlchemy types driver_connection Optional; a connection checked out of the pool has one
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


def driver_error(conn: Connection, sql: str, params: Any, error: DBAPIModule.Error, cursor: Any) -> StatementError:
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
        make, converting = plan.row._make, plan.converting
        if not converting:
            self.rows = [make(row) for row in raw]
            return
        self.rows = []
        for row in raw:
            values = list(row)
            for n, processor in converting:
                if values[n] is not None:
                    values[n] = processor(values[n])
            self.rows.append(make(values))

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def all(self) -> list[Any]:
        return self.rows
