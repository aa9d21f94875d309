"""Auto top-up settings, and the one marker that keeps a clinic to one auto top-up in flight.

`start` is a compare-and-set on the clinic's row: it succeeds only while nothing is in flight and
the setting is enabled and not paused, and it takes the next sequence number in the same statement,
so however many charges cross the threshold at once, exactly one of them starts an auto top-up.
Settling that attempt (credited or failed) clears the marker in the settlement's own transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from storage.schema import auto_topups


@dataclass(frozen=True)
class Choice:
    """What a clinic chose (saved with `save`)."""

    clinic_id: str
    enabled: bool
    method: str
    customer: str | None
    threshold: int
    mode: str
    amount: int
    cap: int | None
    updated_at: datetime


@dataclass(frozen=True)
class AutoTopUp(Choice):
    """A clinic's choice and its state: how many auto top-ups it started, the one in flight, and
    the failure it is paused on."""

    sequence: int
    in_flight: str | None
    paused: bool
    last_failure: str | None
    last_failure_at: datetime | None


def _row(row: Any) -> AutoTopUp:
    return AutoTopUp(**{name: getattr(row, name) for name in AutoTopUp.__dataclass_fields__})


def settings(conn: Connection, clinic_id: str) -> AutoTopUp | None:
    row = conn.execute(select(auto_topups).where(auto_topups.c.clinic_id == clinic_id)).first()
    return None if row is None else _row(row)


def enabled_clinics(conn: Connection) -> list[str]:
    """The clinics whose auto top-up is on (paused or not)."""
    return list(conn.execute(select(auto_topups.c.clinic_id).where(auto_topups.c.enabled.is_(True))).scalars())


def save(conn: Connection, choice: Choice) -> None:
    """Insert or replace a clinic's choice; saving again un-pauses it after a failure (the clinic
    has seen the failure and, typically, a new payment method). The sequence and any attempt in
    flight are kept."""
    values = {**choice.__dict__, "paused": False}
    changed = conn.execute(
        update(auto_topups).where(auto_topups.c.clinic_id == choice.clinic_id).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(auto_topups).values(**values, sequence=0))


def start(conn: Connection, clinic_id: str, reference_of: Callable[[int], str]) -> int | None:
    """Claim the clinic's next auto top-up: its sequence number, or None when one is in flight, the
    setting is off or paused. `reference_of(sequence)` names the attempt the marker points at."""
    current = settings(conn, clinic_id)
    if current is None or not current.enabled or current.paused or current.in_flight is not None:
        return None
    sequence = current.sequence + 1
    changed = conn.execute(
        update(auto_topups)
        .where(
            auto_topups.c.clinic_id == clinic_id,
            auto_topups.c.sequence == current.sequence,
            auto_topups.c.in_flight.is_(None),
        )
        .values(sequence=sequence, in_flight=reference_of(sequence))
    ).rowcount
    return sequence if changed == 1 else None


def finish(conn: Connection, clinic_id: str, reference: str, failure: str | None, at: datetime) -> None:
    """The attempt in flight settled: clear the marker; a failure is kept and pauses auto top-up
    until the clinic saves its settings again (a declined card is not tried on every charge)."""
    values: dict[str, Any] = {"in_flight": None}
    if failure is not None:
        values |= {"paused": True, "last_failure": failure[:2000], "last_failure_at": at}
    conn.execute(
        update(auto_topups)
        .where(auto_topups.c.clinic_id == clinic_id, auto_topups.c.in_flight == reference)
        .values(**values)
    )


__all__ = ["AutoTopUp", "Choice", "enabled_clinics", "finish", "save", "settings", "start"]
