"""The durable A2A store: contexts, tasks, messages, artifacts and the per-task event log.

The TaskEvent log is the truth for everything a client can be streamed: each status change
and artifact chunk is one row with a per-task sequence number, written before it is
published. Tasks, messages and artifacts hold the current state those events produced.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

# The task states are defined with the wire types (pure, so the protocol layer needs no
# models); the model layer uses them as its choices and exports them as its own.
from a2a.protocol.states import INTERRUPTED_STATES as INTERRUPTED_STATES
from a2a.protocol.states import TERMINAL_STATES as TERMINAL_STATES
from a2a.protocol.states import TaskState as TaskState
from common.models import TimeStampedModel


class Role(models.TextChoices):
    USER = "user"
    AGENT = "agent"


class Context(TimeStampedModel):
    """A conversation: the tasks and messages one owner groups under one contextId."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="a2a_contexts"
    )
    # The wire contextId: server-made (a UUID string) or accepted from the client (A2A §3.4.1).
    key = models.CharField(max_length=256)
    # A running summary of older turns, kept when a conversation outgrows the model's window.
    summary = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="context_owner_key_unique")
        ]

    def __str__(self) -> str:
        return self.key


class Task(TimeStampedModel):
    """An A2A task: its owner, context, current status and the counter of its event log."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="a2a_tasks"
    )
    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="tasks")
    # The agent that runs this task, fixed at creation so a restart with another
    # WEBCAP_AGENT does not hand a half-done task to a different agent.
    agent = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=TaskState.choices, default=TaskState.SUBMITTED)
    status_message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status_timestamp = models.DateTimeField()
    metadata = models.JSONField(null=True, blank=True)
    # The sequence number of the newest TaskEvent; the next event gets last_seq + 1.
    last_seq = models.PositiveIntegerField(default=0)
    # How many push configs the task has, so appending an event looks for none when zero.
    push_config_count = models.PositiveIntegerField(default=0)
    # While lease_until is in the future, the job holding lease_token runs the task's agent;
    # the holder renews it as it works, so a killed worker's lease soon runs out.
    lease_token = models.CharField(max_length=32, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    # The task's history and artifacts as the wire has them (convert.message_to_wire and
    # artifact_to_wire of the Message and Artifact rows, in position and creation order),
    # written in the transaction of every change to those rows, under the task's lock: GetTask
    # and ListTasks answer from the task row alone. The rows stay the truth.
    wire_history = models.JSONField(default=list, blank=True)
    wire_artifacts = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-status_timestamp", "-id"], name="task_owner_status_ts"),
            models.Index(
                fields=["owner", "context", "-status_timestamp"], name="task_owner_context_ts"
            ),
            models.Index(
                fields=["owner", "state", "-status_timestamp"], name="task_owner_state_ts"
            ),
            models.Index(fields=["state", "status_timestamp"], name="task_state_ts"),
            # ListTasks of admins and operators: every task, newest status first.
            models.Index(fields=["-status_timestamp", "-id"], name="task_status_ts"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=TaskState.values), name="task_state_valid")
        ]
        # Besides guardian's view_task and change_task (follow-up messages, push configs):
        # who may cancel the task and who may decide its tool calls (accounts/roles.py).
        permissions = [
            ("cancel_task", "Can cancel the task"),
            ("approve_task", "Can decide tool calls of the task"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.state})"

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def is_interrupted(self) -> bool:
        return self.state in INTERRUPTED_STATES


class Message(TimeStampedModel):
    """One A2A message, from the user or the agent, in a task's history or context."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="a2a_messages"
    )
    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="messages")
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    # The wire messageId: made by whoever wrote the message.
    message_id = models.CharField(max_length=256)
    role = models.CharField(max_length=8, choices=Role.choices)
    # Parts in ProtoJSON form, exactly as they travel on the wire.
    parts = models.JSONField()
    metadata = models.JSONField(null=True, blank=True)
    extensions = models.JSONField(null=True, blank=True)
    reference_task_ids = models.JSONField(null=True, blank=True)
    # 1-based order within the task's history.
    position = models.PositiveIntegerField(default=0)
    # The event that recorded this message's arrival; a repeated send streams from here.
    seq = models.PositiveIntegerField(null=True, blank=True)

    # SHA-256 of the user message's content; with task and messageId it recognises a retry.
    content_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["task", "position"], name="message_task_position"),
            models.Index(fields=["task", "message_id"], name="message_task_message_id"),
            # A new message's retry is looked up by owner and messageId.
            models.Index(fields=["owner", "message_id"], name="message_owner_message_id"),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.message_id}"


