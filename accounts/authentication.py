"""DRF authentication with the same credentials the A2A bindings accept."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.auth import AUTH_CHALLENGE, AuthenticationFailed, Identity, identity_for_credential
from accounts.auth import credential_from_headers as _credential
from accounts.models import Scope, User
from accounts.roles import reads_audit


class WebcapAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <API key or access token>`` or ``X-API-Key: <key>``.

    ``request.auth`` is the caller's Identity, so views can check an API key's scopes.
    """

    def authenticate(self, request: Request) -> tuple[User, Identity] | None:
        try:
            credential = _credential(
                authorization=request.headers.get("Authorization"),
                api_key=request.headers.get("X-API-Key"),
            )
            if credential is None:
                return None
            identity = identity_for_credential(credential)
            return identity.user, identity
        except AuthenticationFailed as exc:
            raise exceptions.AuthenticationFailed(exc.message) from exc

    def authenticate_header(self, request: Request) -> str:
        return AUTH_CHALLENGE


# The name earlier releases used.
ApiKeyAuthentication = WebcapAuthentication


def request_user(request: Request) -> User:
    """Return the signed-in user of a request that passed IsAuthenticated."""
    user = request.user
    assert isinstance(user, User)
    return user


def require_scope(request: Request, scope: str) -> None:
    """Refuse (403) a request made with an API key that lacks scope.

    Access tokens and browser sessions carry every scope: only API keys are narrowed.
    """
    if isinstance(request.auth, Identity) and not request.auth.allows(scope):
        raise exceptions.PermissionDenied(f"This API key lacks the {scope} scope.")


def audit_reader(request: HttpRequest | Request) -> bool:
    """Admins and operators read the audit log; through the API an API key needs audit:read.

    Installed as the audit app's reader check (``audit.access``) by ``AccountsConfig.ready``.
    """
    user = request.user
    if not isinstance(user, User) or not reads_audit(user):
        return False
    if isinstance(request, Request):
        require_scope(request, Scope.AUDIT_READ)
    return True
