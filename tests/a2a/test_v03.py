"""A2A v0.3 clients on the same endpoints: method names, shapes, final flags and errors."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from a2a.models import Task
from a2a.protocol import errors
from a2a.services.tasks import task_transition
from tests.a2a.conftest import sse_frames

pytestmark = pytest.mark.django_db(transaction=True)


def _message(text="hello world", **extra):
    return {
        "kind": "message",
        "role": "user",
        "messageId": extra.pop("messageId", "m-1"),
        "parts": extra.pop("parts", [{"kind": "text", "text": text}]),
        **extra,
    }


@pytest.fixture
def rpc03(rpc):
    """A 0.3 client: 0.3 method names and no A2A-Version header."""

    async def call(method, params=None, **kwargs):
        kwargs.setdefault("version", None)
        return await rpc(method, params, **kwargs)

    return call


async def test_message_send_returns_the_bare_task_in_0_3_shape(rpc03, api_key):
    body = (await rpc03("message/send", {"message": _message("a b")}, key=api_key)).json()
    task = body["result"]
    assert task["kind"] == "task"
    assert task["status"]["state"] == "completed"
    assert task["status"]["timestamp"].endswith("Z")
    assert task["history"] == [
        {
            "kind": "message",
            "role": "user",
            "messageId": "m-1",
            "contextId": task["contextId"],
            "taskId": task["id"],
            "parts": [{"kind": "text", "text": "a b"}],
        }
    ]
    assert task["artifacts"][0]["parts"] == [
        {"kind": "text", "text": "a"},
        {"kind": "text", "text": " b"},
    ]


async def test_explicit_0_3_header_works_too(rpc03, api_key):
    body = (await rpc03("message/send", {"message": _message()}, key=api_key, version="0.3")).json()
    assert body["result"]["kind"] == "task"


async def test_parts_of_every_kind_are_translated_both_ways(rpc03, rpc, api_key):
    parts = [
        {"kind": "file", "file": {"bytes": "aGk=", "mimeType": "text/plain", "name": "a.txt"}},
        {"kind": "file", "file": {"uri": "https://x.example/f.png", "mimeType": "image/png"}},
        {"kind": "data", "data": {"k": 1}},
        {"kind": "data", "data": {"value": [1, 2]}, "metadata": {"data_part_compat": True}},
    ]
    task = (await rpc03("message/send", {"message": _message(parts=parts)}, key=api_key)).json()[
        "result"
    ]
    stored = (await rpc("GetTask", {"id": task["id"]}, key=api_key)).json()["result"]
    assert stored["history"][0]["parts"] == [
        {"raw": "aGk=", "mediaType": "text/plain", "filename": "a.txt"},
        {"url": "https://x.example/f.png", "mediaType": "image/png"},
        {"data": {"k": 1}},
        {"data": [1, 2]},
    ]
    assert task["history"][0]["parts"] == parts


async def test_blocking_false_returns_at_once(rpc03, api_key, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    params = {"message": _message(), "configuration": {"blocking": False}}
    task = (await rpc03("message/send", params, key=api_key)).json()["result"]
    assert task["status"]["state"] == "submitted"


async def test_history_length_zero_means_all_in_0_3(rpc03, api_key):
    task = (await rpc03("message/send", {"message": _message()}, key=api_key)).json()["result"]
    got = (await rpc03("tasks/get", {"id": task["id"], "historyLength": 0}, key=api_key)).json()
    assert len(got["result"]["history"]) == 1
    got = (await rpc03("tasks/get", {"id": task["id"], "historyLength": 1}, key=api_key)).json()
    assert len(got["result"]["history"]) == 1


async def test_message_stream_has_bare_events_and_final_flags(rpc03, api_key):
    response = await rpc03("message/stream", {"message": _message("x y")}, key=api_key)
    events = [f["data"]["result"] for f in await sse_frames(response)]
    assert [e["kind"] for e in events] == [
        "task",
        "status-update",
        "artifact-update",
        "artifact-update",
        "status-update",
    ]
    assert [e["final"] for e in events if e["kind"] == "status-update"] == [False, True]
    assert events[-1]["status"]["state"] == "completed"
    assert [(e["append"], e["lastChunk"]) for e in events if e["kind"] == "artifact-update"] == [
        (False, False),
        (True, True),
    ]


async def test_stream_ending_at_input_required_is_final(rpc03, api_key, settings):
    settings.WEBCAP_AGENT = "conformance"
    response = await rpc03(
        "message/stream", {"message": _message(messageId="tck-input-required-1")}, key=api_key
    )
    events = [f["data"]["result"] for f in await sse_frames(response)]
    assert (events[-1]["status"]["state"], events[-1]["final"]) == ("input-required", True)


async def test_direct_message_reply(rpc03, api_key, settings):
    settings.WEBCAP_AGENT = "conformance"
    body = (
        await rpc03(
            "message/send", {"message": _message(messageId="tck-message-response-1")}, key=api_key
        )
    ).json()
    assert body["result"]["kind"] == "message"
    assert body["result"]["role"] == "agent"
    assert body["result"]["parts"] == [{"kind": "text", "text": "Direct message response"}]


async def test_cancel_and_errors_have_the_0_3_shape(rpc03, api_key, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    params = {"message": _message(), "configuration": {"blocking": False}}
    task = (await rpc03("message/send", params, key=api_key)).json()["result"]
    canceled = (await rpc03("tasks/cancel", {"id": task["id"]}, key=api_key)).json()["result"]
    assert canceled["status"]["state"] == "canceled"
    again = (await rpc03("tasks/cancel", {"id": task["id"]}, key=api_key)).json()["error"]
    assert again["code"] == -32002
    assert isinstance(again.get("data", {}), dict)
    missing = (await rpc03("tasks/get", {"id": "nope"}, key=api_key)).json()["error"]
    assert (missing["code"], missing["data"]) == (-32001, {"taskId": "nope"})
    invalid = (await rpc03("tasks/get", {}, key=api_key)).json()["error"]
    assert invalid["code"] == -32602
    assert "id" in invalid["message"]


async def test_resubscribe_to_a_finished_task_is_an_sse_error_event(rpc03, api_key):
    task = (await rpc03("message/send", {"message": _message()}, key=api_key)).json()["result"]
    response = await rpc03("tasks/resubscribe", {"id": task["id"]}, key=api_key)
    assert response["Content-Type"] == "text/event-stream"
    frames = await sse_frames(response)
    assert frames[0]["data"]["error"]["code"] == -32004


async def test_resubscribe_streams_a_running_task(rpc03, api_key, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    params = {"message": _message(), "configuration": {"blocking": False}}
    task = (await rpc03("message/send", params, key=api_key)).json()["result"]
    response = await rpc03("tasks/resubscribe", {"id": task["id"]}, key=api_key)
    await sync_to_async(task_transition)(task_id=task["id"], state="failed")
    events = [f["data"]["result"] for f in await sse_frames(response)]
    assert [e["kind"] for e in events] == ["task", "status-update"]
    assert (events[1]["status"]["state"], events[1]["final"]) == ("failed", True)


async def test_push_config_methods_in_0_3_shape(rpc03, api_key, settings):
    settings.WEBCAP_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    task = (await rpc03("message/send", {"message": _message()}, key=api_key)).json()["result"]
    config = {
        "id": "p1",
        "url": "http://127.0.0.1:9/hook",
        "token": "tok",
        "authentication": {"schemes": ["Bearer"], "credentials": "secret"},
    }
    made = (
        await rpc03(
            "tasks/pushNotificationConfig/set",
            {"taskId": task["id"], "pushNotificationConfig": config},
            key=api_key,
        )
    ).json()["result"]
    assert made == {"taskId": task["id"], "pushNotificationConfig": config}
    ref = {"id": task["id"], "pushNotificationConfigId": "p1"}
    assert (await rpc03("tasks/pushNotificationConfig/get", ref, key=api_key)).json()[
        "result"
    ] == made
    listed = (
        await rpc03("tasks/pushNotificationConfig/list", {"id": task["id"]}, key=api_key)
    ).json()
    assert listed["result"] == [made]
    deleted = await rpc03("tasks/pushNotificationConfig/delete", ref, key=api_key)
    assert json.loads(deleted.content) == {"jsonrpc": "2.0", "id": 1, "result": None}


async def test_version_mismatches_are_version_not_supported(rpc, rpc03, api_key):
    no_header = (await rpc03("SendMessage", {"message": {}}, key=api_key)).json()["error"]
    assert no_header["code"] == -32009
    assert no_header["data"][0]["reason"] == "VERSION_NOT_SUPPORTED"  # a 1.0 method: 1.0 shape
    v1_header = (await rpc("message/send", {"message": _message()}, key=api_key)).json()["error"]
    assert v1_header["code"] == -32009
    assert "call the 1.0 method SendMessage" in v1_header["message"]
    assert await Task.objects.acount() == 0


async def test_extended_card_over_0_3(rpc03, api_key, settings, tmp_path):
    assert (await rpc03("agent/getAuthenticatedExtendedCard", key=api_key)).json()["error"][
        "code"
    ] == -32004
    path = tmp_path / "ext.json"
    path.write_text('{"description": "members"}')
    settings.WEBCAP_EXTENDED_AGENT_CARD = str(path)
    card = (await rpc03("agent/getAuthenticatedExtendedCard", key=api_key)).json()["result"]
    assert (card["description"], card["protocolVersion"], card["preferredTransport"]) == (
        "members",
        "0.3.0",
        "JSONRPC",
    )
    assert card["supportsAuthenticatedExtendedCard"] is True
    assert "supportedInterfaces" not in card


def test_codes_0_3_does_not_know_become_internal_errors():
    body = errors.VersionNotSupportedError("x", metadata={"a": "b"}).jsonrpc_error(legacy=True)
    assert body == {"code": -32603, "message": "x", "data": {"a": "b"}}
    assert errors.TaskNotFoundError().jsonrpc_error(legacy=True) == {
        "code": -32001,
        "message": "Task not found",
    }
