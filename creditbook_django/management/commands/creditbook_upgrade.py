"""manage.py creditbook_upgrade: the ledger's Alembic migrations alone (`migrate` runs them too)."""

from __future__ import annotations

from typing import Any

from creditbook_django.management import LedgerCommand


class Command(LedgerCommand):
    help = "Bring the ledger's schema up to date (under PostgreSQL's advisory lock)."

    def run(self, **_: Any) -> None:
        from creditbook_django import ledger

        self.stdout.write(f"Ledger schema is up to date in {ledger.upgrade()}")
