"""Voice minutes (docs/domain.md §2, docs/telecom.md §3).

Each completed call is rounded up to the billing increment (60 s by default), with a minimum of one
increment; busy, no-answer, failed and cancelled calls cost nothing, and so does a call the carrier
reports at exactly 0 s (nothing was connected: docs/telecom.md §6 "0 s or unanswered -> 0 min"), while
a completed call under one second bills one increment. Rounding is per call, never on
a campaign total: 1,000 calls of 20 s bill 1,000 minutes, not 334.
"""

from __future__ import annotations

import math
from decimal import Decimal

from engine.vocabulary import BILLED_CALL_OUTCOMES, CallOutcome

BILLABLE_OUTCOMES = BILLED_CALL_OUTCOMES
OUTCOMES = frozenset(CallOutcome)
FREE_OUTCOMES = OUTCOMES - BILLABLE_OUTCOMES


def billed_minutes(
    duration_s: float | int | Decimal,
    outcome: str = CallOutcome.COMPLETED,
    increment_s: int = 60,
    min_billable_s: int | None = None,
) -> int:
    """Billed minutes of one call: whole increments, rounded up, at least one for a completed call."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown call outcome {outcome!r}; expected one of {', '.join(sorted(OUTCOMES))}")
    if increment_s <= 0:
        raise ValueError("increment_s must be positive")
    if duration_s < 0:
        raise ValueError("a call cannot last a negative time")
    if outcome in FREE_OUTCOMES or duration_s == 0:
        return 0
    seconds = max(Decimal(str(duration_s)), Decimal(min_billable_s if min_billable_s is not None else increment_s))
    billed_seconds = math.ceil(seconds / increment_s) * increment_s
    # Prices are per minute and units are whole minutes: an increment shorter than a minute still
    # bills whole minutes (a 30 s increment makes a 70 s call 90 s, billed as 2 minutes).
    return math.ceil(billed_seconds / 60)
