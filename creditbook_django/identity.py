"""Who is calling, and which clinic a request is about (docs/domain.md §12).

A request's caller is a Django user (a clinic user, or staff) or an API client (an API key). A
clinic user reads and acts only on the clinics the configured resolver says it belongs to
(default: `Membership` rows, administered in the Django admin); `practice_id` is honoured only when
it names one of them, or when the caller may act for any clinic (the `creditbook.act_for_any_clinic`
permission, or an API client not bound to one clinic). Any other `practice_id` is answered exactly
like a clinic that does not exist, without asking the ledger, so a refusal reveals nothing.

A project with its own notion of membership (an organisation model, a claim in a token) sets
CREDITBOOK["IDENTITY_RESOLVER"] to a class with `clinics(user) -> Collection[str]`.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from django.utils.module_loading import import_string
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.request import Request

from creditbook_django.conf import config
from creditbook_django.models import ApiClient, Membership
from creditbook_django.problems import ClinicNotFound, PracticeRequired
from engine.bounds import check_identifier

ANY_CLINIC = "creditbook.act_for_any_clinic"


class IdentityResolver(Protocol):
    def clinics(self, user: Any) -> Collection[str]:
        """The clinic ids this (authenticated) Django user belongs to."""
        ...


class MembershipResolver:
    """The default: a user's `Membership` rows."""

    def clinics(self, user: Any) -> Collection[str]:
        return frozenset(Membership.objects.filter(user=user).values_list("clinic_id", flat=True))


@functools.cache
def _resolver(path: str) -> IdentityResolver:
    return import_string(path)()


@dataclass(frozen=True)
class Caller:
    actor: str  # who the ledger records: "user:<username>" or "api:<client name>"
    clinics: frozenset[str]  # the clinics it belongs to (an API client bound to one: that one)
    any_clinic: bool  # may name any clinic in practice_id
    can_charge: bool  # may charge leads and campaigns
    client: ApiClient | None = None

    def has_perm(self, request: Request, permission: str) -> bool:
        return self.client is None and bool(request.user.has_perm(permission))


def user_clinics(user: Any) -> frozenset[str]:
    """The clinic ids an authenticated Django user belongs to, as the configured resolver says."""
    return frozenset(_resolver(config().identity_resolver).clinics(user))


def caller(request: Request) -> Caller:
    """The request's caller (NotAuthenticated when there is none)."""
    cached = getattr(request, "_creditbook_caller", None)
    if cached is not None:
        return cached
    client = request.auth if isinstance(request.auth, ApiClient) else None
    if client is not None:
        found = Caller(
            actor=f"api:{client.name}",
            clinics=frozenset({client.clinic_id}) if client.clinic_id else frozenset(),
            any_clinic=not client.clinic_id,
            can_charge=client.can_charge,
            client=client,
        )
    elif request.user is not None and request.user.is_authenticated:
        user = request.user
        found = Caller(
            actor=f"user:{user.get_username()}",
            clinics=user_clinics(user),
            any_clinic=bool(user.has_perm(ANY_CLINIC)),
            can_charge=bool(user.has_perm(ANY_CLINIC)),
        )
    else:
        raise NotAuthenticated()
    request._creditbook_caller = found
    return found


def clinic_for(request: Request, practice_id: str | None) -> str:
    """The clinic a request is about: `practice_id` when the caller may name it, else the caller's
    only clinic. A clinic the caller may not see is answered as one that does not exist."""
    who = caller(request)
    if practice_id is None:
        if len(who.clinics) == 1:
            return next(iter(who.clinics))
        if who.clinics or who.any_clinic:
            raise PracticeRequired("practice_id is required: name the clinic this request is about")
        raise PermissionDenied("this account belongs to no clinic")
    checked = check_identifier("practice_id", practice_id, reserved=frozenset())
    if checked in who.clinics or who.any_clinic:
        return checked
    raise ClinicNotFound.of(checked)
