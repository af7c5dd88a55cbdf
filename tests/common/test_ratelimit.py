"""The fixed-window limiter on the real (LocMem) cache, and the client address it may count by."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import Client

from a2a.protocol.errors import RateLimitedError
from audit.models import AuditEvent
from common.ratelimit import Decision, enforce, hit
from common.request_context import client_ip_from

WINDOW = 60
# 10:00:00 UTC on some day: the start of a 60 s window.
T0 = 1_800_000_000.0 - (1_800_000_000 % WINDOW)


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _hits(n: int, *, now: float, limit: int = 3, ident: str = "u1") -> list[Decision]:
    return [hit(bucket="t", ident=ident, limit=limit, window=WINDOW, now=now) for _ in range(n)]


def test_allows_up_to_the_limit_then_refuses_until_the_window_ends():
    decisions = _hits(5, now=T0 + 15.2)
    assert decisions == [
        Decision(allowed=True, limit=3, remaining=2, retry_after=45),
        Decision(allowed=True, limit=3, remaining=1, retry_after=45),
        Decision(allowed=True, limit=3, remaining=0, retry_after=45),
        Decision(allowed=False, limit=3, remaining=0, retry_after=45),
        Decision(allowed=False, limit=3, remaining=0, retry_after=45),
    ]


def test_the_count_rolls_over_with_the_window():
    assert [d.allowed for d in _hits(4, now=T0 + 59.5)] == [True, True, True, False]
    # Half a second later a new window starts: a fresh count, a full minute to wait next time.
    rolled = _hits(4, now=T0 + 60.0)
    assert [d.allowed for d in rolled] == [True, True, True, False]
    assert rolled[0] == Decision(allowed=True, limit=3, remaining=2, retry_after=60)
    # The end of a window is never "retry in 0 s".
    assert _hits(1, now=T0 + 119.9)[0].retry_after == 1


def test_identifiers_and_buckets_are_counted_apart():
    assert [d.allowed for d in _hits(4, now=T0, ident="u1")] == [True, True, True, False]
    assert _hits(1, now=T0, ident="u2")[0].allowed
    assert hit(bucket="other", ident="u1", limit=3, window=WINDOW, now=T0).allowed


def test_zero_disables_the_limit_and_touches_no_counter():
    decisions = [hit(bucket="t", ident="u1", limit=0, window=WINDOW) for _ in range(50)]
    assert set(decisions) == {Decision(allowed=True, limit=0, remaining=0, retry_after=0)}
    assert _stored_keys() == []


def _stored_keys() -> list[str]:
    """The keys the LocMem cache holds (as the backend made them: ``:version:key``)."""
    backend = caches["default"]
    assert isinstance(backend, LocMemCache)
    store: dict[str, Any] = backend._cache  # type: ignore[attr-defined]
    return list(store)


def test_cache_keys_hold_no_identifier_in_clear():
    hit(bucket="token-user", ident="alice@example.com", limit=3, window=WINDOW, now=T0)
    [key] = _stored_keys()
    assert "alice" not in key
    assert key.startswith(":1:rl:token-user:")
    assert key.endswith(f":{int(T0)}")
    assert len(key) < 80


def test_concurrent_hits_allow_exactly_the_limit():
    threads, per_thread, limit = 16, 50, 333
    allowed: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        mine = [
            hit(bucket="t", ident="shared", limit=limit, window=3600, now=T0).allowed
            for _ in range(per_thread)
        ]
        with lock:
            allowed.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(allowed) == threads * per_thread
    assert allowed.count(True) == limit


class VanishingCache(LocMemCache):
    """LocMem whose counters expire right after ``add`` the first ``vanish`` times.

    It stands in for the real race: a counter created near the end of its lifetime (or
    evicted under memory pressure) is gone when ``incr`` reaches it.
    """

    vanish = 1

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        if VanishingCache.vanish > 0 and key.startswith("rl:"):
            VanishingCache.vanish -= 1
            self.delete(key, version=version)
        return super().incr(key, delta, version=version)


VANISHING = {
    "default": {"BACKEND": "tests.common.test_ratelimit.VanishingCache", "LOCATION": "vanishing"}
}


def test_a_counter_expiring_between_add_and_incr_is_recreated(settings):
    settings.CACHES = VANISHING
    VanishingCache.vanish = 1
    decisions = _hits(4, now=T0)
    assert VanishingCache.vanish == 0  # the race happened on the first hit
    assert decisions[0] == Decision(allowed=True, limit=3, remaining=2, retry_after=60)
    assert [d.allowed for d in decisions] == [True, True, True, False]


def test_a_counter_that_keeps_vanishing_lets_the_request_through(settings):
    settings.CACHES = VANISHING
    VanishingCache.vanish = 100
    assert _hits(1, now=T0, limit=1)[0].allowed
    assert VanishingCache.vanish == 97  # three attempts, then it gives up
    VanishingCache.vanish = 0


def test_enforce_calls_on_first_refusal_once_per_window():
    refusals: list[str] = []
    enforce(bucket="t", ident="u1", limit=1, window=WINDOW)
    for _ in range(3):
        with pytest.raises(RateLimitedError):
            enforce(
                bucket="t",
                ident="u1",
                limit=1,
                window=WINDOW,
                on_first_refusal=lambda: refusals.append("u1"),
            )
    assert refusals == ["u1"]


# --- The client address (NUM_PROXIES) ------------------------------------------------------------


def test_without_trusted_proxies_x_forwarded_for_is_ignored(settings):
    settings.NUM_PROXIES = 0
    assert client_ip_from(peer="203.0.113.7", forwarded_for="198.51.100.1") == "203.0.113.7"
    assert client_ip_from(peer="203.0.113.7", forwarded_for=None) == "203.0.113.7"


def test_behind_one_proxy_the_rightmost_entry_counts(settings):
    settings.NUM_PROXIES = 1
    # The proxy appended the address it saw; whatever the client wrote before it is ignored.
    real = client_ip_from(peer="10.0.0.2", forwarded_for="203.0.113.7")
    spoofed = client_ip_from(peer="10.0.0.2", forwarded_for="198.51.100.99, 203.0.113.7")
    assert real == spoofed == "203.0.113.7"
    assert client_ip_from(peer="10.0.0.2", forwarded_for="garbage, 203.0.113.7") == "203.0.113.7"
    # A junk rightmost entry falls back to the socket peer rather than trusting the client.
    assert client_ip_from(peer="10.0.0.2", forwarded_for="203.0.113.7, junk") == "10.0.0.2"


# --- Through the sign-in endpoint (per client address and per username) -------------------------


def _sign_in(client: Client, username: str, forwarded_for: str | None = None) -> Any:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(
        "/api/auth/token/",
        data=json.dumps({"username": username, "password": "wrong"}),
        content_type="application/json",
        headers=headers,
    )


@pytest.fixture
def sign_in_limits(settings):
    settings.WEBCAP_RATE_LIMIT_WINDOW = 3600
    settings.WEBCAP_RATE_LIMIT_TOKEN_IP = 3
    settings.WEBCAP_RATE_LIMIT_TOKEN_USER = 100
    left = 3600 - time.time() % 3600
    if left < 5:
        time.sleep(left)


@pytest.mark.django_db
@pytest.mark.parametrize("proxies", [0, 1])
def test_sign_in_per_address_count_survives_a_spoofed_x_forwarded_for(
    settings, sign_in_limits, proxies
):
    settings.NUM_PROXIES = proxies
    client = Client(REMOTE_ADDR="10.0.0.2")
    # Behind one proxy the address is the rightmost entry, appended by that proxy; the client
    # can only vary what comes before it. Without proxies the header is not read at all.
    statuses = [
        _sign_in(client, f"user{n}", forwarded_for=f"198.51.100.{n}, 203.0.113.7").status_code
        for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    refused = _sign_in(client, "user9", forwarded_for="198.51.100.200, 203.0.113.7")
    retry = int(refused["Retry-After"])
    assert 1 <= retry <= 3600
    assert refused.json() == {
        "detail": (
            "Rate limit exceeded: at most 3 sign-in attempts per client address every 3600 s; "
            f"retry in {retry} s"
        ),
        "code": "RATE_LIMITED",
        "retryAfter": retry,
    }
    expected_ip = "10.0.0.2" if proxies == 0 else "203.0.113.7"
    [event] = AuditEvent.objects.filter(action="limit.exceeded")
    assert (event.client_ip, event.extra) == (
        expected_ip,
        {"bucket": "token-ip", "limit": 3, "window": 3600},
    )


@pytest.mark.django_db
def test_sign_in_per_username_limit_holds_across_addresses(settings, sign_in_limits):
    settings.WEBCAP_RATE_LIMIT_TOKEN_IP = 100
    settings.WEBCAP_RATE_LIMIT_TOKEN_USER = 2
    statuses = [_sign_in(Client(REMOTE_ADDR=f"10.0.0.{n}"), "ada").status_code for n in range(1, 5)]
    assert statuses == [401, 401, 429, 429]
    assert _sign_in(Client(REMOTE_ADDR="10.0.0.9"), "bea").status_code == 401
