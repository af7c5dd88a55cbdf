"""Sending messages to the agent: new tasks, follow-ups to interrupted ones, direct replies.

A message either starts a task (its first event, its run queued on commit), continues an
interrupted one (after the agent's ``on_follow_up`` hook took it), or gets the agent's
direct answer (``reply``) without any task. The agent is reached through a2a.registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from a2a.models import (
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
from a2a.protocol.errors import InvalidParamsError, UnsupportedOperationError
from a2a.registry import agent_find, agent_get
from a2a.selectors import APPROVE, CHANGE, OWNER_PERMISSIONS, task_get_for_user, task_require
from a2a.services.events import event_append
from a2a.services.push import push_config_add
from a2a.services.runs import task_run_queue
from a2a.services.transitions import _message_create, _transition
from accounts.models import User
from audit.services import audit_record

# The task services log under one name (a2a/services/tasks.py names them all): log
# filters and alerts written for it keep working.
logger = logging.getLogger("a2a.services.tasks")

INLINE_PUSH_PREFIX = "configuration.taskPushNotificationConfig."
# The DataPart key of a tool-call decision (see assistant/decisions.py).
DECISION_KEY = "toolCallDecision"


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
    task_run_queue(task_id)
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

    A message that repeats a messageId the owner already sent, with the same content, is a
    retry and gets the first send's result instead of doing the work twice (A2A §3.3.1): a
    follow-up within its task, and a message that names no task among the owner's other
    task-opening messages, where the same messageId with different content is refused
    (-32602) rather than taken for the same message. (An agent whose messageIds are not
    message identities, like the conformance agent's scenario names, starts new work for
    each.) An inline push config is added to the task before its first event, so the
    webhook hears every event of the turn.
    """
    if message.role != wire.Role.USER:
        raise InvalidParamsError.for_fields(
            [("message.role", "must be ROLE_USER for a message sent to the agent")]
        )
    if message.task_id:
        return _message_continue(sender=owner, message=message, push_config=push_config)

    agent = agent_get(settings.WEBCAP_AGENT)
    if agent.repeated_message_id_is_retry:
        earlier = _earlier_send(owner=owner, message=message)
        if earlier is not None:
            return earlier
    context = _context_for(owner=owner, context_id=message.context_id)
    if push_config is None:
        reply_parts = agent.reply(message)
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
    audit_record(action="task.create", actor=owner, target=task, extra={"contextId": context.key})
    if push_config is not None:
        push_config_add(task=task, config=push_config, prefix=INLINE_PUSH_PREFIX)
    user_message = _user_message_create(task=task, message=message, new_task=True)
    snapshot = convert.task_to_wire(
        task, context_key=context.key, history=task.wire_history, artifacts=None
    )
    event = event_append(task=task, kind=EventKind.TASK, payload={"task": snapshot})
    task.save(update_fields=["last_seq", "wire_history"])
    logger.info("Task %s created in context %s", task.id, context.key)
    return _turn_started(task=task, user_message=user_message, event=event, created=True)


def _message_id_lock(*, owner: User, message_id: str) -> None:
    """Make two sends of one owner's messageId run one after the other, until commit.

    SQLite already does: every write transaction takes the database's write lock when it
    begins (``transaction_mode`` IMMEDIATE). PostgreSQL takes a transaction-scoped advisory
    lock on a hash of the pair, so a retry racing its original waits and then finds it.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"{owner.pk}\n{message_id}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
        )


def _earlier_send(*, owner: User, message: wire.Message) -> SendResult | Reply | None:
    """Answer a repeated new message with the first send's result; None for a new messageId.

    The first send is the owner's oldest message with this messageId that opened a task
    (its first message) or got a direct reply. The same content (and contextId, when the
    retry names one) makes a retry; anything else is refused, naming the messageId.
    """
    _message_id_lock(owner=owner, message_id=message.message_id)
    earlier = (
        Message.objects.filter(owner=owner, role=Role.USER, message_id=message.message_id)
        .filter(Q(task__isnull=True) | Q(position=1))
        .select_related("context")
        .order_by("created_at")
        .first()
    )
    if earlier is None:
        return None
    if earlier.content_hash != _content_hash(message) or (
        message.context_id is not None and message.context_id != earlier.context.key
    ):
        first = f"task {earlier.task_id}" if earlier.task_id else "a direct reply"
        raise InvalidParamsError.for_fields(
            [
                (
                    "message.messageId",
                    f"{message.message_id!r} was already sent with other content (it started "
                    f"{first}); repeat a message exactly to retry it, or give new work a new "
                    "messageId",
                )
            ]
        )
    logger.info("Message %s repeated: answered with its first result", message.message_id)
    if earlier.task_id is None:
        # The agent's answer was stored right after the message, in its context.
        reply = (
            Message.objects.filter(
                context=earlier.context,
                task__isnull=True,
                role=Role.AGENT,
                created_at__gte=earlier.created_at,
            )
            .order_by("created_at")
            .first()
        )
        if reply is not None:
            return Reply(message=convert.message_to_wire(reply, context_key=earlier.context.key))
        return None
    return SendResult(
        task_id=earlier.task_id, start_seq=earlier.seq or 1, created=False, duplicate=True
    )


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
    follow_up = agent.on_follow_up(task, message, sender=sender) if agent else None
    if follow_up is not None and not follow_up.resume:
        # The agent took the message but still waits for more (e.g. other approvals): the
        # task stays interrupted, its status saying what it still waits for.
        event = _transition(
            task=task,
            state=task.state,
            message_parts=follow_up.ask
            or (task.status_message.parts if task.status_message else None),
            actor=sender,
            history_grew=True,
        )
        user_message.seq = event.seq
        user_message.save(update_fields=["seq", "content_hash"])
        return SendResult(task_id=task.id, start_seq=event.seq, created=False, duplicate=False)
    event = _transition(task=task, state=TaskState.SUBMITTED, actor=sender, history_grew=True)
    return _turn_started(task=task, user_message=user_message, event=event, created=False)
