"""Drive a live webcap with the official a2a-sdk client; print what it saw as JSON.

Runs in the interop virtualenv (a2a-sdk 1.3.0), never in webcap's own: the SDK imports as
``a2a``, like webcap's protocol app. Usage::

    sdk_client.py BASE_URL API_KEY SCENARIO [JSON_ARGS]

JSON_ARGS may name a ``binding``: ``jsonrpc`` (default), ``rest`` (HTTP+JSON) or
``jsonrpc-0.3`` (the SDK's own A2A 0.3 transport, chosen from the card's 0.3 interface).
Scenarios: send, stream, get, cancel, list, subscribe, push_create, push_get, push_list,
push_delete, card_verify (the card read with the SDK's signature verifier, its keys fetched
from the signature's jku). Errors print {"error": <class>, "message": ...}.
"""

# "a2a" here is the SDK, which the isort settings would file as first-party.
# ruff: noqa: I001
from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import (
    AuthenticationInfo,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
)
from google.protobuf.json_format import MessageToDict, ParseDict

BINDINGS = {"jsonrpc": ["JSONRPC"], "rest": ["HTTP+JSON"], "jsonrpc-0.3": ["JSONRPC"]}


def _message(args: dict[str, Any]) -> Message:
    message = Message(
        message_id=args.get("messageId", str(uuid.uuid4())),
        role=Role.ROLE_USER,
        parts=[Part(text=args["text"])],
    )
    if "contextId" in args:
        message.context_id = args["contextId"]
    if "taskId" in args:
        message.task_id = args["taskId"]
    return message


async def _client(base_url: str, http: httpx.AsyncClient, binding: str, streaming: bool) -> Any:
    config = ClientConfig(
        httpx_client=http,
        streaming=streaming,
        supported_protocol_bindings=BINDINGS[binding],
    )
    card = await A2ACardResolver(http, base_url).get_agent_card()
    if binding == "jsonrpc-0.3":
        # Keep only the 0.3 interface, so the SDK picks its 0.3 transport.
        legacy = [i for i in card.supported_interfaces if i.protocol_version == "0.3"]
        del card.supported_interfaces[:]
        card.supported_interfaces.extend(legacy)
    return ClientFactory(config).create(card)


async def _scenario(client: Any, scenario: str, args: dict[str, Any]) -> Any:
    if scenario in ("send", "stream"):
        request = SendMessageRequest(message=_message(args))
        if args.get("returnImmediately"):
            request.configuration.return_immediately = True
        if "historyLength" in args:
            request.configuration.history_length = args["historyLength"]
        if "push" in args:
            ParseDict(args["push"], request.configuration.task_push_notification_config)
        events = [MessageToDict(event) async for event in client.send_message(request)]
        return events if scenario == "stream" else events[0]
    if scenario == "get":
        request = GetTaskRequest(id=args["taskId"])
        if "historyLength" in args:
            request.history_length = args["historyLength"]
        return MessageToDict(await client.get_task(request))
    if scenario == "cancel":
        return MessageToDict(await client.cancel_task(CancelTaskRequest(id=args["taskId"])))
    if scenario == "list":
        request = ParseDict(args.get("params", {}), ListTasksRequest())
        return MessageToDict(await client.list_tasks(request))
    if scenario == "subscribe":
        # With "limit", the client hangs up after that many events (a dropped subscription).
        request = SubscribeToTaskRequest(id=args["taskId"])
        events = []
        async for event in client.subscribe(request):
            events.append(MessageToDict(event))
            if len(events) == args.get("limit"):
                break
        return events
    if scenario == "push_create":
        config = TaskPushNotificationConfig(task_id=args["taskId"], url=args["url"])
        if "id" in args:
            config.id = args["id"]
        if "token" in args:
            config.token = args["token"]
        if "scheme" in args:
            config.authentication.CopyFrom(
                AuthenticationInfo(scheme=args["scheme"], credentials=args.get("credentials", ""))
            )
        return MessageToDict(await client.create_task_push_notification_config(config))
    if scenario == "push_get":
        request = GetTaskPushNotificationConfigRequest(task_id=args["taskId"], id=args["id"])
        return MessageToDict(await client.get_task_push_notification_config(request))
    if scenario == "push_list":
        request = ListTaskPushNotificationConfigsRequest(task_id=args["taskId"])
        return MessageToDict(await client.list_task_push_notification_configs(request))
    if scenario == "push_delete":
        request = DeleteTaskPushNotificationConfigRequest(task_id=args["taskId"], id=args["id"])
        await client.delete_task_push_notification_config(request)
        return {"deleted": True}
    raise SystemExit(f"unknown scenario {scenario}")


async def _card_verify(base_url: str, http: httpx.AsyncClient, args: dict[str, Any]) -> Any:
    # Imported here: the other scenarios run without the SDK's signing extra (PyJWT).
    from a2a.utils.signing import create_signature_verifier
    from jwt import PyJWK

    fetched: dict[str, Any] = {}

    def key_provider(kid: str | None, jku: str | None) -> PyJWK:
        # The SDK asks synchronously; a blocking fetch is fine in a one-shot script.
        if not jku or not jku.startswith(base_url + "/"):
            raise ValueError(f"jku {jku!r} is not on {base_url}")
        keys = httpx.get(jku, timeout=30).raise_for_status().json()["keys"]
        fetched.update(kid=kid, jku=jku)
        return PyJWK(next(k for k in keys if k["kid"] == kid))

    verifier = create_signature_verifier(key_provider, ["ES256", "EdDSA", "RS256"])
    card = await A2ACardResolver(http, base_url).get_agent_card(
        relative_card_path=args.get("path"), signature_verifier=verifier
    )
    return {"verified": True, "name": card.name, **fetched}


async def run(base_url: str, key: str, scenario: str, args: dict[str, Any]) -> Any:
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    if scenario == "card_verify":
        try:
            return await _card_verify(base_url, http, args)
        finally:
            await http.aclose()
    binding = args.get("binding", "jsonrpc")
    streaming = scenario in ("stream", "subscribe")
    client = await _client(base_url, http, binding, streaming)
    try:
        return await _scenario(client, scenario, args)
    finally:
        await client.close()
        await http.aclose()


def main() -> None:
    base_url, key, scenario = sys.argv[1:4]
    args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    try:
        result = asyncio.run(run(base_url, key, scenario, args))
    except Exception as exc:  # report what the client raised, for the test to assert on
        result = {"error": type(exc).__name__, "message": str(exc)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
