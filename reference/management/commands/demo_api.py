"""python -m reference demo_api: the demo ledger (seeded once, as `creditbook demo seed` does) and
who may call the API: a user per demo clinic named after it, a staff user with every creditbook
permission, all with the password `demo`, and a lead-marketplace API client whose key is printed.

It also plays the lead marketplace for a moment: a few Indian clinics are charged three leads each
(once: the keys are fixed), and each lead's name and phone are kept beside the ledger as the
dashboard's `LeadContact` rows (creditbook_django/lead_contacts.py), the ledger itself holding only
an opaque patient reference."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import BaseCommand

from creditbook_django import lead_contacts, ledger
from creditbook_django.models import Membership

PASSWORD = "demo"
LEAD_CLINICS = 3  # Indian demo clinics given leads with contacts
DEMO_LEADS = (  # name, phone, product, package price (₹)
    ("Priya Sharma", "+91 98201 44321", "lead_chat", 12_000),
    ("Rahul Verma", "+91 99300 18765", "lead_call", 25_000),
    ("Ananya Iyer", "+91 90040 52210", "lead_chat", 7_500),
)


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
        leads = _demo_leads(billing, [c.id for c in billing.clinics() if c.market == "IN"][:LEAD_CLINICS])
        self.stdout.write(f"Leads with contacts: {leads} (the dashboard's recent leads table)")
        staff = _user("staff", is_staff=True)
        staff.user_permissions.set(Permission.objects.filter(content_type__app_label="creditbook"))
        self.stdout.write(f"Users: one per clinic ({len(clinics)}, named after it) and staff; password {PASSWORD!r}")
        self.stdout.write("API key of lead-marketplace (may charge any clinic):")
        call_command("creditbook_api_key", "lead-marketplace", charge=True, stdout=self.stdout)


def _demo_leads(billing: Any, clinics: list[str]) -> int:
    """Charge each clinic the demo leads (fixed keys: once) and keep each lead's contact."""
    recorded = 0
    for clinic_id in clinics:
        for n, (name, phone, product, price) in enumerate(DEMO_LEADS):
            patient = "pt_" + hashlib.sha256(f"{clinic_id}:{phone}".encode()).hexdigest()[:24]
            request = {"product": product, "package_price": price}
            charged = billing.charge(
                clinic_id, request, key=f"demo:{clinic_id}:dashboard-lead:{n}", patient_ref=patient
            )
            lead_contacts.record(clinic_id, charged.transaction_id, patient, name, phone)
            recorded += 1
    return recorded


@functools.cache
def _demo_password() -> str:
    """The demo password hashed once for every demo user (hashing it 41 times takes seconds)."""
    return make_password(PASSWORD)


def _user(username: str, is_staff: bool = False) -> User:
    user, _ = User.objects.get_or_create(
        username=username, defaults={"is_staff": is_staff, "password": _demo_password()}
    )
    return user
