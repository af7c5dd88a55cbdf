"""Writes of the A2A store: sending messages, the task state machine, artifacts, cancel.

Every change to a task happens under its row lock, appends one TaskEvent in the same
transaction, writes its audit event in that transaction too, and leaves work (jobs) and
fan-out (doorbells) to ``on_commit``. Who may do what with a task is checked by the
selectors (``task_get_for_user``) before anything changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from a2a.metrics import task_transition_record
from a2a.models import (
    TERMINAL_STATES,
    Artifact,
    ArtifactVersion,
    Context,
    EventKind,
    Message,
    Role,
    Task,
    TaskEvent,
    TaskState,
    TaskUserObjectPermission,
)
from a2a.protocol import convert
from a2a.protocol import types as wire
from a2a.protocol.errors import (
    InvalidParamsError,
    TaskNotCancelableError,
    UnsupportedOperationError,
)
from a2a.registry import agent_find, agent_get, job_queue
from a2a.selectors import (
    APPROVE,
    CANCEL,
    CHANGE,
    OWNER_PERMISSIONS,
    task_get_for_user,
    task_require,
)
from a2a.services.artifacts import (
    PendingFile,
    artifact_files_discard,
    artifact_files_record,
    artifact_files_save,
)
from a2a.services.events import event_append
from a2a.services.push import push_config_add
from accounts.models import User

logger = logging.getLogger(__name__)

INLINE_PUSH_PREFIX = "configuration.taskPushNotificationConfig."
# The DataPart key of a tool-call decision (see a2a/agents/assistant.py).
DECISION_KEY = "toolCallDecision"
# The name a2a/apps.py registers a2a.jobs.task_run_job under.
TASK_RUN_JOB = "task_run"


# The state machine (A2A §4.1.3). Terminal states have no row: leaving them is impossible.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    TaskState.SUBMITTED: frozenset(
        {
            TaskState.WORKING,
            TaskState.INPUT_REQUIRED,
            TaskState.AUTH_REQUIRED,
            TaskState.COMPLETED,
            TaskState.FAILED,
            TaskState.CANCELED,
            TaskState.REJECTED,
        }
    ),
    TaskState.WORKING: frozenset(
        {
            # working -> working carries a new progress message.
            TaskState.WORKING,
            TaskState.INPUT_REQUIRED,
            TaskState.AUTH_REQUIRED,
            TaskState.COMPLETED,
            TaskState.FAILED,
            TaskState.CANCELED,
            TaskState.REJECTED,
        }
    ),
    TaskState.INPUT_REQUIRED: frozenset(
        {
            # The agent took some input and still waits for more: an updated request.
            TaskState.INPUT_REQUIRED,
            # A follow-up message puts the task back in the queue.
            TaskState.SUBMITTED,
            TaskState.WORKING,
            TaskState.FAILED,
            TaskState.CANCELED,
            TaskState.REJECTED,
        }
    ),
    TaskState.AUTH_REQUIRED: frozenset(
        {
            TaskState.AUTH_REQUIRED,
            TaskState.SUBMITTED,
            TaskState.WORKING,
            TaskState.FAILED,
            TaskState.CANCELED,
            TaskState.REJECTED,
        }
    ),
}


class TaskStateError(Exception):
    """A transition the state machine does not allow, e.g. any change to a terminal task."""

    def __init__(self, task: Task, target: str) -> None:
        super().__init__(f"Task {task.id} cannot go from {task.state} to {target}")
        self.task_id = task.id
        self.current = task.state
        self.target = target


@dataclass(frozen=True)
class SendResult:
    """What a SendMessage did: which task, and the event its turn's stream starts from."""

    task_id: uuid.UUID
    start_seq: int
    created: bool
    duplicate: bool


@dataclass(frozen=True)
class Reply:
    """The agent answered with a message instead of a task (A2A §3.1.1): the wire Message."""

    message: dict[str, Any]


