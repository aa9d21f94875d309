"""manage.py creditbook_reconcile: recompute every ledger invariant; exit 1 on any drift."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from creditbook_django.management import LedgerCommand, billing_call


class Command(LedgerCommand):
    help = "Recompute every ledger invariant from the rows; exit 1 and name the drift if any."

    def run(self, **_: Any) -> None:
        report = billing_call("reconcile")()
        if not report.ok:
            raise CommandError("ledger drift:\n" + "\n".join(map(str, report.drifts)))
        self.stdout.write(
            f"OK: {report.accounts:,} accounts, {report.lots:,} lots and {report.transactions:,} transactions "
            "agree with their entries and allocations."
        )
