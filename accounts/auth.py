"""Authentication shared by every binding: JSON-RPC, REST, SSE, WebSocket and the management API.

A request presents one credential:

- ``Authorization: Bearer <credential>`` where the credential is an API key (``wcp_...``),
  an access token from ``/api/auth/token/`` (a JWT signed by webcap), or, when an OpenID
  Connect provider is configured, an access token of that provider;
- ``X-API-Key: <API key>``.

No credentials at all means anonymous, which the caller may map to the public agent user;
wrong credentials are always refused, never downgraded to anonymous. What a caller may then
do is decided by its user's roles and object permissions and, for API keys, the key's scopes.

Every A2A request presents its credential, so the rows behind one (an API key with its user,
the user of an access token) are kept per process for ``WEBCAP_CREDENTIAL_CACHE_SECONDS``
(5 s): a revoked or expired key, a deactivated user or changed roles take effect in every
process within that time, and at once in the process that made the change (the signal
receivers below forget everything when a key, a user or a user's groups change). Expiry,
revocation and ``is_active`` are checked on every request, also from the cache; unknown
credentials are never cached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save
from jwt import decode as jwt_decode
from jwt.exceptions import PyJWTError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import ApiKey, User
from accounts.oidc import OIDCError, user_for_oidc_token
from accounts.services import (
    API_KEY_PREFIX,
    api_key_hash,
    api_key_touch,
    api_key_touch_due,
    user_ensure,
)
from audit.services import audit_auth_failure
from common.recent import Recent

logger = logging.getLogger(__name__)

# What a 401 names in WWW-Authenticate, and what the agent card declares.
AUTH_CHALLENGE = 'Bearer realm="webcap"'

# How the caller proved who it is (also written to audit events).
METHOD_API_KEY = "api_key"
METHOD_JWT = "jwt"
METHOD_OIDC = "oidc"
METHOD_SESSION = "session"
METHOD_TICKET = "ws_ticket"
METHOD_PUBLIC = "public"


class AuthenticationFailed(Exception):
    """The request carried credentials that are malformed, unknown, revoked or expired."""

    def __init__(self, message: str = "Invalid credentials.") -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: the user, how it signed in, and the key it used if any."""

    user: User
    method: str
    api_key: ApiKey | None = field(default=None, compare=False)

    def allows(self, scope: str) -> bool:
        """Return whether the credential carries scope (only API keys are narrowed)."""
        return self.api_key is None or self.api_key.allows(scope)


def credential_from_headers(*, authorization: str | None, api_key: str | None) -> str | None:
    """Return the credential a request presents, None when it presents none.

    A request presents at most one: Authorization and X-API-Key together are refused, even
    with the same key or one of them empty, so no proxy or client can smuggle a second.
    """
    if authorization is not None and api_key is not None:
        raise AuthenticationFailed(
            "Send exactly one credential: Authorization or X-API-Key, not both."
        )
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Authorization must be 'Bearer <token or API key>'.")
        return token.strip()
    if api_key is not None:
        if not api_key.strip():
            raise AuthenticationFailed("X-API-Key is empty.")
        return api_key.strip()
    return None


def _refuse(message: str, *, method: str, hint: str, user: User | None = None) -> None:
    """Log and audit a refused credential, then raise AuthenticationFailed."""
    # Never log the credential; a short hint (a key prefix, a token's claim) tells them apart.
    logger.warning("Refused %s credential %s: %s", method, hint, message)
    audit_auth_failure(method=method, reason=message, hint=hint, user=user)
    raise AuthenticationFailed(message)


# Recently used keys by hash, and the users of recent access tokens by id (see the top).
_recent_keys: Recent[str, ApiKey] = Recent()
_recent_users: Recent[int, User] = Recent()


def credentials_forget(**kwargs: Any) -> None:
    """Forget every cached key and user (a key, a user or a user's groups changed)."""
    _recent_keys.clear()
    _recent_users.clear()


# Signals only for cache invalidation (a save anywhere in this process, the admin included).
for _model in (ApiKey, User):
    for _signal in (post_save, post_delete):
        _signal.connect(credentials_forget, sender=_model, dispatch_uid="webcap-credentials")
m2m_changed.connect(
    credentials_forget, sender=User.groups.through, dispatch_uid="webcap-credentials"
)


def _usable(api_key: ApiKey) -> bool:
    """A key neither revoked nor expired, of an active user (checked on every request)."""
    return api_key.is_usable() and api_key.user.is_active


def _api_key_row(digest: str) -> ApiKey | None:
    api_key = _recent_keys.get(digest)
    if api_key is None:
        api_key = ApiKey.objects.select_related("user").filter(key_hash=digest).first()
        if api_key is not None:
            _recent_keys.put(digest, api_key, seconds=settings.WEBCAP_CREDENTIAL_CACHE_SECONDS)
    return api_key


