"""The app's settings: one block in the host project's settings, every key optional.

    CREDITBOOK = {
        "DATABASE_ALIAS": "default",   # the ledger lives in this Django database's server ...
        "DATABASE_URL": None,          # ... or at this SQLAlchemy URL (wins over the alias)
        "SCHEMA": "creditbook",        # PostgreSQL: the ledger's tables in a schema of their own
        "POOL_SIZE": 5,                # connections per process (as many again may overflow)
        "MIGRATE_LEDGER": True,        # `manage.py migrate` also upgrades the ledger
        "CAMPAIGN_CHARGES": False,     # POST charges/campaigns/ (the practice note keeps it off)
        "IDENTITY_RESOLVER": "creditbook_django.identity.MembershipResolver",
        "CLOCK": None,                 # dotted path of a callable returning an aware datetime
        "GATEWAY": None,               # dotted path of a callable returning a PaymentGateway
        "PAGE_SIZE": 50,               # transactions per page unless ?limit= says otherwise
    }

With the alias, the ledger shares the server (and, on PostgreSQL, the database) of the host's own
tables but never their schema; on SQLite it shares the file. A mistyped key, or a value of the
wrong type, stops the project at startup (Django's system checks) instead of being ignored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    "DATABASE_ALIAS": "default",
    "DATABASE_URL": None,
    "SCHEMA": "creditbook",
    "POOL_SIZE": 5,
    "MIGRATE_LEDGER": True,
    "CAMPAIGN_CHARGES": False,
    "IDENTITY_RESOLVER": "creditbook_django.identity.MembershipResolver",
    "CLOCK": None,
    "GATEWAY": None,
    "PAGE_SIZE": 50,
}
TYPES: dict[str, tuple[type, ...]] = {
    "DATABASE_ALIAS": (str,),
    "DATABASE_URL": (str, type(None)),
    "SCHEMA": (str,),
    "POOL_SIZE": (int,),
    "MIGRATE_LEDGER": (bool,),
    "CAMPAIGN_CHARGES": (bool,),
    "IDENTITY_RESOLVER": (str,),
    "CLOCK": (str, type(None)),
    "GATEWAY": (str, type(None)),
    "PAGE_SIZE": (int,),
}
PAGE_SIZE_MAX = 200


@dataclass(frozen=True)
class Settings:
    database_alias: str
    database_url: str | None
    schema: str
    pool_size: int
    migrate_ledger: bool
    campaign_charges: bool
    identity_resolver: str
    clock: str | None
    gateway: str | None
    page_size: int

    @property
    def migrate_with(self) -> str:
        """The Django database whose `migrate` also upgrades the ledger."""
        return self.database_alias


def read(block: object) -> Settings:
    """The CREDITBOOK block checked: known keys, right types, sane numbers (ImproperlyConfigured)."""
    if not isinstance(block, dict):
        raise ImproperlyConfigured("CREDITBOOK must be a dict of settings (creditbook_django/conf.py lists them)")
    unknown = sorted(set(block) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(f"CREDITBOOK has unknown keys {unknown}; known: {sorted(DEFAULTS)}")
    merged = {**DEFAULTS, **block}
    for key, value in merged.items():
        if not isinstance(value, TYPES[key]) or (isinstance(value, bool) and bool not in TYPES[key]):
            raise ImproperlyConfigured(f"CREDITBOOK[{key!r}] must be {TYPES[key][0].__name__}, not {value!r:.60}")
    if not 1 <= merged["POOL_SIZE"] <= 200:
        raise ImproperlyConfigured("CREDITBOOK['POOL_SIZE'] is between 1 and 200")
    if not 1 <= merged["PAGE_SIZE"] <= PAGE_SIZE_MAX:
        raise ImproperlyConfigured(f"CREDITBOOK['PAGE_SIZE'] is between 1 and {PAGE_SIZE_MAX}")
    return Settings(**{key.lower(): value for key, value in merged.items()})


@functools.cache
def config() -> Settings:
    """The project's settings, read once (again after a test overrides CREDITBOOK)."""
    return read(getattr(django_settings, "CREDITBOOK", {}))


@receiver(setting_changed)
def _reload(setting: str, **_: Any) -> None:
    if setting == "CREDITBOOK":
        config.cache_clear()
        from creditbook_django import ledger

        ledger.reset()
