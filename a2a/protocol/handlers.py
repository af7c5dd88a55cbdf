"""The A2A operations, one coroutine each, shared by every binding.

A handler takes the call context and validated wire request and returns either a ProtoJSON
result or an opened ``ResultStream``. It raises ``A2AError`` for anything the client
should hear about; bindings only render. Database work runs in threads through
``sync_to_async`` so the event loop never blocks on a query.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from a2a.card import extended_agent_card
from a2a.protocol import types as wire
from a2a.protocol.context import CallContext
from a2a.protocol.errors import (
    ExtendedAgentCardNotConfiguredError,
    InvalidParamsError,
    PushNotificationNotSupportedError,
    UnsupportedOperationError,
)
from a2a.selectors import task_wire, task_wire_for_user, tasks_list_for_user
from a2a.services.push import (
    push_config_create,
    push_config_delete,
    push_config_get_for_user,
    push_config_to_wire,
    push_configs_for_user,
)
from a2a.services.tasks import Reply, SendResult, message_send, task_cancel
from a2a.streams import MessageStream, ResultStream, TaskEventStream
from accounts.models import User

logger = logging.getLogger(__name__)

PUSH_UNSUPPORTED = (
    "Push notifications are not supported by this agent (capabilities.pushNotifications is false)"
)


def _resume_after(ctx: CallContext, requested: int | None) -> int | None:
    """Return the sequence number a reconnecting client saw last, if it sent one."""
    if requested is not None:
        return requested
    if ctx.last_event_id is None or not ctx.last_event_id.strip():
        return None
    raw = ctx.last_event_id.strip()
    if not raw.isdigit() or len(raw) > 10:
        raise InvalidParamsError.for_fields(
            [("Last-Event-ID", "must be the id of an event this server sent (a number)")]
        )
    return int(raw)


def require_push() -> None:
    # A2A §3.3.4: an undeclared capability is refused with its own error.
    if not settings.WEBCAP_PUSH_ENABLED:
        raise PushNotificationNotSupportedError(PUSH_UNSUPPORTED)


async def _send(ctx: CallContext, request: wire.SendMessageRequest) -> SendResult | Reply:
    config = request.configuration
    push_config = config.task_push_notification_config if config is not None else None
    if push_config is not None:
        require_push()
    return await sync_to_async(message_send)(
        owner=ctx.user,
        message=request.message,
        request_metadata=request.metadata,
        push_config=push_config,
    )


async def _wait_for_turn(ctx: CallContext, result: SendResult) -> None:
    """Wait until the task is final or interrupted, or WEBCAP_BLOCKING_TIMEOUT passed."""
    stream = TaskEventStream(
        user=ctx.user,
        task_id=str(result.task_id),
        from_seq=result.start_seq,
        stop_on_interrupt=True,
    )
    await stream.open()

    async def drain() -> None:
        async for _ in stream.events():
            pass

    try:
        await asyncio.wait_for(drain(), timeout=settings.WEBCAP_BLOCKING_TIMEOUT)
    except TimeoutError:
        logger.info("Blocking send of task %s returned before the task settled", result.task_id)


async def send_message(ctx: CallContext, request: wire.SendMessageRequest) -> dict[str, Any]:
    """SendMessage (A2A §3.1.1): blocks until final or interrupted unless returnImmediately."""
    result = await _send(ctx, request)
    if isinstance(result, Reply):
        return {"message": result.message}
    config = request.configuration or wire.SendMessageConfiguration()
    if not config.return_immediately:
        await _wait_for_turn(ctx, result)
    task = await sync_to_async(task_wire_for_user)(
        user=ctx.user, task_id=str(result.task_id), history_length=config.history_length
    )
    return {"task": task}


async def send_streaming_message(
    ctx: CallContext, request: wire.SendMessageRequest
) -> ResultStream:
    """SendStreamingMessage (A2A §3.1.2): the Task first, then its updates until it settles.

    A new task streams from its first stored event, so the client sees the whole lifecycle
    (submitted, working, artifacts, final); so does a retry of the message that opened it.
    A follow-up to an existing task starts with a snapshot of the task as it is now.
    """
    result = await _send(ctx, request)
    if isinstance(result, Reply):
        return MessageStream(result.message)
    config = request.configuration or wire.SendMessageConfiguration()
    # Sequence number 1 is the event of the message that opened the task.
    from_seq = result.start_seq if result.created or result.start_seq == 1 else None
    resume_after = _resume_after(ctx, None)
    if result.duplicate and resume_after is not None:
        # A client re-sending the same follow-up after a dropped stream resumes where it was.
        from_seq = resume_after + 1
    stream = TaskEventStream(
        user=ctx.user,
        task_id=str(result.task_id),
        history_length=config.history_length,
        from_seq=from_seq,
        stop_on_interrupt=True,
    )
    await stream.open()
    return stream


async def get_task(ctx: CallContext, request: wire.GetTaskRequest) -> dict[str, Any]:
    """GetTask (A2A §3.1.3)."""
    return await sync_to_async(task_wire_for_user)(
        user=ctx.user, task_id=request.id, history_length=request.history_length
    )


async def list_tasks(ctx: CallContext, request: wire.ListTasksRequest) -> dict[str, Any]:
    """ListTasks (A2A §3.1.4): the caller's readable tasks, filtered, newest first, paged."""
    return await sync_to_async(tasks_list_for_user)(user=ctx.user, request=request)