class Artifact(TimeStampedModel):
    """An output of a task; chunks sent with append=true are joined into its parts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="artifacts")
    artifact_id = models.CharField(max_length=256)
    name = models.CharField(max_length=256, blank=True, default="")
    description = models.TextField(blank=True, default="")
    parts = models.JSONField()
    metadata = models.JSONField(null=True, blank=True)
    extensions = models.JSONField(null=True, blank=True)
    # Set once a chunk with lastChunk=true arrived.
    complete = models.BooleanField(default=False)
    # 1, 2, 3...: an update that replaces the artifact (append=false) starts the next version;
    # chunks appended to it belong to the same one. Earlier versions are ArtifactVersion rows.
    version = models.PositiveIntegerField(default=1)
    version_started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "artifact_id"], name="artifact_task_id_unique")
        ]
        indexes = [models.Index(fields=["task", "created_at"], name="artifact_task_created")]

    def __str__(self) -> str:
        return self.artifact_id


class ArtifactVersion(models.Model):
    """An earlier version of an artifact, kept as it was when an update replaced it."""

    id = models.BigAutoField(primary_key=True)
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=256, blank=True, default="")
    description = models.TextField(blank=True, default="")
    parts = models.JSONField()
    metadata = models.JSONField(null=True, blank=True)
    complete = models.BooleanField(default=False)
    # When this version was started (the artifact's created_at or the replacing update's time).
    created_at = models.DateTimeField()
    replaced_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["artifact", "version"], name="artifact_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.artifact_id} v{self.version}"


class ArtifactFile(TimeStampedModel):
    """The bytes of one file part an agent produced, kept in the "artifacts" storage.

    The part on the wire carries the file's download URL instead of its bytes. A row is
    never changed except to record that retention deleted its file (``purged_at``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="artifact_files")
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="files")
    version = models.PositiveIntegerField()
    # The name in the storage (a path in the folder, a key in the bucket).
    storage_name = models.CharField(max_length=512)
    filename = models.CharField(max_length=256, blank=True, default="")
    media_type = models.CharField(max_length=256, blank=True, default="")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["artifact", "version"], name="artifactfile_artifact_version"),
            models.Index(
                fields=["task"],
                name="artifactfile_unpurged_task",
                condition=Q(purged_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.filename or str(self.id)


class EventKind(models.TextChoices):
    TASK = "task"
    STATUS_UPDATE = "status-update"
    ARTIFACT_UPDATE = "artifact-update"
    MESSAGE = "message"


class TaskEvent(models.Model):
    """One StreamResponse a task produced, numbered 1, 2, 3... within the task.

    Append-only, so it has no ``updated_at``: a row never changes after it is written.
    """

    id = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    # The task's state after this event, so readers can tell a final event without parsing.
    state = models.CharField(max_length=16, choices=TaskState.choices)
    # The StreamResponse in ProtoJSON form.
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "seq"], name="taskevent_task_seq_unique")
        ]

    def __str__(self) -> str:
        return f"{self.task_id}#{self.seq} {self.kind}"


class PushConfig(TimeStampedModel):
    """A webhook of one task: every event of the task is POSTed to its URL."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="push_configs")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="a2a_push_configs"
    )
    # The wire id: the client's, or a server-made UUID; never reused within the task.
    config_id = models.CharField(max_length=256)
    url = models.URLField(max_length=2048)
    token = models.CharField(max_length=1024, blank=True, default="")
    auth_scheme = models.CharField(max_length=64, blank=True, default="")
    # A secret: sent to the webhook and shown to the owner, never logged.
    auth_credentials = models.TextField(blank=True, default="")
    # While set and in the future, one delivery job owns this webhook (keeps order).
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "config_id"], name="pushconfig_task_id_unique")
        ]

    def __str__(self) -> str:
        return f"{self.config_id} -> {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    # Given up after the last attempt, or refused outright (an unsafe address).
    DEAD = "dead"
    # The config was deleted before the event went out.
    CANCELED = "canceled"


class PushDelivery(TimeStampedModel):
    """One event to POST to one webhook: the durable outbox row, written with the event."""

    id = models.BigAutoField(primary_key=True)
    config = models.ForeignKey(
        PushConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="push_deliveries")
    event = models.ForeignKey(TaskEvent, on_delete=models.CASCADE, related_name="push_deliveries")
    # The URL at the time of the event, kept for the admin after the config is gone.
    url = models.URLField(max_length=2048)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "push deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["config", "event"], name="pushdelivery_config_event_unique"
            )
        ]
        indexes = [
            models.Index(fields=["config", "status", "id"], name="pushdelivery_config_queue"),
            models.Index(fields=["status", "next_attempt_at"], name="pushdelivery_due"),
        ]

    def __str__(self) -> str:
        return f"event {self.event_id} -> {self.url} ({self.status})"


class TaskUserObjectPermission(UserObjectPermissionBase):
    """One permission on one task granted to one user (the owner's, or a share).

    A direct foreign key instead of guardian's generic one, so "tasks this user may read"
    is a join on an indexed integer and UUID rather than a cast of a text column. The
    inherited unique (user, permission, task) also serves as the index of that lookup.
    """

    content_object = models.ForeignKey(Task, on_delete=models.CASCADE)

    def __str__(self) -> str:
        return f"{self.user_id} {self.permission_id} {self.content_object_id}"


class TaskGroupObjectPermission(GroupObjectPermissionBase):
    """One permission on one task granted to every member of a group."""

    content_object = models.ForeignKey(Task, on_delete=models.CASCADE)

    def __str__(self) -> str:
        return f"group {self.group_id} {self.permission_id} {self.content_object_id}"
