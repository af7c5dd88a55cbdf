"""The authorization matrix: every A2A operation, on every binding, for every kind of caller.

Callers: anonymous, another user, the owner, a viewer (with and without a share), an
operator, an approver (without a share) and an admin; each signed in with an API key and with
a JWT access token. Every operation ends in one of four outcomes:

- ``unauth``: 401 (JSON-RPC and REST) or a refused WebSocket handshake;
- ``not_found``: TaskNotFoundError, exactly as for a task that does not exist;
- ``denied``: PermissionDeniedError (403 / -32040): the caller may see the task (or is a
  viewer) but not do this;
- ``ok``: the operation ran (a result, or the error the operation itself gives, such as
  UNSUPPORTED_OPERATION for subscribing to a finished task).

After every outcome other than ``ok`` nothing stored has changed. The expected table is
written out below from the role rules of accounts/roles.py and docs/security.md.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from a2a.models import Message, PushConfig, Task, TaskEvent
from a2a.protocol import types as wire
from a2a.services.push import push_config_add
from a2a.services.shares import task_share_set
from a2a.services.tasks import SendResult, message_send
from accounts.services import user_ensure
from config.asgi import application
from tests.conftest import sse_frames
from tests.factories import make_access_token, make_key, wire_message
from tools.models import ToolCall

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The conformance agent leaves "tck-input-required" tasks open (cancelable) and
    # completes "tck-complete-task" follow-ups at once.
    pytest.mark.usefixtures("_conformance_agent"),
]

CALLERS = (
    "anonymous",
    "other",
    "owner",
    "viewer",
    "viewer_shared",
    "operator",
    "approver",
    "admin",
)
CREDENTIALS = ("api_key", "jwt")
BINDINGS = ("jsonrpc", "rest", "websocket")
ROLE_OF = {
    "other": "user",
    "owner": "user",
    "viewer": "viewer",
    "viewer_shared": "viewer",
    "operator": "operator",
    "approver": "approver",
    "admin": "admin",
}
HOOK = {"url": "https://hooks.example.com/webcap", "token": "t0k"}


@pytest.fixture
def _conformance_agent(settings: Any) -> None:
    settings.WEBCAP_AGENT = "conformance"


@dataclass
class World:
    """The owner's tasks: one open (input required), one completed with a push config."""

    open_id: str
    done_id: str
    config_id: str


def _task(owner: Any, prefix: str) -> str:
    message = wire_message("hi", message_id=f"{prefix}-{uuid.uuid4()}")
    result = message_send(owner=owner, message=message)
    assert isinstance(result, SendResult)
    return str(result.task_id)


def _world(users: dict[str, Any]) -> World:
    owner = users["owner"]
    open_id = _task(owner, "tck-input-required")
    done_id = _task(owner, "tck-complete-task")
    done = Task.objects.get(pk=done_id)
    config = push_config_add(
        task=done,
        config=wire.TaskPushNotificationConfig.model_validate({"taskId": done_id, **HOOK}),
    )
    for task_id in (open_id, done_id):
        task_share_set(user=owner, task_id=task_id, username="viewer_shared", permission="view")
    return World(open_id=open_id, done_id=done_id, config_id=config.config_id)


def _snapshot() -> tuple[Any, ...]:
    return (
        Task.objects.count(),
        Message.objects.count(),
        TaskEvent.objects.count(),
        PushConfig.objects.count(),
        ToolCall.objects.count(),
        sorted(Task.objects.values_list("id", "state", "last_seq")),
    )


def _new_message(task_id: str | None = None) -> dict[str, Any]:
    prefix = "tck-complete-task" if task_id else "tck-input-required"
    message: dict[str, Any] = {
        "messageId": f"{prefix}-{uuid.uuid4()}",
        "role": "ROLE_USER",
        "parts": [{"text": "hello"}],
    }
    if task_id:
        message["taskId"] = task_id
    return {"message": message}


@dataclass(frozen=True)
class Op:
    """One operation: JSON-RPC method, params and the REST route, given the world."""

    name: str
    method: str
    params: Callable[[World], dict[str, Any]]
    rest: Callable[[World], tuple[str, str, dict[str, Any] | None]]
    # What a caller allowed to run it gets: "result" or the reason of the operation's own error.
    ok: str = "result"
    streaming: bool = False
    # Which of the owner's tasks it touches (None: none, e.g. a new task or ListTasks).
    touches: str | None = "open"


