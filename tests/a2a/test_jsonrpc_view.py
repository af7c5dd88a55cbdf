"""The JSON-RPC binding in-process: every operation, authorization, and bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from a2a.models import Message, Task, TaskEvent
from accounts.models import ApiKey
from accounts.services import api_key_revoke
from tests.a2a.conftest import sse_frames
from tests.factories import message_params

pytestmark = pytest.mark.django_db(transaction=True)


def _store_counts() -> tuple[int, int, int]:
    return Task.objects.count(), Message.objects.count(), TaskEvent.objects.count()


store_counts = sync_to_async(_store_counts)


async def _send(rpc, key, text="hello world", **kwargs):
    response = await rpc("SendMessage", message_params(text, **kwargs), key=key)
    assert response.status_code == 200
    return response.json()["result"]["task"]


async def _send_unrun(rpc, key):
    """Send with returnImmediately while jobs are not eager: the task stays submitted."""
    params = message_params("x", configuration={"returnImmediately": True})
    return (await rpc("SendMessage", params, key=key)).json()["result"]["task"]


# --- Operations ------------------------------------------------------------------------------


async def test_send_message_blocks_until_completed(rpc, api_key):
    response = await rpc(
        "SendMessage", message_params("hello big world", message_id="m-1"), key=api_key
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert (body["jsonrpc"], body["id"]) == ("2.0", 1)
    task = body["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"] == [
        {
            "artifactId": "echo",
            "name": "echo",
            "parts": [{"text": "hello"}, {"text": " big"}, {"text": " world"}],
        }
    ]
    assert [m["messageId"] for m in task["history"]] == ["m-1"]
    assert task["history"][0]["taskId"] == task["id"]
    assert task["history"][0]["contextId"] == task["contextId"]


async def test_send_message_return_immediately_returns_the_task_as_created(rpc, api_key, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # nothing runs it: the task stays submitted
    settings.CELERY_BROKER_URL = "memory://localhost/"
    response = await rpc(
        "SendMessage",
        message_params("hi", configuration={"returnImmediately": True}),
        key=api_key,
    )
    task = response.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_SUBMITTED"
    assert "artifacts" not in task


async def test_send_message_history_length(rpc, api_key):
    response = await rpc(
        "SendMessage", message_params("hi", configuration={"historyLength": 0}), key=api_key
    )
    assert "history" not in response.json()["result"]["task"]


async def test_repeated_message_id_without_task_is_a_retry_or_refused(rpc, api_key):
    # The rule on every binding: tests/a2a/test_retried_sends.py.
    first = await _send(rpc, api_key, message_id="dup")
    assert (await _send(rpc, api_key, message_id="dup"))["id"] == first["id"]
    other = await rpc("SendMessage", message_params("other text", message_id="dup"), key=api_key)
    assert other.json()["error"]["code"] == -32602
    assert await store_counts() == (1, 1, 5)


async def test_streaming_message_is_sse_with_task_first_and_terminal_last(rpc, api_key):
    response = await rpc(
        "SendStreamingMessage", message_params("a b c"), key=api_key, request_id="s1"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    frames = await sse_frames(response)
    assert [f["id"] for f in frames] == ["1", "2", "3", "4", "5", "6"]
    assert all(f["data"]["id"] == "s1" and f["data"]["jsonrpc"] == "2.0" for f in frames)
    results = [f["data"]["result"] for f in frames]
    assert list(results[0]) == ["task"]
    assert results[0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
    assert results[1]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"
    chunks = [r["artifactUpdate"] for r in results[2:5]]
    assert [(c["artifact"]["parts"], c["append"], c["lastChunk"]) for c in chunks] == [
        ([{"text": "a"}], False, False),
        ([{"text": " b"}], True, False),
        ([{"text": " c"}], True, True),
    ]
    assert results[5]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_get_task_with_history_length(rpc, api_key):
    task = await _send(rpc, api_key)
    for history_length, expected in ((None, 1), (0, 0), (1, 1), (5, 1)):
        params = {"id": task["id"]}
        if history_length is not None:
            params["historyLength"] = history_length
        got = (await rpc("GetTask", params, key=api_key)).json()["result"]
        assert got["id"] == task["id"]
        assert len(got.get("history", [])) == expected
        assert got["artifacts"] == task["artifacts"]


async def test_cancel_then_cancel_again(rpc, api_key, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    task = await _send_unrun(rpc, api_key)
    canceled = (await rpc("CancelTask", {"id": task["id"]}, key=api_key)).json()["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    again = (await rpc("CancelTask", {"id": task["id"]}, key=api_key)).json()
    assert again["error"]["code"] == -32002
    assert again["error"]["data"][0]["reason"] == "TASK_NOT_CANCELABLE"
    assert (await rpc("GetTask", {"id": task["id"]}, key=api_key)).json()["result"]["status"][
        "state"
    ] == "TASK_STATE_CANCELED"


async def test_subscribe_to_finished_task_is_unsupported(rpc, api_key):
    task = await _send(rpc, api_key)
    body = (await rpc("SubscribeToTask", {"id": task["id"]}, key=api_key)).json()
    assert body["error"]["code"] == -32004
    assert "already finished" in body["error"]["message"]


async def test_subscribe_sends_the_current_task_first(rpc, api_key, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    task = await _send_unrun(rpc, api_key)

    response = await rpc("SubscribeToTask", {"id": task["id"]}, key=api_key)
    assert response["Content-Type"] == "text/event-stream"
    # Cancel from "another client" so the subscription sees a terminal event and ends.
    await rpc("CancelTask", {"id": task["id"]}, key=api_key)
    frames = await sse_frames(response)
    results = [f["data"]["result"] for f in frames]
    assert results[0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
    assert results[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_CANCELED"
    assert [f["id"] for f in frames] == ["1", "2"]


async def test_follow_up_to_a_completed_task_is_unsupported(rpc, api_key):
    task = await _send(rpc, api_key)
    before = await store_counts()
    body = (
        await rpc("SendMessage", message_params("more", task_id=task["id"]), key=api_key)
    ).json()
    assert body["error"]["code"] == -32004
    assert await store_counts() == before


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("CreateTaskPushNotificationConfig", -32003),
        ("GetTaskPushNotificationConfig", -32003),
        ("ListTaskPushNotificationConfigs", -32003),
        ("DeleteTaskPushNotificationConfig", -32003),
        ("GetExtendedAgentCard", -32004),
    ],
)
async def test_undeclared_capabilities_are_refused(rpc, api_key, method, code, settings):
    settings.WEBCAP_PUSH_ENABLED = False
    body = (await rpc(method, {"taskId": "t"}, key=api_key)).json()
    assert body["error"]["code"] == code


async def test_inline_push_config_is_refused_when_push_is_off(rpc, api_key, settings):
    settings.WEBCAP_PUSH_ENABLED = False
    params = message_params(
        "x", configuration={"taskPushNotificationConfig": {"url": "https://example.com/hook"}}
    )
    body = (await rpc("SendMessage", params, key=api_key)).json()
    assert body["error"]["code"] == -32003
    assert await store_counts() == (0, 0, 0)


async def test_trailing_slash_path_is_served(rpc, api_key):
    response = await rpc("GetTask", {"id": "missing"}, key=api_key, path="/a2a/jsonrpc/")
    assert response.json()["error"]["code"] == -32001


# --- Authorization matrix ------------------------------------------------------------------


TASK_METHODS = ["GetTask", "CancelTask", "SubscribeToTask", "SendMessage", "SendStreamingMessage"]


def _params_for(method: str, task_id: str):
    if method.startswith("Send"):
        return message_params("follow up", task_id=task_id)
    return {"id": task_id}


@pytest.mark.parametrize("method", TASK_METHODS)
async def test_anonymous_is_401_with_challenge_and_changes_nothing(rpc, api_key, method):
    task = await _send(rpc, api_key)
    before = await store_counts()
    response = await rpc(method, _params_for(method, task["id"]), key=None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="webcap"'
    body = response.json()
    assert body["error"]["code"] == -32000
    assert body["error"]["data"][0]["reason"] == "UNAUTHENTICATED"
    assert await store_counts() == before


@pytest.mark.parametrize("method", TASK_METHODS)
async def test_other_user_sees_task_not_found_and_changes_nothing(
    rpc, api_key, other_api_key, method
):
    task = await _send(rpc, api_key)
    before = await store_counts()
    foreign = (await rpc(method, _params_for(method, task["id"]), key=other_api_key)).json()
    missing = (
        await rpc(
            method, _params_for(method, "6b0c7c1e-0000-4000-8000-000000000000"), key=other_api_key
        )
    ).json()
    assert foreign["error"]["code"] == missing["error"]["code"] == -32001
    assert foreign["error"]["message"].replace(task["id"], "X") == missing["error"][
        "message"
    ].replace("6b0c7c1e-0000-4000-8000-000000000000", "X")
    assert await store_counts() == before


async def test_owner_with_api_key_header_is_served(rpc, api_key):
    task = await _send(rpc, api_key)
    body = (await rpc("GetTask", {"id": task["id"]}, headers={"X-API-Key": api_key})).json()
    assert body["result"]["id"] == task["id"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wcp_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer ", "wcp_without_scheme"],
)
async def test_bad_credentials_are_401(rpc, authorization):
    response = await rpc("GetTask", {"id": "x"}, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == -32000


async def test_revoked_and_expired_keys_are_401(rpc, api_key, user):
    api_key_row = await ApiKey.objects.aget(user=user)
    await sync_to_async(api_key_revoke)(api_key=api_key_row)
    assert (await rpc("GetTask", {"id": "x"}, key=api_key)).status_code == 401
    await ApiKey.objects.filter(pk=api_key_row.pk).aupdate(
        revoked_at=None, expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert (await rpc("GetTask", {"id": "x"}, key=api_key)).status_code == 401


async def test_public_agent_user_serves_anonymous_calls_but_not_bad_keys(rpc, settings):
    settings.WEBCAP_PUBLIC_AGENT_USER = "public"
    task = await _send(rpc, None)
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    owner = await Task.objects.select_related("owner").aget(pk=task["id"])
    assert owner.owner.username == "public"
    assert (await rpc("GetTask", {"id": task["id"]}, key="wcp_wrong")).status_code == 401


# --- Bad input -------------------------------------------------------------------------------


async def _raw(async_client, body, content_type="application/json", key=None, **headers):
    sent = {"A2A-Version": "1.0", **headers}
    if key:
        sent["Authorization"] = f"Bearer {key}"
    return await async_client.post(
        "/a2a/jsonrpc", data=body, content_type=content_type, headers=sent
    )


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        ("{bad json", -32700, "Invalid JSON payload"),
        ('{"id": 1, "method": "GetTask"}', -32600, "'jsonrpc'"),
        ('[{"jsonrpc": "2.0", "id": 1, "method": "GetTask"}]', -32600, "Batch"),
        (
            '{"jsonrpc": "2.0", "id": 1, "method": "NoSuchMethod"}',
            -32601,
            "Method 'NoSuchMethod' not found",
        ),
        (
            '{"jsonrpc": "2.0", "id": 1, "method": "tasks/get"}',
            -32009,
            "tasks/get is an A2A 0.3 method",
        ),
        (
            '{"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {}}',
            -32602,
            "id: Field required",
        ),
        (
            '{"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": '
            '{"messageId": "m", "role": "ROLE_USER", "parts": [{"text": 1}]}}}',
            -32602,
            "message.parts[0].text",
        ),
        (
            '{"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "not-a-uuid"}}',
            -32001,
            "not found",
        ),
    ],
)
async def test_bad_requests_get_clear_errors_with_http_200(async_client, api_key, body, code, text):
    response = await _raw(async_client, body, key=api_key)
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["code"] == code
    assert text in error["message"]
    assert await store_counts() == (0, 0, 0)


async def test_wrong_content_type_is_415_content_type_not_supported(async_client, api_key):
    response = await _raw(async_client, '{"jsonrpc":"2.0"}', content_type="text/plain", key=api_key)
    assert response.status_code == 415
    error = response.json()["error"]
    assert (error["code"], error["data"][0]["reason"]) == (-32005, "CONTENT_TYPE_NOT_SUPPORTED")
    assert "text/plain" in error["message"]


async def test_get_is_405(async_client):
    response = await async_client.get("/a2a/jsonrpc")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"]["code"] == -32600


SEND_1_0 = (
    "and this request asks for A2A 0.3 (no A2A-Version header means 0.3): send the header "
    "'A2A-Version: 1.0' (or the query parameter ?A2A-Version=1.0)"
)


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        (
            "GetTask",
            {"id": "x"},
            f"GetTask is an A2A 1.0 operation, {SEND_1_0}; a client speaking A2A 0.3 calls "
            "tasks/get instead",
        ),
        (
            "ListTasks",
            {},
            f"ListTasks is an A2A 1.0 operation, {SEND_1_0}; A2A 0.3 has no ListTasks",
        ),
    ],
)
async def test_missing_version_header_says_what_to_send(rpc, api_key, method, params, message):
    body = (await rpc(method, params, key=api_key, version=None)).json()
    assert body["error"]["code"] == -32009
    assert body["error"]["message"] == message


async def test_malformed_and_unsupported_versions_say_what_to_send(rpc, api_key):
    send = "send the header 'A2A-Version: 1.0' (or the query parameter ?A2A-Version=1.0)"
    body = (await rpc("GetTask", {"id": "x"}, key=api_key, version="latest")).json()
    assert body["error"]["message"] == f"A2A-Version 'latest' is not a Major.Minor version: {send}"
    body = (await rpc("GetTask", {"id": "x"}, key=api_key, version="2.0")).json()
    assert body["error"]["message"] == f"A2A version 2.0 is not supported: {send}"


async def test_version_query_parameter_is_accepted(rpc, api_key):
    body = (
        await rpc(
            "GetTask", {"id": "x"}, key=api_key, version=None, path="/a2a/jsonrpc?A2A-Version=1.0"
        )
    ).json()
    assert body["error"]["code"] == -32001


async def test_unsupported_version_is_refused_before_anything_is_stored(rpc, api_key):
    body = (await rpc("SendMessage", message_params(), key=api_key, version="2.0")).json()
    assert body["error"]["code"] == -32009
    assert await store_counts() == (0, 0, 0)


async def test_idle_sse_stream_sends_keepalive_comments(rpc, api_key, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the task stays submitted: the stream is idle
    settings.WEBCAP_STREAM_POLL_INTERVAL = 0.05
    settings.WEBCAP_STREAM_KEEPALIVE = 0.1
    task = await _send_unrun(rpc, api_key)
    response = await rpc("SubscribeToTask", {"id": task["id"]}, key=api_key)
    chunks = aiter(response.streaming_content)
    first = await anext(chunks)
    assert first.startswith(b"id: 1\ndata: ")
    assert await anext(chunks) == b": keepalive\n\n"
    await chunks.aclose()