def audit(
    *,
    action: str,
    actor: User | None,
    target: Any = None,
    outcome: str = "success",
    extra: dict[str, Any] | None = None,
) -> None:
    """Write one audit event in the caller's transaction (see audit.services)."""
    # Imported here: the audit app reads users and tasks, and must not load before them.
    from audit.services import audit_record

    audit_record(action=action, actor=actor, target=target, outcome=outcome, extra=extra)


def _owner_permissions_grant(task: Task) -> None:
    """Give the task's owner view, change, cancel and approve on it (guardian rows)."""
    permissions = Permission.objects.filter(
        content_type__app_label="a2a", content_type__model="task", codename__in=OWNER_PERMISSIONS
    )
    TaskUserObjectPermission.objects.bulk_create(
        [
            TaskUserObjectPermission(user_id=task.owner_id, permission=p, content_object=task)
            for p in permissions
        ]
    )


def _task_run_enqueue(task_id: uuid.UUID) -> None:
    # The job's records name the task even when no request bound it (sweeps, restarts).
    with structlog.contextvars.bound_contextvars(task_id=str(task_id)):
        job_queue(TASK_RUN_JOB, str(task_id))


def _message_create(
    *,
    task: Task,
    role: Role,
    message_id: str,
    parts: list[dict[str, Any]],
    metadata: dict[str, Any] | None = None,
    extensions: list[str] | None = None,
    reference_task_ids: list[str] | None = None,
    new_task: bool = False,
    content_hash: str = "",
) -> Message:
    # A task created in this transaction has no message yet: no need to ask.
    position = (
        1
        if new_task
        else (Message.objects.filter(task=task).aggregate(m=Max("position"))["m"] or 0) + 1
    )
    return Message.objects.create(
        owner_id=task.owner_id,
        context_id=task.context_id,
        task=task,
        message_id=message_id,
        role=role,
        parts=parts,
        metadata=metadata,
        extensions=extensions or None,
        reference_task_ids=reference_task_ids or None,
        position=position,
        content_hash=content_hash,
        # A new task's first message starts the turn of its first event.
        **({"seq": task.last_seq + 1} if new_task else {}),
    )


def _transition(
    *,
    task: Task,
    state: str,
    message_parts: list[dict[str, Any]] | None = None,
    actor: User | None = None,
) -> TaskEvent:
    """Move a locked task to state, with an optional agent status message, and log it.

    The one place a task's state changes, so the one place ``task.state`` is audited: when
    the state differs (progress messages within a state are events, not transitions). The
    actor is the user whose request caused it; None when the agent moved the task.
    """
    if state not in ALLOWED_TRANSITIONS.get(task.state, frozenset()):
        raise TaskStateError(task, state)
    previous = task.state
    task.status_message = None
    if message_parts:
        task.status_message = _message_create(
            task=task, role=Role.AGENT, message_id=str(uuid.uuid4()), parts=message_parts
        )
    task.state = state
    task.status_timestamp = timezone.now()
    event = event_append(
        task=task,
        kind=EventKind.STATUS_UPDATE,
        payload=convert.status_update_to_wire(task, context_key=task.context.key),
    )
    task.save(
        update_fields=["state", "status_message", "status_timestamp", "last_seq", "updated_at"]
    )
    if previous != state:
        audit(action="task.state", actor=actor, target=task, extra={"from": previous, "to": state})
        task_transition_record(
            previous=previous,
            state=state,
            created_at=task.created_at,
            ended_at=task.status_timestamp,
            terminal=state in TERMINAL_STATES,
        )
    return event


