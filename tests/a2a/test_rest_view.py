"""The HTTP+JSON binding in-process: routes, content types, errors, equality with JSON-RPC."""

from __future__ import annotations

import json
from typing import Any

import pytest

from a2a.models import Task
from tests.a2a.conftest import sse_frames
from tests.factories import message_params, normalized

pytestmark = pytest.mark.django_db(transaction=True)

REST = "/a2a/rest"


@pytest.fixture
def rest(async_client):
    """Call an HTTP+JSON route; body is sent as JSON for POST."""

    async def call(
        verb: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        version: str | None = "1.0",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ):
        sent = dict(headers or {})
        if version is not None:
            sent.setdefault("A2A-Version", version)
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        method = getattr(async_client, verb.lower())
        if verb in ("GET", "DELETE"):
            return await method(REST + path, query or {}, headers=sent)
        data = (
            body if isinstance(body, str | bytes) else json.dumps(body if body is not None else {})
        )
        return await method(REST + path, data=data, content_type=content_type, headers=sent)

    return call


async def _send(rest, key, text="hello world", **kwargs):
    response = await rest("POST", "/message:send", message_params(text, **kwargs), key=key)
    assert response.status_code == 200, response.content
    return response.json()["task"]


def _assert_error(response, status: int, reason: str, text: str = "") -> Any:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert error["details"][0]["reason"] == reason
    assert text in error["message"]
    return error


