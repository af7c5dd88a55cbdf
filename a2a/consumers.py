"""The A2A WebSocket binding at /ws/a2a: JSON-RPC 2.0 text frames, the same handlers.

Each request runs as its own asyncio task, so one socket carries several requests and
streams at once. A unary request gets one response. A streaming request gets one
notification per event::

    {"jsonrpc": "2.0", "method": "StreamResponse",
     "params": {"requestId": <id>, "seq": <n>, "result": <StreamResponse>}}

and, when its stream ends, the response ``{"jsonrpc": "2.0", "id": <id>, "result":
{"done": true, "lastSeq": <n>}}``; an error response ends it instead. Closing the socket
cancels its streams, never the tasks behind them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

import structlog
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from a2a.bindings import public_base_url
from a2a.metrics import stream_closed, stream_opened
from a2a.protocol import jsonrpc, v03
from a2a.protocol.context import CallContext
from a2a.protocol.dispatcher import dispatch, stream_events
from a2a.protocol.errors import (
    A2AError,
    InvalidRequestError,
    PayloadTooLargeError,
)
from a2a.protocol.versions import HEADER, SEND_CURRENT, negotiate
from a2a.streams import ResultStream
from common.websockets import scope_headers, subprotocol_chosen

logger = logging.getLogger(__name__)

STREAM_NOTIFICATION = "StreamResponse"
# Close codes in the private range. 4401 is sent before the handshake is accepted (HTTP
# 403); 4400 after it, so that its reason (what to send instead) reaches the client.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_VERSION = 4400
# A close reason holds at most 123 bytes: the client's value is not repeated in it.
BAD_VERSION_REASON = f"{HEADER} must be Major.Minor: {SEND_CURRENT}"


class A2AConsumer(AsyncWebsocketConsumer):
    """One client socket; requests on it are served concurrently."""

    counted = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            # The server cancels its applications only when it shuts down.
            self._connection_end("server")
            raise
        except Exception:
            self._connection_end("error")
            raise

    def _connection_end(self, reason: str) -> None:
        if self.counted:
            self.counted = False
            stream_closed("websocket", reason)

    async def connect(self) -> None:
        self.inflight: set[asyncio.Task[None]] = set()
        user = self.scope.get("user")
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # For every record of the connection (the request id is bound by the auth middleware;
        # a ticket's user is not bound by accounts/auth.py).
        structlog.contextvars.bind_contextvars(user_id=str(user.pk))
        headers = scope_headers(self.scope)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            version = negotiate(headers.get(HEADER.lower()), (query.get(HEADER) or [None])[0])
        except A2AError:
            await self.accept(subprotocol=subprotocol_chosen(self.scope))
            await self.close(code=CLOSE_BAD_VERSION, reason=BAD_VERSION_REASON)
            return
        scheme = "https" if self.scope.get("scheme") == "wss" else "http"
        self.ctx = CallContext(
            user=user,
            binding="websocket",
            version=version,
            base_url=public_base_url(scheme, headers.get("host", "localhost")),
            identity=self.scope.get("identity"),
        )
        await self.accept(subprotocol=subprotocol_chosen(self.scope))
        self.counted = True
        stream_opened("websocket")

    async def disconnect(self, code: int) -> None:
        self._connection_end("client")
        for task in list(self.inflight):
            task.cancel()
        if self.inflight:
            await asyncio.gather(*self.inflight, return_exceptions=True)

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":"), ensure_ascii=False))

    async def _fail(
        self, request_id: jsonrpc.RequestId, error: A2AError, method: str | None = None
    ) -> None:
        logger.warning(
            "WebSocket JSON-RPC error %s for request %r: %s", error.code, request_id, error.message
        )
        # A 0.3 method from a client speaking 0.3 gets its errors in the 0.3 shape.
        legacy = method in v03.METHODS and self.ctx.version == v03.LEGACY_VERSION
        await self._send_json(jsonrpc.failure(request_id, error, legacy=legacy))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._fail(None, InvalidRequestError("Send JSON-RPC requests as text frames"))
            return
        limit = settings.WEBCAP_MAX_REQUEST_BYTES
        if len(text_data) > limit:
            await self._fail(None, PayloadTooLargeError(f"Frames are limited to {limit} bytes"))
            return
        try:
            rpc = jsonrpc.parse_request(text_data)
        except jsonrpc.EnvelopeError as exc:
            await self._fail(exc.request_id, exc.error)
            return
        if len(self.inflight) >= settings.WEBCAP_WS_MAX_CONCURRENT:
            await self._fail(
                rpc.id,
                InvalidRequestError(
                    "Too many requests in flight on this socket "
                    f"(limit {settings.WEBCAP_WS_MAX_CONCURRENT})"
                ),
            )
            return
        task = asyncio.create_task(self._serve(rpc))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def _serve(self, rpc: jsonrpc.RpcRequest) -> None:
        # Each frame runs in its own asyncio task: what it binds (the method, the task and
        # context ids the services bind) stays in that frame's records.
        structlog.contextvars.bind_contextvars(rpc_method=rpc.method[:64])
        try:
            result = await dispatch(self.ctx, rpc.method, rpc.params)
            if isinstance(result, ResultStream):
                await self._stream(rpc.id, result)
            else:
                await self._send_json(jsonrpc.success(rpc.id, result))
        except A2AError as error:
            await self._fail(rpc.id, error, rpc.method)

    async def _stream(self, request_id: jsonrpc.RequestId, stream: ResultStream) -> None:
        last_seq = None
        async for item in stream_events(stream):
            if item is None:
                # Daphne pings idle sockets itself; nothing to send for a keep-alive tick.
                continue
            await self._send_json(
                {
                    "jsonrpc": "2.0",
                    "method": STREAM_NOTIFICATION,
                    "params": {"requestId": request_id, "seq": item.seq, "result": item.payload},
                }
            )
            last_seq = item.seq
        await self._send_json(jsonrpc.success(request_id, {"done": True, "lastSeq": last_seq}))
