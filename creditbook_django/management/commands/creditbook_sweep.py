"""manage.py creditbook_sweep: settle payment attempts left in flight (safe twice, and beside purchases
and webhooks); exit 1 when a provider could not be asked about some of them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser

from creditbook_django.management import LedgerCommand, aware, billing_call, bounded


class Command(LedgerCommand):
    help = (
        "Ask the payment providers about attempts in flight for longer than --older-than minutes: paid is "
        "credited once, declined or never received is failed, a payment still waiting on its payer after "
        "--abandon-after hours is abandoned."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=bounded(int, 0, 14 * 24 * 60), default=15, help="minutes (default 15)")
        parser.add_argument("--abandon-after", type=bounded(int, 1, 90 * 24), default=24, help="hours (default 24)")
        parser.add_argument("--limit", type=bounded(int, 1, 100_000), default=500, help="attempts per sweep")
        parser.add_argument("--at", type=aware, default=None, help="sweep as of this time (default: now)")

    def run(self, older_than: int, abandon_after: int, limit: int, at: Any, **_: Any) -> None:
        if abandon_after * 60 < older_than:
            raise CommandError("--abandon-after must be at least as long as --older-than")
        sweep = billing_call("sweep_payments")
        result = sweep(timedelta(minutes=older_than), timedelta(hours=abandon_after), at, limit)
        for swept in result.attempts:
            self.stdout.write(f"{swept.settled_as:<8} {swept.reference}  {swept.clinic_id}  {swept.shown}")
        self.stdout.write(
            f"Swept {result.examined:,} payment attempt(s): {len(result.credited):,} credited, "
            f"{len(result.failed):,} failed, {len(result.pending):,} still pending on their payer, "
            f"{len(result.errors):,} not answered."
        )
        if result.errors:
            raise CommandError("providers not answered:\n" + "\n".join(result.errors))
