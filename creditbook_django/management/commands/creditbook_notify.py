"""manage.py creditbook_notify: deliver the alerts waiting in the outbox — webhooks, and e-mail
through Django's mail backend — once, or in a loop (`--loop --interval 5`) until stopped."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import CommandParser

from creditbook_django.management import LedgerCommand, bounded

INTERVAL_MIN, INTERVAL_MAX = 0.1, 3600.0


class Command(LedgerCommand):
    help = "Deliver the notifications due now (webhooks, and e-mail through Django's mail backend)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep delivering until interrupted (SIGINT/SIGTERM)")
        parser.add_argument(
            "--interval",
            type=bounded(float, INTERVAL_MIN, INTERVAL_MAX, " seconds"),
            default=5.0,
            help="seconds between polls when idle (5)",
        )
        parser.add_argument(
            "--rounds",
            type=bounded(int, 1, 10**9),
            default=None,
            help="with --loop: stop after this many polls (tests, cron windows)",
        )

    def run(self, loop: bool, interval: float, rounds: int | None, **_: Any) -> None:
        from creditbook_django import ledger
        from creditbook_django.mail import DjangoMailer

        billing, mailer = ledger.billing(), DjangoMailer()
        if not loop:
            self._report(billing.deliver_notifications(mailer))
            return
        stopping = {"now": False}

        def stop(*_: Any) -> None:
            stopping["now"] = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        done = 0
        try:
            while not stopping["now"] and (rounds is None or done < rounds):
                tally = billing.deliver_notifications(mailer)
                done += 1
                if tally.handled:
                    self._report(tally)
                elif not stopping["now"] and (rounds is None or done < rounds):
                    time.sleep(interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _report(self, tally: Any) -> None:
        self.stdout.write(f"Delivered {tally.delivered}, to retry {tally.retried}, dead {tally.dead}")
        for error in tally.errors[:20]:
            self.stderr.write(f"  {error}")
