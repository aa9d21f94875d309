"""What a credit is worth for a clinic, so that every amount can carry its money value.

Most of the ledger's results count credits only; the money value comes from the clinic's
pricebook in force. It is read once per clinic and kept for RATE_TTL (the balance endpoint, which
reads it anyway, refreshes it): a pricebook's money per credit is its market's definition of a
credit and does not change between versions in practice, and a stale value would last minutes.
"""

from __future__ import annotations

import threading
import time
from typing import Final

from creditbook_django import ledger
from creditbook_django.serializers import Rate

RATE_TTL: Final = 300.0  # seconds
_rates: dict[str, tuple[float, Rate]] = {}
_lock = threading.Lock()


def rate_of(clinic_id: str) -> Rate:
    found = _rates.get(clinic_id)
    if found is not None and time.monotonic() < found[0]:
        return found[1]
    offered = ledger.billing().offers(clinic_id)
    return remember(clinic_id, Rate(offered.currency, offered.money_per_credit))


def remember(clinic_id: str, rate: Rate) -> Rate:
    with _lock:
        if len(_rates) > 100_000:  # bounded: a process serving every clinic forgets and re-reads
            _rates.clear()
        _rates[clinic_id] = (time.monotonic() + RATE_TTL, rate)
    return rate


def forget() -> None:
    with _lock:
        _rates.clear()
