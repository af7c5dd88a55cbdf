"""The audit log: one append-only row per security-relevant event.

Rows are written by ``audit.services`` inside the transaction of the change they describe and
are never changed afterwards. The application refuses it (``save`` of an existing row,
``delete``, ``QuerySet.update`` and ``QuerySet.delete`` raise ``AppendOnlyError``) and so does
the database (a trigger refuses ``UPDATE``, see migration 0002). The one exception the trigger
allows is the database clearing ``actor`` when that user is deleted; ``actor_username`` keeps
the name. The only delete path is ``AuditEvent.objects.purge_before``, used by retention.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.base import ModelBase
from django.utils import timezone

# Rows removed per DELETE while purging, so no single statement holds locks for long.
PURGE_BATCH = 5000


class AppendOnlyError(Exception):
    """Something tried to change or delete an audit event outside retention."""

    def __init__(self, message: str = "Audit events are append-only.") -> None:
        super().__init__(message)


class Action(models.TextChoices):
    """What happened (``<area>.<verb>``)."""

    AUTH_LOGIN = "auth.login", "Signed in"
    AUTH_REFRESH = "auth.refresh", "Refreshed a token"
    AUTH_LOGOUT = "auth.logout", "Signed out"
    AUTH_FAILURE = "auth.failure", "Credentials refused"
    AUTH_KEY_USED = "auth.key_used", "API key used"
    AUTH_WS_TICKET = "auth.ws_ticket", "WebSocket ticket issued"
    APIKEY_CREATE = "apikey.create", "API key created"
    APIKEY_REVOKE = "apikey.revoke", "API key revoked"
    TASK_CREATE = "task.create", "Task created"
    TASK_CANCEL = "task.cancel", "Task canceled"
    TASK_STATE = "task.state", "Task state changed"
    TOOLCALL_REQUEST = "toolcall.request", "Tool call requested"
    TOOLCALL_APPROVE = "toolcall.approve", "Tool call approved"
    TOOLCALL_REJECT = "toolcall.reject", "Tool call rejected"
    TOOLCALL_EXECUTE = "toolcall.execute", "Tool call executed"
    PERMISSION_GRANT = "permission.grant", "Permission granted"
    PERMISSION_REVOKE = "permission.revoke", "Permission revoked"
    ADMIN_ADD = "admin.add", "Added in the admin"
    ADMIN_CHANGE = "admin.change", "Changed in the admin"
    ADMIN_DELETE = "admin.delete", "Deleted in the admin"
    LIMIT_EXCEEDED = "limit.exceeded", "Limit exceeded"
    REMOTE_AGENT_REGISTER = "remoteagent.register", "Remote agent registered"
    REMOTE_AGENT_UPDATE = "remoteagent.update", "Remote agent changed"
    REMOTE_AGENT_DELETE = "remoteagent.delete", "Remote agent deleted"
    REMOTE_AGENT_REFRESH = "remoteagent.refresh", "Remote agent card refreshed"
    TOOL_SOURCE_REGISTER = "toolsource.register", "Tool source registered"
    TOOL_SOURCE_UPDATE = "toolsource.update", "Tool source changed"
    TOOL_SOURCE_REFRESH = "toolsource.refresh", "Tool source refreshed"
    TOOL_VERSION_STATE = "toolversion.state", "Tool version published, deprecated or retired"
    TOOL_POLICY = "tool.policy", "Tool enabled, disabled, approval or pin set"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Reads as usual; bulk writes other than the retention purge are refused."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError()

    def bulk_update(self, objs: Iterable[AuditEvent], fields: Any, batch_size: Any = None) -> int:
        raise AppendOnlyError()

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError()

    def purge_before(self, cutoff: datetime) -> int:
        """Delete the events created before cutoff (retention only); return how many.

        A raw DELETE in batches: no signals, no collector, and short statements on a big table.
        """
        expired = self.filter(created_at__lt=cutoff)
        removed = 0
        while True:
            ids = list(expired.order_by("id").values_list("id", flat=True)[:PURGE_BATCH])
            if not ids:
                return removed
            batch = self.model._base_manager.filter(pk__in=ids)
            removed += batch._raw_delete(batch.db)


class AuditEvent(models.Model):
    """One thing that happened: who, what, to which target, when (UTC), from where, outcome."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Kept when the user is deleted (actor becomes null), so the log still names them.
    actor_username = models.CharField(max_length=150, blank=True)
    # How the actor proved who it is: api_key, jwt, oidc, session, ws_ticket, password, ...
    auth_method = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    # "app_label.model" of the object acted on, and its primary key as a string.
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    request_id = models.CharField(max_length=128, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    # Details of the event; never a secret (audit_record redacts credential-like keys).
    extra = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["created_at"], name="audit_created"),
            models.Index(fields=["actor", "created_at"], name="audit_actor_created"),
            models.Index(fields=["action", "created_at"], name="audit_action_created"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["request_id"], name="audit_request"),
        ]

    def __str__(self) -> str:
        who = self.actor_username or "anonymous"
        target = f" {self.target_type}:{self.target_id}" if self.target_type else ""
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.action}{target} {self.outcome}"

    def save(
        self,
        force_insert: bool | tuple[ModelBase, ...] = False,
        force_update: bool = False,
        using: str | None = None,
        update_fields: Iterable[str] | None = None,
    ) -> None:
        """Insert a new event; saving an existing one raises AppendOnlyError."""
        if not self._state.adding or force_update or update_fields is not None:
            raise AppendOnlyError()
        super().save(force_insert=True, using=using)

    def delete(self, using: Any = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError()
