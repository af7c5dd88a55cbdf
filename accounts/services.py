"""Writes for users and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, User
from common.errors import ApplicationError

API_KEY_PREFIX = "wcp_"
# Roles are Django groups; the full permission model builds on these names.
ROLES = ("admin", "operator", "approver", "user", "viewer")


def api_key_hash(key: str) -> str:
    """Return the stored form of a key: SHA-256, hex (keys are 256 random bits, no salt needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@transaction.atomic
def api_key_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create an API key for user and return it with the plain key, which is shown only once."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=key[: len(API_KEY_PREFIX) + 6],
        key_hash=api_key_hash(key),
        expires_at=expires_at,
    )
    return api_key, key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; revoking twice keeps the first revocation time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record that a key was used, at most once a minute so requests do not all write."""
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


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
    return user
