"""Shared fixtures. Live-server and interop fixtures live in tests/live/ and tests/interop/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.models import User
from tests.factories import make_key, make_user
from tests.live.server import LiveServer


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
    """
    server = LiveServer(
        tmp_path_factory.mktemp("webcap"),
        WEBCAP_AGENT="echo",
        WEBCAP_ECHO_DELAY_MS="25",
        # Webhook receivers in the tests listen on loopback; retries come quickly.
        WEBCAP_PUSH_ALLOWED_HOSTS="127.0.0.1",
        WEBCAP_PUSH_RETRY_BASE="0.2",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_keys(webcap_server: LiveServer) -> dict[str, str]:
    """API keys of two users of the live server: alice and bob."""
    return {name: webcap_server.create_key(name) for name in ("alice", "bob")}
