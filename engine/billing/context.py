"""What every billing operation works with, and the one way an operation runs.

An operation is a plain function of a `Context` (the database, the clock, the payment gateway, the
catalog of published versions) and its arguments. `Context.idempotent` runs it: one database
transaction that claims the idempotency key, does the work, and stores the outcome with the key —
a retry with the same key and request gets the stored outcome (a decline stays declined), the same
key with another request is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, Self, TypeVar

from engine.billing.catalog import Catalog
from engine.billing.errors import InvalidAmount, InvalidKey
from engine.billing.payments.routing import GatewayRouter
from engine.bounds import KEY_MAX, check_time
from engine.errors import InvalidInput
from storage import idempotency
from storage.database import Connection, Database

R = TypeVar("R", bound="Outcome")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Outcome(Protocol):
    """A result that can be stored with its key and replayed (engine/billing/results.py)."""

    def outcome(self) -> dict[str, Any]: ...

    @classmethod
    def model_validate(cls, obj: Any) -> Self: ...


@dataclass(frozen=True)
class Done:
    """What an operation's work returns: its result and the transaction the key points at."""

    result: Any
    transaction_id: int | None


@dataclass(frozen=True)
class Keyed:
    """An operation's identity for idempotency: who it belongs to, its key, its name and its inputs."""

    scope: str
    key: str
    operation: str
    request: dict[str, Any]

    def digest(self) -> str:
        """What makes two requests 'the same' for a key: the operation and its inputs."""
        text = json.dumps({"operation": self.operation, **self.request}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Context:
    db: Database
    clock: Callable[[], datetime]
    gateway: GatewayRouter  # the payment gateway of each currency (engine/billing/payments/routing.py)
    catalog: Catalog

    def at(self, at: datetime | None) -> datetime:
        """The operation's time: given, or the injected clock's."""
        try:
            return check_time("at", self.clock() if at is None else at)
        except InvalidInput as error:
            raise InvalidAmount(str(error), field="at") from None

    def idempotent(
        self, keyed: Keyed, work: Callable[[Connection, datetime], Done], result_type: type[R], at: datetime
    ) -> R:
        check_key(keyed.key)
        digest = keyed.digest()
        return self.db.run(lambda conn: self.keyed(conn, keyed, digest, work, result_type, at))

    def keyed(
        self,
        conn: Connection,
        keyed: Keyed,
        digest: str,
        work: Callable[[Connection, datetime], Done],
        result_type: type[R],
        at: datetime,
    ) -> R:
        """One keyed operation inside the caller's transaction (a batch's item): claim the key,
        replay its stored outcome or do the work and store its outcome with the key."""
        claimed = idempotency.claim(conn, keyed.scope, keyed.key, keyed.operation, digest, at)
        if claimed.replay:
            assert claimed.outcome is not None
            return result_type.model_validate({**claimed.outcome, "replayed": True})
        done = work(conn, at)
        idempotency.store_outcome(conn, claimed.id, done.result.outcome(), done.transaction_id)
        return done.result


def check_key(key: object) -> str:
    """An idempotency key: non-empty text of at most KEY_MAX characters, no control characters."""
    if not isinstance(key, str) or not key.strip() or len(key) > KEY_MAX or not key.isprintable():
        raise InvalidKey(
            f"an idempotency key must be non-empty printable text of at most {KEY_MAX} characters; got {key!r:.60}"
        )
    return key
