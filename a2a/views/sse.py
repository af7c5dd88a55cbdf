"""Server-Sent Events for task streams, shared by the JSON-RPC and HTTP+JSON bindings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from django.http import StreamingHttpResponse

from a2a.metrics import stream_open
from a2a.protocol.dispatcher import stream_events
from a2a.protocol.errors import A2AError
from a2a.protocol.jsonrpc import dumps
from a2a.streams import ResultStream

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _frames(
    stream: ResultStream,
    render: Callable[[dict[str, Any]], dict[str, Any]],
    render_error: Callable[[A2AError], bytes],
    log_context: dict[str, Any],
) -> AsyncIterator[bytes]:
    # The stream is sent after the middleware returned (and cleared the request's log
    # context): its records keep the request's ids, in this response's own asyncio task.
    structlog.contextvars.bind_contextvars(**log_context)
    if stream.task_id:
        structlog.contextvars.bind_contextvars(task_id=str(stream.task_id))
    with stream_open("sse") as end:
        try:
            async for item in stream_events(stream):
                if item is None:
                    yield b": keepalive\n\n"
                    continue
                # The id is the task's event sequence number: a reconnecting client sends it
                # back as Last-Event-ID and gets exactly the events after it.
                event_id = b"id: %d\n" % item.seq if item.seq is not None else b""
                yield b"%sdata: %s\n\n" % (event_id, dumps(render(item.payload)))
            end.reason = "complete"
        except (asyncio.CancelledError, GeneratorExit):
            # The server cancels the response when the client disconnects.
            end.reason = "client"
            raise
        except A2AError as error:
            yield render_error(error)


def sse_response(
    stream: ResultStream,
    *,
    render: Callable[[dict[str, Any]], dict[str, Any]],
    render_error: Callable[[A2AError], bytes],
) -> StreamingHttpResponse:
    """Return the streaming response; render turns a StreamResponse into the frame's data."""
    log_context = structlog.contextvars.get_contextvars()
    return StreamingHttpResponse(
        _frames(stream, render, render_error, log_context),
        content_type="text/event-stream",
        headers=SSE_HEADERS,
    )
