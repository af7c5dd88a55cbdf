"""Readiness of a production-mode web process while Redis and PostgreSQL go away and return.

A cluster of its own (tests/cluster.py: PostgreSQL, Redis, one daphne web process, no
worker): stopping its servers would break the shared cluster of this folder's other tests.
Redis carries the cache, the broker and the channel layer, so stopping it fails those three
checks; stopping PostgreSQL fails the database check. Liveness stays 200 throughout, and
every probe answers within the check timeout (HEALTH_CHECK_TIMEOUT, 2 s), not the database
pool's 10 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cluster import Cluster, running_cluster
from tests.postgres_server import require_binaries
from tests.redis_server import redis_binary

pytestmark = pytest.mark.live

# A probe must answer well within Kubernetes' timeoutSeconds (5 in the chart).
ANSWER_WITHIN = 5.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_binaries()
    redis_binary()
    with running_cluster(webs=1, workers=0, WEBCAP_AGENT="echo") as running:
        yield running


def _get(url: str, **headers: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, headers=headers, timeout=ANSWER_WITHIN + 10)
    return response, time.monotonic() - started


def _failed(body: dict[str, Any]) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


def _wait_ready(url: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response, _ = _get(f"{url}/health/ready")
        body = response.json()
        if response.status_code == 200:
            return body
        time.sleep(0.2)
    raise AssertionError(f"still not ready {timeout} s later: {body}")


def _assert_down(url: str, expected: set[str]) -> dict[str, Any]:
    """/health/ready is a prompt 503 naming exactly expected; /health/live stays 200."""
    response, took = _get(f"{url}/health/ready")
    assert took < ANSWER_WITHIN, took
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "fail"
    assert _failed(body) == expected
    for name in expected:
        assert body["checks"][name]["error"], name
    # Probes are unauthenticated: no address of a dependency in the answer.
    assert "127.0.0.1" not in response.text
    live, took = _get(f"{url}/health/live")
    assert took < ANSWER_WITHIN, took
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    return body


def test_readiness_follows_redis_and_postgres(cluster: Cluster) -> None:
    url = cluster.web_urls[0]
    body = _wait_ready(url)
    assert _failed(body) == set()
    # Kubernetes probes come to the pod's address, which ALLOWED_HOSTS does not list.
    pod, _ = _get(f"{url}/health/ready", Host="10.9.8.7:8000")
    assert pod.status_code == 200

    cluster.redis.stop()
    _assert_down(url, {"cache", "broker", "channel_layer"})
    cluster.redis.start()
    _wait_ready(url)

    cluster.postgres.stop(mode="fast")
    _assert_down(url, {"database"})
    summary, took = _get(f"{url}/health")
    assert took < ANSWER_WITHIN, took
    assert summary.status_code == 503
    assert summary.json()["error"].startswith("database: ")
    cluster.postgres.start()
    body = _wait_ready(url)
    assert _failed(body) == set()
    assert httpx.get(f"{url}/health", timeout=ANSWER_WITHIN).status_code == 200
