"""The app's configuration: `manage.py migrate` also brings the ledger's own schema up to date."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CreditbookConfig(AppConfig):
    name = "creditbook_django"
    label = "creditbook"
    verbose_name = "Credits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from creditbook_django import checks  # noqa: F401 (registers the settings check)

        post_migrate.connect(_upgrade_ledger, sender=self, dispatch_uid="creditbook-upgrade-ledger")


def _upgrade_ledger(sender: AppConfig, using: str = "default", verbosity: int = 1, **_: Any) -> None:
    """After Django's migrations, the ledger's Alembic migrations (under PostgreSQL's advisory lock,
    so that many workers or deploy steps may run migrate at once). Only for the database the ledger
    lives on, and not when CREDITBOOK["MIGRATE_LEDGER"] is False."""
    from creditbook_django import ledger
    from creditbook_django.conf import config

    settings = config()
    if not settings.migrate_ledger or using != settings.migrate_with:
        return
    url = ledger.upgrade()
    if verbosity:
        print(f"  creditbook: ledger schema is up to date in {url}")
