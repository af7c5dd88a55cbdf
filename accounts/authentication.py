"""DRF authentication with the same API keys the A2A bindings accept."""

from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.auth import AUTH_CHALLENGE, AuthenticationFailed, user_for_credential
from accounts.auth import credential_from_headers as _credential
from accounts.models import User


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""

    def authenticate(self, request: Request) -> tuple[User, None] | None:
        try:
            credential = _credential(
                authorization=request.headers.get("Authorization"),
                api_key=request.headers.get("X-API-Key"),
            )
            if credential is None:
                return None
            return user_for_credential(credential), None
        except AuthenticationFailed as exc:
            raise exceptions.AuthenticationFailed(exc.message) from exc

    def authenticate_header(self, request: Request) -> str:
        return AUTH_CHALLENGE
