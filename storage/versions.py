"""Published pricebook versions: immutable rows (the original workbook bytes, the canonical JSON,
the semantic hash). Storage keeps the text; engine/billing/catalog.py compiles it once per process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from storage.schema import pricebook_versions


@dataclass(frozen=True)
class StoredVersion:
    pricebook_id: str
    version: int
    canonical_json: str


@dataclass(frozen=True)
class NewVersion:
    pricebook_id: str
    version: int
    semantic_hash: str
    effective_from: datetime
    canonical_json: str
    original: bytes
    file_sha256: str
    file_name: str
    published_at: datetime
    published_by: str


def stored(conn: Connection, pricebook_id: str, version: int) -> StoredVersion | None:
    row = conn.execute(
        select(pricebook_versions.c.canonical_json).where(
            pricebook_versions.c.pricebook_id == pricebook_id, pricebook_versions.c.version == version
        )
    ).first()
    return None if row is None else StoredVersion(pricebook_id, version, row.canonical_json)


def version_numbers(conn: Connection, pricebook_id: str) -> list[int]:
    """The published versions of a pricebook, in order of effective_from."""
    query = (
        select(pricebook_versions.c.version)
        .where(pricebook_versions.c.pricebook_id == pricebook_id)
        .order_by(pricebook_versions.c.effective_from)
    )
    return [int(version) for (version,) in conn.execute(query)]


def in_force(conn: Connection, pricebook_id: str, at: datetime) -> int | None:
    """The version in force at `at`: the latest with effective_from <= at."""
    found = conn.execute(
        select(pricebook_versions.c.version)
        .where(pricebook_versions.c.pricebook_id == pricebook_id, pricebook_versions.c.effective_from <= at)
        .order_by(pricebook_versions.c.effective_from.desc())
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


def all_versions(conn: Connection) -> list[tuple[str, int]]:
    """(pricebook id, version) of every published version, in order of effective_from."""
    query = select(pricebook_versions.c.pricebook_id, pricebook_versions.c.version).order_by(
        pricebook_versions.c.effective_from
    )
    return [(str(pricebook_id), int(version)) for pricebook_id, version in conn.execute(query)]


def insert_version(conn: Connection, new: NewVersion) -> None:
    conn.execute(insert(pricebook_versions).values(**new.__dict__))
