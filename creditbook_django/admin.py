"""Memberships and API clients in the Django admin. A new API client's key is shown once, in the
confirmation message, and never again (only its digest is stored); "Issue a new key" replaces it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from creditbook_django.models import ApiClient, LeadContact, Membership


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "clinic_id", "created_at")
    search_fields = ("clinic_id", "user__username", "user__email")
    autocomplete_fields = ("user",)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "clinic_id", "can_charge", "created_at", "last_used_at", "revoked_at")
    list_filter = ("can_charge",)
    search_fields = ("name", "prefix", "clinic_id")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ("issue_new_key", "revoke")

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        key = None if change else obj.new_key()
        super().save_model(request, obj, form, change)
        if key is not None:
            messages.warning(request, f"The key of {obj.name} (shown once, copy it now): {key}")

    @admin.action(description="Issue a new key (the old one stops working)")
    def issue_new_key(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset:
            key = client.new_key()
            client.save(update_fields=["prefix", "key_digest"])
            messages.warning(request, f"The new key of {client.name} (shown once): {key}")

    @admin.action(description="Revoke")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


@admin.register(LeadContact)
class LeadContactAdmin(admin.ModelAdmin):
    """Leads' names and phones (kept beside the ledger so that a person can be erased here)."""

    list_display = ("clinic_id", "charge_id", "name", "created_at")
    search_fields = ("clinic_id", "patient_ref", "name")
    readonly_fields = ("created_at",)
