"""Fixed-window rate limits on Django's cache, atomic across processes.

A limit allows ``limit`` hits per ``window`` seconds for one identifier in one bucket (for
example bucket ``a2a-user``, identifier a user id). Windows are aligned to the epoch, and each
window has its own counter ``rl:{bucket}:{ident}:{window_start}``: ``cache.add(key, 0)``
creates it if missing, then ``cache.incr(key)`` counts the hit. On Redis ``incr`` is one
atomic ``INCR``, so every web process and worker shares the count; on the embedded
LocMemCache it runs under the cache's lock, which is enough for one process. Nothing is
read-modified-written in Python, so concurrent requests can never both take the last slot.

Identifiers go into keys only as a keyed hash (``salted_hmac``), so the cache holds no
username, client address or key material; API keys are identified by their row id anyway.

A fixed window lets a client spend up to twice the limit across a window boundary; that is
the usual price for one round trip per request, and the limits are coarse abuse guards, not
billing. ``0`` disables a limit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.crypto import salted_hmac

from a2a.protocol.errors import RateLimitedError
from common.caching import shared_cache

logger = logging.getLogger(__name__)

# How many times a counter that vanished between add and incr (evicted, or expired after a
# very long pause) is recreated before giving up and letting the request through.
_MAX_ATTEMPTS = 3
# What each bucket counts, for the message the client reads.
SUBJECTS = {
    "a2a-user": "A2A requests per user",
    "a2a-key": "A2A requests per API key",
    "token-ip": "sign-in attempts per client address",
    "token-user": "sign-in attempts per username",
}


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit: allowed or not, and what is left of the current window."""

    allowed: bool
    limit: int
    remaining: int
    # Seconds until the current window ends (at least 1); 0 when the limit is disabled.
    retry_after: int


def _digest(ident: str) -> str:
    # Keyed, so a cache dump does not reveal which usernames or addresses were counted.
    return salted_hmac("webcap.ratelimit", ident, algorithm="sha256").hexdigest()[:32]


def _window_start(moment: float, window: int) -> int:
    return int(moment // window) * window


def _count(key: str, timeout: int) -> int:
    """Add one to the counter at key, creating it if missing; return the new count."""
    try:
        for _ in range(_MAX_ATTEMPTS):
            shared_cache().add(key, 0, timeout=timeout)
            try:
                return int(shared_cache().incr(key))
            except ValueError:
                # The key expired or was evicted between add and incr: create it again.
                continue
    except Exception:
        # A cache outage must not take every A2A call down with it: fail open, loudly.
        logger.exception("Rate-limit cache unavailable; not counting hit on %s", key)
        return 0
    logger.warning("Rate-limit counter %s keeps vanishing; not counting this hit", key)
    return 0


def hit(*, bucket: str, ident: str, limit: int, window: int, now: float | None = None) -> Decision:
    """Count one hit for ident in bucket and return whether it is within the limit."""
    if limit <= 0 or window <= 0:
        return Decision(allowed=True, limit=limit, remaining=0, retry_after=0)
    moment = time.time() if now is None else now
    window_start = _window_start(moment, window)
    # The key names its window, so the timeout only reclaims memory; +1 s keeps a counter
    # alive until its window has certainly ended on every clock.
    count = _count(f"rl:{bucket}:{_digest(ident)}:{window_start}", window + 1)
    retry_after = max(1, math.ceil(window_start + window - moment))
    return Decision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        retry_after=retry_after,
    )


def _first_refusal(*, bucket: str, ident: str, window: int, window_start: int) -> bool:
    """Return whether this is ident's first refusal in the window (later ones return False)."""
    guard = f"rl-audited:{bucket}:{_digest(ident)}:{window_start}"
    return bool(shared_cache().add(guard, 1, timeout=window + 1))


def enforce(
    *,
    bucket: str,
    ident: str,
    limit: int,
    window: int,
    on_first_refusal: Callable[[], object] | None = None,
) -> Decision:
    """Count one hit; raise RateLimitedError (429, Retry-After) when it is over the limit.

    ``on_first_refusal`` runs before the first refusal in each window is raised, not on every
    refused hit: the caller writes ``limit.exceeded`` to the audit log with it
    (``accounts.limits``; this module sits below the audit app).
    """
    moment = time.time()
    decision = hit(bucket=bucket, ident=ident, limit=limit, window=window, now=moment)
    if decision.allowed:
        return decision
    subject = SUBJECTS.get(bucket, f"requests ({bucket})")
    logger.warning("Rate limit %s exceeded: %d per %d s", bucket, limit, window)
    window_start = _window_start(moment, window)
    if on_first_refusal is not None and _first_refusal(
        bucket=bucket, ident=ident, window=window, window_start=window_start
    ):
        on_first_refusal()
    raise RateLimitedError(
        f"Rate limit exceeded: at most {limit} {subject} every {window} s; "
        f"retry in {decision.retry_after} s",
        retry_after=decision.retry_after,
        limit=limit,
    )
