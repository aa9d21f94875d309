"""python -m reference demo_api: the demo ledger (seeded once, as `creditbook demo seed` does) and
who may call the API: a user per demo clinic named after it, a staff user with every creditbook
permission, all with the password `demo`, and a lead-marketplace API client whose key is printed."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import BaseCommand

from creditbook_django import ledger
from creditbook_django.models import Membership

PASSWORD = "demo"


class Command(BaseCommand):
    help = "Seed the demo ledger if it is empty, and create demo users and an API key."

    def handle(self, **_: Any) -> None:
        from engine.billing.demo import seed_demo

        billing = ledger.billing()
        if not billing.clinics():
            summary = seed_demo(billing)
            self.stdout.write(f"Demo ledger seeded: {summary.operations:,} operations")
        clinics = [clinic.id for clinic in billing.clinics()]
        for clinic_id in clinics:
            user = _user(clinic_id)
            Membership.objects.get_or_create(user=user, clinic_id=clinic_id)
        staff = _user("staff", is_staff=True)
        staff.user_permissions.set(Permission.objects.filter(content_type__app_label="creditbook"))
        self.stdout.write(f"Users: one per clinic ({len(clinics)}, named after it) and staff; password {PASSWORD!r}")
        self.stdout.write("API key of lead-marketplace (may charge any clinic):")
        call_command("creditbook_api_key", "lead-marketplace", charge=True, stdout=self.stdout)


@functools.cache
def _demo_password() -> str:
    """The demo password hashed once for every demo user (hashing it 41 times takes seconds)."""
    return make_password(PASSWORD)


def _user(username: str, is_staff: bool = False) -> User:
    user, _ = User.objects.get_or_create(
        username=username, defaults={"is_staff": is_staff, "password": _demo_password()}
    )
    return user