def identity_for_api_key(credential: str) -> Identity:
    """Return the identity of an API key, or raise AuthenticationFailed."""
    api_key = _api_key_row(api_key_hash(credential))
    hint = credential[: len(API_KEY_PREFIX) + 6] + "…"
    if api_key is None:
        _refuse("Invalid credentials.", method=METHOD_API_KEY, hint=hint)
    assert api_key is not None
    if not _usable(api_key):
        _refuse("Invalid credentials.", method=METHOD_API_KEY, hint=hint, user=api_key.user)
    api_key_touch(api_key=api_key)
    return Identity(user=api_key.user, method=METHOD_API_KEY, api_key=api_key)


def _looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2


def identity_for_jwt(credential: str) -> Identity:
    """Return the identity of an access token webcap (or the OIDC provider) signed."""
    try:
        unverified: dict[str, Any] = jwt_decode(credential, options={"verify_signature": False})
    except PyJWTError:
        unverified = {}
    issuer = str(unverified.get("iss") or "").rstrip("/")
    # Providers differ on a trailing slash in "iss"; the OIDC module checks the exact value.
    if settings.OIDC_ISSUER and issuer == settings.OIDC_ISSUER:
        try:
            return Identity(user=user_for_oidc_token(credential), method=METHOD_OIDC)
        except OIDCError as exc:
            _refuse(str(exc), method=METHOD_OIDC, hint=f"sub={str(unverified.get('sub'))[:64]}")
    try:
        token = AccessToken(credential)  # type: ignore[arg-type]
    except TokenError as exc:
        _refuse(f"Token refused: {exc}", method=METHOD_JWT, hint=f"jti={unverified.get('jti')}")
        raise AssertionError("unreachable") from exc
    user = _token_user(token.get("user_id"))
    if user is None:
        _refuse("Token refused: unknown or inactive user.", method=METHOD_JWT, hint="")
    assert user is not None
    return Identity(user=user, method=METHOD_JWT)


def _token_user(user_id: Any) -> User | None:
    """Return the active user an access token names (cached like API keys)."""
    try:
        pk = int(user_id)
    except (TypeError, ValueError):
        return None
    user = _recent_users.get(pk)
    if user is None:
        user = User.objects.filter(pk=pk).first()
        if user is None:
            return None
        _recent_users.put(pk, user, seconds=settings.WEBCAP_CREDENTIAL_CACHE_SECONDS)
    return user if user.is_active else None


def _log_as(identity: Identity) -> Identity:
    # Every later record of the request (and of the jobs it enqueues) names the caller.
    structlog.contextvars.bind_contextvars(user_id=str(identity.user.pk))
    return identity


def identity_for_credential(credential: str) -> Identity:
    """Return who a bearer credential or API key belongs to, or raise AuthenticationFailed."""
    if credential.startswith(API_KEY_PREFIX):
        return _log_as(identity_for_api_key(credential))
    if _looks_like_jwt(credential):
        return _log_as(identity_for_jwt(credential))
    _refuse("Invalid credentials.", method="unknown", hint=credential[:4] + "…")
    raise AssertionError("unreachable")


def user_for_credential(credential: str) -> User:
    """Return the active user a credential belongs to, or raise AuthenticationFailed."""
    return identity_for_credential(credential).user


def public_agent_user() -> User | None:
    """Return the user anonymous A2A calls act as, if WEBCAP_PUBLIC_AGENT_USER is set."""
    username = settings.WEBCAP_PUBLIC_AGENT_USER
    if not username:
        return None
    return user_ensure(username=username)


def identify_cached(*, authorization: str | None, api_key: str | None) -> Identity | None:
    """Return the caller of an API key this process looked up recently, without a query.

    None means "ask ``identify``": no credential, another kind, not cached, or a key whose
    use is due to be recorded (``api_key_touch``, once a minute). Refusals always come from
    ``identify``, which audits them. Safe to call on the event loop: nothing here blocks.
    """
    try:
        credential = credential_from_headers(authorization=authorization, api_key=api_key)
    except AuthenticationFailed:
        return None
    if credential is None or not credential.startswith(API_KEY_PREFIX):
        return None
    cached = _recent_keys.get(api_key_hash(credential))
    if cached is None or not _usable(cached):
        return None
    if api_key_touch_due(api_key=cached):
        return None
    return _log_as(Identity(user=cached.user, method=METHOD_API_KEY, api_key=cached))


def identify(*, authorization: str | None, api_key: str | None) -> Identity | None:
    """Return the caller, the public agent user for anonymous calls, or None (401)."""
    credential = credential_from_headers(authorization=authorization, api_key=api_key)
    if credential is None:
        user = public_agent_user()
        return _log_as(Identity(user=user, method=METHOD_PUBLIC)) if user is not None else None
    return identity_for_credential(credential)


def authenticate(*, authorization: str | None, api_key: str | None) -> User | None:
    """Return the caller's user (see identify)."""
    identity = identify(authorization=authorization, api_key=api_key)
    return identity.user if identity is not None else None
