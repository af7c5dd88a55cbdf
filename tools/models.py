"""Tool calls, the agent's transcript, and the record of every LLM call.

The assistant agent is a state machine over these rows: a job reads them to decide the next
step (call the model, run tools, ask for approval, finish) and writes the step's outcome
before the next job runs, so any step can be killed and run again.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from common.models import TimeStampedModel


class EntryRole(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"


class TranscriptEntry(TimeStampedModel):
    """One turn of a conversation as the model sees it: user input or a model answer.

    The transcript belongs to the A2A context, so a new task in the same context continues
    the conversation. Tool results are not entries: they are read from the ToolCall rows of
    the assistant turn that requested them.
    """

    id = models.BigAutoField(primary_key=True)
    context = models.ForeignKey("a2a.Context", on_delete=models.CASCADE, related_name="transcript")
    task = models.ForeignKey("a2a.Task", on_delete=models.CASCADE, related_name="transcript")
    # Order within the context.
    position = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=EntryRole.choices)
    # The model's text, or the text of the user's message.
    content = models.TextField(blank=True, default="")
    # The user's A2A message, for parts other than text (files, images).
    message = models.ForeignKey(
        "a2a.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Folded into the context's summary: no longer sent to the model verbatim.
    summarized = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "transcript entries"
        constraints = [
            models.UniqueConstraint(
                fields=["context", "position"], name="transcript_context_position_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["context", "summarized", "position"], name="transcript_context_live"
            )
        ]

    def __str__(self) -> str:
        return f"{self.context_id}#{self.position} {self.role}"


class ToolCallStatus(models.TextChoices):
    VALIDATING = "validating"
    SCHEDULED = "scheduled"
    AWAITING_APPROVAL = "awaiting-approval"
    EXECUTING = "executing"
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"


def idempotency_key_new() -> str:
    """Return a new idempotency key: a random UUID, as text."""
    return str(uuid.uuid4())


FINISHED_STATUSES = frozenset(
    {ToolCallStatus.SUCCESS, ToolCallStatus.ERROR, ToolCallStatus.CANCELLED}
)


class Decision(models.TextChoices):
    APPROVED = "approved"
    REJECTED = "rejected"


class ToolCall(TimeStampedModel):
    """One call of one tool the model asked for, from validation to its result.

    ``validating -> scheduled -> (awaiting-approval -> scheduled ->) executing ->
    success | error | cancelled``; a rejected call is cancelled and the model hears why.
    The UUID is the ``toolCallId`` people and clients name when they decide; the
    idempotency key is what the tool hands to the system it changes, the same on every
    attempt, so that system can apply a repeated request once.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey("a2a.Task", on_delete=models.CASCADE, related_name="tool_calls")
    turn = models.ForeignKey(TranscriptEntry, on_delete=models.CASCADE, related_name="tool_calls")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tool_calls"
    )
    # The id the model gave the call; its result is sent back under the same id.
    llm_call_id = models.CharField(max_length=128)
    # Order within the turn.
    position = models.PositiveIntegerField()
    tool = models.CharField(max_length=64)
    tool_version = models.CharField(max_length=32, blank=True, default="")
    # The exact published version of a tool from a source (an MCP server) the call ran.
    source_version = models.ForeignKey(
        "tools.ToolVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
    )
    # The arguments as the model sent them (decoded JSON when it was JSON).
    arguments = models.JSONField(default=dict)
    status = models.CharField(
        max_length=20, choices=ToolCallStatus.choices, default=ToolCallStatus.VALIDATING
    )
    requires_approval = models.BooleanField(default=False)
    # Why a person must decide: shown with the pending call.
    approval_reason = models.TextField(blank=True, default="")
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tool_call_decisions",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Stable across attempts: sent as the Idempotency-Key of a request with side effects.
    idempotency_key = models.CharField(
        max_length=64, unique=True, default=idempotency_key_new, editable=False
    )
    # How many times the call was claimed to run (scheduled -> executing).
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["turn", "position"], name="toolcall_turn_position"),
            models.CheckConstraint(
                condition=Q(status__in=ToolCallStatus.values), name="toolcall_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["task", "status"], name="toolcall_task_status"),
            models.Index(fields=["requester", "status", "-created_at"], name="toolcall_requester"),
        ]

    def __str__(self) -> str:
        return f"{self.tool} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class LLMCall(TimeStampedModel):
    """One request to the model: what it cost in tokens, money and time, and how it ended."""

    id = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(
        "a2a.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_calls"
    )
    model = models.CharField(max_length=128)
    # "turn" (an agent step) or "summary" (folding an old transcript).
    purpose = models.CharField(max_length=16, default="turn")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=1)
    # "ok", or what went wrong: "rate_limited", "unavailable", "timeout", "circuit_open", ...
    outcome = models.CharField(max_length=32, default="ok")
    error = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "LLM call"
        indexes = [models.Index(fields=["task", "created_at"], name="llmcall_task_created")]

    def __str__(self) -> str:
        return f"{self.model} {self.outcome}"


