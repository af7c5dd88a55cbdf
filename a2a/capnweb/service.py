"""The A2A service over Cap'n Web: ``A2AService`` and the capability ``authenticate`` returns.

Authentication is in-band, as Cap'n Web recommends: the main object answers only
``getAgentCard()`` and ``authenticate(credentials)``; the ``AuthenticatedA2A`` it returns is
the caller's authority (holding it is the authorization, and it names one user). Every A2A
operation goes through the dispatcher like the other bindings (scopes, roles, rate limits,
validation, metrics) and the handlers behind it; tool approvals go through the services the
REST API uses. Tasks of other users look missing (-32001), exactly as everywhere else.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings

from a2a.capnweb.errors import json_params
from a2a.capnweb.streaming import Callback, Connection, StreamingTask
from a2a.card import agent_card
from a2a.protocol.context import CallContext
from a2a.protocol.dispatcher import a2a_errors, dispatch
from a2a.protocol.errors import (
    InvalidParamsError,
    PermissionDeniedError,
    TaskNotFoundError,
    UnauthenticatedError,
    UnsupportedOperationError,
)
from a2a.protocol.versions import CURRENT_VERSION
from a2a.selectors import task_get_for_user
from a2a.services.ratelimits import enforce_a2a_call
from a2a.streams import MessageStream, ResultStream, TaskEventStream
from accounts.auth import (
    AuthenticationFailed,
    Identity,
    identify,
    identity_for_api_key,
    identity_for_credential,
)
from accounts.models import Scope
from capnweb import RpcTarget
from tools.models import ToolCall
from tools.registry import tools_available
from tools.services import (
    DecisionForbidden,
    DecisionRefused,
    ToolCallNotFound,
    tool_call_decide,
    tool_calls_pending,
)

logger = logging.getLogger(__name__)

BINDING = "capnweb"
INVALID_CREDENTIALS = "Invalid credentials"
CREDENTIALS_SHAPE = (
    "must be {type: 'bearer', token}, {type: 'apiKey', apiKey} or {type: 'anonymous'}"
)
# A credential longer than this is no credential webcap issued (JWTs are well under 2 KiB).
MAX_CREDENTIAL_LENGTH = 8192
MAX_REASON_LENGTH = 2000


def _credential(credentials: Any) -> tuple[str, str]:
    """Return (type, secret) of the credentials object, or raise -32602 naming the field."""
    if not isinstance(credentials, dict):
        raise InvalidParamsError.for_fields([("credentials", CREDENTIALS_SHAPE)])
    kind = credentials.get("type")
    if kind == "anonymous":
        return kind, ""
    field = {"bearer": "token", "apiKey": "apiKey"}.get(kind) if isinstance(kind, str) else None
    if field is None or not isinstance(kind, str):
        raise InvalidParamsError.for_fields([("credentials.type", CREDENTIALS_SHAPE)])
    secret = credentials.get(field)
    if not isinstance(secret, str) or not secret.strip() or len(secret) > MAX_CREDENTIAL_LENGTH:
        raise InvalidParamsError.for_fields(
            [(f"credentials.{field}", "must be a non-empty string")]
        )
    return kind, secret.strip()


def _identify(kind: str, secret: str) -> Identity:
    if kind == "anonymous":
        # What an HTTP call without credentials acts as: WEBCAP_PUBLIC_AGENT_USER, if set.
        public = identify(authorization=None, api_key=None)
        if public is None:
            raise AuthenticationFailed("Anonymous access is off on this server.")
        return public
    if kind == "apiKey":
        return identity_for_api_key(secret)
    return identity_for_credential(secret)


class A2AService(RpcTarget):
    """The main object of a Cap'n Web session: the agent card, and the way in."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def getAgentCard(self) -> dict[str, Any]:
        """The public agent card (as /.well-known/agent-card.json serves it)."""
        return agent_card(self._connection.base_url)

    async def authenticate(self, credentials: Any) -> AuthenticatedA2A:
        """Return the caller's capability for {type: "bearer", token}, {type: "apiKey", apiKey}
        or {type: "anonymous"}.

        The token is an access token (JWT) or an API key. "anonymous" acts as the public agent
        user (WEBCAP_PUBLIC_AGENT_USER), like an HTTP call without credentials, and is refused
        when that is unset. Wrong credentials reject with -32000 "Invalid credentials"
        (refusals are logged and audited without the secret).
        """
        kind, secret = _credential(credentials)
        with a2a_errors("Cap'n Web method %s", "authenticate"):
            try:
                identity = await sync_to_async(_identify)(kind, secret)
            except AuthenticationFailed as exc:
                detail = exc.message.rstrip(".")
                message = INVALID_CREDENTIALS
                if detail != INVALID_CREDENTIALS:
                    message += f": {detail}"
                raise UnauthenticatedError(message) from exc
        ctx = CallContext(
            user=identity.user,
            identity=identity,
            binding=BINDING,
            version=CURRENT_VERSION,
            base_url=self._connection.base_url,
        )
        logger.info("Cap'n Web session authenticated user %s (%s)", identity.user.pk, kind)
        return AuthenticatedA2A(self._connection, ctx)


