"""Channels middleware that authenticates WebSocket handshakes with the A2A credentials.

A handshake authenticates with one of:

- ``Authorization: Bearer <token or key>`` or ``X-API-Key`` (non-browser clients);
- a ``Sec-WebSocket-Protocol`` entry ``bearer.<token or key>`` next to a real subprotocol
  such as ``a2a.v1`` (the consumer selects the real one; the token is never echoed);
- ``?ticket=<ticket>`` from ``POST /api/auth/ws-ticket/`` (short-lived, single use).

Long-lived credentials are never accepted in the URL. The scope gets ``user`` and
``identity`` (None when unauthenticated) and, for refused credentials, ``auth_error``; the
request id and client address are bound for everything the socket does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.middleware import BaseMiddleware

from accounts.auth import AuthenticationFailed, Identity, identify, identify_cached
from accounts.tickets import ws_ticket_redeem
from common.request_context import bound, info_from_headers
from common.websockets import TOKEN_SUBPROTOCOL_PREFIX, offered_subprotocols, scope_headers


def _subprotocol_token(scope: dict[str, Any]) -> str | None:
    for item in offered_subprotocols(scope):
        if item.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return item[len(TOKEN_SUBPROTOCOL_PREFIX) :]
    return None


def _ticket(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tickets: list[str] = query.get("ticket") or []
    return tickets[0] if tickets else None


def _header_credentials(
    scope: dict[str, Any], headers: dict[str, str]
) -> tuple[str | None, str | None]:
    """Return the (Authorization, X-API-Key) a handshake presents; a subprotocol token
    counts as a bearer credential, and may not come with a header."""
    token = _subprotocol_token(scope)
    if token is None:
        return headers.get("authorization"), headers.get("x-api-key")
    if headers.get("authorization") or headers.get("x-api-key"):
        raise AuthenticationFailed("Send one credential, not a header and a subprotocol.")
    return f"Bearer {token}", None


def _identify(scope: dict[str, Any], headers: dict[str, str]) -> Identity | None:
    ticket = _ticket(scope)
    if ticket is not None:
        identity = ws_ticket_redeem(ticket)
        if identity is None:
            raise AuthenticationFailed("The WebSocket ticket is unknown, used or expired.")
        return identity
    authorization, api_key = _header_credentials(scope, headers)
    return identify(authorization=authorization, api_key=api_key)


def _identify_cached(scope: dict[str, Any], headers: dict[str, str]) -> Identity | None:
    """The caller of a recently seen API key header or subprotocol token, with no hop."""
    if _ticket(scope) is not None:
        return None  # a ticket is single use: ws_ticket_redeem decides
    try:
        authorization, api_key = _header_credentials(scope, headers)
    except AuthenticationFailed:
        return None  # _identify refuses it
    return identify_cached(authorization=authorization, api_key=api_key)


class ApiKeyAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = scope_headers(scope)
        scope = dict(scope)
        client = scope.get("client") or (None, None)
        info = info_from_headers(headers, client[0])
        scope["webcap_info"] = info
        with bound(info):
            try:
                identity = _identify_cached(scope, headers)
                if identity is None:
                    identity = await sync_to_async(_identify)(scope, headers)
            except AuthenticationFailed as exc:
                identity = None
                scope["auth_error"] = exc.message
            scope["identity"] = identity
            scope["user"] = identity.user if identity is not None else None
            return await super().__call__(scope, receive, send)