def _cancel(*, user: User, task_id: str) -> dict[str, Any]:
    return task_wire(task=task_cancel(user=user, task_id=task_id), history_length=None)


async def cancel_task(ctx: CallContext, request: wire.CancelTaskRequest) -> dict[str, Any]:
    """CancelTask (A2A §3.1.5): returns the task in CANCELED."""
    return await sync_to_async(_cancel)(user=ctx.user, task_id=request.id)


async def subscribe_to_task(
    ctx: CallContext, request: wire.SubscribeToTaskRequest
) -> TaskEventStream:
    """SubscribeToTask (A2A §3.1.6): the current Task first, then live updates.

    A resume (SSE ``Last-Event-ID``, or ``lastEventSeq`` on the WebSocket) sends exactly the
    events after that one from the log instead, then continues live; for a task that ended
    meanwhile it sends what was missed and closes.
    """
    resume_after = _resume_after(ctx, request.last_event_seq)
    if resume_after is not None:
        stream = TaskEventStream(user=ctx.user, task_id=request.id, from_seq=resume_after + 1)
        await stream.open()
        if stream.nothing_left:
            # An empty stream would leave a JSON-RPC client without any response.
            await stream.close()
            raise UnsupportedOperationError(
                f"Task {request.id} has already finished and event {resume_after} was its "
                "last; there is nothing more to send",
                metadata={"taskId": request.id},
            )
        return stream
    stream = TaskEventStream(user=ctx.user, task_id=request.id)
    await stream.open()
    if stream.snapshot_state_is_terminal:
        await stream.close()
        raise UnsupportedOperationError(
            f"Task {request.id} has already finished; subscribe only to unfinished tasks",
            metadata={"taskId": request.id},
        )
    return stream


async def create_push_config(
    ctx: CallContext, request: wire.TaskPushNotificationConfig
) -> dict[str, Any]:
    """CreateTaskPushNotificationConfig (A2A §3.1.7): a new id unless the client gave one."""
    require_push()
    if not request.task_id:
        raise InvalidParamsError.for_fields([("taskId", "Field required")])
    config = await sync_to_async(push_config_create)(
        user=ctx.user, task_id=request.task_id, config=request
    )
    return push_config_to_wire(config)


async def get_push_config(
    ctx: CallContext, request: wire.GetTaskPushNotificationConfigRequest
) -> dict[str, Any]:
    """GetTaskPushNotificationConfig (A2A §3.1.8)."""
    require_push()
    config = await sync_to_async(push_config_get_for_user)(
        user=ctx.user, task_id=request.task_id, config_id=request.id
    )
    return push_config_to_wire(config)


async def list_push_configs(
    ctx: CallContext, request: wire.ListTaskPushNotificationConfigsRequest
) -> dict[str, Any]:
    """ListTaskPushNotificationConfigs (A2A §3.1.9): every config of the task in one page.

    A task has at most WEBCAP_PUSH_MAX_CONFIGS_PER_TASK configs, so one page holds them all.
    """
    require_push()
    configs = await sync_to_async(push_configs_for_user)(user=ctx.user, task_id=request.task_id)
    return {"configs": [push_config_to_wire(c) for c in configs], "nextPageToken": ""}


async def delete_push_config(
    ctx: CallContext, request: wire.DeleteTaskPushNotificationConfigRequest
) -> dict[str, Any]:
    """DeleteTaskPushNotificationConfig (A2A §3.1.10): idempotent; returns Empty."""
    require_push()
    await sync_to_async(push_config_delete)(
        user=ctx.user, task_id=request.task_id, config_id=request.id
    )
    return {}


def require_extended_card() -> None:
    # A2A §3.3.4: without capabilities.extendedAgentCard the operation is unsupported.
    if not settings.WEBCAP_EXTENDED_AGENT_CARD:
        raise UnsupportedOperationError(
            "This agent has no extended agent card (capabilities.extendedAgentCard is false)"
        )


async def get_extended_agent_card(ctx: CallContext, request: wire.TenantRequest) -> dict[str, Any]:
    """GetExtendedAgentCard (A2A §3.1.11): the card for authenticated callers."""
    card = extended_agent_card(ctx.base_url)
    if card is None:
        raise ExtendedAgentCardNotConfiguredError()
    return card
