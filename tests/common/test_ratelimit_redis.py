"""The rate limiter on a real redis-server: one count shared by several processes.

Production runs several web processes against one Redis; the limit holds only if the count is
atomic there (INCR), not in each process. Four processes hit one bucket at once and exactly
``limit`` hits are allowed in all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client, override_settings

from common.ratelimit import hit
from tests.factories import make_key, make_user
from tests.live.server import ROOT
from tests.redis_server import redis_server

WORKER = """
import json, os, sys, django
django.setup()
from django.test.utils import override_settings
with override_settings(CACHES=json.loads(os.environ["TEST_CACHES"])):
    from common.ratelimit import hit
    allowed = sum(
        hit(bucket="bench", ident="shared", limit=int(sys.argv[1]), window=86400).allowed
        for _ in range(int(sys.argv[2]))
    )
print(allowed)
"""


def _caches(url: str) -> dict[str, Any]:
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}


@pytest.fixture
def redis_cache(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url, override_settings(CACHES=_caches(url)):
        yield url


def test_the_count_is_shared_and_exact_across_processes(redis_cache: str) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        # The same secret key, so every process hashes the identifier alike.
        "WEBCAP_VAR_DIR": str(settings.VAR_DIR),
        "TEST_CACHES": json.dumps(_caches(redis_cache)),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, "50", "40"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    allowed = [int(worker.communicate(timeout=120)[0].strip()) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert sum(allowed) == 50  # of 160 hits
    # A day-long window: the hits of all processes fall in one window (a minute-long one
    # could end between them and start a fresh count).
    assert not hit(bucket="bench", ident="shared", limit=50, window=86400).allowed


def test_counters_expire_with_their_window(redis_cache: str) -> None:
    import redis

    hit(bucket="ttl", ident="x", limit=5, window=30)
    client = redis.Redis.from_url(redis_cache)
    [key] = [k for k in client.keys("*") if b"rl:ttl:" in k]
    assert 0 < client.ttl(key) <= 31


@pytest.mark.django_db
@override_settings(WEBCAP_RATE_LIMIT_USER=3, WEBCAP_RATE_LIMIT_KEY=0)
def test_a2a_calls_over_the_limit_get_429_with_redis(redis_cache: str) -> None:
    cache.clear()
    key = make_key(make_user("ada"))
    client = Client()

    def call() -> Any:
        return client.post(
            "/a2a/jsonrpc",
            data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}", "A2A-Version": "1.0"},
        )

    assert [call().status_code for _ in range(3)] == [200, 200, 200]
    refused = call()
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == -32029
