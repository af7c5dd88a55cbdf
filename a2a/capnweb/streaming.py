"""Live task updates over Cap'n Web: the StreamingTask a client holds, the callbacks it passes.

A StreamingTask reads the same ``TaskEventStream`` as SSE and the WebSocket binding (the
event log, then live events), so order, replay and the end of a stream are identical. The
Task itself is not a callback: the client has it from ``getTask()`` (and ``taskId``) the
moment the call that opened the stream resolved; every event after it reaches each
subscriber in sequence order as ``onStatusUpdate(event, seq)`` or
``onArtifactUpdate(event, seq)``, and the stream's last event is the terminal (or, for
``sendMessageStreaming``, interrupted) status update. The server keeps each callback stub
until then, until ``unsubscribe(callback)``, until the client disposes the StreamingTask,
or until the connection ends, and then releases it itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from django.conf import settings

from a2a.protocol.context import CallContext
from a2a.protocol.dispatcher import dispatch, stream_events
from a2a.protocol.errors import (
    A2AError,
    InvalidParamsError,
    InvalidRequestError,
    UnsupportedOperationError,
)
from a2a.protocol.states import TERMINAL_STATES
from a2a.streams import TaskEventStream
from capnweb import RemoteStub, RpcTarget

logger = logging.getLogger(__name__)

# StreamResponse member -> the callback method that receives it.
CALLBACK_METHODS: Final = {"statusUpdate": "onStatusUpdate", "artifactUpdate": "onArtifactUpdate"}
NOT_A_CALLBACK = (
    "must be an RpcTarget (or an object of functions) with onStatusUpdate and onArtifactUpdate"
)


class Connection:
    """What the capabilities of one Cap'n Web session share: where it is served, its streams."""

    def __init__(self, *, base_url: str, batch: bool = False) -> None:
        self.base_url = base_url
        # The HTTP batch form: the session ends with the response, so nothing can call back.
        self.batch = batch
        self.streams: set[StreamingTask] = set()

    def admit_stream(self) -> None:
        """Refuse a new stream on an HTTP batch, or past WEBCAP_WS_MAX_CONCURRENT."""
        if self.batch:
            raise UnsupportedOperationError(
                "Streams and callbacks need the WebSocket endpoint /ws/capnweb: an HTTP batch "
                "session ends with its response"
            )
        limit = settings.WEBCAP_WS_MAX_CONCURRENT
        if len(self.streams) >= limit:
            raise InvalidRequestError(f"Too many streams open on this connection (limit {limit})")

    async def close(self) -> None:
        """Stop every stream (the tasks go on) and wait until they let go of their groups."""
        streams = list(self.streams)
        for stream in streams:
            stream._stop()
        await asyncio.gather(*(stream._wait() for stream in streams), return_exceptions=True)


class Callback:
    """One subscriber: the client's object (or object of functions), kept until released."""

    def __init__(self, value: Any) -> None:
        self._target: RemoteStub | None = None
        self._functions: dict[str, RemoteStub] = {}
        if isinstance(value, RemoteStub):
            self._target = value.dup()  # argument stubs die with the call
        elif isinstance(value, dict):
            functions = {
                name: stub
                for name, stub in value.items()
                if name in CALLBACK_METHODS.values() and isinstance(stub, RemoteStub)
            }
            if not functions:
                raise InvalidParamsError.for_fields([("callback", NOT_A_CALLBACK)])
            self._functions = {name: stub.dup() for name, stub in functions.items()}
        else:
            raise InvalidParamsError.for_fields([("callback", NOT_A_CALLBACK)])
        self.ids = ids_of(value)

    async def deliver(self, method: str, event: dict[str, Any], seq: int | None) -> None:
        """Call the client's `method` with the event and its sequence number; wait for it."""
        if self._target is not None:
            await self._target.call(method, [event, seq])
        elif method in self._functions:
            await self._functions[method].invoke([event, seq])

    def release(self) -> None:
        """Let go of the client's object (the client sees its stub disposed)."""
        if self._target is not None:
            self._target.release()
        for stub in self._functions.values():
            stub.release()


