"""The method table: A2A operation name -> request type and handler, for every binding.

What leaves the dispatcher is a result or an ``A2AError``, never anything else: a lost
database becomes the 503 ServiceUnavailableError and any other exception an InternalError
whose traceback is logged here, once (``a2a_errors``). Streams are read through
``stream_events``, which does the same while they are sent, so a binding catches
``A2AError`` alone and renders it in its own format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async

from a2a.metrics import a2a_request_record
from a2a.protocol import handlers, v03
from a2a.protocol import types as wire
from a2a.protocol.context import CallContext
from a2a.protocol.errors import (
    A2AError,
    InternalError,
    MethodNotFoundError,
    PermissionDeniedError,
    VersionNotSupportedError,
)
from a2a.protocol.validation import parse_params
from a2a.protocol.versions import require_supported
from a2a.services.ratelimits import enforce_a2a_call
from a2a.streams import ResultStream, StreamItem
from accounts.models import Scope
from accounts.roles import may_send
from common.database import DATABASE_ERRORS, database_unavailable

logger = logging.getLogger(__name__)

Result = dict[str, Any] | ResultStream

# CallContext.binding -> the name a log line gives the binding.
BINDING_NAMES = {
    "jsonrpc": "JSON-RPC",
    "rest": "HTTP+JSON",
    "websocket": "WebSocket",
    "capnweb": "Cap'n Web",
}


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


# 1.0 operation -> its 0.3 method name, for the version error that names the one to call.
LEGACY_NAMES = {legacy.operation: name for name, legacy in v03.METHODS.items()}


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


@contextmanager
def a2a_errors(failing: str, *args: object) -> Iterator[None]:
    """Let only A2AError out of the block: the one translation of failures for every binding.

    A lost database is the 503 error a client may retry (``database_unavailable`` logs it on
    one line); any other exception is a bug, logged with its traceback as "<failing> failed"
    and answered with InternalError (-32603), which tells the client nothing of it.
    """
    try:
        yield
    except A2AError:
        raise
    except DATABASE_ERRORS as exc:
        raise database_unavailable(exc) from exc
    except Exception as exc:
        logger.exception("%s failed", failing % args)
        raise InternalError() from exc


async def stream_events(stream: ResultStream) -> AsyncIterator[StreamItem | None]:
    """Yield the stream's items; a failure while it is read comes out as an A2AError."""
    with a2a_errors("Stream of task %s", stream.task_id):
        async for item in stream.events():
            yield item


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
        with a2a_errors("%s method %s", BINDING_NAMES.get(ctx.binding, ctx.binding), method):
            result = await _dispatch(ctx, method, params)
    except A2AError as error:
        # A client that went away (CancelledError) gets no answer, so is not counted.
        a2a_request_record(
            method=method_label(method),
            binding=ctx.binding,
            error=error,
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
    # Only JSON-RPC and WebSocket frames carry method names, 0.3's among them.
    legacy_method = LEGACY_NAMES.get(method) if ctx.binding in ("jsonrpc", "websocket") else None
    require_supported(
        ctx.version,
        operation=method if method in OPERATIONS else None,
        legacy_method=legacy_method,
    )
    operation = OPERATIONS.get(method)
    if operation is None:
        raise MethodNotFoundError(
            f"Method {method[:64]!r} not found", metadata={"method": method[:64]}
        )
    return await _run(ctx, operation, params)
