"""What every binding does the same way: find the caller, build the call context."""

from __future__ import annotations

from collections.abc import Mapping

from asgiref.sync import sync_to_async
from django.conf import settings

from a2a.protocol.context import CallContext
from a2a.protocol.dispatcher import a2a_errors
from a2a.protocol.errors import UnauthenticatedError
from a2a.protocol.versions import HEADER, negotiate
from accounts.auth import AuthenticationFailed, Identity, identify, identify_cached

UNAUTHENTICATED = (
    "Authentication required: send 'Authorization: Bearer <access token or API key>' or "
    "'X-API-Key: <API key>'"
)


async def authenticate_caller(headers: Mapping[str, str]) -> Identity:
    """Return the caller of an A2A request or raise UnauthenticatedError (401)."""
    authorization, api_key = headers.get("authorization"), headers.get("x-api-key")
    # A key this process knows needs no thread hop; everything else asks the database.
    identity = identify_cached(authorization=authorization, api_key=api_key)
    try:
        if identity is None:
            identity = await sync_to_async(identify)(authorization=authorization, api_key=api_key)
    except AuthenticationFailed as exc:
        raise UnauthenticatedError(exc.message) from exc
    if identity is None:
        raise UnauthenticatedError(UNAUTHENTICATED)
    return identity


def public_base_url(scheme: str, host: str) -> str:
    """Return WEBCAP_PUBLIC_URL, or the base URL the client reached us at."""
    return settings.WEBCAP_PUBLIC_URL or f"{scheme}://{host}"


async def call_context(
    *, headers: Mapping[str, str], query_version: str | None, binding: str, base_url: str
) -> CallContext:
    """Authenticate and read the requested version; headers are looked up in lower case.

    Raises only A2AError, as the dispatcher does: the binding's one error path serves both.
    """
    with a2a_errors("Identifying the caller of an A2A request"):
        identity = await authenticate_caller(headers)
    return CallContext(
        user=identity.user,
        identity=identity,
        binding=binding,
        version=negotiate(headers.get(HEADER.lower()), query_version),
        base_url=base_url,
        last_event_id=headers.get("last-event-id"),
    )