async def test_send_returns_the_completed_task_as_a2a_json(rest, api_key):
    response = await rest("POST", "/message:send", message_params("hi there"), key=api_key)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/a2a+json"
    task = response.json()["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [p["text"] for p in task["artifacts"][0]["parts"]] == ["hi", " there"]


async def test_a2a_json_request_content_type_is_accepted(rest, api_key):
    response = await rest(
        "POST",
        "/message:send",
        message_params("x"),
        key=api_key,
        content_type="application/a2a+json",
    )
    assert response.status_code == 200


async def test_plain_json_is_answered_to_clients_that_only_accept_it(rest, api_key):
    response = await rest(
        "POST",
        "/message:send",
        message_params("x"),
        key=api_key,
        headers={"Accept": "application/json"},
    )
    assert response["Content-Type"] == "application/json"


async def test_stream_is_sse_of_bare_stream_responses(rest, api_key):
    response = await rest("POST", "/message:stream", message_params("a b"), key=api_key)
    assert response["Content-Type"] == "text/event-stream"
    frames = await sse_frames(response)
    assert [f["id"] for f in frames] == ["1", "2", "3", "4", "5"]
    assert [next(iter(f["data"])) for f in frames] == [
        "task",
        "statusUpdate",
        "artifactUpdate",
        "artifactUpdate",
        "statusUpdate",
    ]


async def test_get_list_cancel_and_subscribe_routes(rest, api_key, settings):
    task = await _send(rest, api_key)
    got = (
        await rest("GET", f"/tasks/{task['id']}", key=api_key, query={"historyLength": "0"})
    ).json()
    assert got["id"] == task["id"]
    assert "history" not in got

    listed = (
        await rest(
            "GET", "/tasks", key=api_key, query={"pageSize": "1", "includeArtifacts": "true"}
        )
    ).json()
    assert (listed["totalSize"], listed["pageSize"], listed["nextPageToken"]) == (1, 1, "")
    assert listed["tasks"][0]["artifacts"] == task["artifacts"]

    _assert_error(
        await rest("GET", f"/tasks/{task['id']}:subscribe", key=api_key),
        400,
        "UNSUPPORTED_OPERATION",
        "already finished",
    )
    resumed = await rest(
        "POST", f"/tasks/{task['id']}:subscribe", key=api_key, headers={"Last-Event-ID": "3"}
    )
    assert [f["id"] for f in await sse_frames(resumed)] == ["4", "5"]

    settings.CELERY_TASK_ALWAYS_EAGER = False
    pending = (
        await rest(
            "POST",
            "/message:send",
            message_params("x", configuration={"returnImmediately": True}),
            key=api_key,
        )
    ).json()["task"]
    canceled = await rest(
        "POST", f"/tasks/{pending['id']}:cancel", {"id": pending["id"]}, key=api_key
    )
    assert canceled.json()["status"]["state"] == "TASK_STATE_CANCELED"
    _assert_error(
        await rest("POST", f"/tasks/{pending['id']}:cancel", key=api_key),
        400,
        "TASK_NOT_CANCELABLE",
    )


async def test_tenant_prefix_is_served(rest, api_key):
    task = await _send(rest, api_key)
    response = await rest("GET", f"/acme/tasks/{task['id']}", key=api_key)
    assert response.json()["id"] == task["id"]
    sent = await rest("POST", "/acme/message:send", message_params("x"), key=api_key)
    assert sent.json()["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


@pytest.mark.parametrize(
    ("verb", "path", "reason"),
    [
        ("POST", "/tasks/t/pushNotificationConfigs", "PUSH_NOTIFICATION_NOT_SUPPORTED"),
        ("GET", "/tasks/t/pushNotificationConfigs", "PUSH_NOTIFICATION_NOT_SUPPORTED"),
        ("GET", "/tasks/t/pushNotificationConfigs/c", "PUSH_NOTIFICATION_NOT_SUPPORTED"),
        ("DELETE", "/tasks/t/pushNotificationConfigs/c", "PUSH_NOTIFICATION_NOT_SUPPORTED"),
        ("GET", "/extendedAgentCard", "UNSUPPORTED_OPERATION"),
    ],
)
async def test_undeclared_capabilities(rest, api_key, verb, path, reason, settings):
    settings.WEBCAP_PUSH_ENABLED = False
    body = {"url": "https://example.com/hook"} if verb == "POST" else None
    _assert_error(await rest(verb, path, body, key=api_key), 400, reason)


# --- Errors ------------------------------------------------------------------------------------


async def test_unknown_task_is_404_with_error_info(rest, api_key):
    error = _assert_error(
        await rest("GET", "/tasks/0c8f0000-0000-4000-8000-000000000000", key=api_key),
        404,
        "TASK_NOT_FOUND",
    )
    assert error["status"] == "NOT_FOUND"
    assert error["details"][0]["domain"] == "a2a-protocol.org"
    assert error["details"][0]["metadata"]["taskId"] == "0c8f0000-0000-4000-8000-000000000000"


async def test_bad_bodies_and_params(rest, api_key):
    _assert_error(await rest("POST", "/message:send", "{oops", key=api_key), 400, "PARSE_ERROR")
    _assert_error(
        await rest("POST", "/message:send", "[1]", key=api_key),
        400,
        "INVALID_REQUEST",
        "JSON object",
    )
    _assert_error(
        await rest("POST", "/message:send", {"message": {"role": "ROLE_USER"}}, key=api_key),
        400,
        "INVALID_PARAMS",
        "message.messageId",
    )
    _assert_error(
        await rest("POST", "/message:send", "x", key=api_key, content_type="text/plain"),
        415,
        "CONTENT_TYPE_NOT_SUPPORTED",
    )
    _assert_error(
        await rest("GET", "/tasks", key=api_key, query={"historyLength": "-1"}),
        400,
        "INVALID_PARAMS",
        "historyLength",
    )
    _assert_error(
        await rest("GET", "/tasks", key=api_key, query={"pageSize": "lots"}),
        400,
        "INVALID_PARAMS",
        "pageSize",
    )
    assert await Task.objects.acount() == 0


async def test_wrong_verb_unknown_route_and_version(rest, api_key):
    response = await rest("GET", "/message:send", key=api_key)
    _assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "POST"
    _assert_error(await rest("GET", "/nothing/here/at/all", key=api_key), 404, "ROUTE_NOT_FOUND")
    # HTTP+JSON speaks only 1.0: the error names no 0.3 method to call instead.
    _assert_error(
        await rest("GET", "/tasks", key=api_key, version=None),
        400,
        "VERSION_NOT_SUPPORTED",
        "ListTasks is an A2A 1.0 operation, and this request asks for A2A 0.3 (no A2A-Version "
        "header means 0.3): send the header 'A2A-Version: 1.0' (or the query parameter "
        "?A2A-Version=1.0); A2A 0.3 has no ListTasks",
    )
    error = _assert_error(
        await rest("GET", "/tasks/x", key=api_key, version=None), 400, "VERSION_NOT_SUPPORTED"
    )
    assert error["message"].endswith("A2A 0.3 has no GetTask")  # not on this binding
    ok = await rest("GET", "/tasks", key=api_key, version=None, query={"A2A-Version": "1.0"})
    assert ok.status_code == 200


# --- Authorization matrix ---------------------------------------------------------------------


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/tasks/{id}", None),
    ("POST", "/tasks/{id}:cancel", {}),
    ("GET", "/tasks/{id}:subscribe", None),
    ("POST", "/message:send", "follow-up"),
    ("POST", "/message:stream", "follow-up"),
]


def _route(path: str, body: Any, task_id: str):
    if body == "follow-up":
        body = message_params("more", task_id=task_id)
    return path.format(id=task_id), body


@pytest.mark.parametrize(("verb", "path", "body"), ROUTES)
async def test_anonymous_is_401(rest, api_key, verb, path, body):
    task = await _send(rest, api_key)
    route, payload = _route(path, body, task["id"])
    response = await rest(verb, route, payload)
    _assert_error(response, 401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"] == 'Bearer realm="webcap"'
    assert (await Task.objects.aget(pk=task["id"])).last_seq == 5


@pytest.mark.parametrize(("verb", "path", "body"), ROUTES)
async def test_other_user_is_404_like_a_missing_task(
    rest, api_key, other_api_key, verb, path, body
):
    task = await _send(rest, api_key)
    route, payload = _route(path, body, task["id"])
    _assert_error(await rest(verb, route, payload, key=other_api_key), 404, "TASK_NOT_FOUND")
    assert (await Task.objects.aget(pk=task["id"])).last_seq == 5
    assert await Task.objects.acount() == 1


async def test_owner_and_x_api_key(rest, api_key):
    task = await _send(rest, api_key)
    response = await rest("GET", f"/tasks/{task['id']}", headers={"X-API-Key": api_key})
    assert response.json()["id"] == task["id"]


# --- The same answers on both bindings -----------------------------------------------------------


async def test_results_and_errors_are_equal_across_bindings(rest, rpc, api_key):
    via_rest = await _send(rest, api_key, "same words")
    via_rpc = (await rpc("SendMessage", message_params("same words"), key=api_key)).json()[
        "result"
    ]["task"]
    assert normalized(via_rest) == normalized(via_rpc)

    rest_stream = [
        f["data"]
        for f in await sse_frames(
            await rest("POST", "/message:stream", message_params("s t"), key=api_key)
        )
    ]
    rpc_stream = [
        f["data"]["result"]
        for f in await sse_frames(
            await rpc("SendStreamingMessage", message_params("s t"), key=api_key)
        )
    ]
    assert normalized(rest_stream) == normalized(rpc_stream)

    rest_list = (await rest("GET", "/tasks", key=api_key, query={"pageSize": "2"})).json()
    rpc_list = (await rpc("ListTasks", {"pageSize": 2}, key=api_key)).json()["result"]
    assert rest_list["tasks"] == rpc_list["tasks"]
    assert (rest_list["totalSize"], rest_list["pageSize"]) == (
        rpc_list["totalSize"],
        rpc_list["pageSize"],
    )

    missing = "0c8f0000-0000-4000-8000-000000000001"
    rest_error = (await rest("GET", f"/tasks/{missing}", key=api_key)).json()["error"]
    rpc_error = (await rpc("GetTask", {"id": missing}, key=api_key)).json()["error"]
    assert rest_error["message"] == rpc_error["message"]
    assert rest_error["details"][0]["reason"] == rpc_error["data"][0]["reason"]
