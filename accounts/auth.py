"""Authentication shared by every binding: JSON-RPC, WebSocket and the management API.

A request presents a key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. No
credentials at all means anonymous, which the caller may map to the public agent user; wrong
credentials are always refused, never downgraded to anonymous.
"""

from __future__ import annotations

import logging

from django.conf import settings

from accounts.models import ApiKey, User
from accounts.services import api_key_hash, api_key_touch, user_ensure

logger = logging.getLogger(__name__)

# What a 401 names in WWW-Authenticate, and what the agent card declares.
AUTH_CHALLENGE = 'Bearer realm="webcap"'


class AuthenticationFailed(Exception):
    """The request carried credentials that are malformed, unknown, revoked or expired."""

    def __init__(self, message: str = "Invalid credentials.") -> None:
        super().__init__(message)
        self.message = message


def credential_from_headers(*, authorization: str | None, api_key: str | None) -> str | None:
    """Return the key a request presents, None when it presents none."""
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Authorization must be 'Bearer <API key>'.")
        return token.strip()
    if api_key is not None:
        if not api_key.strip():
            raise AuthenticationFailed("X-API-Key is empty.")
        return api_key.strip()
    return None


def user_for_credential(credential: str) -> User:
    """Return the active user a key belongs to, or raise AuthenticationFailed."""
    api_key = (
        ApiKey.objects.select_related("user").filter(key_hash=api_key_hash(credential)).first()
    )
    if api_key is None or not api_key.is_usable() or not api_key.user.is_active:
        # Never log the key itself; the prefix is enough to tell keys apart.
        logger.warning("Refused API key %s…", credential[:10])
        raise AuthenticationFailed()
    api_key_touch(api_key=api_key)
    return api_key.user


def public_agent_user() -> User | None:
    """Return the user anonymous A2A calls act as, if WEBCAP_PUBLIC_AGENT_USER is set."""
    username = settings.WEBCAP_PUBLIC_AGENT_USER
    if not username:
        return None
    return user_ensure(username=username)


def authenticate(*, authorization: str | None, api_key: str | None) -> User | None:
    """Return the caller, the public agent user for anonymous calls, or None (401)."""
    credential = credential_from_headers(authorization=authorization, api_key=api_key)
    if credential is None:
        return public_agent_user()
    return user_for_credential(credential)
