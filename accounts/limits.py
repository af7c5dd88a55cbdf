"""Rate limits whose first refusal in each window is written to the audit log.

``common.ratelimit`` counts and refuses but sits below the audit app; this is where a refusal
becomes a ``limit.exceeded`` row (outcome ``denied``), once per identifier and window, not
on every refused hit. Sign-in (``accounts.tokens``) and every A2A call
(``a2a.services.ratelimits``) count through ``rate_limit_enforce``.
"""

from __future__ import annotations

import functools

from django.db import models

from accounts.models import User
from audit.services import audit_record
from common.ratelimit import Decision, enforce


def rate_limit_enforce(
    *,
    bucket: str,
    ident: str,
    limit: int,
    window: int,
    actor: User | None = None,
    target: models.Model | None = None,
    auth_method: str = "",
) -> Decision:
    """Count one hit; over the limit raise RateLimitedError (429) and audit the first refusal."""
    refused = functools.partial(
        audit_record,
        action="limit.exceeded",
        actor=actor,
        target=target,
        outcome="denied",
        auth_method=auth_method,
        extra={"bucket": bucket, "limit": limit, "window": window},
    )
    return enforce(bucket=bucket, ident=ident, limit=limit, window=window, on_first_refusal=refused)
