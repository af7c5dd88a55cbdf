"""The per-user and per-API-key rate limits every A2A call counts against.

The dispatcher counts each operation here before any work is done for it, whatever the
binding (docs/limits.md); the first refusal in each window is audited by
``accounts.limits``.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings

from a2a.protocol.context import CallContext
from accounts.limits import rate_limit_enforce


def _enforce_call(ctx: CallContext) -> None:
    window = int(settings.WEBCAP_RATE_LIMIT_WINDOW)
    auth_method = ctx.identity.method if ctx.identity is not None else ""
    rate_limit_enforce(
        bucket="a2a-user",
        ident=str(ctx.user.pk),
        limit=int(settings.WEBCAP_RATE_LIMIT_USER),
        window=window,
        actor=ctx.user,
        auth_method=auth_method,
    )
    api_key = ctx.identity.api_key if ctx.identity is not None else None
    if api_key is not None:
        rate_limit_enforce(
            bucket="a2a-key",
            ident=str(api_key.pk),
            limit=int(settings.WEBCAP_RATE_LIMIT_KEY),
            window=window,
            actor=ctx.user,
            target=api_key,
            auth_method=auth_method,
        )


async def enforce_a2a_call(ctx: CallContext) -> None:
    """Count one A2A operation against its user's and API key's limits (every binding)."""
    if settings.WEBCAP_RATE_LIMIT_USER <= 0 and settings.WEBCAP_RATE_LIMIT_KEY <= 0:
        return
    await sync_to_async(_enforce_call)(ctx)