def _content_hash(message: wire.Message) -> str:
    """Return the SHA-256 of what a message says, so a retry can be told from new input."""
    content = message.model_dump(
        mode="json",
        by_alias=True,
        exclude_none=True,
        include={"parts", "metadata", "extensions", "reference_task_ids"},
    )
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _user_message_create(*, task: Task, message: wire.Message, new_task: bool = False) -> Message:
    return _message_create(
        task=task,
        role=Role.USER,
        message_id=message.message_id,
        parts=[part.dump() for part in message.parts],
        metadata=message.metadata,
        extensions=message.extensions,
        reference_task_ids=message.reference_task_ids,
        new_task=new_task,
        content_hash=_content_hash(message),
    )


def _turn_started(
    *, task: Task, user_message: Message, event: TaskEvent, created: bool
) -> SendResult:
    """Tie the user message to the event that started its turn; run the agent on commit."""
    if user_message.seq != event.seq:
        user_message.seq = event.seq
        user_message.save(update_fields=["seq"])
    task_id = task.id
    transaction.on_commit(lambda: _task_run_enqueue(task_id))
    return SendResult(task_id=task_id, start_seq=event.seq, created=created, duplicate=False)


def _context_for(*, owner: User, context_id: str | None) -> Context:
    if context_id is None:
        return Context.objects.create(owner=owner, key=str(uuid.uuid4()))
    context, _ = Context.objects.get_or_create(owner=owner, key=context_id)
    return context


@transaction.atomic(durable=True)
def message_send(
    *,
    owner: User,
    message: wire.Message,
    request_metadata: dict[str, Any] | None = None,
    push_config: wire.TaskPushNotificationConfig | None = None,
) -> SendResult | Reply:
    """Accept a user message: start a new task, continue one, or take the agent's reply.

    A follow-up that repeats a messageId already accepted for the same task, with the same
    content, is a retry: it returns that turn's result instead of doing the work twice
    (A2A §3.3.1). A message that names no task always starts a new one, even with a
    messageId seen before (clients, the A2A TCK among them, reuse ids across tasks). An
    inline push config is added to the task before its first event, so the webhook hears
    every event of the turn.
    """
    if message.role != wire.Role.USER:
        raise InvalidParamsError.for_fields(
            [("message.role", "must be ROLE_USER for a message sent to the agent")]
        )
    if message.task_id:
        return _message_continue(sender=owner, message=message, push_config=push_config)

    context = _context_for(owner=owner, context_id=message.context_id)
    if push_config is None:
        reply_parts = _agent_reply(message)
        if reply_parts is not None:
            return _reply_store(owner=owner, context=context, message=message, parts=reply_parts)
    task = Task.objects.create(
        owner=owner,
        context=context,
        agent=settings.WEBCAP_AGENT,
        state=TaskState.SUBMITTED,
        status_timestamp=timezone.now(),
        metadata=request_metadata or None,
    )
    structlog.contextvars.bind_contextvars(task_id=str(task.id), context_id=context.key)
    _owner_permissions_grant(task)
    audit(action="task.create", actor=owner, target=task, extra={"contextId": context.key})
    if push_config is not None:
        push_config_add(task=task, config=push_config, prefix=INLINE_PUSH_PREFIX)
    user_message = _user_message_create(task=task, message=message, new_task=True)
    snapshot = convert.task_to_wire(
        task, context_key=context.key, history=[user_message], artifacts=None
    )
    event = event_append(task=task, kind=EventKind.TASK, payload={"task": snapshot})
    task.save(update_fields=["last_seq"])
    logger.info("Task %s created in context %s", task.id, context.key)
    return _turn_started(task=task, user_message=user_message, event=event, created=True)


def _agent_reply(message: wire.Message) -> list[dict[str, Any]] | None:
    return agent_get(settings.WEBCAP_AGENT).reply(message)


