"""Remote A2A agents webcap may delegate to, and the delegations made to them.

A ``RemoteAgent`` row is registered by card URL: its card is fetched, validated and verified
under the agent's trust policy (``a2a.protocol.signatures``), and kept with its HTTP
validators so a refresh can be conditional. A ``Delegation`` links a task of webcap's to
the task it caused on a remote agent.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from a2a.protocol.signatures import TrustPolicy
from common.models import TimeStampedModel

NAME_MAX_LENGTH = 64
DEFAULT_CREDENTIAL_HEADER = "X-API-Key"


class SignatureStatus(models.TextChoices):
    # A signature was checked under ``signed`` or ``pinned`` and is valid.
    VERIFIED = "verified"
    # Nothing was verified: the policy is ``open`` (a signature present is not checked).
    UNSIGNED = "unsigned"
    # The last card fetched failed its trust policy (``signature_error`` says why).
    REFUSED = "refused"


class CredentialKind(models.TextChoices):
    NONE = "none"
    BEARER = "bearer"
    API_KEY = "api_key", "API key"


class ApprovalPolicy(models.TextChoices):
    # Every delegation waits for a person.
    ALWAYS = "always"
    # A delegation waits for a person unless the card's signature is verified.
    UNTRUSTED = "untrusted"
    NEVER = "never"


def trust_policy_choices() -> list[tuple[str, str]]:
    """The trust policies of a2a.protocol.signatures, as model choices."""
    return TrustPolicy.choices()


class RemoteAgent(TimeStampedModel):
    """A remote A2A agent registered by its card URL, with the card last accepted from it.

    ``name`` is what people and the assistant call it by ("ask <name> to ..."). The card
    is refreshed on its own schedule; a refresh that fails keeps the last accepted card and
    marks the row stale with the reason. ``credential_secret`` is sent to the agent and
    shown to nobody: never in the API, the admin, logs or audit rows.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.SlugField(max_length=NAME_MAX_LENGTH, unique=True)
    # The card's description, unless a person wrote one (description_override).
    description = models.TextField(blank=True, default="")
    description_override = models.TextField(blank=True, default="")
    card_url = models.URLField(max_length=2048)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="remote_agents_created",
    )
    enabled = models.BooleanField(default=True)

    # The card as last fetched and accepted (JSON exactly as served), with its validators.
    card = models.JSONField(default=dict, blank=True)
    card_etag = models.CharField(max_length=512, blank=True, default="")
    card_last_modified = models.CharField(max_length=128, blank=True, default="")
    card_fetched_at = models.DateTimeField(null=True, blank=True)
    card_checked_at = models.DateTimeField(null=True, blank=True)
    # When the card is due for a refresh (Cache-Control max-age, or the beat interval).
    card_due_at = models.DateTimeField(null=True, blank=True)
    # The last refresh failed, or max-age passed without a successful refresh.
    card_stale = models.BooleanField(default=False)
    card_error = models.TextField(blank=True, default="")

    # The interface chosen from the card's supportedInterfaces.
    interface_url = models.URLField(max_length=2048, blank=True, default="")
    interface_binding = models.CharField(max_length=16, blank=True, default="")
    interface_version = models.CharField(max_length=16, blank=True, default="")
    # The card's skills: id, name, description, tags, examples.
    skills = models.JSONField(default=list, blank=True)

    trust_policy = models.CharField(
        max_length=8, choices=trust_policy_choices(), default=TrustPolicy.OPEN.value
    )
    # A JWK set ({"keys": [...]}) of public keys, used under ``pinned``.
    pinned_keys = models.JSONField(default=dict, blank=True)
    signature_status = models.CharField(
        max_length=8, choices=SignatureStatus.choices, default=SignatureStatus.UNSIGNED
    )
    signature_kid = models.CharField(max_length=256, blank=True, default="")
    # CardRefused.details() of the last refusal, or null.
    signature_error = models.JSONField(null=True, blank=True)

    credential_kind = models.CharField(
        max_length=8, choices=CredentialKind.choices, default=CredentialKind.NONE
    )
    credential_header = models.CharField(
        max_length=64, blank=True, default=DEFAULT_CREDENTIAL_HEADER
    )
    # Encrypted at rest (common/sealing.py); empty when there is none.
    credential_secret = models.TextField(blank=True, default="")

    approval_policy = models.CharField(
        max_length=10, choices=ApprovalPolicy.choices, default=ApprovalPolicy.UNTRUSTED
    )
    request_timeout_seconds = models.PositiveIntegerField(default=30)
    task_timeout_seconds = models.PositiveIntegerField(default=600)
    stream_idle_seconds = models.PositiveIntegerField(default=60)

    # Federation: the account of this server the agent calls it with (its own key and role).
    # Audit rows of that account's requests name the agent (``callingAgent``).
    client_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="as_remote_agent",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(trust_policy__in=[p.value for p in TrustPolicy]),
                name="remoteagent_trust_policy_valid",
            ),
            models.CheckConstraint(
                condition=Q(signature_status__in=SignatureStatus.values),
                name="remoteagent_signature_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(credential_kind__in=CredentialKind.values),
                name="remoteagent_credential_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(approval_policy__in=ApprovalPolicy.values),
                name="remoteagent_approval_policy_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["enabled", "card_due_at"], name="remoteagent_due"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def credential_set(self) -> bool:
        """Whether a credential is stored (the only thing ever said about it)."""
        return self.credential_kind != CredentialKind.NONE and bool(self.credential_secret)

    @property
    def signature_verified(self) -> bool:
        """Whether the accepted card's signature was verified under signed or pinned."""
        return self.signature_status == SignatureStatus.VERIFIED

    @property
    def shown_description(self) -> str:
        """The description people and the assistant read: the override, else the card's."""
        return self.description_override or self.description


class Delegation(TimeStampedModel):
    """One task webcap handed to a remote agent on behalf of one of its own tasks.

    ``state`` is the remote task's wire state as last seen; ``last_event_id`` the SSE id a
    resumed stream starts after.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    parent_task = models.ForeignKey(
        "a2a.Task", on_delete=models.CASCADE, related_name="delegations"
    )
    tool_call = models.ForeignKey(
        "tools.ToolCall",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="delegations",
    )
    remote_agent = models.ForeignKey(
        RemoteAgent, on_delete=models.PROTECT, related_name="delegations"
    )
    remote_task_id = models.CharField(max_length=256, blank=True, default="")
    remote_context_id = models.CharField(max_length=256, blank=True, default="")
    state = models.CharField(max_length=32, blank=True, default="")
    last_event_id = models.CharField(max_length=256, blank=True, default="")
    # 1 for a delegation of a task webcap was asked for; one more per hop.
    depth = models.PositiveIntegerField(default=1)
    error = models.TextField(blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)
    # The remote task's own sub-tasks as it reported them when it ended (its task metadata's
    # ``webcap.delegations``, bounded and cleaned): the tree across agents.
    remote_subtasks = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [
            # Live delegations of a task (cancel cascade, delete refusal).
            models.Index(
                fields=["parent_task"],
                condition=Q(finished_at__isnull=True),
                name="delegation_task_live",
            ),
            models.Index(
                fields=["remote_agent"],
                condition=Q(finished_at__isnull=True),
                name="delegation_agent_live",
            ),
            models.Index(fields=["remote_agent", "remote_task_id"], name="delegation_remote_task"),
        ]

    def __str__(self) -> str:
        return f"{self.remote_agent_id} {self.remote_task_id or '(no remote task yet)'}"