class AuthenticatedA2A(RpcTarget):
    """The A2A operations for one authenticated caller."""

    def __init__(self, connection: Connection, ctx: CallContext) -> None:
        self._connection = connection
        self._ctx = ctx

    async def _dispatch(self, method: str, fields: dict[str, Any]) -> Any:
        structlog.contextvars.bind_contextvars(user_id=str(self._ctx.user.pk), rpc_method=method)
        params = {
            name: json_params(value, name) for name, value in fields.items() if value is not None
        }
        return await dispatch(self._ctx, method, params)

    @asynccontextmanager
    async def _operation(self, scope: str, method: str) -> AsyncIterator[None]:
        """Run an operation that is no A2A method as the dispatcher runs one.

        The same checks first (rate limits, the API key's scope), and the same translation
        of whatever fails in the block into an A2A error.
        """
        structlog.contextvars.bind_contextvars(user_id=str(self._ctx.user.pk), rpc_method=method)
        with a2a_errors("Cap'n Web method %s", method):
            await enforce_a2a_call(self._ctx)
            identity = self._ctx.identity
            if identity is not None and not identity.allows(scope):
                raise PermissionDeniedError(
                    f"This API key lacks the {scope} scope needed for {method}",
                    metadata={"scope": str(scope)},
                )
            yield

    async def _open_stream(self, method: str, fields: dict[str, Any], callback: Any) -> Any:
        """Open a stream for a StreamingTask; the callback is let go if none opens."""
        self._connection.admit_stream()
        subscriber = Callback(callback) if callback is not None else None
        try:
            result = await self._dispatch(method, fields)
        except BaseException:
            if subscriber is not None:
                subscriber.release()
            raise
        return self._streaming(result, subscriber)

    async def getAgentCard(self) -> Any:
        """The extended agent card when one is configured (A2A §3.1.11), else the public one."""
        if settings.WEBCAP_EXTENDED_AGENT_CARD:
            return await self._dispatch("GetExtendedAgentCard", {})
        return agent_card(self._ctx.base_url)

    async def sendMessage(self, message: Any, config: Any = None) -> Any:
        """SendMessage: blocks until the task settles unless config.returnImmediately."""
        return await self._dispatch("SendMessage", {"message": message, "configuration": config})

    async def sendMessageStreaming(
        self, message: Any, config: Any = None, callback: Any = None
    ) -> Any:
        """SendStreamingMessage: a StreamingTask whose callbacks get the task's events.

        An agent that answers with a message instead of a task returns ``{message}``.
        """
        return await self._open_stream(
            "SendStreamingMessage", {"message": message, "configuration": config}, callback
        )

    async def subscribeToTask(
        self, taskId: Any, callback: Any = None, lastEventSeq: Any = None
    ) -> Any:
        """SubscribeToTask: live events from now, or replayed after lastEventSeq from the log."""
        return await self._open_stream(
            "SubscribeToTask", {"id": taskId, "lastEventSeq": lastEventSeq}, callback
        )

    def _streaming(self, result: ResultStream, subscriber: Callback | None) -> Any:
        if isinstance(result, MessageStream):
            if subscriber is not None:
                subscriber.release()
            return {"message": result.message}
        assert isinstance(result, TaskEventStream)
        streaming = StreamingTask(connection=self._connection, ctx=self._ctx, stream=result)
        streaming._start(subscriber)
        return streaming

    async def getTask(self, taskId: Any, historyLength: Any = None) -> Any:
        """GetTask."""
        return await self._dispatch("GetTask", {"id": taskId, "historyLength": historyLength})

    async def listTasks(self, params: Any = None) -> Any:
        """ListTasks: {contextId, status, pageSize, pageToken, historyLength, ...}."""
        if params is not None and not isinstance(params, dict):
            raise InvalidParamsError.for_fields([("params", "must be an object")])
        return await self._dispatch("ListTasks", params or {})

    async def cancelTask(self, taskId: Any) -> Any:
        """CancelTask: the task in TASK_STATE_CANCELED."""
        return await self._dispatch("CancelTask", {"id": taskId})

    async def listTools(self) -> list[dict[str, Any]]:
        """The tools the assistant may use for this caller, with their argument schemas."""
        async with self._operation(Scope.TASKS_READ, "listTools"):
            tools = await sync_to_async(tools_available)(user=self._ctx.user)
        return [
            {
                "name": tool.name,
                "version": tool.version,
                "description": tool.description,
                "parameters": tool.spec()["function"]["parameters"],
                "requiresApproval": tool.needs_approval(),
            }
            for tool in tools
        ]

    async def getPendingApprovals(self, taskId: Any) -> list[dict[str, Any]]:
        """The task's tool calls that wait for a decision, oldest first."""
        async with self._operation(Scope.TASKS_READ, "getPendingApprovals"):
            calls = await sync_to_async(_pending)(user=self._ctx.user, task_id=str(taskId))
        return [
            {
                "toolCallId": str(call.id),
                "tool": call.tool,
                "arguments": call.arguments,
                "reason": call.approval_reason,
            }
            for call in calls
        ]

    async def approveToolCall(self, decision: Any) -> dict[str, Any]:
        """Approve or reject a call: {callId, approved, reason?}; the task resumes when none waits.

        Needs the right to decide (the owner, an approver it is shared with, an admin) and,
        for an API key, the tools:approve scope. Deciding the same way again is a no-op.
        """
        async with self._operation(Scope.TOOLS_APPROVE, "approveToolCall"):
            call_id, approved, reason = _decision(decision)
            try:
                call = await sync_to_async(tool_call_decide)(
                    user=self._ctx.user, tool_call_id=call_id, approved=approved, reason=reason
                )
            except ToolCallNotFound as exc:
                # As for tasks: a call of a task the caller may not read looks missing.
                raise TaskNotFoundError(exc.message, metadata={"toolCallId": call_id[:64]}) from exc
            except DecisionForbidden as exc:
                raise PermissionDeniedError(exc.message) from exc
            except DecisionRefused as exc:
                raise UnsupportedOperationError(exc.message) from exc
        return {
            "toolCallId": str(call.id),
            "taskId": str(call.task_id),
            "tool": call.tool,
            "status": call.status,
            "decision": call.decision,
            "reason": call.decision_reason,
        }


def _pending(*, user: Any, task_id: str) -> list[ToolCall]:
    task = task_get_for_user(user=user, task_id=task_id)
    return tool_calls_pending(task=task)


def _decision(decision: Any) -> tuple[str, bool, str]:
    if not isinstance(decision, dict):
        raise InvalidParamsError.for_fields([("decision", "must be {callId, approved, reason?}")])
    call_id, approved, reason = (
        decision.get("callId"),
        decision.get("approved"),
        decision.get("reason"),
    )
    problems = []
    if not isinstance(call_id, str) or not call_id:
        problems.append(("callId", "must be the id of a tool call (a string)"))
    if not isinstance(approved, bool):
        problems.append(("approved", "must be true or false"))
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH):
        problems.append(("reason", f"must be a string of at most {MAX_REASON_LENGTH} characters"))
    if problems:
        raise InvalidParamsError.for_fields(problems)
    assert isinstance(call_id, str)
    assert isinstance(approved, bool)
    return call_id, approved, reason or ""