def _reply_store(
    *, owner: User, context: Context, message: wire.Message, parts: list[dict[str, Any]]
) -> Reply:
    """Keep a message-only exchange in its context and return the agent's wire Message."""
    common = {"owner": owner, "context": context, "task": None}
    Message.objects.create(
        **common,
        message_id=message.message_id,
        role=Role.USER,
        parts=[part.dump() for part in message.parts],
        metadata=message.metadata,
        extensions=message.extensions or None,
        reference_task_ids=message.reference_task_ids or None,
        content_hash=_content_hash(message),
    )
    reply = Message.objects.create(
        **common,
        message_id=str(uuid.uuid4()),
        role=Role.AGENT,
        parts=[wire.Part.model_validate(part).dump() for part in parts],
    )
    return Reply(message=convert.message_to_wire(reply, context_key=context.key))


def _is_decision(part: wire.Part) -> bool:
    return isinstance(part.data, dict) and DECISION_KEY in part.data


def _follow_up_allowed(*, sender: User, task: Task, message: wire.Message) -> None:
    """Refuse a follow-up the sender may not send (the sender may read the task).

    Input for the agent needs change_task (the owner, an admin); tool-call decisions need
    the right to decide (the owner, an admin, an approver the task is shared with for
    approval). So an approver can answer a pending call but not talk to the agent, and a
    viewer of a shared task can do neither: both get PermissionDeniedError (-32040, 403).
    """
    if any(_is_decision(part) for part in message.parts):
        task_require(user=sender, task=task, permission=APPROVE)
    if any(not _is_decision(part) for part in message.parts):
        task_require(user=sender, task=task, permission=CHANGE)


def _message_continue(
    *, sender: User, message: wire.Message, push_config: wire.TaskPushNotificationConfig | None
) -> SendResult:
    assert message.task_id is not None
    task = task_get_for_user(user=sender, task_id=message.task_id, for_update=True)
    structlog.contextvars.bind_contextvars(task_id=str(task.id), context_id=task.context.key)
    _follow_up_allowed(sender=sender, task=task, message=message)
    if push_config is not None:
        task_require(user=sender, task=task, permission=CHANGE)
    earlier = (
        Message.objects.filter(
            task=task,
            role=Role.USER,
            message_id=message.message_id,
            content_hash=_content_hash(message),
        )
        .only("seq")
        .first()
    )
    if earlier is not None:
        return SendResult(
            task_id=task.id, start_seq=earlier.seq or 1, created=False, duplicate=True
        )
    if message.context_id and message.context_id != task.context.key:
        # A2A §3.4.3: mismatching contextId and taskId must be rejected.
        raise InvalidParamsError.for_fields(
            [("message.contextId", f"does not match the context of task {task.id}")]
        )
    if task.is_terminal:
        raise UnsupportedOperationError(
            f"Task {task.id} is {task.state}; a terminal task accepts no more messages",
            metadata={"taskId": str(task.id), "state": convert.state_to_wire(task.state)},
        )
    if not task.is_interrupted:
        raise UnsupportedOperationError(
            f"Task {task.id} is {task.state}; send more input when it asks for it "
            "(input-required) or cancel it",
            metadata={"taskId": str(task.id), "state": convert.state_to_wire(task.state)},
        )
    if push_config is not None:
        push_config_add(task=task, config=push_config, prefix=INLINE_PUSH_PREFIX)
    user_message = _user_message_create(task=task, message=message)
    agent = agent_find(task.agent)
    resume = agent is None or agent.on_follow_up(task, message, sender=sender)
    if not resume:
        # The agent took the message but still waits for more (e.g. other approvals): the
        # task stays interrupted, its status saying what it still waits for.
        event = _transition(
            task=task,
            state=task.state,
            message_parts=task.status_message.parts if task.status_message else None,
            actor=sender,
        )
        user_message.seq = event.seq
        user_message.save(update_fields=["seq", "content_hash"])
        return SendResult(task_id=task.id, start_seq=event.seq, created=False, duplicate=False)
    event = _transition(task=task, state=TaskState.SUBMITTED, actor=sender)
    return _turn_started(task=task, user_message=user_message, event=event, created=False)


def _lock_task(task_id: uuid.UUID | str) -> Task:
    return Task.objects.select_related("context").select_for_update(of=("self",)).get(pk=task_id)


