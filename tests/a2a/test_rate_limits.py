"""Per-user and per-API-key rate limits on A2A operations, through every binding.

The limiter is counted once per call in the dispatcher, so JSON-RPC, HTTP+JSON and WebSocket
share one count per user; each binding renders the refusal in its own error shape.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from a2a.models import Task
from accounts.models import ApiKey, User
from audit.models import AuditEvent
from config.asgi import application
from tests.a2a.conftest import sse_frames
from tests.factories import make_access_token, make_key, message_params

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = 3600
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    # Windows are aligned to the clock: never start a test in the last seconds of one.
    left = WINDOW - time.time() % WINDOW
    if left < 5:
        time.sleep(left)
    yield
    cache.clear()


@pytest.fixture
def limits(settings):
    """Set the per-user and per-key limits (one hour windows)."""

    def set_limits(*, user: int = 0, key: int = 0) -> None:
        settings.WEBCAP_RATE_LIMIT_WINDOW = WINDOW
        settings.WEBCAP_RATE_LIMIT_USER = user
        settings.WEBCAP_RATE_LIMIT_KEY = key

    return set_limits


async def _list(rpc, key: str, **kwargs: Any) -> Any:
    return await rpc("ListTasks", {}, key=key, **kwargs)


async def _key(user: User) -> str:
    return await sync_to_async(make_key)(user)


def _retry_after(response: Any) -> int:
    value = int(response["Retry-After"])
    assert 1 <= value <= WINDOW
    return value


async def test_jsonrpc_over_the_user_limit_is_429_with_retry_after_and_the_error(
    rpc, api_key, limits
):
    limits(user=2)
    for request_id in (1, 2):
        response = await rpc("ListTasks", {}, key=api_key, request_id=request_id)
        assert response.status_code == 200
        assert "result" in response.json()
        assert "Retry-After" not in response
    refused = await rpc("ListTasks", {}, key=api_key, request_id=3)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    retry = _retry_after(refused)
    body = refused.json()
    [info] = body["error"].pop("data")
    assert body == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {
            "code": -32029,
            "message": (
                f"Rate limit exceeded: at most 2 A2A requests per user every {WINDOW} s; "
                f"retry in {retry} s"
            ),
        },
    }
    info["metadata"].pop("timestamp")
    assert info == {
        "@type": ERROR_INFO,
        "reason": "RATE_LIMITED",
        "domain": "webcap",
        "metadata": {"retryAfter": str(retry), "limit": "2"},
    }


async def test_refused_calls_do_nothing(rpc, api_key, limits):
    limits(user=1)
    assert (await _list(rpc, api_key)).status_code == 200
    refused = await rpc("SendMessage", message_params("hello"), key=api_key)
    assert refused.status_code == 429
    assert await Task.objects.acount() == 0


async def test_rest_over_the_limit_is_429_with_a_resource_exhausted_status(
    async_client, api_key, limits
):
    limits(user=1)
    headers = {"Authorization": f"Bearer {api_key}", "A2A-Version": "1.0"}
    assert (await async_client.get("/a2a/rest/tasks", headers=headers)).status_code == 200
    refused = await async_client.get("/a2a/rest/tasks", headers=headers)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/a2a+json"
    retry = _retry_after(refused)
    error = refused.json()["error"]
    [info] = error.pop("details")
    assert error == {
        "code": 429,
        "status": "RESOURCE_EXHAUSTED",
        "message": (
            f"Rate limit exceeded: at most 1 A2A requests per user every {WINDOW} s; "
            f"retry in {retry} s"
        ),
    }
    assert (info["@type"], info["reason"], info["metadata"]["retryAfter"]) == (
        ERROR_INFO,
        "RATE_LIMITED",
        str(retry),
    )


async def test_all_bindings_share_one_count_per_user(rpc, async_client, api_key, limits):
    limits(user=2)
    headers = {"Authorization": f"Bearer {api_key}", "A2A-Version": "1.0"}
    assert (await async_client.get("/a2a/rest/tasks", headers=headers)).status_code == 200
    assert (await _list(rpc, api_key)).status_code == 200
    assert (await async_client.get("/a2a/rest/tasks", headers=headers)).status_code == 429
    assert (await _list(rpc, api_key)).status_code == 429


def _ws(key: str) -> WebsocketCommunicator:
    headers = [
        (b"host", b"testserver"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"a2a-version", b"1.0"),
    ]
    return WebsocketCommunicator(application, "/ws/a2a", headers=headers)


async def test_websocket_gets_the_jsonrpc_error_frame_and_stays_open(api_key, limits):
    limits(user=2)
    ws = _ws(api_key)
    connected, _ = await ws.connect()
    assert connected
    frames = []
    for request_id in (1, 2, 3):
        await ws.send_to(
            text_data=json.dumps(
                {"jsonrpc": "2.0", "id": request_id, "method": "ListTasks", "params": {}}
            )
        )
        frames.append(json.loads(await ws.receive_from(timeout=5)))
    assert ["result" in f for f in frames] == [True, True, False]
    error = frames[2]["error"]
    assert frames[2]["id"] == 3
    assert error["code"] == -32029
    assert error["message"].startswith(
        f"Rate limit exceeded: at most 2 A2A requests per user every {WINDOW} s; retry in "
    )
    assert error["data"][0]["reason"] == "RATE_LIMITED"
    assert 1 <= int(error["data"][0]["metadata"]["retryAfter"]) <= WINDOW
    # A refusal is an answer, not a reason to drop the socket: the next call is answered too.
    await ws.send_to(
        text_data=json.dumps({"jsonrpc": "2.0", "id": 4, "method": "GetTask", "params": {}})
    )
    assert json.loads(await ws.receive_from(timeout=5))["error"]["code"] == -32029
    await ws.disconnect()


async def test_the_per_key_limit_is_independent_of_the_per_user_limit(rpc, user, limits):
    limits(user=100, key=2)
    first, second = await _key(user), await _key(user)
    assert [(await _list(rpc, first)).status_code for _ in range(3)] == [200, 200, 429]
    refused = (await _list(rpc, first)).json()["error"]
    assert refused["message"].startswith(
        f"Rate limit exceeded: at most 2 A2A requests per API key every {WINDOW} s"
    )
    # Another key of the same user, and a JWT of that user, have their own allowance.
    assert [(await _list(rpc, second)).status_code for _ in range(3)] == [200, 200, 429]
    token = await sync_to_async(make_access_token)(user)
    assert [(await _list(rpc, token)).status_code for _ in range(5)] == [200] * 5


async def test_the_user_limit_adds_up_calls_from_every_key_and_token(rpc, user, limits):
    limits(user=3, key=100)
    first, second = await _key(user), await _key(user)
    token = await sync_to_async(make_access_token)(user)
    statuses = [(await _list(rpc, credential)).status_code for credential in (first, second, token)]
    assert statuses == [200, 200, 200]
    for credential in (first, second, token):
        assert (await _list(rpc, credential)).status_code == 429


async def test_different_users_are_counted_apart(rpc, api_key, other_api_key, limits):
    limits(user=1)
    assert (await _list(rpc, api_key)).status_code == 200
    assert (await _list(rpc, api_key)).status_code == 429
    assert (await _list(rpc, other_api_key)).status_code == 200


@pytest.mark.parametrize("proxies", [0, 1])
async def test_a_spoofed_x_forwarded_for_does_not_reset_the_count(
    rpc, api_key, limits, settings, proxies
):
    settings.NUM_PROXIES = proxies
    limits(user=2)
    statuses = [
        (
            await _list(rpc, api_key, headers={"X-Forwarded-For": f"198.51.100.{n}, 10.0.0.{n}"})
        ).status_code
        for n in range(1, 5)
    ]
    assert statuses == [200, 200, 429, 429]


async def test_the_first_refusal_in_a_window_is_audited_once(rpc, user, limits):
    limits(user=1)
    key = await _key(user)
    for _ in range(4):
        await _list(rpc, key)
    events = [e async for e in AuditEvent.objects.filter(action="limit.exceeded")]
    assert len(events) == 1
    event = events[0]
    assert (event.actor_id, event.actor_username, event.outcome, event.auth_method) == (
        user.pk,
        "alice",
        "denied",
        "api_key",
    )
    assert event.extra == {"bucket": "a2a-user", "limit": 1, "window": WINDOW}
    assert event.client_ip == "127.0.0.1"


async def test_a_refused_api_key_names_the_key_in_the_audit_row(rpc, user, limits):
    limits(key=1)
    key = await _key(user)
    for _ in range(3):
        await _list(rpc, key)
    event = await AuditEvent.objects.aget(action="limit.exceeded")
    stored = await ApiKey.objects.aget(user=user)
    assert (event.target_type, event.target_id) == ("accounts.apikey", str(stored.pk))
    assert event.extra == {"bucket": "a2a-key", "limit": 1, "window": WINDOW}


async def test_zero_disables_the_limits(rpc, api_key, limits):
    limits(user=0, key=0)
    assert {(await _list(rpc, api_key)).status_code for _ in range(20)} == {200}


async def test_an_a2a_0_3_client_gets_an_internal_error_code_with_the_retry_data(
    rpc, api_key, limits
):
    limits(user=1)
    assert (await rpc("tasks/get", {"id": "nope"}, key=api_key, version=None)).status_code == 200
    refused = await rpc("tasks/get", {"id": "nope"}, key=api_key, version=None)
    assert refused.status_code == 429
    retry = _retry_after(refused)
    # 0.3 has no -32029: its clients see -32603 with the message and the metadata as data.
    assert refused.json()["error"] == {
        "code": -32603,
        "message": (
            f"Rate limit exceeded: at most 1 A2A requests per user every {WINDOW} s; "
            f"retry in {retry} s"
        ),
        "data": {"retryAfter": str(retry), "limit": "1"},
    }


async def test_an_a2a_0_3_stream_gets_the_error_as_an_sse_event(rpc, api_key, limits):
    limits(user=1)
    await _list(rpc, api_key)
    message = {
        "kind": "message",
        "messageId": "m-1",
        "role": "user",
        "parts": [{"kind": "text", "text": "hi"}],
    }
    refused = await rpc("message/stream", {"message": message}, key=api_key, version=None)
    # 0.3 clients read errors of a stream only as an SSE event; Retry-After is there too.
    assert refused.status_code == 200
    _retry_after(refused)
    [frame] = await sse_frames(refused)
    assert frame["data"]["error"]["code"] == -32603
    assert frame["data"]["error"]["data"]["limit"] == "1"
