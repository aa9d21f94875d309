"""Leads' names and phones beside the ledger (the `LeadContact` model says why they are not in it).

The backend that charges a lead calls `record` with the charge's result and the person's contact;
the clinic dashboard reads them back with `for_charges`; `erase_patient` forgets a person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from creditbook_django.models import LeadContact
from engine.bounds import PATIENT_REF_MAX
from engine.errors import InvalidInput

NAME_MAX = 200
PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{3,30}")
SHOWN_DIGITS = 4


def record(clinic_id: str, charge_id: int, patient_ref: str, name: str, phone: str) -> LeadContact:
    """Keep the contact of the lead charged as ledger transaction `charge_id` (once per charge: a
    second call for the same charge updates it)."""
    if not patient_ref or len(patient_ref) > PATIENT_REF_MAX:
        raise InvalidInput("patient_ref", f"is 1 to {PATIENT_REF_MAX} characters")
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise InvalidInput("name", f"is 1 to {NAME_MAX} characters")
    if not PHONE.fullmatch(phone.strip()):
        raise InvalidInput("phone", "is a phone number: digits, spaces and + ( ) . / - only")
    found, _ = LeadContact.objects.update_or_create(
        clinic_id=clinic_id,
        charge_id=charge_id,
        defaults={"patient_ref": patient_ref, "name": name, "phone": phone.strip()},
    )
    return found


def for_charges(clinic_id: str, charge_ids: Iterable[int]) -> dict[int, LeadContact]:
    """The contacts of these charges of this clinic, by charge id (charges without one are absent)."""
    rows = LeadContact.objects.filter(clinic_id=clinic_id, charge_id__in=list(charge_ids))
    return {row.charge_id: row for row in rows}


def erase_patient(clinic_id: str, patient_ref: str) -> int:
    """Forget a person's name and phone at this clinic; the number of contacts deleted."""
    deleted, _ = LeadContact.objects.filter(clinic_id=clinic_id, patient_ref=patient_ref).delete()
    return deleted


def masked(phone: str) -> str:
    """A phone as the dashboard shows it: its country code (+91) and last four digits, every other
    digit hidden (+91 ••••• •3210)."""
    country, space, rest = phone.partition(" ")
    if not (country.startswith("+") and space and rest):
        country, space, rest = "", "", phone
    digits = [n for n, char in enumerate(rest) if char.isdigit()]
    hide = set(digits[: max(len(digits) - SHOWN_DIGITS, 0)])
    return country + space + "".join("•" if n in hide else char for n, char in enumerate(rest))
