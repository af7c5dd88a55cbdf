"""Rate limits whose first refusal in each window is audited (accounts.limits)."""

from __future__ import annotations

import pytest

from a2a.protocol.errors import RateLimitedError
from accounts.limits import rate_limit_enforce
from audit.models import AuditEvent
from tests.factories import make_user

WINDOW = 60


@pytest.mark.django_db
def test_enforce_raises_with_retry_data_and_audits_once_per_window():
    user = make_user("carol")
    for _ in range(2):
        rate_limit_enforce(
            bucket="a2a-user", ident=str(user.pk), limit=2, window=WINDOW, actor=user
        )
    for _ in range(3):
        with pytest.raises(RateLimitedError) as refused:
            rate_limit_enforce(
                bucket="a2a-user", ident=str(user.pk), limit=2, window=WINDOW, actor=user
            )
    error = refused.value
    assert 1 <= error.retry_after <= WINDOW
    assert error.message == (
        f"Rate limit exceeded: at most 2 A2A requests per user every {WINDOW} s; "
        f"retry in {error.retry_after} s"
    )
    assert (error.code, error.http_status) == (-32029, 429)
    assert error.metadata == {"retryAfter": str(error.retry_after), "limit": "2"}
    [event] = AuditEvent.objects.all()
    assert (event.action, event.outcome, event.actor, event.actor_username) == (
        "limit.exceeded",
        "denied",
        user,
        "carol",
    )
    assert event.extra == {"bucket": "a2a-user", "limit": 2, "window": WINDOW}


@pytest.mark.django_db
def test_enforce_with_an_unknown_bucket_names_it():
    rate_limit_enforce(bucket="export", ident="x", limit=1, window=WINDOW)
    with pytest.raises(RateLimitedError) as refused:
        rate_limit_enforce(bucket="export", ident="x", limit=1, window=WINDOW)
    assert refused.value.message.startswith(
        f"Rate limit exceeded: at most 1 requests (export) every {WINDOW} s"
    )
    assert AuditEvent.objects.get().actor is None
