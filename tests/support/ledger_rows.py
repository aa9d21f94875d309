"""Small readers tests use to look at the ledger directly, beside what the facade reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from engine.billing import Billing
from storage.schema import metadata


def snapshot(billing: Billing) -> dict[str, Any]:
    """Every table's row count and every account balance: equal before and after means 'left nothing'."""

    def read(conn: Any) -> dict[str, Any]:
        counts = {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in metadata.tables.items()
        }
        accounts = metadata.tables["accounts"]
        balances = dict(conn.execute(select(accounts.c.id, accounts.c.balance)).all())
        return {"counts": counts, "balances": balances}

    return billing.db.read(read)


def rows(billing: Billing, table: str, **where: Any) -> list[Any]:
    """Rows of one table, optionally filtered by equality, in id order where there is an id."""
    target = metadata.tables[table]

    def read(conn: Any) -> list[Any]:
        query = select(target).where(*(target.c[k] == v for k, v in where.items()))
        if "id" in target.c:
            query = query.order_by(target.c.id)
        return list(conn.execute(query))

    return billing.db.read(read)


def allocations_of(billing: Billing, transaction_id: int) -> dict[int, int]:
    """{lot id: signed credits} a transaction moved on lots."""
    found: dict[int, int] = {}
    for row in rows(billing, "allocations", transaction_id=transaction_id):
        found[row.lot_id] = found.get(row.lot_id, 0) + int(row.amount)
    return found


def tables(billing: Billing) -> dict[str, list[Any]]:
    """Every row of every table, in a stable order, leaving out the ids that are not the ledger's
    to choose: an idempotency key's row id (an attempt to claim a key that finds it taken still
    uses up a sequence number, and the two paths attempt at different moments) and an event's
    random id (and the deliveries' references to it). Values are read as the database stores them
    (the driver's own, no SQLAlchemy type on the way): a time stored as other text reads back as
    the same datetime, but no longer sorts or compares the same in SQL."""
    chosen = {("idempotency_keys", "id"), ("events", "id"), ("deliveries", "event_id")}

    def read(conn: Any) -> dict[str, list[Any]]:
        found = {}
        for name, table in metadata.tables.items():
            columns = ", ".join(f'"{c.name}"' for c in table.columns if (name, c.name) not in chosen)
            rows = [tuple(row) for row in conn.exec_driver_sql(f'SELECT {columns} FROM "{name}"')]
            found[name] = sorted(rows, key=lambda row: tuple((value is None, str(value)) for value in row))
        return found

    return billing.db.read(read)


def assert_same_rows(expected: dict[str, list[Any]], found: dict[str, list[Any]]) -> None:
    """Two ledgers' `tables` hold the same rows, table by table (the first that differs is named)."""
    assert found.keys() == expected.keys()
    for name, table in expected.items():
        assert found[name] == table, f"table {name} differs"


def charged(billing: Billing, items: list[dict[str, Any]], batched: bool) -> list[Any]:
    """`items` (charge's arguments) charged in one batch, or one by one by `charge`."""
    return billing.charge_batch(items) if batched else [billing.charge(**item) for item in items]
