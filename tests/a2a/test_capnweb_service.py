"""The A2A service over Cap'n Web: a real RpcSession driven with JSON messages, the consumer and
the HTTP batch through the real ASGI application and its middleware."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from a2a.capnweb.errors import error_mapper
from a2a.capnweb.service import A2AService
from a2a.capnweb.streaming import Connection
from a2a.models import Task
from accounts.services import api_key_create
from config.asgi import application
from tests.capnweb.peer import Peer
from tests.factories import make_access_token, message_params
from tests.fakellm import Text, ToolCalls
from tests.tools.conftest import fake  # noqa: F401 (the assistant on a scripted model)

pytestmark = pytest.mark.django_db(transaction=True)

MISSING = "4e1d8b37-0000-4000-8000-000000000000"


def enc(value: Any) -> Any:
    """A plain value as a Cap'n Web expression: arrays are escaped as [[...]]."""
    if isinstance(value, list):
        return [[enc(item) for item in value]]
    if isinstance(value, dict):
        return {key: enc(item) for key, item in value.items()}
    return value


def dec(value: Any) -> Any:
    """A Cap'n Web expression without stubs as a plain value."""
    if isinstance(value, list):
        assert len(value) == 1, value
        assert isinstance(value[0], list), value
        return [dec(item) for item in value[0]]
    if isinstance(value, dict):
        return {key: dec(item) for key, item in value.items()}
    return value


def client() -> Peer:
    return Peer(A2AService(Connection(base_url="http://testserver")), error_mapper=error_mapper)


def call(target: int, method: str, *args: Any) -> list[Any]:
    return ["push", ["pipeline", target, [method], [enc(arg) for arg in args]]]


async def answer(peer: Peer, export_id: int) -> list[Any]:
    """Pull export_id and return its resolve or reject message (other messages are skipped)."""
    await peer.feed(["pull", export_id])
    while True:
        message = await peer.next(timeout=15)
        if message[0] in ("resolve", "reject") and message[1] == export_id:
            return list(message)


async def result(peer: Peer, export_id: int) -> Any:
    message = await answer(peer, export_id)
    assert message[0] == "resolve", message
    return dec(message[2])


async def error(peer: Peer, export_id: int) -> tuple[str, int | None]:
    """The message and A2A code of a rejected call."""
    message = await answer(peer, export_id)
    assert message[0] == "reject", message
    props = message[2][4] if len(message[2]) > 4 else {}
    return message[2][2], props.get("code")


async def signed_in(key: str) -> Peer:
    """A session whose export 1 is the authenticated capability."""
    peer = client()
    await peer.feed(call(0, "authenticate", {"type": "apiKey", "apiKey": key}))
    return peer


def send_params(text: str, **config: Any) -> list[Any]:
    params = message_params(text)
    return [params["message"], config or None]


async def test_anonymous_reaches_only_the_card_and_authenticate():
    peer = client()
    await peer.feed(call(0, "getAgentCard"))
    card = await result(peer, 1)
    assert {
        "url": "ws://testserver/ws/capnweb",
        "protocolBinding": "urn:webcap:binding:capnweb:v1",
        "protocolVersion": "1.0",
    } in card["supportedInterfaces"]
    for export_id, method in enumerate(
        ("sendMessage", "getTask", "listTasks", "cancelTask", "approveToolCall", "_connection"),
        start=2,
    ):
        await peer.feed(call(0, method, MISSING))
        assert await error(peer, export_id) == (f"method not found: '{method}'", None)
    assert await Task.objects.acount() == 0


async def test_authenticate_with_an_api_key_or_a_jwt_and_pipeline_on_it(user, api_key):
    token = await sync_to_async(make_access_token)(user)
    peer = client()
    await peer.feed(
        call(0, "authenticate", {"type": "apiKey", "apiKey": api_key}),
        call(1, "getTask", MISSING),
        call(0, "authenticate", {"type": "bearer", "token": token}),
        call(3, "listTasks", {}),
        call(0, "authenticate", {"type": "bearer", "token": api_key}),
        call(5, "listTools"),
    )
    # Pipelined on the unresolved capability, in the same round trip.
    assert await error(peer, 2) == (f"Task {MISSING!r} not found", -32001)
    assert await result(peer, 4) == {
        "tasks": [],
        "nextPageToken": "",
        "pageSize": 50,
        "totalSize": 0,
    }
    tools = await result(peer, 6)
    assert "calculator" in [tool["name"] for tool in tools]


