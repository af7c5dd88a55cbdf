"""Shared fixtures. Live-server and interop fixtures live in tests/live/ and tests/interop/."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient

from accounts.models import User
from common.jws import key_generate, key_set_document
from tests.factories import make_key, make_user
from tests.live.server import LiveServer


def pytest_sessionstart(session: pytest.Session) -> None:
    # litellm's service logger calls asyncio.get_event_loop() on the calling thread. On the
    # main thread, before any test has run an event loop, that makes a loop and keeps it as
    # the thread's own, never closed; the next async test replaces it, and when it is
    # collected its unclosed socket pair fails whichever test runs then. Saying the main
    # thread has no loop makes litellm use asyncio.run, which closes its loop (as it does on
    # every other thread, and as a worker's main thread keeps one loop for all its calls).
    asyncio.set_event_loop(None)


# The kid of the key that signs the shared live server's card.
LIVE_CARD_KID = "live-card"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Rate-limit counters, tickets, breaker state and the per-process credential cache must
    not leak from one test to the next (a rolled-back user's id is reused by the next one)."""
    from django.core.cache import cache

    from accounts.auth import credentials_forget

    cache.clear()
    credentials_forget()
    yield
    cache.clear()
    credentials_forget()


@pytest.fixture(autouse=True)
def _tool_sources(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test reads the tool sources of its own database (tools/sources/overlay.py); a test
    without a database sees the built-in tools only."""
    from tools.registry import overlay_set
    from tools.sources.overlay import OVERLAY

    uses_db = request.node.get_closest_marker("django_db") is not None or any(
        name in request.fixturenames
        for name in ("db", "transactional_db", "django_db_setup", "live_server")
    )
    OVERLAY.forget()
    overlay_set(OVERLAY if uses_db else None)
    yield
    OVERLAY.forget()
    overlay_set(OVERLAY)


@pytest.fixture(autouse=True)
def _fresh_log_context() -> Iterator[None]:
    """Ids a test bound for logging (a request id, a user id) must not name the next test's
    records: code called outside a request (auth, services) binds them in the test's thread."""
    import structlog

    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def files_folder(settings: Any, tmp_path: Path) -> Path:
    """An empty files folder (WEBCAP_FILES_ROOT): read_file asks about files put here only."""
    folder = tmp_path / "files"
    folder.mkdir()
    settings.WEBCAP_FILES_ROOT = str(folder)
    return folder


@pytest.fixture
def artifact_folder(settings: Any, tmp_path: Path) -> Path:
    """An empty folder as the "artifacts" storage; download URLs on agents.example.com."""
    folder = tmp_path / "artifacts"
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }
    settings.WEBCAP_PUBLIC_URL = "https://agents.example.com"
    return folder


@pytest.fixture
def user(db: None) -> User:
    return make_user("alice")


@pytest.fixture
def other_user(db: None) -> User:
    return make_user("bob")


@pytest.fixture
def api_key(user: User) -> str:
    return make_key(user)


@pytest.fixture
def other_api_key(other_user: User) -> str:
    return make_key(other_user)


@pytest.fixture(scope="session")
def webcap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real embedded webcap on 127.0.0.1, shared by the live and interop tests.

    The echo agent pauses 25 ms before each chunk, so streams have visible progress and a
    long message gives time to cancel or disconnect mid-task. Webhooks may use 127.0.0.1.
    Its card is signed (A2A §8.4), so every client test also reads a signed card.
    """
    workdir = tmp_path_factory.mktemp("webcap")
    keys = workdir / "card-keys.json"
    keys.write_text(json.dumps(key_set_document([key_generate("ES256", kid=LIVE_CARD_KID)])))
    keys.chmod(0o600)
    server = LiveServer(
        workdir,
        WEBCAP_AGENT="echo",
        WEBCAP_ECHO_DELAY_MS="25",
        # Webhook receivers in the tests listen on loopback; retries come quickly.
        WEBCAP_PUSH_ALLOWED_HOSTS="127.0.0.1",
        WEBCAP_PUSH_RETRY_BASE="0.2",
        WEBCAP_CARD_SIGNING_KEYS=str(keys),
        WEBCAP_CARD_SIGNING_KEY_ID=LIVE_CARD_KID,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def assistant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live webcap configured as ``make run`` leaves it: the assistant, the offline model."""
    server = LiveServer(tmp_path_factory.mktemp("webcap-assistant"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_keys(webcap_server: LiveServer) -> dict[str, str]:
    """API keys of two users of the live server: alice and bob."""
    return {name: webcap_server.create_key(name) for name in ("alice", "bob")}


RpcCall = Callable[..., Coroutine[Any, Any, Any]]


@pytest.fixture
def async_client() -> AsyncClient:
    return AsyncClient()


@pytest.fixture
def rpc(async_client: AsyncClient) -> RpcCall:
    """POST one JSON-RPC request to /a2a/jsonrpc; returns the response."""

    async def call(
        method: str,
        params: Any = None,
        *,
        key: str | None = None,
        request_id: Any = 1,
        version: str | None = "1.0",
        headers: dict[str, str] | None = None,
        path: str = "/a2a/jsonrpc",
    ) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            body["params"] = params
        sent = dict(headers or {})
        if version is not None:
            sent.setdefault("A2A-Version", version)
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        return await async_client.post(
            path, data=json.dumps(body), content_type="application/json", headers=sent
        )

    return call


async def sse_frames(response: Any) -> list[dict[str, Any]]:
    """Read a streaming response to the end; return each SSE event as {id, data}."""
    if response.streaming:
        raw = b"".join([chunk async for chunk in response.streaming_content]).decode()
    else:
        raw = response.content.decode()
    frames = []
    for block in raw.split("\n\n"):
        if not block.strip() or block.startswith(":"):
            continue
        frame: dict[str, Any] = {}
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            frame[field] = json.loads(value) if field == "data" else value
        frames.append(frame)
    return frames


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """On PostgreSQL, end sessions that worker threads left open so the test database drops."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
