"""manage.py creditbook_upgrade: the ledger's Alembic migrations alone (`migrate` runs them too)."""

from __future__ import annotations

from typing import Any

from creditbook_django.management import LedgerCommand


class Command(LedgerCommand):
    help = "Bring the ledger's schema up to date (under PostgreSQL's advisory lock)."

    def run(self, verbosity: int = 1, **_: Any) -> None:
        import logging

        from creditbook_django import ledger

        if verbosity >= 2:  # name each migration as it runs ("Running upgrade 0001 -> 0002")
            logging.basicConfig(format="%(name)s: %(message)s")
            logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)

        self.stdout.write(f"Ledger schema is up to date in {ledger.upgrade()}")
