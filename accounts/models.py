"""Users and API keys."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from common.models import TimeStampedModel


class User(AbstractUser):
    """A person or service account that owns tasks and holds API keys."""


class Scope(models.TextChoices):
    """What an API key may do, within what its user may do. A key with no scopes has them all."""

    TASKS_READ = "tasks:read", "Read tasks, their events and push configs"
    TASKS_WRITE = "tasks:write", "Send messages, cancel tasks, manage push configs and shares"
    TOOLS_APPROVE = "tools:approve", "Approve or reject tool calls"
    AUDIT_READ = "audit:read", "Read the audit log (admins and operators)"
    KEYS_MANAGE = "keys:manage", "List, create and revoke the user's API keys"
    AGENTS_MANAGE = "agents:manage", "Register, change, refresh and delete remote agents"
    TOOLS_MANAGE = "tools:manage", "Register tool sources, publish versions, set tool policies"


class ApiKey(TimeStampedModel):
    """A named, revocable API key; only the SHA-256 of the key is stored, never the key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The first characters of the key, shown in lists so a person can tell keys apart.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Scope values (Scope); empty: everything the user may do.
    scopes = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "API key"
        indexes = [models.Index(fields=["user", "-created_at"], name="apikey_user_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self) -> bool:
        """Return whether the key is neither revoked nor expired."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def allows(self, scope: str) -> bool:
        """Return whether the key carries scope (a key without scopes carries every scope)."""
        return not self.scopes or scope in self.scopes


class ExternalIdentity(TimeStampedModel):
    """A person of an OpenID Connect provider (issuer and subject) and the local user they are.

    Found by (issuer, subject), never by username, so a provider cannot name an existing
    local account such as ``admin``; the local user is created on the first sign-in.
    """

    # OpenID Connect Core §2: iss is a URL, sub at most 255 ASCII characters.
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="externalidentity_issuer_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
