"""The clock tests inject into the ledger, and the instant it starts at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class Clock:
    """The injected clock: tests set or advance it; the ledger never reads the wall clock."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
