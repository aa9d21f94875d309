"""Plumbing every operation shares: the clock, idempotent transactions, policy and pricebook lookups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection

from engine.billing import support
from engine.billing.catalog import Catalog
from engine.billing.gateway import FakeGateway, PaymentGateway
from engine.pricebook.model import CompiledPricebook
from rules import PolicyEngine
from storage import ledger
from storage.database import Database

R = TypeVar("R")
REFUND_GRACE = timedelta(days=7)  # a refund into a lot that expired meanwhile stays usable this long
ALL_CLINICS = "*"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Done:
    result: Any
    transaction_id: int | None


class BillingBase:
    """Plumbing every operation shares: the clock, idempotent transactions, policy and pricebook lookups."""

    def __init__(
        self,
        database: Database | str | None = None,
        clock: Callable[[], datetime] = utc_now,
        gateway: PaymentGateway | None = None,
        migrate: bool = True,
    ):
        self.db = database if isinstance(database, Database) else Database(database)
        if migrate:
            self.db.upgrade()
        self.clock = clock
        self.gateway = gateway or FakeGateway()
        self.catalog = Catalog()

    def _at(self, at: datetime | None) -> datetime:
        return support.check_aware(at or self.clock())

    def _idempotent(
        self,
        scope: str,
        key: str,
        operation: str,
        request: dict[str, Any],
        work: Callable[[Connection, datetime], Done],
        result_type: type[R],
        at: datetime,
    ) -> R:
        key = support.check_key(key)
        digest = support.request_hash(operation, request)

        def transaction(conn: Connection) -> R:
            claimed = ledger.claim(conn, scope, key, operation, digest, at)
            if claimed.replay:
                assert claimed.outcome is not None
                return result_type.model_validate({**claimed.outcome, "replayed": True})  # type: ignore[attr-defined]
            done = work(conn, at)
            ledger.store_outcome(conn, claimed.id, done.result.outcome(), done.transaction_id)
            return done.result  # type: ignore[no-any-return]

        return self.db.run(transaction)

    def _policy(self, pricebook: CompiledPricebook) -> PolicyEngine:
        return PolicyEngine.of(pricebook)

    def _current(self, conn: Connection, pricebook_id: str, at: datetime) -> CompiledPricebook:
        return self.catalog.in_force(conn, pricebook_id, at)