def ids_of(value: Any) -> frozenset[int]:
    """Return the import ids a callback value holds (the same object passed again matches)."""
    if isinstance(value, RemoteStub):
        return frozenset({value.import_id})
    if isinstance(value, dict):
        return frozenset(v.import_id for v in value.values() if isinstance(v, RemoteStub))
    return frozenset()


class StreamingTask(RpcTarget):
    """A task's live updates for one client: subscribe callbacks, read the task, ask if done."""

    def __init__(
        self, *, connection: Connection, ctx: CallContext, stream: TaskEventStream
    ) -> None:
        self._connection = connection
        self._ctx = ctx
        self._stream = stream
        self._subscribers: list[Callback] = []
        self._state = stream.snapshot_state or ""
        self._ended = False
        self._pump: asyncio.Task[None] | None = None

    def _start(self, subscriber: Callback | None) -> None:
        if subscriber is not None:
            self._subscribers.append(subscriber)
        self._connection.streams.add(self)
        self._pump = asyncio.get_running_loop().create_task(self._run())

    @property
    def taskId(self) -> str:
        """The id of the task."""
        return self._stream.task_id

    def subscribe(self, callback: Any) -> bool:
        """Add a callback for the events from now on; False when the stream has ended."""
        if self._ended:
            return False
        self._subscribers.append(Callback(callback))
        return True

    def unsubscribe(self, callback: Any) -> bool:
        """Remove a callback (the same object passed to subscribe); False when unknown."""
        ids = ids_of(callback)
        for subscriber in self._subscribers:
            if ids and subscriber.ids == ids:
                self._drop(subscriber)
                return True
        return False

    async def getTask(self, historyLength: int | None = None) -> Any:
        """The task as it is now (GetTask)."""
        return await dispatch(
            self._ctx, "GetTask", {"id": self._stream.task_id, "historyLength": historyLength}
        )

    def isFinalState(self) -> bool:
        """Whether the stream has seen the task reach a terminal state."""
        return self._state in TERMINAL_STATES

    def _rpc_dispose(self) -> None:
        # The client let go of the StreamingTask, or the session ended.
        self._stop()

    def _stop(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()

    async def _wait(self) -> None:
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)

    def _drop(self, subscriber: Callback) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)
            subscriber.release()

    async def _run(self) -> None:
        try:
            async for item in stream_events(self._stream):
                if item is None:
                    continue  # a keep-alive tick; WebSocket pings are daphne's
                self._state = item.state or self._state
                for member, method in CALLBACK_METHODS.items():
                    if member in item.payload:
                        await self._deliver(method, item.payload[member], item.seq)
        except A2AError as error:
            # Callbacks have no error to receive; what went wrong is logged where it happened.
            logger.warning(
                "Cap'n Web stream of task %s stopped: %s", self._stream.task_id, error.message
            )
        finally:
            self._ended = True
            await self._stream.close()  # leave the group even if events() never started
            for subscriber in self._subscribers:
                subscriber.release()
            self._subscribers.clear()
            self._connection.streams.discard(self)

    async def _deliver(self, method: str, event: dict[str, Any], seq: int | None) -> None:
        # One event reaches every subscriber before the next is sent: order per subscriber.
        subscribers = list(self._subscribers)
        results = await asyncio.gather(
            *(subscriber.deliver(method, event, seq) for subscriber in subscribers),
            return_exceptions=True,
        )
        for subscriber, result in zip(subscribers, results, strict=True):
            if isinstance(result, Exception):
                # A callback that throws (or a client that went away) gets no more events.
                logger.info("Dropping a callback of task %s: %s", self._stream.task_id, result)
                self._drop(subscriber)
