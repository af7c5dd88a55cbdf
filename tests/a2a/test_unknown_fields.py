"""Unknown request fields on every binding: -32602 (HTTP 400) naming the field, nothing stored.

The parsing rules field by field are in tests/a2a/test_validation.py. A client speaking 0.3
keeps sending 0.3 shapes: its ``pushNotificationConfig`` registers the webhook.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest

from a2a.models import Message, PushConfig, Task
from a2a.services import push as push_services
from tests.a2a.test_capnweb_service import call, error, signed_in
from tests.a2a.test_consumers import _call, _open, _receive
from tests.factories import message_params

pytestmark = pytest.mark.django_db(transaction=True)

REST = "/a2a/rest"
HOOK = "http://127.0.0.1:9/hook"  # never called: deliveries are not sent in these tests
PUSH_0_3 = "configuration.pushNotificationConfig"
PUSH_0_3_ERROR = (
    f"Invalid parameters: {PUSH_0_3}: unknown field (A2A 0.3's name, in A2A 1.0 it is "
    "taskPushNotificationConfig)"
)
MISSPELT_ERROR = "Invalid parameters: configuraton: unknown field (did you mean configuration?)"


@pytest.fixture(autouse=True)
def webhooks_on_loopback(settings):
    settings.WEBCAP_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    with mock.patch.object(push_services, "_deliver_later"):
        yield


def _with_0_3_push(text: str = "hello") -> dict[str, Any]:
    return message_params(text, configuration={"pushNotificationConfig": {"url": HOOK}})


def _misspelt(text: str = "hello") -> dict[str, Any]:
    params = message_params(text)
    params["configuraton"] = {"taskPushNotificationConfig": {"url": HOOK}}
    return params


async def _nothing_stored() -> None:
    assert (
        await Task.objects.acount(),
        await Message.objects.acount(),
        await PushConfig.objects.acount(),
    ) == (0, 0, 0)


@pytest.mark.parametrize(
    ("params", "message", "field"),
    [(_with_0_3_push(), PUSH_0_3_ERROR, PUSH_0_3), (_misspelt(), MISSPELT_ERROR, "configuraton")],
)
async def test_json_rpc_answers_invalid_params(rpc, api_key, params, message, field):
    response = await rpc("SendMessage", params, key=api_key)

    assert response.status_code == 200
    error_body = response.json()["error"]
    assert (error_body["code"], error_body["message"]) == (-32602, message)
    violations = next(d for d in error_body["data"] if "fieldViolations" in d)
    assert [v["field"] for v in violations["fieldViolations"]] == [field]
    await _nothing_stored()


@pytest.mark.parametrize(
    ("params", "message"), [(_with_0_3_push(), PUSH_0_3_ERROR), (_misspelt(), MISSPELT_ERROR)]
)
async def test_http_json_answers_400(async_client, api_key, params, message):
    response = await async_client.post(
        f"{REST}/message:send",
        data=json.dumps(params),
        content_type="application/a2a+json",
        headers={"A2A-Version": "1.0", "Authorization": f"Bearer {api_key}"},
    )

    assert response.status_code == 400
    body = response.json()["error"]
    assert (body["code"], body["status"], body["message"]) == (400, "INVALID_ARGUMENT", message)
    assert body["details"][0]["reason"] == "INVALID_PARAMS"
    await _nothing_stored()


async def test_http_json_refuses_misspelt_query_parameters(async_client, api_key):
    response = await async_client.get(
        f"{REST}/tasks",
        {"pagesize": "5", "A2A-Version": "1.0"},
        headers={"Authorization": f"Bearer {api_key}"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Invalid parameters: pagesize: unknown field (did you mean pageSize?)"
    )


async def test_http_json_ignores_query_parameters_that_resemble_none(async_client, api_key):
    response = await async_client.get(
        f"{REST}/tasks",
        {"pageSize": "5", "cursor": "abc", "A2A-Version": "1.0"},
        headers={"Authorization": f"Bearer {api_key}"},
    )

    assert response.status_code == 200


async def test_websocket_answers_invalid_params(api_key):
    ws = await _open(api_key)
    await _call(ws, 7, "SendMessage", _with_0_3_push())
    reply = await _receive(ws)
    await ws.disconnect()

    assert reply["id"] == 7
    assert (reply["error"]["code"], reply["error"]["message"]) == (-32602, PUSH_0_3_ERROR)
    await _nothing_stored()


async def test_capnweb_rejects_with_invalid_params(api_key):
    peer = await signed_in(api_key)
    params = _with_0_3_push()
    await peer.feed(call(1, "sendMessage", params["message"], params["configuration"]))

    assert await error(peer, 2) == (PUSH_0_3_ERROR, -32602)
    await _nothing_stored()


async def test_the_1_0_spelling_registers_the_webhook(rpc, api_key):
    params = message_params("hello", configuration={"taskPushNotificationConfig": {"url": HOOK}})
    task = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]

    assert [c.url async for c in PushConfig.objects.filter(task_id=task["id"])] == [HOOK]


async def test_a_0_3_client_keeps_its_0_3_shape(rpc, api_key):
    """No A2A-Version header and a 0.3 method: pushNotificationConfig is 0.3's own field."""
    message = {
        "kind": "message",
        "messageId": "m-0-3",
        "role": "user",
        "parts": [{"kind": "text", "text": "hello"}],
    }
    params = {
        "message": message,
        "configuration": {"blocking": True, "pushNotificationConfig": {"url": HOOK}},
    }
    body = (await rpc("message/send", params, key=api_key, version=None)).json()

    assert body["result"]["kind"] == "task"
    configs = [c.url async for c in PushConfig.objects.filter(task_id=body["result"]["id"])]
    assert configs == [HOOK]


async def test_a_0_3_message_with_a_misspelt_field_is_refused(rpc, api_key):
    message = {"messageId": "m-0-3", "role": "user", "parts": [{"text": "hi"}], "contextid": "c"}
    body = (await rpc("message/send", {"message": message}, key=api_key, version=None)).json()

    assert body["error"]["code"] == -32602
    assert body["error"]["message"] == (
        "Invalid parameters: message.contextid: unknown field (did you mean contextId?)"
    )
    await _nothing_stored()


async def test_a_field_that_resembles_none_is_ignored_on_every_version(rpc, api_key):
    """A2A §5.7: unrecognized fields SHOULD be ignored (the TCK's DM-SERIAL-005)."""
    params = message_params("hello")
    params["message"]["tckUnknownField"] = "x"
    params["tckExtraParam"] = 1
    body = (await rpc("SendMessage", params, key=api_key)).json()

    assert body["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
