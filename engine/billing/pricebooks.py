"""Publishing immutable pricebook versions, reading them, and pinning a clinic to one."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, insert

from engine.billing import support
from engine.billing.base import BillingBase, Done
from engine.billing.catalog import publish
from engine.billing.errors import (
    NoPricebook,
)
from engine.billing.results import (
    ClinicResult,
    PublishResult,
)
from engine.pricebook.model import CompiledPricebook, PackageRule
from storage import ledger
from storage.schema import (
    clinic_pins,
)


class PricebookOperations(BillingBase):
    """Publishing immutable pricebook versions, reading them, and pinning a clinic to one."""

    def publish_pricebook(self, path: str | Path, actor: str, key: str, at: datetime | None = None) -> PublishResult:
        """Publish a workbook as a new immutable version (refused when unchanged or not later)."""
        when = self._at(at)
        request = {"file": Path(path).name, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}

        def work(conn: Connection, at: datetime) -> Done:
            pricebook = publish(conn, self.catalog, path, actor, at)
            return Done(
                PublishResult(
                    pricebook_id=pricebook.pricebook_id,
                    version=pricebook.version,
                    semantic_hash=pricebook.semantic_hash,
                    effective_from=pricebook.meta.effective_from,
                    published_at=at,
                ),
                None,
            )

        return self._idempotent("admin", key, "publish", request, work, PublishResult, when)

    def pricebook_versions(self, pricebook_id: str) -> list[CompiledPricebook]:
        return self.db.read(lambda conn: self.catalog.versions(conn, pricebook_id))

    def pricebook_in_force(self, market_or_id: str, at: datetime | None = None) -> CompiledPricebook:
        when = self._at(at)

        def read(conn: Connection) -> CompiledPricebook:
            pricebook_id = self.catalog.markets(conn).get(market_or_id.upper(), market_or_id)
            return self._current(conn, pricebook_id, when)

        return self.db.read(read)

    def list_packages(self, market_or_id: str, at: datetime | None = None) -> tuple[PackageRule, ...]:
        """The monthly packages on sale at `at` (practice note: GET /api/credits/packages/)."""
        return self.pricebook_in_force(market_or_id, at).packages

    def pin(
        self,
        clinic_id: str,
        pricebook_id: str,
        version: int,
        actor: str,
        reason: str,
        key: str,
        at: datetime | None = None,
        until: datetime | None = None,
    ) -> ClinicResult:
        """Lock a clinic to a published version's prices (retention). Promotions and overdraft
        limits still come from the current version."""
        when = self._at(at)

        def work(conn: Connection, at: datetime) -> Done:
            found = support.clinic(conn, clinic_id)
            self.catalog.version(conn, pricebook_id, version)  # must be published
            if pricebook_id != found.pricebook_id:
                raise NoPricebook(f"clinic {clinic_id} is priced by {found.pricebook_id}, not {pricebook_id}")
            conn.execute(
                insert(clinic_pins).values(
                    clinic_id=clinic_id,
                    pricebook_id=pricebook_id,
                    version=version,
                    pinned_from=at,
                    pinned_until=until,
                    reason=reason,
                    actor=actor,
                )
            )
            wallet = ledger.wallet(conn, clinic_id)
            assert wallet is not None
            return Done(
                ClinicResult(
                    clinic_id=clinic_id,
                    market=found.market,
                    pricebook_id=pricebook_id,
                    segment=found.segment,
                    overdraft_limit=wallet.overdraft_limit,
                ),
                None,
            )

        request = {"clinic": clinic_id, "pricebook": pricebook_id, "version": version, "until": until}
        return self._idempotent(clinic_id, key, "pin", request, work, ClinicResult, when)
