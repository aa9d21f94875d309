"""Server-to-server callers: `Authorization: Bearer cbk_...` with a per-client API key."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from creditbook_django.models import KEY_PREFIX, ApiClient


class ApiKeyAuthentication(BaseAuthentication):
    """A Bearer token that starts with `cbk_` is an API client's key; anything else is left to the
    project's other authentication classes (sessions, Basic, its own tokens)."""

    def authenticate(self, request: Request) -> tuple[Any, ApiClient] | None:
        scheme, _, token = get_authorization_header(request).partition(b" ")
        if scheme.lower() != b"bearer" or not token.startswith(KEY_PREFIX.encode()):
            return None
        try:
            key = token.decode("ascii").strip()
        except UnicodeDecodeError:
            raise AuthenticationFailed("invalid API key") from None
        client = ApiClient.authenticate(key)
        if client is None:
            raise AuthenticationFailed("invalid or revoked API key")
        from django.contrib.auth.models import AnonymousUser

        return AnonymousUser(), client

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
