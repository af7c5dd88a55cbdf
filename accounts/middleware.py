"""Channels middleware that authenticates WebSocket handshakes with the A2A credentials.

Non-browser clients send ``Authorization: Bearer <key>`` (or ``X-API-Key``) with the
handshake. The scope gets ``user`` (a User, or None when unauthenticated) and, for refused
credentials, ``auth_error``.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from channels.middleware import BaseMiddleware

from accounts.auth import AuthenticationFailed, authenticate


def scope_headers(scope: dict[str, Any]) -> dict[str, str]:
    """Return an ASGI scope's headers as a dict with lower-case names."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }


class ApiKeyAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = scope_headers(scope)
        scope = dict(scope)
        try:
            scope["user"] = await sync_to_async(authenticate)(
                authorization=headers.get("authorization"), api_key=headers.get("x-api-key")
            )
        except AuthenticationFailed as exc:
            scope["user"] = None
            scope["auth_error"] = exc.message
        return await super().__call__(scope, receive, send)
