"""manage.py creditbook_expire: expire every lot whose time is up (safe twice, and beside charges)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from creditbook_django.management import LedgerCommand, aware, billing_call


class Command(LedgerCommand):
    help = "Expire every credit lot whose time is up."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--at", type=aware, default=None, help="expire as of this time (default: now)")

    def run(self, at: Any, **_: Any) -> None:
        done = billing_call("expire_lots")(at)
        self.stdout.write(
            f"Expired {done.lots:,} lots in {done.wallets:,} wallets: {done.credits:,} credits; "
            f"{done.alerts:,} alerts written to the outbox"
        )