OPS = (
    Op(
        "send-new",
        "SendMessage",
        lambda w: _new_message(),
        lambda w: ("POST", "/a2a/rest/message:send", _new_message()),
        touches=None,
    ),
    Op(
        "send-follow-up",
        "SendMessage",
        lambda w: _new_message(w.open_id),
        lambda w: ("POST", "/a2a/rest/message:send", _new_message(w.open_id)),
    ),
    Op(
        "stream-follow-up",
        "SendStreamingMessage",
        lambda w: _new_message(w.open_id),
        lambda w: ("POST", "/a2a/rest/message:stream", _new_message(w.open_id)),
        streaming=True,
    ),
    Op(
        "get",
        "GetTask",
        lambda w: {"id": w.open_id},
        lambda w: ("GET", f"/a2a/rest/tasks/{w.open_id}", None),
    ),
    Op(
        "list",
        "ListTasks",
        lambda w: {},
        lambda w: ("GET", "/a2a/rest/tasks", None),
        touches=None,
    ),
    Op(
        "cancel",
        "CancelTask",
        lambda w: {"id": w.open_id},
        lambda w: ("POST", f"/a2a/rest/tasks/{w.open_id}:cancel", {}),
    ),
    Op(
        "subscribe",
        "SubscribeToTask",
        lambda w: {"id": w.done_id},
        lambda w: ("GET", f"/a2a/rest/tasks/{w.done_id}:subscribe", None),
        ok="UNSUPPORTED_OPERATION",
        streaming=True,
        touches="done",
    ),
    Op(
        "push-create",
        "CreateTaskPushNotificationConfig",
        lambda w: {"taskId": w.done_id, **HOOK},
        lambda w: ("POST", f"/a2a/rest/tasks/{w.done_id}/pushNotificationConfigs", HOOK),
        touches="done",
    ),
    Op(
        "push-get",
        "GetTaskPushNotificationConfig",
        lambda w: {"taskId": w.done_id, "id": w.config_id},
        lambda w: (
            "GET",
            f"/a2a/rest/tasks/{w.done_id}/pushNotificationConfigs/{w.config_id}",
            None,
        ),
        touches="done",
    ),
    Op(
        "push-list",
        "ListTaskPushNotificationConfigs",
        lambda w: {"taskId": w.done_id},
        lambda w: ("GET", f"/a2a/rest/tasks/{w.done_id}/pushNotificationConfigs", None),
        touches="done",
    ),
    Op(
        "push-delete",
        "DeleteTaskPushNotificationConfig",
        lambda w: {"taskId": w.done_id, "id": w.config_id},
        lambda w: (
            "DELETE",
            f"/a2a/rest/tasks/{w.done_id}/pushNotificationConfigs/{w.config_id}",
            None,
        ),
        touches="done",
    ),
    Op(
        "extended-card",
        "GetExtendedAgentCard",
        lambda w: {},
        lambda w: ("GET", "/a2a/rest/extendedAgentCard", None),
        ok="UNSUPPORTED_OPERATION",  # no extended card is configured
        touches=None,
    ),
)
WRITES = {"send-new", "send-follow-up", "stream-follow-up", "cancel", "push-create", "push-delete"}
# Reading push configs needs change_task: a webhook's token is not for readers.
NEEDS_CHANGE = {"send-follow-up", "stream-follow-up", "push-create", "push-get", "push-list"}
NEEDS_CHANGE |= {"push-delete"}


def expected(op: Op, caller: str) -> str:
    """The outcome the role rules give (accounts/roles.py, docs/security.md)."""
    if caller == "anonymous":
        return "unauth"
    if caller.startswith("viewer") and op.name in WRITES:
        return "denied"  # viewers are read-only, whatever the task
    if op.touches is None:
        return "ok"
    if caller not in {"owner", "admin", "operator", "viewer_shared"}:
        return "not_found"  # other users, approvers without a share, viewers without one
    if caller in {"owner", "admin"}:
        return "ok"
    if op.name in NEEDS_CHANGE:
        return "denied"
    if op.name == "cancel":
        return "ok" if caller == "operator" else "denied"
    return "ok"


def _classify_error(error: dict[str, Any], reason: str | None) -> str:
    if reason == "TASK_NOT_FOUND":
        return "not_found"
    if reason == "PERMISSION_DENIED":
        return "denied"
    if reason == "UNAUTHENTICATED":
        return "unauth"
    return reason or f"code {error.get('code')}"


def _rpc_outcome(body: dict[str, Any]) -> str:
    if "result" in body:
        return "result"
    error = body["error"]
    details = error.get("data") or [{}]
    return _classify_error(error, details[0].get("reason"))