# --- Tool sources and versions ---------------------------------------------------------------


class SourceKind(models.TextChoices):
    MCP_HTTP = "mcp_http", "MCP server over streamable HTTP"
    MCP_STDIO = "mcp_stdio", "MCP server over stdio"
    # Later: tools behind plain HTTP endpoints, and Python entry-point packages.
    HTTP = "http", "HTTP endpoint"
    PACKAGE = "package", "Python package"


SOURCE_NAME_MAX_LENGTH = 24


class ToolSource(TimeStampedModel):
    """A place tools come from at run time (an MCP server), registered without a restart.

    Its tools are offered as ``<source name>__<tool name>``; what they are is kept in
    ToolVersion rows, one per published definition.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.SlugField(max_length=SOURCE_NAME_MAX_LENGTH, unique=True)
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    # mcp_http: the endpoint (through the SSRF guard).
    url = models.CharField(max_length=2048, blank=True, default="")
    # mcp_stdio: the program an admin configured, and its arguments.
    command = models.CharField(max_length=1024, blank=True, default="")
    args = models.JSONField(default=list, blank=True)
    # Headers sent to the server (a token), a JSON object sealed at rest (common/sealing.py).
    headers_sealed = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tool_sources",
    )
    refreshed_at = models.DateTimeField(null=True, blank=True)
    # Why the last discovery failed; empty after a good one.
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=SourceKind.values), name="toolsource_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def headers_set(self) -> bool:
        return bool(self.headers_sealed)


class VersionState(models.TextChoices):
    DRAFT = "draft"
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class ToolVersion(TimeStampedModel):
    """One published definition of one tool of a source; never edited, a change is a new row.

    Only its state (draft -> active -> deprecated -> retired) and when and by whom it was
    published change after it is written.
    """

    id = models.BigAutoField(primary_key=True)
    source = models.ForeignKey(ToolSource, on_delete=models.CASCADE, related_name="versions")
    # The tool's name on its source.
    tool_name = models.CharField(max_length=128)
    # The name the model calls it by: <source>__<tool>.
    offered_name = models.CharField(max_length=64)
    number = models.PositiveIntegerField()
    description = models.TextField(blank=True, default="")
    input_schema = models.JSONField(default=dict)
    # The MCP tool annotations (readOnlyHint, destructiveHint, ...).
    annotations = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=VersionState.choices)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "tool_name", "number"], name="toolversion_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(state__in=VersionState.values), name="toolversion_state_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["offered_name", "-number"], name="toolversion_offered"),
            models.Index(fields=["source", "state"], name="toolversion_source_state"),
        ]

    def __str__(self) -> str:
        return f"{self.offered_name} v{self.number} ({self.state})"


class ApprovalMode(models.TextChoices):
    # The tool's own default (a built-in's; an MCP tool's annotations).
    DEFAULT = "default"
    ALWAYS = "always"
    NEVER = "never"


class ToolPolicy(TimeStampedModel):
    """What an admin set at run time for one tool (built-in or from a source), by its name."""

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    approval = models.CharField(
        max_length=8, choices=ApprovalMode.choices, default=ApprovalMode.DEFAULT
    )
    # The version the assistant and workflows run (a source's tool); none: the newest active.
    pinned_version = models.ForeignKey(
        ToolVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name_plural = "tool policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(approval__in=ApprovalMode.values), name="toolpolicy_approval_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name
