"""Who may call the API: clinic memberships of Django users, and server-to-server API clients.

The ledger (clinics, wallets, transactions) lives in creditbook's own tables, reached through
engine.Billing; Django holds only the identity side. Staff permissions are Django permissions
(`creditbook.<codename>`), granted in the admin like any other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from engine.bounds import IDENTIFIER, PATIENT_REF_MAX

clinic_id_validator = RegexValidator(
    f"^{IDENTIFIER.pattern}$", "1 to 64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
)
KEY_PREFIX = "cbk_"
LAST_USED_EVERY = timedelta(minutes=1)  # how stale `last_used_at` may get (one write a minute, not one a request)


class Membership(models.Model):
    """A Django user belongs to a clinic: the default identity resolver's source
    (creditbook_django/identity.py). A user may belong to several clinics."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="creditbook_memberships")
    clinic_id = models.CharField(max_length=64, validators=[clinic_id_validator], db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = (models.UniqueConstraint(fields=("user", "clinic_id"), name="creditbook_membership_once"),)
        permissions = (
            ("act_for_any_clinic", "Can read and act on any clinic's credits"),
            ("decide_disputes", "Can approve or reject disputes"),
            ("adjust_credits", "Can adjust a clinic's credits"),
            ("view_revenue", "Can read revenue reports"),
        )

    def __str__(self) -> str:
        return f"{self.user} → {self.clinic_id}"


class ApiClient(models.Model):
    """A server-to-server caller (the messaging service, the lead marketplace). Its key is shown
    once when issued and stored only as a SHA-256 digest: the key is 256 random bits, so a fast
    hash is as safe as a slow one and costs nothing per request."""

    name = models.CharField(max_length=100, unique=True)
    clinic_id = models.CharField(
        max_length=64, blank=True, validators=[clinic_id_validator], help_text="Empty: the client acts for any clinic."
    )
    can_charge = models.BooleanField(default=False, help_text="May charge leads (and campaigns, when switched on).")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API client"

    def __str__(self) -> str:
        return f"{self.name} ({KEY_PREFIX}{self.prefix}_…)"

    def new_key(self) -> str:
        """Give the client a new key (the old one stops working) and return it: the only time the
        whole key exists outside the caller's hands. Save the client afterwards."""
        self.prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        key = f"{KEY_PREFIX}{self.prefix}_{secret}"
        self.key_digest = digest(key)
        return key

    @classmethod
    def authenticate(cls, key: str) -> ApiClient | None:
        """The active client whose key this is, or None (constant-time comparison)."""
        if not key.startswith(KEY_PREFIX) or len(key) > 100:
            return None
        prefix = key[len(KEY_PREFIX) :].split("_", 1)[0]
        client = cls.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
        if client is None or not hmac.compare_digest(client.key_digest, digest(key)):
            return None
        now = timezone.now()
        if client.last_used_at is None or now - client.last_used_at > LAST_USED_EVERY:
            cls.objects.filter(pk=client.pk).update(last_used_at=now)
        return client


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class LeadContact(models.Model):
    """Who a charged lead was: the name and phone the clinic needs to call back, kept here and not
    in the ledger.

    The ledger is append-only and its rows are never changed, so it holds only an opaque
    `patient_ref` for a lead (what makes a duplicate a duplicate); the person's name and phone live
    in this ordinary table, where erasing a person (`erase_patient`) deletes their rows and leaves
    the ledger's history intact. The backend that charges a lead records its contact beside the
    charge (creditbook_django/lead_contacts.py `record`); the clinic dashboard reads it by the
    charge's ledger transaction id (the facade's transaction rows carry no patient_ref) and shows
    the phone masked but for its last four digits.
    """

    clinic_id = models.CharField(max_length=64, validators=[clinic_id_validator])
    charge_id = models.BigIntegerField(help_text="The ledger transaction that charged this lead.")
    patient_ref = models.CharField(max_length=PATIENT_REF_MAX, db_index=True)
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = (models.UniqueConstraint(fields=("clinic_id", "charge_id"), name="creditbook_lead_contact_once"),)

    def __str__(self) -> str:
        return f"{self.clinic_id} charge {self.charge_id}: {self.name}"
