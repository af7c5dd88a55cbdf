"""The method table: A2A operation name -> request type and handler, for every binding."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async

from a2a.metrics import a2a_request_record
from a2a.protocol import handlers, v03
from a2a.protocol import types as wire
from a2a.protocol.context import CallContext
from a2a.protocol.errors import (
    MethodNotFoundError,
    PermissionDeniedError,
    VersionNotSupportedError,
)
from a2a.protocol.validation import parse_params
from a2a.protocol.versions import require_supported
from a2a.services.ratelimits import enforce_a2a_call
from a2a.streams import ResultStream
from accounts.models import Scope
from accounts.roles import may_send

Result = dict[str, Any] | ResultStream


@dataclass(frozen=True)
class Operation:
    """One A2A operation: its JSON-RPC method name, request type and handler."""

    method: str
    request: type[wire.WireModel]
    handler: Callable[[CallContext, Any], Awaitable[Any]]
    streaming: bool = False
    # Raises when the capability the operation needs is not declared (A2A §3.3.4); runs
    # before the params are looked at, so the refusal does not depend on them.
    gate: Callable[[], None] | None = None
    # Changes something (a task, a push config): needs the tasks:write scope and a role
    # that may send; everything else needs tasks:read.
    writes: bool = False


OPERATIONS: dict[str, Operation] = {
    op.method: op
    for op in (
        Operation("SendMessage", wire.SendMessageRequest, handlers.send_message, writes=True),
        Operation(
            "SendStreamingMessage",
            wire.SendMessageRequest,
            handlers.send_streaming_message,
            streaming=True,
            writes=True,
        ),
        Operation("GetTask", wire.GetTaskRequest, handlers.get_task),
        Operation("ListTasks", wire.ListTasksRequest, handlers.list_tasks),
        Operation("CancelTask", wire.CancelTaskRequest, handlers.cancel_task, writes=True),
        Operation(
            "SubscribeToTask",
            wire.SubscribeToTaskRequest,
            handlers.subscribe_to_task,
            streaming=True,
        ),
        Operation(
            "CreateTaskPushNotificationConfig",
            wire.TaskPushNotificationConfig,
            handlers.create_push_config,
            gate=handlers.require_push,
            writes=True,
        ),
        Operation(
            "GetTaskPushNotificationConfig",
            wire.GetTaskPushNotificationConfigRequest,
            handlers.get_push_config,
            gate=handlers.require_push,
        ),
        Operation(
            "ListTaskPushNotificationConfigs",
            wire.ListTaskPushNotificationConfigsRequest,
            handlers.list_push_configs,
            gate=handlers.require_push,
        ),
        Operation(
            "DeleteTaskPushNotificationConfig",
            wire.DeleteTaskPushNotificationConfigRequest,
            handlers.delete_push_config,
            gate=handlers.require_push,
            writes=True,
        ),
        Operation(
            "GetExtendedAgentCard",
            wire.TenantRequest,
            handlers.get_extended_agent_card,
            gate=handlers.require_extended_card,
        ),
    )
}


async def authorize(ctx: CallContext, operation: Operation) -> None:
    """Refuse an operation the caller's API key scopes or roles do not allow (403).

    Whether the caller may touch a particular task is decided later, by the selectors.
    """
    scope = Scope.TASKS_WRITE if operation.writes else Scope.TASKS_READ
    if ctx.identity is not None and not ctx.identity.allows(scope):
        raise PermissionDeniedError(
            f"This API key lacks the {scope} scope needed for {operation.method}",
            metadata={"scope": str(scope)},
        )
    if operation.writes and not await sync_to_async(may_send)(ctx.user):
        raise PermissionDeniedError(
            f"The viewer role is read-only: {operation.method} is not allowed"
        )


async def _run(ctx: CallContext, operation: Operation, params: Any) -> Result:
    await authorize(ctx, operation)
    if operation.gate is not None:
        operation.gate()
    request = parse_params(operation.request, params)
    result: Result = await operation.handler(ctx, request)
    return result


def method_label(method: str) -> str:
    """Return the operation name for metrics: 0.3 names as their 1.0 operation, else "unknown"."""
    if method in OPERATIONS:
        return method
    legacy = v03.METHODS.get(method)
    return legacy.operation if legacy is not None else "unknown"


async def dispatch(ctx: CallContext, method: str, params: Any) -> Result:
    """Check the version, find the operation, validate params and run the handler.

    A 0.3 method name from a client speaking 0.3 runs the same operation through the 0.3
    translation (``v03.py``). Every call is counted here, once for every binding, with its
    result code and its time to the answer (for a stream: until it is open).
    """
    started = time.monotonic()
    try:
        result = await _dispatch(ctx, method, params)
    except asyncio.CancelledError:
        raise  # the client went away: no answer to count
    except Exception as exc:
        a2a_request_record(
            method=method_label(method),
            binding=ctx.binding,
            error=exc,
            seconds=time.monotonic() - started,
        )
        raise
    a2a_request_record(
        method=method_label(method),
        binding=ctx.binding,
        error=None,
        seconds=time.monotonic() - started,
    )
    return result


async def _dispatch(ctx: CallContext, method: str, params: Any) -> Result:
    # Every call counts, on every binding, before any work is done for it (issue 5 §4).
    await enforce_a2a_call(ctx)
    legacy = v03.METHODS.get(method)
    if legacy is not None:
        if ctx.version != v03.LEGACY_VERSION:
            raise VersionNotSupportedError(
                f"{method} is an A2A 0.3 method: send it without an A2A-Version header (or "
                f"with 0.3), or call the 1.0 method {legacy.operation}",
                metadata={"requestedVersion": ctx.version},
            )
        result = await _run(ctx, OPERATIONS[legacy.operation], legacy.params_in(params))
        if isinstance(result, ResultStream):
            return v03.V03Stream(result)
        return legacy.result_out(result) if legacy.result_out is not None else result
    require_supported(ctx.version)
    operation = OPERATIONS.get(method)
    if operation is None:
        raise MethodNotFoundError(
            f"Method {method[:64]!r} not found", metadata={"method": method[:64]}
        )
    return await _run(ctx, operation, params)
