"""A tool source change made through one web process reaches the other within seconds.

A cluster of its own (tests/cluster.py: PostgreSQL, Redis, two daphne web processes, no
worker) and a real MCP server over streamable HTTP on 127.0.0.1. Each process keeps its own
snapshot of the sources' tools and policies (tools/sources/overlay.py); the registry version
in Redis tells it to read them again.
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
from tests.tools.mcp_fixtures import McpHttpServer

pytestmark = pytest.mark.live

# WEBCAP_TOOL_REGISTRY_CHECK_SECONDS is 1: a change is seen well within this.
SEEN_WITHIN = 5.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_binaries()
    redis_binary()
    with running_cluster(
        webs=2, workers=0, WEBCAP_AGENT="echo", WEBCAP_TOOL_SOURCE_ALLOWED_HOSTS="127.0.0.1"
    ) as running:
        yield running


@pytest.fixture
def mcp_http() -> Iterator[McpHttpServer]:
    server = McpHttpServer()
    server.start()
    yield server
    server.stop()


def _until(read: Any, want: Any) -> float:
    """Seconds until read() returned want; fails after SEEN_WITHIN."""
    started = time.monotonic()
    while (got := read()) != want:
        assert time.monotonic() - started < SEEN_WITHIN, f"still {got!r}"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_change_on_one_web_process_reaches_the_other(cluster, mcp_http):
    out = cluster.manage("apikey", "create", "ops", "--create-user", "--role", "operator")
    headers = {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}
    first, second = cluster.web_urls

    def seen(field: str) -> Any:
        response = httpx.get(f"{second}/api/tools/demo__add/", headers=headers, timeout=10)
        return response.json().get(field) if response.status_code == 200 else None

    # The second process builds its snapshot before the source exists.
    assert httpx.get(f"{second}/api/tools/", headers=headers, timeout=10).status_code == 200
    created = httpx.post(
        f"{first}/api/tools/",
        json={"name": "demo", "kind": "mcp_http", "url": mcp_http.url},
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    _until(lambda: seen("current_version"), "1")

    changed = httpx.post(
        f"{first}/api/tools/demo__add/policy/",
        json={"approval": "always"},
        headers=headers,
        timeout=10,
    )
    assert changed.json()["requires_approval"] is True
    _until(lambda: seen("requires_approval"), True)
