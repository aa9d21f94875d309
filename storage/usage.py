"""Usage counters: a clinic's posted charges and refunds per day and product (`usage_days`).

The dashboard's "this month" (credits used, refunds granted, leads, segments, minutes) and the
runway alert's "last 30 days" used to be sums over the clinic's transactions, so every charge and
every `balance()` cost more as a clinic's history grew (2.3 ms per read at 1,000 charges in a
month, quadratic over a busy month). The ledger's door (storage/transfers.py) now counts each
posted charge and refund here, in the transaction that posts it; a month reads at most 31 rows,
the trailing window exactly `TRAILING_DAYS`.

Days are the clinic's own (its `timezone`, the pricebook's zone at registration): a month starts
at local midnight on its first day, so a month's counters hold exactly the month's transactions.
The trailing window is the day of the operation and the 29 before it — whole days, not the last
720 hours. A refund counts twice: on its own day (`refunded`: refunds granted that day) and on the
day of the charge it refunds (`charge_refunded`: what is left of that day's usage is net of it).

`recount` recomputes every counter from the transactions (the migration's backfill and
reconcile's check (j)); it is the definition the counters must keep equal to.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import ModuleType
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from engine.vocabulary import TransactionKind, TransactionStatus
from storage.schema import clinics, transactions, usage_days
from storage.statements import Statement

TRAILING_DAYS: Final = 30  # the runway alert's recent usage: the operation's day and the 29 before
B = bindparam


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def day_of(at: datetime, zone: str) -> date:
    """The clinic's calendar day of an instant."""
    return at.astimezone(_zone(zone)).date()


def trailing_days(day: date) -> tuple[date, date]:
    """The first and last day of the trailing window that ends on `day`."""
    return day - timedelta(days=TRAILING_DAYS - 1), day


def next_midnight(at: datetime, zone: str) -> datetime:
    """When the clinic's day of `at` ends: the trailing window moves then."""
    local = at.astimezone(_zone(zone))
    start = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), local.tzinfo)
    return start.astimezone(at.tzinfo)


@dataclass(frozen=True)
class Count:
    """One change to one counter row; columns not named stay as they are."""

    clinic_id: str
    day: date
    product: str
    charged: int = 0
    units: int = 0
    refunded: int = 0
    charge_refunded: int = 0

    def row(self) -> dict[str, object]:
        return {
            "clinic_id": self.clinic_id,
            "day": self.day,
            "product": self.product,
            "charged": self.charged,
            "units": self.units,
            "refunded": self.refunded,
            "charge_refunded": self.charge_refunded,
        }


_AMOUNTS = ("charged", "units", "refunded", "charge_refunded")


def _upsert(dialect: ModuleType) -> Statement:
    """The day's counters added to, for a dialect module whose `insert` upserts (sqlite, postgresql)."""
    statement = dialect.insert(usage_days)
    return Statement(
        statement.on_conflict_do_update(
            index_elements=[usage_days.c.clinic_id, usage_days.c.day, usage_days.c.product],
            set_={name: usage_days.c[name] + statement.excluded[name] for name in _AMOUNTS},
        ),
        insert_keys=("clinic_id", "day", "product", *_AMOUNTS),
    )


_UPSERT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}


def add(conn: Connection, counts: Iterable[Count]) -> None:
    """Add to the counters (a row is created the first time its day and product are counted)."""
    rows = [count.row() for count in counts]
    if not rows:
        return
    if len(rows) == 1:
        _UPSERT[conn.dialect.name].run(conn, rows[0])
    else:
        _UPSERT[conn.dialect.name].run_many(conn, rows)


def charge(clinic_id: str, zone: str, at: datetime, product: str, credits: int, units: int) -> Count:
    """What a posted charge adds."""
    return Count(clinic_id, day_of(at, zone), product, charged=credits, units=units)