@pytest.mark.parametrize(
    ("credentials", "message", "code"),
    [
        ({"type": "apiKey", "apiKey": "wcp_nope"}, "Invalid credentials", -32000),
        ({"type": "bearer", "token": "nope"}, "Invalid credentials", -32000),
        ({"type": "bearer", "token": "a.b.c"}, "Invalid credentials: Token refused", -32000),
        ({"type": "password", "token": "x"}, "Invalid parameters: credentials.type", -32602),
        ({"type": "anonymous"}, "Invalid credentials: Anonymous access is off", -32000),
        ({"type": "bearer"}, "Invalid parameters: credentials.token", -32602),
        ("wcp_x", "Invalid parameters: credentials", -32602),
    ],
)
async def test_failed_authenticate_rejects_clearly(db, credentials, message, code):
    peer = client()
    await peer.feed(call(0, "authenticate", credentials), call(1, "getTask", MISSING))
    text, got = await error(peer, 1)
    assert (text.startswith(message), got) == (True, code), text
    # Whatever was pipelined on the failed capability fails the same way.
    assert await error(peer, 2) == (text, code)
    assert "wcp_nope" not in json.dumps(peer.sent)


async def test_anonymous_acts_as_the_public_agent_user_when_it_is_set(settings):
    settings.WEBCAP_PUBLIC_AGENT_USER = "public-agent"
    peer = client()
    await peer.feed(
        call(0, "authenticate", {"type": "anonymous"}), call(1, "sendMessage", *send_params("hi"))
    )
    task = (await result(peer, 2))["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    stored = await Task.objects.select_related("owner").aget(pk=task["id"])
    assert stored.owner.username == "public-agent"


async def test_foreign_tasks_look_missing_and_stay_untouched(api_key, other_api_key):
    owner = await signed_in(api_key)
    await owner.feed(call(1, "sendMessage", *send_params("mine")))
    task = (await result(owner, 2))["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"

    other = await signed_in(other_api_key)
    for export_id, (method, args) in enumerate(
        [
            ("getTask", [task["id"]]),
            ("cancelTask", [task["id"]]),
            ("subscribeToTask", [task["id"], None, 0]),
            ("getPendingApprovals", [task["id"]]),
        ],
        start=2,
    ):
        await other.feed(call(1, method, *args))
        assert await error(other, export_id) == (f"Task {task['id']!r} not found", -32001)
    await other.feed(call(1, "listTasks", {}))
    assert (await result(other, 6))["tasks"] == []

    await owner.feed(call(1, "getTask", task["id"], 0))
    mine = await result(owner, 3)
    assert (mine["id"], mine["status"]["state"]) == (task["id"], "TASK_STATE_COMPLETED")
    assert (await Task.objects.aget(pk=task["id"])).state == "completed"


async def test_api_key_scopes_apply(user):
    _, key = await sync_to_async(api_key_create)(user=user, name="ro", scopes=["tasks:read"])
    peer = await signed_in(key)
    await peer.feed(
        call(1, "sendMessage", *send_params("x")),
        call(1, "approveToolCall", {"callId": MISSING, "approved": True}),
        call(1, "listTasks", {}),
    )
    assert await error(peer, 2) == (
        "This API key lacks the tasks:write scope needed for SendMessage",
        -32040,
    )
    assert await error(peer, 3) == (
        "This API key lacks the tools:approve scope needed for approveToolCall",
        -32040,
    )
    assert (await result(peer, 4))["tasks"] == []
    assert await Task.objects.acount() == 0


async def test_bad_params_are_invalid_params(api_key):
    peer = await signed_in(api_key)
    await peer.feed(
        call(1, "sendMessage", {"parts": []}),
        call(1, "approveToolCall", {"callId": 3, "approved": "yes"}),
        ["push", ["pipeline", 1, ["sendMessage"], [{"messageId": ["bytes", "AAE="]}]]],
    )
    text, code = await error(peer, 2)
    assert code == -32602
    assert "message.messageId: Field required" in text
    assert await error(peer, 3) == (
        "Invalid parameters: callId: must be the id of a tool call (a string); "
        "approved: must be true or false",
        -32602,
    )
    assert await error(peer, 4) == (
        "Invalid parameters: message.messageId: must be JSON, not bytes",
        -32602,
    )


async def _callback_events(peer: Peer, callback: int) -> list[tuple[str, Any, int]]:
    """Answer the server's calls to the client's callback until the server releases it."""
    events = []
    while True:
        message = await peer.next(timeout=15)
        if message[0] == "push" and message[1][1] == callback:
            _, (_, _, (method,), args) = message
            event, seq = (dec(arg) for arg in args)  # call arguments are a bare array
            events.append((method, event, seq))
        elif message[0] == "pull" and message[1] > 0:
            await peer.feed(["resolve", message[1], None])
        elif message == ["release", callback, 1]:
            return events


async def test_subscribe_with_last_event_seq_replays_what_was_missed(api_key):
    peer = await signed_in(api_key)
    await peer.feed(call(1, "sendMessage", *send_params("a b c")))
    task = (await result(peer, 2))["task"]
    await peer.feed(
        ["push", ["pipeline", 1, ["subscribeToTask"], [task["id"], ["export", -1], 3]]],
        ["push", ["pipeline", 3, ["taskId"]]],
        ["pull", 3],
        ["pull", 4],
    )
    events = await _callback_events(peer, -1)
    assert [(method, seq) for method, _, seq in events] == [
        ("onArtifactUpdate", 4),
        ("onArtifactUpdate", 5),
        ("onStatusUpdate", 6),
    ]
    assert events[-1][1]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert events[0][1]["artifact"]["parts"] == [{"text": " b"}]
    await peer.feed(call(3, "isFinalState"))
    assert await result(peer, 5) is True
    # Replaying from before the first event: every event after the Task, in order.
    await peer.feed(
        ["push", ["pipeline", 1, ["subscribeToTask"], [task["id"], ["export", -2], 0]]],
        ["pull", 6],
    )
    events = await _callback_events(peer, -2)
    assert [seq for _, _, seq in events] == [2, 3, 4, 5, 6]


async def test_streaming_send_delivers_events_to_the_callback_and_ends(api_key):
    peer = await signed_in(api_key)
    params = message_params("one two")
    await peer.feed(
        [
            "push",
            [
                "pipeline",
                1,
                ["sendMessageStreaming"],
                [enc(params["message"]), None, ["export", -1]],
            ],
        ],
        ["pull", 2],
    )
    events = await _callback_events(peer, -1)
    kinds = [(method, seq) for method, _, seq in events]
    assert kinds == [
        ("onStatusUpdate", 2),
        ("onArtifactUpdate", 3),
        ("onArtifactUpdate", 4),
        ("onStatusUpdate", 5),
    ]
    assert events[-1][1]["status"]["state"] == "TASK_STATE_COMPLETED"
    await peer.feed(call(2, "getTask"))
    task = await result(peer, 3)
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    # A finished task cannot be subscribed to without a sequence number (as on SSE).
    await peer.feed(call(1, "subscribeToTask", task["id"]))
    assert (await error(peer, 4))[1] == -32004


async def test_approval_flow_and_cancel(api_key, fake, settings, tmp_path):  # noqa: F811
    (tmp_path / "notes.txt").write_text("remember the milk")
    settings.WEBCAP_FILES_ROOT = str(tmp_path)
    fake.script(
        ToolCalls([("r1", "read_file", {"path": "notes.txt"})]),
        Text("You wrote: remember the milk."),
        ToolCalls([("r2", "read_file", {"path": "notes.txt"})]),
    )
    peer = await signed_in(api_key)
    await peer.feed(call(1, "sendMessage", *send_params("read my notes")))
    task = (await result(peer, 2))["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    await peer.feed(call(1, "getPendingApprovals", task["id"]))
    (pending,) = await result(peer, 3)
    assert (pending["tool"], pending["arguments"]) == ("read_file", {"path": "notes.txt"})

    await peer.feed(
        call(1, "approveToolCall", {"callId": pending["toolCallId"], "approved": True}),
        call(1, "getTask", task["id"]),
    )
    decided = await result(peer, 4)
    assert (decided["taskId"], decided["decision"]) == (task["id"], "approved")
    done = await result(peer, 5)
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert "remember the milk" in done["artifacts"][-1]["parts"][0]["text"]
    # Deciding a call that no longer waits is refused; an unknown call looks missing.
    await peer.feed(
        call(1, "approveToolCall", {"callId": pending["toolCallId"], "approved": False}),
        call(1, "approveToolCall", {"callId": MISSING, "approved": True}),
    )
    assert (await error(peer, 6))[1] == -32004
    assert (await error(peer, 7))[1] == -32001

    await peer.feed(call(1, "sendMessage", *send_params("again")))
    second = (await result(peer, 8))["task"]
    assert second["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    await peer.feed(call(1, "cancelTask", second["id"]))
    assert (await result(peer, 9))["status"]["state"] == "TASK_STATE_CANCELED"


def _socket(*headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, "/ws/capnweb", headers=[(b"host", b"testserver"), *headers]
    )


async def _frame(ws: WebsocketCommunicator) -> Any:
    return json.loads(await ws.receive_from(timeout=10))


async def test_websocket_binding_needs_no_handshake_credentials(api_key):
    ws = _socket()
    connected, _ = await ws.connect()
    assert connected
    for message in (
        call(0, "authenticate", {"type": "apiKey", "apiKey": api_key}),
        call(1, "sendMessage", *send_params("over the socket")),
        ["pull", 2],
    ):
        await ws.send_to(text_data=json.dumps(message))
    reply = await _frame(ws)
    assert reply[:2] == ["resolve", 2]
    assert dec(reply[2])["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    await ws.send_to(text_data="not json")
    assert await _frame(ws) == [
        "abort",
        ["error", "TypeError", "bad RPC message: message is not JSON"],
    ]
    assert (await ws.receive_output(timeout=5))["type"] == "websocket.close"
    await ws.disconnect()


async def test_websocket_binding_checks_the_origin(settings):
    connected, code = await _socket((b"origin", b"https://evil.example")).connect()
    assert (connected, code) == (False, 4403)
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    ws = _socket((b"origin", b"https://app.example"))
    assert (await ws.connect())[0]
    await ws.disconnect()


async def test_http_batch(async_client, api_key, settings):
    body = "\n".join(
        json.dumps(message)
        for message in (
            call(0, "authenticate", {"type": "apiKey", "apiKey": api_key}),
            call(1, "listTasks", {}),
            call(1, "subscribeToTask", MISSING, None),
            call(0, "getAgentCard"),
            ["pull", 2],
            ["pull", 3],
        )
    )
    response = await async_client.post("/capnweb", data=body, content_type="text/plain")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    # Answers go out as calls finish, not in the order they were pulled.
    lines = sorted(
        (json.loads(line) for line in response.content.decode().split("\n")), key=lambda m: m[1]
    )
    assert lines[0][:2] == ["resolve", 2]
    assert dec(lines[0][2])["tasks"] == []
    assert lines[1][:2] == ["reject", 3]
    assert lines[1][2][4]["code"] == -32004
    assert "WebSocket" in lines[1][2][2]
    assert len(lines) == 2  # the card was never pulled

    assert (await async_client.get("/capnweb")).status_code == 405
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    preflight = await async_client.options(
        "/capnweb",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight["Access-Control-Allow-Origin"] == "https://app.example"
    garbage = await async_client.post("/capnweb", data="{", content_type="text/plain")
    assert garbage.status_code == 200
    assert json.loads(garbage.content)[0] == "abort"
    empty = await async_client.post("/capnweb", data="", content_type="text/plain")
    assert (empty.status_code, empty.content) == (200, b"")
