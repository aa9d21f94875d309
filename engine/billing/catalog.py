"""Published pricebook versions, compiled once per process.

The price at time t is the latest published version with effective_from <= t (docs/domain.md §10).
Which version prices a given clinic's charge (its pin, its term's version) is decided in
engine/billing/state.py; promotions and overdraft limits always come from the current version.
"""

from __future__ import annotations

import threading
from datetime import datetime

from engine.billing.errors import NoPricebook
from engine.pricebook.model import CompiledPricebook, CompiledPricebookError, load_compiled_json
from storage import versions
from storage.database import Connection


class Catalog:
    """Reads published versions; compiled pricebooks are cached by (id, version): a published
    version never changes, so the cache can never serve stale prices."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, int], CompiledPricebook] = {}
        self._lock = threading.Lock()
        self.unloadable: dict[tuple[str, int], str] = {}  # (pricebook, version) → why it cannot be loaded

    def version(self, conn: Connection, pricebook_id: str, version: int) -> CompiledPricebook:
        cached = self._compiled.get((pricebook_id, version))
        if cached is not None:
            return cached
        row = versions.stored(conn, pricebook_id, version)
        if row is None:
            raise NoPricebook(f"{pricebook_id} v{version} is not published")
        compiled = load_compiled_json(row.canonical_json)
        with self._lock:
            return self._compiled.setdefault((pricebook_id, version), compiled)

    def versions(self, conn: Connection, pricebook_id: str) -> list[CompiledPricebook]:
        return [self.version(conn, pricebook_id, number) for number in versions.version_numbers(conn, pricebook_id)]

    def in_force(self, conn: Connection, pricebook_id: str, at: datetime) -> CompiledPricebook:
        number = versions.in_force(conn, pricebook_id, at)
        if number is None:
            raise NoPricebook(f"no version of {pricebook_id} is in force at {at.isoformat()}")
        return self.version(conn, pricebook_id, number)

    def markets(self, conn: Connection) -> dict[str, str]:
        """market → pricebook_id of the published pricebooks. A stored version that cannot be loaded
        (damaged in the database) is left out here and remembered in `unloadable`: it stops its own
        pricebook at the moment it would price (CompiledPricebookError), never another market."""
        out: dict[str, str] = {}
        for pricebook_id, number in versions.all_versions(conn):
            try:
                out[self.version(conn, pricebook_id, number).meta.market] = pricebook_id
            except CompiledPricebookError as error:
                self.unloadable[(pricebook_id, number)] = str(error)
        return out

    def pricebook_for(self, conn: Connection, market: str) -> str:
        pricebook_id = self.markets(conn).get(market.upper())
        if pricebook_id is None:
            raise NoPricebook(f"no pricebook is published for market {market!r}")
        return pricebook_id
