"""The delivery worker: leases due deliveries, sends each outside any database transaction, records
what happened, and retries with exponential backoff until a delivery is dead.

At least once: a delivery is marked delivered only after the endpoint answered 2xx (or the mailer
returned); a worker killed between sending and recording leaves the lease to lapse, and the next
worker sends it again with the same event id. Two workers never hold the same delivery (leases are
taken with SKIP LOCKED on PostgreSQL, under SQLite's write lock otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.notify import webhook
from engine.notify.mail import Mailer
from engine.vocabulary import NotifyChannel
from storage import outbox
from storage.database import Connection, Database


@dataclass(frozen=True)
class Policy:
    """How often and how patiently a delivery is tried."""

    max_attempts: int = 8
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=6)
    lease: timedelta = timedelta(minutes=2)
    batch: int = 50
    timeout_s: float = 5.0

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` failed tries, or None: give up (dead)."""
        if attempts >= self.max_attempts:
            return None
        return now + min(self.first_delay * 2 ** (attempts - 1), self.max_delay)


@dataclass
class Tally:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.dead


@dataclass
class Worker:
    db: Database
    clock: Callable[[], datetime]
    mailer: Mailer | None = None
    policy: Policy = field(default_factory=Policy)

    def run_once(self) -> Tally:
        """Send every delivery due now (one batch at a time) and record each outcome."""
        tally = Tally()
        while True:
            due = self.db.run(self._lease)
            if not due:
                return tally
            for delivery in due:
                self._send_and_record(delivery, tally)

    def _lease(self, conn: Connection) -> list[outbox.Due]:
        return outbox.lease_due(conn, self.clock(), self.policy.batch, self.policy.lease)

    def run(self, poll_s: float = 5.0, stop: Callable[[], bool] = lambda: False) -> None:
        """Deliver until `stop()` says so, polling the outbox every `poll_s` seconds when idle."""
        while not stop():
            if not self.run_once().handled:
                time.sleep(poll_s)

    def _send_and_record(self, delivery: outbox.Due, tally: Tally) -> None:
        error = self._send(delivery)
        now = self.clock()
        if error is None:
            if self.db.run(lambda conn: outbox.delivered(conn, delivery, now)):
                tally.delivered += 1
            return
        retry_at = self.policy.retry_at(delivery.attempts + 1, now)
        if self.db.run(lambda conn: outbox.failed(conn, delivery, error, retry_at)):
            if retry_at is None:
                tally.dead += 1
            else:
                tally.retried += 1
            tally.errors.append(f"{delivery.endpoint.target}: {error}")

    def _send(self, delivery: outbox.Due) -> str | None:
        """Send one delivery; the error in words, or None when it was taken."""
        endpoint = delivery.endpoint
        if endpoint.channel == NotifyChannel.WEBHOOK:
            payload = webhook.body(
                delivery.event_id, delivery.kind, delivery.clinic_id, delivery.created_at.isoformat(), delivery.payload
            )
            answer = webhook.post(endpoint.target, endpoint.secret, delivery.event_id, payload, self.policy.timeout_s)
            return None if answer.ok else answer.detail
        if self.mailer is None:
            return "no mailer is configured (set CREDITBOOK_SMTP_URL, or run the Django app's command)"
        subject = str(delivery.payload.get("subject") or delivery.kind.replace("_", " "))
        text = str(delivery.payload.get("message") or subject)
        try:
            self.mailer.send(endpoint.target, subject, f"{text}\n\n(event {delivery.event_id})")
        except Exception as error:  # a mail server's refusal, whatever its type: retried, then dead
            return f"{type(error).__name__}: {error}"
        return None