def task_requeue_locked(*, task: Task, actor: User | None = None) -> TaskEvent:
    """Put an interrupted task (locked by the caller) back in the queue to run again."""
    event = _transition(task=task, state=TaskState.SUBMITTED, actor=actor)
    task_id = task.id
    transaction.on_commit(lambda: _task_run_enqueue(task_id))
    return event


@transaction.atomic(durable=True)
def task_transition(
    *, task_id: uuid.UUID | str, state: str, message_parts: list[dict[str, Any]] | None = None
) -> TaskEvent:
    """Move a task to state with an optional agent status message (raises TaskStateError)."""
    return _transition(task=_lock_task(task_id), state=state, message_parts=message_parts)


def task_artifact_update(
    *,
    task_id: uuid.UUID | str,
    artifact: dict[str, Any],
    append: bool = False,
    last_chunk: bool = False,
) -> TaskEvent:
    """Store an artifact chunk and log it; append=True joins it to the artifact's parts.

    The bytes of file parts go to the artifact storage first (outside the task lock) and
    the chunk carries their download URLs; a chunk that replaces an artifact (append=False)
    starts its next version and keeps the one it replaces.
    """
    chunk = wire.Artifact.model_validate(artifact).dump()
    chunk["parts"], files = artifact_files_save(task_id=task_id, parts=chunk["parts"])
    try:
        return _artifact_store(
            task_id=task_id, chunk=chunk, files=files, append=append, last_chunk=last_chunk
        )
    except BaseException:
        artifact_files_discard(files)
        raise


@transaction.atomic(durable=True)
def _artifact_store(
    *,
    task_id: uuid.UUID | str,
    chunk: dict[str, Any],
    files: list[PendingFile],
    append: bool,
    last_chunk: bool,
) -> TaskEvent:
    task = _lock_task(task_id)
    if task.state in TERMINAL_STATES:
        raise TaskStateError(task, "artifact-update")
    stored = Artifact.objects.filter(task=task, artifact_id=chunk["artifactId"]).first()
    if stored is None:
        stored = Artifact(task=task, artifact_id=chunk["artifactId"], parts=[])
    elif not append:
        _artifact_version_keep(stored)
    if append and stored.pk is not None:
        stored.parts = [*stored.parts, *chunk["parts"]]
    else:
        stored.parts = list(chunk["parts"])
    stored.name = chunk.get("name", stored.name)
    stored.description = chunk.get("description", stored.description)
    if "metadata" in chunk:
        stored.metadata = {**(stored.metadata or {}), **chunk["metadata"]}
    if "extensions" in chunk:
        stored.extensions = chunk["extensions"]
    stored.complete = last_chunk
    stored.save()
    artifact_files_record(artifact=stored, files=files)
    event = event_append(
        task=task,
        kind=EventKind.ARTIFACT_UPDATE,
        payload=convert.artifact_update_to_wire(
            task, context_key=task.context.key, chunk=chunk, append=append, last_chunk=last_chunk
        ),
    )
    task.save(update_fields=["last_seq", "updated_at"])
    return event


def _artifact_version_keep(stored: Artifact) -> None:
    """Keep the artifact's current version as an ArtifactVersion before it is replaced."""
    ArtifactVersion.objects.create(
        artifact=stored,
        version=stored.version,
        name=stored.name,
        description=stored.description,
        parts=stored.parts,
        metadata=stored.metadata,
        complete=stored.complete,
        created_at=stored.version_started_at,
    )
    stored.version += 1
    stored.version_started_at = timezone.now()


