"""Writes for users and API keys."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Scope, User
from accounts.roles import ROLES, forget_roles
from audit.models import AuditEvent
from audit.services import audit_record
from common.errors import ApplicationError

API_KEY_PREFIX = "wcp_"


def api_key_hash(key: str) -> str:
    """Return the stored form of a key: SHA-256, hex (keys are 256 random bits, no salt needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _scopes_checked(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    unknown = [scope for scope in chosen if scope not in Scope.values]
    if unknown:
        raise ApplicationError(
            f"Unknown scope {unknown[0]!r}; choose from {', '.join(Scope.values)}.",
            extra={"field": "scopes"},
        )
    return chosen


@transaction.atomic
def api_key_create(
    *,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    scopes: Iterable[str] = (),
    actor: User | None = None,
) -> tuple[ApiKey, str]:
    """Create an API key for user and return it with the plain key, which is shown only once.

    ``actor`` is who asked (the user, an admin; None for the command line), for the audit log.
    """
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("expiresAt must be in the future.", extra={"field": "expiresAt"})
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=key[: len(API_KEY_PREFIX) + 6],
        key_hash=api_key_hash(key),
        expires_at=expires_at,
        scopes=_scopes_checked(scopes),
    )
    audit_record(
        action="apikey.create",
        actor=actor,
        target=api_key,
        extra={
            "owner": user.username,
            "name": name,
            "prefix": api_key.prefix,
            "scopes": api_key.scopes,
            "expiresAt": expires_at.isoformat() if expires_at else None,
        },
    )
    return api_key, key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User | None = None) -> ApiKey:
    """Revoke a key; revoking twice keeps the first revocation time (and one audit row)."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
        audit_record(
            action="apikey.revoke",
            actor=actor,
            target=api_key,
            extra={"owner": api_key.user.username, "name": api_key.name, "prefix": api_key.prefix},
        )
    return api_key


def api_key_touch_due(*, api_key: ApiKey) -> bool:
    """Return whether a use of the key is to be recorded now (once a minute at most)."""
    last = api_key.last_used_at
    return last is None or (timezone.now() - last).total_seconds() > 60


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record that a key was used, at most once a minute so requests do not all write.

    The audit log notes key use (``auth.key_used``) at the same pace.
    """
    now = timezone.now()
    if api_key_touch_due(api_key=api_key):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
        api_key_used_audit(api_key=api_key)


def api_key_used_audit(*, api_key: ApiKey) -> AuditEvent:
    """Record in the audit log that an API key authenticated a request (api_key_touch paces it)."""
    return audit_record(
        action="auth.key_used",
        actor=api_key.user,
        auth_method="api_key",
        target=api_key,
        extra={"prefix": api_key.prefix, "name": api_key.name},
    )


@transaction.atomic
def user_ensure(*, username: str, role: str | None = None, create: bool = True) -> User:
    """Return the user with this name, creating it (without a password) when create is set."""
    user = User.objects.filter(username=username).first()
    if user is None:
        if not create:
            raise ApplicationError(f"User {username!r} does not exist.")
        user = User(username=username)
        user.set_unusable_password()
        user.save()
    if role is not None:
        if role not in ROLES:
            raise ApplicationError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
        group, _ = Group.objects.get_or_create(name=role)
        user.groups.add(group)
        forget_roles(user)
    return user
