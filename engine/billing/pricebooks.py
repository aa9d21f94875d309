"""Publishing immutable pricebook versions, reading them, and pinning a clinic to one.

A published version never changes (docs/domain.md §10): publishing stores the original workbook
bytes, the canonical JSON and the semantic hash, and refuses a workbook with errors (its worked
examples included), a version that prices exactly like an earlier one, an effective_from not after
the previous version's, and a version number that is not higher."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.billing import notices
from engine.billing import state as clinic_state
from engine.billing.context import Context, Done, Keyed
from engine.billing.errors import NoPricebook, PricebookRejected
from engine.billing.results import ClinicResult, PublishResult
from engine.loader import validate_pricebook
from engine.pricebook.model import CompiledPricebook, PackageRule
from engine.vocabulary import EventKind
from storage import clinics, versions
from storage.database import Connection
from storage.idempotency import ADMIN_SCOPE


def publish(ctx: Context, path: Path, actor: str, key: str, at: datetime) -> PublishResult:
    """Publish a workbook as a new immutable version."""
    original = path.read_bytes()
    request = {"file": path.name, "sha256": hashlib.sha256(original).hexdigest()}

    def work(conn: Connection, at: datetime) -> Done:
        pricebook = _publishable(ctx, conn, path)
        versions.insert_version(
            conn,
            versions.NewVersion(
                pricebook_id=pricebook.pricebook_id,
                version=pricebook.version,
                semantic_hash=pricebook.semantic_hash,
                effective_from=pricebook.meta.effective_from,
                canonical_json=pricebook.canonical_json(),
                original=original,
                file_sha256=request["sha256"],
                file_name=path.name,
                published_at=at,
                published_by=actor,
            ),
        )
        notices.tell(
            conn,
            EventKind.VERSION_PUBLISHED,
            None,
            {
                "subject": f"{pricebook.label} published",
                "message": f"{pricebook.label} takes effect on {pricebook.meta.effective_from.isoformat()}.",
                "pricebook_id": pricebook.pricebook_id,
                "version": pricebook.version,
                "effective_from": pricebook.meta.effective_from,
                "semantic_hash": pricebook.semantic_hash,
            },
            at,
        )
        result = PublishResult(
            pricebook_id=pricebook.pricebook_id,
            version=pricebook.version,
            semantic_hash=pricebook.semantic_hash,
            effective_from=pricebook.meta.effective_from,
            published_at=at,
        )
        return Done(result, None)

    return ctx.idempotent(Keyed(ADMIN_SCOPE, key, "publish", request), work, PublishResult, at)


def _publishable(ctx: Context, conn: Connection, path: Path) -> CompiledPricebook:
    report = validate_pricebook(path)
    if report.pricebook is None:
        problems = "; ".join(f"{f.location}: {f.message}" for f in report.errors[:5])
        raise PricebookRejected(f"{path.name} has {len(report.errors)} error(s): {problems}")
    pricebook = report.pricebook
    previous = ctx.catalog.versions(conn, pricebook.pricebook_id)
    if not previous:
        return pricebook
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
    highest = max(p.version for p in previous)
    if pricebook.version <= highest:
        raise PricebookRejected(f"version {pricebook.version} is not after the published {highest}")
    return pricebook


def in_force(ctx: Context, market_or_id: str, at: datetime) -> CompiledPricebook:
    def read(conn: Connection) -> CompiledPricebook:
        pricebook_id = ctx.catalog.markets(conn).get(market_or_id.upper(), market_or_id)
        return ctx.catalog.in_force(conn, pricebook_id, at)

    return ctx.db.read(read)


def packages(ctx: Context, market_or_id: str, at: datetime) -> tuple[PackageRule, ...]:
    """The monthly packages on sale at `at` (practice note: GET /api/credits/packages/)."""
    return in_force(ctx, market_or_id, at).packages


@dataclass(frozen=True)
class PinRequest:
    clinic_id: str
    pricebook_id: str
    version: int
    actor: str
    reason: str
    until: datetime | None = None


def pin(ctx: Context, asked: PinRequest, key: str, at: datetime) -> ClinicResult:
    """Lock a clinic to a published version's prices (retention). Promotions and overdraft limits
    still come from the current version."""

    def work(conn: Connection, at: datetime) -> Done:
        found = clinic_state.load(conn, asked.clinic_id, at)
        ctx.catalog.version(conn, asked.pricebook_id, asked.version)  # must be published
        if asked.pricebook_id != found.clinic.pricebook_id:
            raise NoPricebook(
                f"clinic {asked.clinic_id} is priced by {found.clinic.pricebook_id}, not {asked.pricebook_id}"
            )
        clinics.add_pin(
            conn,
            clinics.Pin(asked.clinic_id, asked.pricebook_id, asked.version, at, asked.until, asked.reason, asked.actor),
        )
        result = ClinicResult(
            clinic_id=asked.clinic_id,
            market=found.clinic.market,
            pricebook_id=asked.pricebook_id,
            segment=found.clinic.segment,
            overdraft_limit=found.wallet.overdraft_limit,
        )
        return Done(result, None)

    request = {
        "clinic": asked.clinic_id,
        "pricebook": asked.pricebook_id,
        "version": asked.version,
        "until": asked.until,
    }
    return ctx.idempotent(Keyed(asked.clinic_id, key, "pin", request), work, ClinicResult, at)
