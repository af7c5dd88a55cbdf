"""What a WebSocket handshake offers: its headers and subprotocols, and which one to select.

Shared by the authentication middleware (which reads a credential from a ``bearer.<token>``
subprotocol), the consumers and the ASGI guard that refuses a handshake when the database is
down: each must answer with the same subprotocol, or browsers fail the handshake.
"""

from __future__ import annotations

from typing import Any

# The Sec-WebSocket-Protocol entry that carries a credential: "bearer.<token>".
TOKEN_SUBPROTOCOL_PREFIX = "bearer."  # noqa: S105 (a prefix, not a secret)


def scope_headers(scope: dict[str, Any]) -> dict[str, str]:
    """Return an ASGI scope's headers as a dict with lower-case names."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }


def offered_subprotocols(scope: dict[str, Any]) -> list[str]:
    """Return the subprotocols the client offered (daphne parses them into the scope)."""
    offered = scope.get("subprotocols")
    if offered is None:
        header = scope_headers(scope).get("sec-websocket-protocol", "")
        offered = [item.strip() for item in header.split(",") if item.strip()]
    return list(offered)


def subprotocol_chosen(scope: dict[str, Any]) -> str | None:
    """Select the first offered subprotocol that is not a credential (never echo a token).

    A browser that sends a token as ``bearer.<token>`` must also offer a real subprotocol
    such as ``a2a.v1``: browsers fail a handshake whose answer selects none of the offered.
    """
    for item in offered_subprotocols(scope):
        if not item.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return item
    return None