def refund(clinic_id: str, zone: str, at: datetime, charged_at: datetime, product: str, credits: int) -> list[Count]:
    """What a posted refund adds: refunds granted on its own day, less usage on its charge's day."""
    return [
        Count(clinic_id, day_of(at, zone), product, refunded=credits),
        Count(clinic_id, day_of(charged_at, zone), product, charge_refunded=credits),
    ]


@dataclass(frozen=True)
class Totals:
    charged: int = 0
    units: int = 0
    refunded: int = 0


_MONTH = Statement(
    select(
        usage_days.c.product,
        func.sum(usage_days.c.charged).label("charged"),
        func.sum(usage_days.c.units).label("units"),
        func.sum(usage_days.c.refunded).label("refunded"),
    )
    .where(usage_days.c.clinic_id == B("b_clinic"), usage_days.c.day >= B("b_first"), usage_days.c.day <= B("b_last"))
    .group_by(usage_days.c.product)
)


def totals(conn: Connection, clinic_id: str, first: date, last: date) -> dict[str, Totals]:
    """product → what was charged and refunded on the clinic's days first..last (at most 31 rows a month)."""
    rows = _MONTH.run(conn, {"b_clinic": clinic_id, "b_first": first, "b_last": last}).all()
    return {r.product: Totals(int(r.charged), int(r.units), int(r.refunded)) for r in rows}


# -- the definition: every counter recomputed from the transactions ---------------------------------


def recount(conn: Connection) -> dict[tuple[str, date, str], tuple[int, int, int, int]]:
    """(clinic, day, product) → (charged, units, refunded, charge_refunded), from the posted charges
    and refunds themselves: what the counters must hold. One pass over the ledger's rows."""
    counted: dict[tuple[str, date, str], list[int]] = {}
    zones = dict(conn.execute(select(clinics.c.id, clinics.c.timezone)).all())
    charge_at: dict[int, datetime] = {}
    posted = (
        select(
            transactions.c.id,
            transactions.c.clinic_id,
            transactions.c.kind,
            transactions.c.at,
            transactions.c.product,
            transactions.c.credits,
            transactions.c.units,
            transactions.c.related_id,
        )
        .where(
            transactions.c.status == TransactionStatus.POSTED.value,
            transactions.c.kind.in_([TransactionKind.CHARGE.value, TransactionKind.REFUND.value]),
        )
        .order_by(transactions.c.id)
    )
    for row in conn.execute(posted):
        zone = zones[row.clinic_id]
        product = row.product or ""
        if row.kind == TransactionKind.CHARGE:
            charge_at[int(row.id)] = row.at
            found = counted.setdefault((row.clinic_id, day_of(row.at, zone), product), [0, 0, 0, 0])
            found[0] += int(row.credits)
            found[1] += int(row.units or 0)
            continue
        for count in refund(row.clinic_id, zone, row.at, charge_at[int(row.related_id)], product, int(row.credits)):
            found = counted.setdefault((count.clinic_id, count.day, count.product), [0, 0, 0, 0])
            found[2] += count.refunded
            found[3] += count.charge_refunded
    return {key: (a, b, c, d) for key, (a, b, c, d) in counted.items() if any((a, b, c, d))}


def stored(conn: Connection) -> dict[tuple[str, date, str], tuple[int, int, int, int]]:
    """Every counter row as stored (rows of zeros left out: an empty counter and none are the same)."""
    rows = conn.execute(select(usage_days))
    return {
        (r.clinic_id, r.day, r.product): (int(r.charged), int(r.units), int(r.refunded), int(r.charge_refunded))
        for r in rows
        if any((r.charged, r.units, r.refunded, r.charge_refunded))
    }


def fill(conn: Connection, counted: Mapping[tuple[str, date, str], tuple[int, int, int, int]]) -> None:
    """Write recounted counters into an empty table (the migration's backfill)."""
    add(conn, [Count(clinic, day, product, *amounts) for (clinic, day, product), amounts in sorted(counted.items())])
