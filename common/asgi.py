"""ASGI middleware that guards the server before Django sees a request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from a2a.protocol import jsonrpc
from a2a.protocol.errors import PayloadTooLargeError
from common.database import DATABASE_ERRORS, database_unavailable
from common.request_context import request_id_from
from common.websockets import subprotocol_chosen

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# RFC 6455 §7.4.1: "Try Again Later", the WebSocket counterpart of 503 + Retry-After.
CLOSE_TRY_AGAIN_LATER = 1013


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class BodySizeLimitMiddleware:
    """Answer 413 to HTTP requests whose body exceeds WEBCAP_MAX_REQUEST_BYTES.

    A declared Content-Length over the limit is refused before a byte is read; a body that
    grows past it (chunked uploads) is cut off as it arrives, so nothing oversized is ever
    buffered. JSON-RPC paths get a JSON-RPC error body, others the HTTP+JSON error body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int = settings.WEBCAP_MAX_REQUEST_BYTES
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, send, limit)
            return
        if (
            declared is not None
            and declared.isdigit()
            and _header(scope, b"transfer-encoding") is None
        ):
            # A body of a declared length within the limit, which the server reads no further
            # than: nothing to count. (A body of no declared length is counted below: HTTP/2
            # streams one in DATA frames, and test harnesses send one without the header.)
            await self.app(scope, receive, send)
            return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    # Django stops reading at a disconnect and sends nothing; we answer below.
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if too_large and not started:
            await self._reject(scope, send, limit)

    @staticmethod
    async def _reject(scope: Scope, send: Send, limit: int) -> None:
        error = PayloadTooLargeError(f"Request body exceeds the limit of {limit} bytes")
        if scope.get("path", "").startswith("/a2a/jsonrpc"):
            body = jsonrpc.dumps(jsonrpc.failure(None, error))
        else:
            body = jsonrpc.dumps(error.rest_error())
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    # Refused before Django: echoed here as RequestContextMiddleware would.
                    (b"x-request-id", request_id_from(_header(scope, b"x-request-id")).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class WebSocketOriginMiddleware:
    """Refuse WebSocket handshakes from browser origins that are not allowed.

    Browsers always send Origin, so a page on another site cannot ride a user's credentials
    (cross-site WebSocket hijacking). Clients that send no Origin are not browsers and must
    authenticate with a header. Allowed: the server's own host, and CORS_ALLOWED_ORIGINS.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin is not None and not self._allowed(origin, _header(scope, b"host")):
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 4403})
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _allowed(origin: str, host: str | None) -> bool:
        if origin in settings.CORS_ALLOWED_ORIGINS:
            return True
        return host is not None and urlsplit(origin).netloc == host


class WebSocketDatabaseGuard:
    """Close a WebSocket whose handshake lost the database with 1013 "try again later".

    The handshake looks up the caller's API key or token; with the database down that raises,
    and daphne would answer the handshake with a 500. Instead the handshake is completed and
    the socket closed at once with 1013, which a client can tell from a refusal. Requests on
    an open socket that lose the database get an error response from the consumer instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        seen: set[str] = set()

        async def tracking_receive() -> Message:
            message = await receive()
            seen.add(message["type"])
            return message

        async def tracking_send(message: Message) -> None:
            seen.add(message["type"])
            await send(message)

        try:
            await self.app(scope, tracking_receive, tracking_send)
        except DATABASE_ERRORS as exc:
            database_unavailable(exc)
            if seen & {"websocket.close", "websocket.disconnect"}:
                return
            if "websocket.connect" not in seen:
                await receive()
            if "websocket.accept" not in seen:
                # The subprotocol the consumer would choose: browsers fail a handshake that
                # selects none of those they offered, and would never see the close code.
                subprotocol = subprotocol_chosen(dict(scope))
                await send({"type": "websocket.accept", "subprotocol": subprotocol})
            await send(
                {
                    "type": "websocket.close",
                    "code": CLOSE_TRY_AGAIN_LATER,
                    "reason": "The database is unavailable; try again later",
                }
            )
