"""A2AClient: one remote agent, its chosen interface, its credentials, every A2A operation."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx

from a2a.client.card import (
    CARD_TIMEOUT,
    DEFAULT_PREFERENCE,
    HTTP_JSON,
    JSONRPC,
    MAX_CARD_BYTES,
    card_fetch,
    interface_select,
)
from a2a.client.errors import MalformedResponse, TransportError
from a2a.client.events import StreamEvent, one_of, wire_parse
from a2a.client.legacy import LEGACY_VERSION, JsonRpcV03Binding
from a2a.client.options import DEFAULT_OPTIONS, ClientOptions
from a2a.client.transport import Binding, JsonRpcBinding, RestBinding, StreamLimits
from a2a.protocol.types import (
    AgentCard,
    AgentInterface,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageConfiguration,
    SendMessageResponse,
    StreamResponse,
    Task,
    TaskPushNotificationConfig,
)
from a2a.protocol.versions import negotiate
from common.netguard import guarded_async_client

BINDINGS: dict[tuple[str, str], type[Binding]] = {
    (JSONRPC, "1.0"): JsonRpcBinding,
    (HTTP_JSON, "1.0"): RestBinding,
    (JSONRPC, LEGACY_VERSION): JsonRpcV03Binding,
}


class A2AClient:
    """An async client of one remote A2A agent, on one of its card's interfaces.

    Every request passes the SSRF guard (``allowed_hosts`` names the local hosts it may
    reach, e.g. ``["127.0.0.1:8000"]``; never fill it from user input). Use it as an async
    context manager, or call ``aclose()``.
    """

    def __init__(
        self,
        interface: AgentInterface,
        options: ClientOptions = DEFAULT_OPTIONS,
        *,
        card: AgentCard | None = None,
        _http: httpx.AsyncClient | None = None,
    ) -> None:
        self.interface = interface
        self.options = options
        self.card = card
        self._http = _http or guarded_async_client(
            allowed_hosts=options.allowed_hosts, verify=options.verify
        )
        version = negotiate(interface.protocol_version)
        binding_type = BINDINGS.get((interface.protocol_binding.upper(), version))
        if binding_type is None:
            raise ValueError(
                f"{interface.protocol_binding} {interface.protocol_version} is not spoken by "
                f"this client; it speaks {sorted(BINDINGS)}"
            )
        self._binding = binding_type(
            self._http,
            url=interface.url,
            version=version,
            tenant=interface.tenant,
            headers=options.call_headers,
            max_response_bytes=options.max_response_bytes,
        )

    @classmethod
    async def connect(
        cls,
        url: str,
        options: ClientOptions = DEFAULT_OPTIONS,
        *,
        preference: Sequence[tuple[str, str]] = DEFAULT_PREFERENCE,
    ) -> Self:
        """Fetch the card at url (a base URL or the card's own), choose an interface by
        preference, and return a client on it. The card is fetched without credentials."""
        http = guarded_async_client(allowed_hosts=options.allowed_hosts, verify=options.verify)
        try:
            fetched = await card_fetch(
                http,
                url,
                deadline=min(options.timeouts.request, CARD_TIMEOUT),
                max_bytes=MAX_CARD_BYTES,
            )
            assert fetched.card is not None  # no validators sent, so never a 304
            interface = interface_select(fetched.card, preference)
        except BaseException:
            await http.aclose()
            raise
        return cls(interface, options, card=fetched.card, _http=http)

    def __repr__(self) -> str:
        return (
            f"A2AClient({self.interface.url!r}, {self.interface.protocol_binding} "
            f"{self.interface.protocol_version})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _where(self, operation: str) -> str:
        return self._binding.where(operation)

    async def _call(self, operation: str, params: dict[str, Any], deadline: float | None) -> Any:
        return await self._binding.call(
            operation,
            params,
            deadline=deadline if deadline is not None else self.options.timeouts.request,
        )

    async def _stream(
        self,
        operation: str,
        params: dict[str, Any],
        *,
        last_event_id: str | None,
        idle_timeout: float | None,
        deadline: float | None,
    ) -> AsyncGenerator[StreamEvent]:
        where = self._where(operation)
        limits = StreamLimits(
            idle_timeout=idle_timeout
            if idle_timeout is not None
            else self.options.timeouts.stream_idle,
            deadline=deadline if deadline is not None else self.options.timeouts.stream_deadline,
            max_event_bytes=self.options.max_event_bytes,
        )
        final = False
        events = self._binding.stream(operation, params, limits=limits, last_event_id=last_event_id)
        try:
            async for event_id, data in events:
                response = wire_parse(StreamResponse, data, where=where)
                one_of(
                    response, ("task", "message", "status_update", "artifact_update"), where=where
                )
                event = StreamEvent(response=response, event_id=event_id)
                final = event.final
                yield event
        finally:
            await events.aclose()
        if not final:
            # A stream ends after a final state: before one, the connection was cut.
            raise TransportError(
                f"{where}: the stream ended before the task reached a final state; "
                "resume it with subscribe_to_task(task_id, last_event_id=...)"
            )

    # --- Operations (A2A §3.1) ----------------------------------------------------------------

    async def send_message(
        self,
        message: Message,
        *,
        configuration: SendMessageConfiguration | None = None,
        metadata: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> Task | Message:
        """SendMessage: the task (when it finished, was interrupted, or returnImmediately) or
        the agent's message-only reply."""
        params = _send_params(message, configuration, metadata)
        result = await self._call("SendMessage", params, deadline)
        where = self._where("SendMessage")
        answer = wire_parse(SendMessageResponse, result, where=where)
        one_of(answer, ("task", "message"), where=where)
        return answer.task if answer.task is not None else answer.message  # type: ignore[return-value]

    def send_streaming_message(
        self,
        message: Message,
        *,
        configuration: SendMessageConfiguration | None = None,
        metadata: dict[str, Any] | None = None,
        idle_timeout: float | None = None,
        deadline: float | None = None,
    ) -> AsyncGenerator[StreamEvent]:
        """SendStreamingMessage: the task first, then its updates until a final state (or one
        message). Raises TransportError if the stream is cut before; resume with
        ``subscribe_to_task``."""
        return self._stream(
            "SendStreamingMessage",
            _send_params(message, configuration, metadata),
            last_event_id=None,
            idle_timeout=idle_timeout,
            deadline=deadline,
        )

    async def get_task(
        self, task_id: str, *, history_length: int | None = None, deadline: float | None = None
    ) -> Task:
        """GetTask, with at most history_length messages of history (None: the remote's
        default)."""
        params: dict[str, Any] = {"id": task_id}
        if history_length is not None:
            params["historyLength"] = history_length
        result = await self._call("GetTask", params, deadline)
        task = wire_parse(Task, result, where=self._where("GetTask"))
        if history_length == 0 and task.history:
            # An A2A 0.3 agent reads 0 as "no limit"; 1.0's 0 means no history.
            task = task.model_copy(update={"history": None})
        return task

    async def list_tasks(
        self,
        *,
        context_id: str | None = None,
        status: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        history_length: int | None = None,
        status_timestamp_after: datetime | None = None,
        include_artifacts: bool | None = None,
        deadline: float | None = None,
    ) -> ListTasksResponse:
        """ListTasks: one page of the caller's tasks, newest status first."""
        request = ListTasksRequest(
            context_id=context_id,
            status=status,  # validated: a TASK_STATE_ name
            page_size=page_size,
            page_token=page_token,
            history_length=history_length,
            status_timestamp_after=status_timestamp_after,
            include_artifacts=include_artifacts,
        )
        params = request.dump()
        if status_timestamp_after is not None:
            params["statusTimestampAfter"] = status_timestamp_after.isoformat(
                timespec="milliseconds"
            ).replace("+00:00", "Z")
        result = await self._call("ListTasks", params, deadline)
        return wire_parse(ListTasksResponse, result, where=self._where("ListTasks"))

    async def cancel_task(
        self, task_id: str, *, metadata: dict[str, Any] | None = None, deadline: float | None = None
    ) -> Task:
        """CancelTask: the task in its state after the cancel (CANCELED)."""
        params: dict[str, Any] = {"id": task_id}
        if metadata is not None:
            params["metadata"] = metadata
        result = await self._call("CancelTask", params, deadline)
        return wire_parse(Task, result, where=self._where("CancelTask"))

    def subscribe_to_task(
        self,
        task_id: str,
        *,
        last_event_id: str | None = None,
        idle_timeout: float | None = None,
        deadline: float | None = None,
    ) -> AsyncGenerator[StreamEvent]:
        """SubscribeToTask: the current task, then its updates; with last_event_id (an
        ``event_id`` this remote sent), exactly the events after that one (SSE
        ``Last-Event-ID``)."""
        return self._stream(
            "SubscribeToTask",
            {"id": task_id},
            last_event_id=last_event_id,
            idle_timeout=idle_timeout,
            deadline=deadline,
        )

    async def create_push_config(
        self, config: TaskPushNotificationConfig, *, deadline: float | None = None
    ) -> TaskPushNotificationConfig:
        """CreateTaskPushNotificationConfig: register a webhook for config.task_id."""
        result = await self._call("CreateTaskPushNotificationConfig", config.dump(), deadline)
        return wire_parse(
            TaskPushNotificationConfig,
            result,
            where=self._where("CreateTaskPushNotificationConfig"),
        )

    async def get_push_config(
        self, task_id: str, config_id: str, *, deadline: float | None = None
    ) -> TaskPushNotificationConfig:
        """GetTaskPushNotificationConfig."""
        operation = "GetTaskPushNotificationConfig"
        result = await self._call(operation, {"taskId": task_id, "id": config_id}, deadline)
        return wire_parse(TaskPushNotificationConfig, result, where=self._where(operation))

    async def list_push_configs(
        self, task_id: str, *, deadline: float | None = None
    ) -> list[TaskPushNotificationConfig]:
        """ListTaskPushNotificationConfigs (the first page)."""
        operation = "ListTaskPushNotificationConfigs"
        result = await self._call(operation, {"taskId": task_id}, deadline)
        configs = result.get("configs", []) if isinstance(result, dict) else None
        if not isinstance(configs, list):
            raise MalformedResponse(f"{self._where(operation)}: no list of configs")
        return [
            wire_parse(TaskPushNotificationConfig, c, where=self._where(operation)) for c in configs
        ]

    async def delete_push_config(
        self, task_id: str, config_id: str, *, deadline: float | None = None
    ) -> None:
        """DeleteTaskPushNotificationConfig (idempotent)."""
        await self._call(
            "DeleteTaskPushNotificationConfig", {"taskId": task_id, "id": config_id}, deadline
        )

    async def get_extended_card(self, *, deadline: float | None = None) -> AgentCard:
        """GetExtendedAgentCard: the card as this caller sees it."""
        result = await self._call("GetExtendedAgentCard", {}, deadline)
        return wire_parse(AgentCard, result, where=self._where("GetExtendedAgentCard"))


def _send_params(
    message: Message,
    configuration: SendMessageConfiguration | None,
    metadata: dict[str, Any] | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"message": message.dump()}
    if configuration is not None:
        params["configuration"] = configuration.dump()
    if metadata is not None:
        params["metadata"] = metadata
    return params
