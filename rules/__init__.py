"""Policy rules on durable-rules: promotions and bonuses, referrals, overdraft, disputes, alerts.

Rules decide; they never touch the database (the ledger enforces what they decide). They import
the compiled pricebook model only.
"""

from rules.engine import PolicyEngine, normalise_code
from rules.models import (
    Alert,
    AlertDecision,
    AlertFacts,
    Bonus,
    ChargeFacts,
    DisputeDecision,
    DisputeFacts,
    Note,
    OverdraftDecision,
    Perk,
    PolicyError,
    ReferralDecision,
    ReferralFacts,
    TopUpDecision,
    TopUpFacts,
)

__all__ = [
    "Alert",
    "AlertDecision",
    "AlertFacts",
    "Bonus",
    "ChargeFacts",
    "DisputeDecision",
    "DisputeFacts",
    "Note",
    "OverdraftDecision",
    "Perk",
    "PolicyEngine",
    "PolicyError",
    "ReferralDecision",
    "ReferralFacts",
    "TopUpDecision",
    "TopUpFacts",
    "normalise_code",
]
