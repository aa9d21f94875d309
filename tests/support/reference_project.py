"""The reference Django project prepared for a served test: migrated, the shipped pricebooks
published, and a US and an Indian clinic registered (riverside and smile)."""

from __future__ import annotations

from reference.serving import manage
from tests.support.paths import IN_V2, US_V1

REGISTER = (
    "from creditbook_django import ledger; b = ledger.billing(); "
    "b.register_clinic('riverside', 'Riverside Hearing', 'US', key='r'); "
    "b.register_clinic('smile', 'Smile Dental', 'IN', key='r'); "
)


def prepare(env: dict[str, str], then: str = "") -> None:
    """Migrate, publish US v1 and IN v2, register the two clinics, then run `then` (Python with
    `b`, the ledger's Billing, in scope) in the same `manage.py shell`."""
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "creditbook_publish", str(US_V1), str(IN_V2), "--at", "2025-06-01T00:00:00+00:00")
    manage(env, "shell", "-c", REGISTER + then)
