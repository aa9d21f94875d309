"""What the crash and multi-process tests run in their child processes.

A child opens its own Billing on the shared database and loops over operations with keys of its
own, writing `ack <key> <transaction id>` to a pipe only after an operation returned: an
acknowledged operation is one the caller was told about, and must survive any crash."""

from __future__ import annotations

import os
import random
import time
from datetime import timedelta
from typing import Any

from engine.billing import Billing
from storage.database import Database
from tests.support.clock import START, Clock
from tests.support.reliability import lead


def ack(fd: int, line: str) -> None:
    os.write(fd, (line + "\n").encode())


def charging_loop(
    url: str, fd: int, clinics: list[str], prefix: str, seed: int, seconds: float = 0.0, go: Any = None
) -> None:
    """Charges (and some top-ups) until killed, or for `seconds` after `go` is set when given (every
    client starts together, however long a loaded machine took to start them). After an error it
    retries the same key, as a real client does, until the operation returns."""
    billing = Billing(Database(url), clock=Clock(START + timedelta(days=1)), migrate=False)
    rng = random.Random(seed)
    billing.charge(clinics[0], lead(1), key=f"{prefix}-warm")
    ack(fd, "ready")
    if go is not None:
        go.wait(120)
    deadline = time.time() + seconds if seconds else 0.0
    n = 0
    while not deadline or time.time() < deadline:
        clinic, key = rng.choice(clinics), f"{prefix}-{n}"
        top_up = rng.random() < 0.1
        while True:
            try:
                if top_up:
                    txn = billing.purchase(clinic, 500, payment_method="upi_ok", key=key).transaction_ids[0]
                else:
                    txn = billing.charge(clinic, lead(rng.choice((1, 3, 7))), key=key).transaction_id
                break
            except Exception as exc:  # the database went away: retry the same key until it answers
                if deadline and time.time() > deadline + 30:
                    raise
                ack(fd, f"error {key} {type(exc).__name__}")
                if os.environ.get("CREDITBOOK_DEBUG_WORKERS"):
                    import traceback

                    traceback.print_exc()
                time.sleep(0.05)
        ack(fd, f"ack {key} {txn}")
        n += 1
    os._exit(0)


def contended_charges(url: str, fd: int, clinic: str, prefix: str, count: int, options: dict[str, Any]) -> None:
    """`count` one-credit charges on one hot wallet, reporting each outcome (R21)."""
    database = Database(url)
    if options.get("write_begin"):
        database.write_begin = options["write_begin"]
    if options.get("attempts"):
        database.attempts = options["attempts"]
    billing = Billing(database, clock=Clock(START + timedelta(days=1)), migrate=False)
    ack(fd, "ready")
    for n in range(count):
        try:
            approved = billing.charge(clinic, lead(1), key=f"{prefix}-{n}").approved
            ack(fd, "approved" if approved else "declined")
        except Exception as exc:
            ack(fd, f"error {type(exc).__name__}")
    os._exit(0)
