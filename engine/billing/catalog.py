"""Published pricebook versions: immutable rows in the ledger database, compiled once per process.

The price at time t is the latest published version with effective_from <= t (DOMAIN §10). Which
version prices a given clinic's charge (its pin, its term's version) is decided in
engine/billing/state.py; promotions and overdraft limits always come from the current version.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, insert, select

from engine.billing.errors import NoPricebook, PricebookRejected
from engine.loader import validate_pricebook
from engine.pricebook.model import CompiledPricebook, load_compiled_json
from storage.schema import pricebook_versions


class Catalog:
    """Reads published versions; compiled pricebooks are cached by (id, version)."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, int], CompiledPricebook] = {}
        self._lock = threading.Lock()

    def _compile(self, row: object) -> CompiledPricebook:
        key = (row.pricebook_id, int(row.version))  # type: ignore[attr-defined]
        found = self._compiled.get(key)
        if found is None:
            found = load_compiled_json(row.canonical_json)  # type: ignore[attr-defined]
            with self._lock:
                found = self._compiled.setdefault(key, found)
        return found

    def version(self, conn: Connection, pricebook_id: str, version: int) -> CompiledPricebook:
        cached = self._compiled.get((pricebook_id, version))
        if cached is not None:
            return cached
        row = conn.execute(
            select(
                pricebook_versions.c.pricebook_id, pricebook_versions.c.version, pricebook_versions.c.canonical_json
            ).where(pricebook_versions.c.pricebook_id == pricebook_id, pricebook_versions.c.version == version)
        ).first()
        if row is None:
            raise NoPricebook(f"{pricebook_id} v{version} is not published")
        return self._compile(row)

    def versions(self, conn: Connection, pricebook_id: str) -> list[CompiledPricebook]:
        rows = conn.execute(
            select(pricebook_versions.c.version)
            .where(pricebook_versions.c.pricebook_id == pricebook_id)
            .order_by(pricebook_versions.c.effective_from)
        )
        return [self.version(conn, pricebook_id, int(version)) for (version,) in rows]

    def in_force(self, conn: Connection, pricebook_id: str, at: datetime) -> CompiledPricebook:
        version = conn.execute(
            select(pricebook_versions.c.version)
            .where(pricebook_versions.c.pricebook_id == pricebook_id, pricebook_versions.c.effective_from <= at)
            .order_by(pricebook_versions.c.effective_from.desc())
            .limit(1)
        ).scalar()
        if version is None:
            raise NoPricebook(f"no version of {pricebook_id} is in force at {at.isoformat()}")
        return self.version(conn, pricebook_id, int(version))

    def markets(self, conn: Connection) -> dict[str, str]:
        """market → pricebook_id of the published pricebooks."""
        out: dict[str, str] = {}
        for pricebook_id, version in conn.execute(
            select(pricebook_versions.c.pricebook_id, pricebook_versions.c.version).order_by(
                pricebook_versions.c.effective_from
            )
        ):
            out[self.version(conn, pricebook_id, int(version)).meta.market] = pricebook_id
        return out


def publish(conn: Connection, catalog: Catalog, path: str | Path, actor: str, at: datetime) -> CompiledPricebook:
    """Store a validated workbook as a new immutable version (original bytes, canonical JSON, hashes).

    Refused: a workbook with errors (its examples included), a version that prices exactly like the
    previous one (same semantic hash), an effective_from not after the previous version's, a version
    number that is not higher."""
    path = Path(path)
    report = validate_pricebook(path)
    if report.pricebook is None:
        problems = "; ".join(f"{f.location}: {f.message}" for f in report.errors[:5])
        raise PricebookRejected(f"{path.name} has {len(report.errors)} error(s): {problems}")
    pricebook = report.pricebook
    previous = catalog.versions(conn, pricebook.pricebook_id)
    if previous:
        last = previous[-1]
        if any(p.semantic_hash == pricebook.semantic_hash for p in previous):
            raise PricebookRejected(
                f"{pricebook.label} prices exactly like an already published version "
                "(same semantic hash): nothing to publish"
            )
        if pricebook.meta.effective_from <= last.meta.effective_from:
            raise PricebookRejected(
                f"effective_from {pricebook.meta.effective_from:%Y-%m-%d %H:%M} UTC is not after "
                f"{last.label}'s ({last.meta.effective_from:%Y-%m-%d %H:%M} UTC)"
            )
        if pricebook.version <= max(p.version for p in previous):
            raise PricebookRejected(
                f"version {pricebook.version} is not after the published {max(p.version for p in previous)}"
            )
    original = path.read_bytes()
    conn.execute(
        insert(pricebook_versions).values(
            pricebook_id=pricebook.pricebook_id,
            version=pricebook.version,
            semantic_hash=pricebook.semantic_hash,
            effective_from=pricebook.meta.effective_from,
            canonical_json=pricebook.canonical_json(),
            original=original,
            file_sha256=hashlib.sha256(original).hexdigest(),
            file_name=path.name,
            published_at=at,
            published_by=actor,
        )
    )
    return pricebook


__all__ = ["Catalog", "publish"]
