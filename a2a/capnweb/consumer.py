"""The Cap'n Web WebSocket binding at /ws/capnweb: one Cap'n Web message per text frame.

The handshake needs no credentials (authentication is in-band: ``authenticate()``); the
origin check of every WebSocket route still applies (common/asgi.py). Each frame is fed to
the session in order; the session runs every call as its own asyncio task, so callbacks to
the client never block reading. Closing the socket ends the session and its streams, never
the tasks behind them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from a2a.bindings import public_base_url
from a2a.capnweb.errors import error_mapper, session_limits
from a2a.capnweb.service import BINDING, A2AService
from a2a.capnweb.streaming import Connection
from a2a.metrics import stream_closed, stream_opened
from capnweb import RpcSession
from common.websockets import scope_headers, subprotocol_chosen

logger = logging.getLogger(__name__)

# RFC 6455 §7.4.1: the session was aborted (a protocol violation, a limit, or the peer's abort).
CLOSE_POLICY_VIOLATION = 1008


class CapnWebConsumer(AsyncWebsocketConsumer):
    """One client socket: one Cap'n Web session whose main object is ``A2AService``."""

    session: RpcSession | None = None
    connection: Connection | None = None
    counted = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            # The server cancels its applications only when it shuts down.
            await self._end("server")
            raise
        except Exception:
            await self._end("error")
            raise

    async def connect(self) -> None:
        headers = scope_headers(self.scope)
        scheme = "https" if self.scope.get("scheme") == "wss" else "http"
        self.connection = Connection(
            base_url=public_base_url(scheme, headers.get("host", "localhost"))
        )
        self.session = RpcSession(
            A2AService(self.connection),
            self._send_text,
            limits=session_limits(),
            error_mapper=error_mapper,
        )
        await self.accept(subprotocol=subprotocol_chosen(self.scope))
        self.counted = True
        stream_opened(BINDING)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        if session is None:
            return
        message = text_data if text_data is not None else bytes_data
        if message is None:
            return
        await session.feed(message)
        if session.closed:
            # The abort message went out before feed() returned.
            await self.close(code=CLOSE_POLICY_VIOLATION)
            await self._end("error")

    async def disconnect(self, code: int) -> None:
        await self._end("client")

    async def _end(self, reason: str) -> None:
        """End the session and stop its streams (once); count the connection as closed."""
        session, self.session = self.session, None
        if session is not None:
            session.close("The WebSocket closed.")
        connection, self.connection = self.connection, None
        if connection is not None:
            await connection.close()
        if self.counted:
            self.counted = False
            stream_closed(BINDING, reason)
