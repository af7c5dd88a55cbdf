"""The method table: A2A operation name -> request type and handler, for every binding."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from a2a.protocol import handlers
from a2a.protocol import types as wire
from a2a.protocol.context import CallContext
from a2a.protocol.errors import MethodNotFoundError
from a2a.protocol.validation import parse_params
from a2a.protocol.versions import require_supported
from a2a.streams import TaskEventStream

Result = dict[str, Any] | TaskEventStream


@dataclass(frozen=True)
class Operation:
    """One A2A operation: its JSON-RPC method name, request type and handler."""

    method: str
    request: type[wire.WireModel]
    handler: Callable[[CallContext, Any], Awaitable[Any]]
    streaming: bool = False


OPERATIONS: dict[str, Operation] = {
    op.method: op
    for op in (
        Operation("SendMessage", wire.SendMessageRequest, handlers.send_message),
        Operation(
            "SendStreamingMessage",
            wire.SendMessageRequest,
            handlers.send_streaming_message,
            streaming=True,
        ),
        Operation("GetTask", wire.GetTaskRequest, handlers.get_task),
        Operation("ListTasks", wire.ListTasksRequest, handlers.list_tasks),
        Operation("CancelTask", wire.CancelTaskRequest, handlers.cancel_task),
        Operation(
            "SubscribeToTask",
            wire.SubscribeToTaskRequest,
            handlers.subscribe_to_task,
            streaming=True,
        ),
        Operation(
            "CreateTaskPushNotificationConfig",
            wire.TenantRequest,
            handlers.push_config_unsupported,
        ),
        Operation(
            "GetTaskPushNotificationConfig", wire.TenantRequest, handlers.push_config_unsupported
        ),
        Operation(
            "ListTaskPushNotificationConfigs",
            wire.TenantRequest,
            handlers.push_config_unsupported,
        ),
        Operation(
            "DeleteTaskPushNotificationConfig",
            wire.TenantRequest,
            handlers.push_config_unsupported,
        ),
        Operation("GetExtendedAgentCard", wire.TenantRequest, handlers.get_extended_agent_card),
    )
}


async def dispatch(ctx: CallContext, method: str, params: Any) -> Result:
    """Check the version, find the operation, validate params and run the handler."""
    require_supported(ctx.version)
    operation = OPERATIONS.get(method)
    if operation is None:
        raise MethodNotFoundError(
            f"Method {method[:64]!r} not found", metadata={"method": method[:64]}
        )
    request = parse_params(operation.request, params)
    result: Result = await operation.handler(ctx, request)
    return result
