"""Sign-in, refresh and sign-out with webcap's own tokens (JWTs from simplejwt).

Each service counts against its rate limits and writes its audit row: the success in the
transaction of the change (a refresh token rotated or blacklisted), a refusal outside it so
its row stays although the request fails. simplejwt's serializers check the credentials and
mint the tokens; their errors (400, 401) reach the client unchanged.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from rest_framework.exceptions import AuthenticationFailed as DRFAuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import (
    TokenBlacklistSerializer,
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.auth import METHOD_JWT
from accounts.limits import rate_limit_enforce
from accounts.models import User
from audit.services import audit_record
from common.request_context import current_client_ip


def _bounded(value: Any, length: int = 150) -> str:
    return str(value)[:length] if value is not None else ""


def _field(data: Any, name: str) -> Any:
    """Return a field of a request body that may not be a JSON object at all."""
    return data.get(name) if hasattr(data, "get") else None


def _sign_in_limits_enforce(*, username: str) -> None:
    """Count an attempt per client address and per username, before any password is checked."""
    window = settings.WEBCAP_RATE_LIMIT_WINDOW
    rate_limit_enforce(
        bucket="token-ip",
        ident=current_client_ip() or "unknown",
        limit=settings.WEBCAP_RATE_LIMIT_TOKEN_IP,
        window=window,
    )
    if username:
        rate_limit_enforce(
            bucket="token-user",
            ident=username,
            limit=settings.WEBCAP_RATE_LIMIT_TOKEN_USER,
            window=window,
        )


def token_obtain(*, data: Any) -> dict[str, Any]:
    """Sign in with a username and password; return ``{"access", "refresh"}``.

    Rate-limited per client address and per username (429); a refused password is audited
    as ``auth.failure`` and re-raised (401), a success as ``auth.login``.
    """
    username = _bounded(_field(data, "username"))
    _sign_in_limits_enforce(username=username)
    serializer = TokenObtainPairSerializer(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except DRFAuthenticationFailed:
        audit_record(
            action="auth.failure",
            outcome="failure",
            auth_method="password",
            actor=User.objects.filter(username=username).first(),
            extra={"username": username, "reason": "wrong username or password"},
        )
        raise
    audit_record(action="auth.login", actor=serializer.user, auth_method=METHOD_JWT)
    return dict(serializer.validated_data)


def token_refresh(*, data: Any) -> dict[str, Any]:
    """Exchange a refresh token for a new pair (the old one is blacklisted); audited."""
    serializer = TokenRefreshSerializer(data=data)
    _refresh_token_spend(serializer=serializer, action="auth.refresh", step="refresh")
    return dict(serializer.validated_data)


def token_revoke(*, data: Any) -> None:
    """Sign out: blacklist the refresh token in data; audited."""
    serializer = TokenBlacklistSerializer(data=data)
    _refresh_token_spend(serializer=serializer, action="auth.logout", step="logout")


def _refresh_token_spend(
    *,
    serializer: TokenRefreshSerializer | TokenBlacklistSerializer,
    action: str,
    step: str,
) -> None:
    """Validate (and so rotate or blacklist) a refresh token and audit the outcome.

    A refused token is audited as ``auth.failure`` naming step, and raised as InvalidToken.
    """
    try:
        with transaction.atomic():
            serializer.is_valid(raise_exception=True)
            user = _refresh_user(_field(serializer.initial_data, "refresh"))
            audit_record(action=action, actor=user, auth_method=METHOD_JWT)
    except (TokenError, InvalidToken) as exc:
        reason = str(exc.detail) if isinstance(exc, InvalidToken) else str(exc)
        audit_record(
            action="auth.failure",
            outcome="failure",
            auth_method=METHOD_JWT,
            extra={"step": step, "reason": reason[:200]},
        )
        if isinstance(exc, InvalidToken):
            raise
        raise InvalidToken(str(exc)) from exc


def _refresh_user(token: Any) -> User | None:
    """Return the user a (valid) refresh token names, for the audit row."""
    try:
        user_id = RefreshToken(token, verify=False).get("user_id")
    except TokenError:
        return None
    return User.objects.filter(pk=user_id).first()
