"""Short-lived, single-use tickets that let a browser open the A2A WebSocket.

Browsers cannot set an Authorization header on a WebSocket handshake, and a long-lived key
in a URL ends up in proxy and server logs. So a signed-in page asks
``POST /api/auth/ws-ticket/`` for a ticket (valid WEBCAP_WS_TICKET_SECONDS, usable once) and
opens ``/ws/a2a?ticket=<ticket>``. The cache holds only a hash of the ticket; redeeming
deletes it, and of two concurrent redemptions only the one whose delete succeeded wins.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.cache import cache

from accounts.auth import METHOD_TICKET, Identity
from accounts.models import ApiKey, User
from audit.services import audit_record

TICKET_PREFIX = "wst_"


def _cache_key(ticket: str) -> str:
    return "ws-ticket:" + hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def ws_ticket_issue(*, identity: Identity) -> tuple[str, int]:
    """Return a new ticket for identity and how many seconds it stays valid (audited)."""
    ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
    lifetime: int = settings.WEBCAP_WS_TICKET_SECONDS
    cache.set(
        _cache_key(ticket),
        {
            "user_id": identity.user.pk,
            "method": identity.method,
            "api_key_id": str(identity.api_key.pk) if identity.api_key else None,
        },
        timeout=lifetime,
    )
    audit_record(action="auth.ws_ticket", actor=identity.user, auth_method=identity.method)
    return ticket, lifetime


def ws_ticket_redeem(ticket: str) -> Identity | None:
    """Return who a ticket was issued to and spend it; None when unknown, used or expired."""
    if not ticket.startswith(TICKET_PREFIX) or len(ticket) > 100:
        return None
    key = _cache_key(ticket)
    data = cache.get(key)
    # delete() reports whether this call removed the key: exactly one redemption wins.
    if data is None or not cache.delete(key):
        return None
    user = User.objects.filter(pk=data["user_id"], is_active=True).first()
    if user is None:
        return None
    api_key = None
    if data.get("api_key_id"):
        api_key = ApiKey.objects.filter(pk=data["api_key_id"]).first()
        # A key revoked after the ticket was issued no longer opens sockets.
        if api_key is None or not api_key.is_usable():
            return None
    return Identity(user=user, method=METHOD_TICKET, api_key=api_key)