def _rest_outcome(status: int, body: dict[str, Any]) -> str:
    if status < 400:
        return "result"
    error = body["error"]
    return _classify_error(error, (error.get("details") or [{}])[0].get("reason"))


def _headers(credential: str | None) -> dict[str, str]:
    headers = {"A2A-Version": "1.0"}
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    return headers


async def _via_jsonrpc(op: Op, world: World, credential: str | None) -> str:
    client = AsyncClient()
    body = {"jsonrpc": "2.0", "id": 1, "method": op.method, "params": op.params(world)}
    response = await client.post(
        "/a2a/jsonrpc",
        data=json.dumps(body),
        content_type="application/json",
        headers=_headers(credential),
    )
    if response.status_code == 401:
        return "unauth"
    if response.get("Content-Type", "").startswith("text/event-stream"):
        frames = await sse_frames(response)
        return _rpc_outcome(frames[0]["data"])
    return _rpc_outcome(json.loads(response.content))


async def _via_rest(op: Op, world: World, credential: str | None) -> str:
    client = AsyncClient()
    method, path, body = op.rest(world)
    response = await client.generic(
        method,
        path,
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers=_headers(credential),
    )
    if response.status_code == 401:
        return "unauth"
    if response.get("Content-Type", "").startswith("text/event-stream"):
        frames = await sse_frames(response)
        first = frames[0]["data"]
        if "error" in first:
            return _rest_outcome(first["error"]["code"], first)
        return "result"
    return _rest_outcome(response.status_code, json.loads(response.content))


async def _via_websocket(op: Op, world: World, credential: str | None) -> str:
    headers = [(b"host", b"testserver"), (b"a2a-version", b"1.0")]
    if credential is not None:
        headers.append((b"authorization", f"Bearer {credential}".encode()))
    ws = WebsocketCommunicator(application, "/ws/a2a", headers=headers)
    connected, _ = await ws.connect()
    if not connected:
        return "unauth"
    try:
        request = {"jsonrpc": "2.0", "id": 9, "method": op.method, "params": op.params(world)}
        await ws.send_to(text_data=json.dumps(request))
        while True:
            message = json.loads(await ws.receive_from(timeout=10))
            if message.get("method") == "StreamResponse":
                continue  # a stream's events; the call's outcome is its final response
            return _rpc_outcome(message)
    finally:
        await ws.disconnect()


CALL = {"jsonrpc": _via_jsonrpc, "rest": _via_rest, "websocket": _via_websocket}


def _users() -> dict[str, Any]:
    return {name: user_ensure(username=name, role=role) for name, role in ROLE_OF.items()}


def _credential(user: Any, kind: str) -> str:
    return make_key(user) if kind == "api_key" else make_access_token(user)


@pytest.mark.parametrize("credential_kind", CREDENTIALS)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("binding", BINDINGS)
async def test_every_operation(binding: str, caller: str, credential_kind: str) -> None:
    users = await sync_to_async(_users)()
    credential = (
        None
        if caller == "anonymous"
        else await sync_to_async(_credential)(users[caller], credential_kind)
    )
    mismatches = []
    for op in OPS:
        # A fresh world per operation: a cancel or a follow-up must not decide the next row.
        world = await sync_to_async(_world)(users)
        before = await sync_to_async(_snapshot)()
        outcome = await CALL[binding](op, world, credential)
        want = expected(op, caller)
        got = "ok" if outcome == op.ok else outcome
        if got != want:
            mismatches.append(f"{op.name}: expected {want}, got {outcome}")
        elif want != "ok" and await sync_to_async(_snapshot)() != before:
            mismatches.append(f"{op.name}: refused ({want}) but something stored changed")
    assert not mismatches, "\n".join(mismatches)


async def test_a_foreign_task_answers_exactly_like_a_missing_one() -> None:
    users = await sync_to_async(_users)()
    world = await sync_to_async(_world)(users)
    key = await sync_to_async(make_key)(users["other"])
    client = AsyncClient()

    async def get(task_id: str) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": task_id}}
        response = await client.post(
            "/a2a/jsonrpc",
            data=json.dumps(body),
            content_type="application/json",
            headers=_headers(key),
        )
        error: dict[str, Any] = json.loads(response.content)["error"]
        for detail in error["data"]:
            detail.get("metadata", {}).pop("timestamp", None)
            detail.get("metadata", {}).pop("taskId", None)
        error["message"] = error["message"].replace(task_id, "<id>")
        return error

    missing = str(uuid.uuid4())
    assert await get(world.open_id) == await get(missing)