@transaction.atomic(durable=True)
def task_cancel(*, user: User, task_id: str) -> Task:
    """Cancel a task the user may cancel; CANCELED is stored at once, the job notices it."""
    task = task_get_for_user(user=user, task_id=task_id, for_update=True, permission=CANCEL)
    structlog.contextvars.bind_contextvars(task_id=str(task.id), context_id=task.context.key)
    if task.is_terminal:
        # A2A §3.1.5: a task in a terminal state is not cancelable.
        raise TaskNotCancelableError(
            f"Task {task.id} is already {task.state} and cannot be canceled",
            metadata={"taskId": str(task.id), "state": convert.state_to_wire(task.state)},
        )
    agent = agent_find(task.agent)
    if agent is not None:
        agent.on_cancel(task)
    audit(action="task.cancel", actor=user, target=task, extra={"from": task.state})
    _transition(
        task=task,
        state=TaskState.CANCELED,
        message_parts=[{"text": "Canceled at the client's request."}],
        actor=user,
    )
    logger.info("Task %s canceled by user %s", task.id, user.pk)
    return task


def tasks_requeue_unfinished() -> int:
    """Enqueue a run of every task left submitted or working; return how many.

    An in-memory broker forgets queued jobs when the process stops; the database does not,
    so on start the embedded server hands these tasks to its worker again.
    """
    task_ids = list(
        Task.objects.filter(state__in=[TaskState.SUBMITTED, TaskState.WORKING]).values_list(
            "id", flat=True
        )
    )
    for task_id in task_ids:
        _task_run_enqueue(task_id)
    if task_ids:
        logger.info("Re-enqueued %d unfinished task(s)", len(task_ids))
    return len(task_ids)


def tasks_requeue_orphaned(*, submitted_after: float) -> int:
    """Enqueue a run of every task whose job was lost; return how many.

    A worker killed mid-step leaves its task working with a lease nobody renews; the broker
    gives the unacknowledged job back only after its visibility timeout (an hour, longer than
    any step). This sweep, every few seconds from ``celery beat``, finds such a task as soon
    as its lease ran out, and also a task still submitted ``submitted_after`` seconds after
    it was sent (its job lost before a worker took it). Running a task twice is harmless: the
    lease lets one job at a time run it, and a finished task is left alone.
    """
    now = timezone.now()
    orphaned = Q(state=TaskState.WORKING, lease_until__lt=now) | Q(
        state=TaskState.SUBMITTED,
        lease_until__isnull=True,
        status_timestamp__lt=now - timedelta(seconds=submitted_after),
    )
    task_ids = list(Task.objects.filter(orphaned).values_list("id", flat=True))
    for task_id in task_ids:
        _task_run_enqueue(task_id)
    if task_ids:
        logger.warning("Re-enqueued %d task(s) whose job was lost", len(task_ids))
    return len(task_ids)


# --- The run lease --------------------------------------------------------------------------------


def task_lease_claim(*, task_id: uuid.UUID | str, token: str, seconds: float) -> bool:
    """Take the task's run lease for token unless another live holder has it."""
    now = timezone.now()
    claimed = (
        Task.objects.filter(pk=task_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_token=token))
        .update(lease_token=token, lease_until=now + timedelta(seconds=seconds))
    )
    return claimed == 1


def task_lease_renew(*, task_id: uuid.UUID | str, token: str, seconds: float) -> bool:
    """Extend a lease this holder still has; False when it was lost."""
    renewed = Task.objects.filter(pk=task_id, lease_token=token).update(
        lease_until=timezone.now() + timedelta(seconds=seconds)
    )
    return renewed == 1


def task_lease_release(*, task_id: uuid.UUID | str, token: str) -> None:
    """Give the lease back (only if this holder still has it)."""
    Task.objects.filter(pk=task_id, lease_token=token).update(lease_token="", lease_until=None)


def task_lease_wait(*, task_id: uuid.UUID | str) -> float:
    """Return the seconds until the task's current lease runs out (0 when free)."""
    until = Task.objects.filter(pk=task_id).values_list("lease_until", flat=True).first()
    if until is None:
        return 0.0
    return max((until - timezone.now()).total_seconds(), 0.0)
