"""Drive a live webcap with the official a2a-sdk client; print what it saw as JSON.

Runs in the interop virtualenv (a2a-sdk 1.3.0), never in webcap's own: the SDK imports as
``a2a``, like webcap's protocol app. Usage::

    sdk_client.py BASE_URL API_KEY SCENARIO [JSON_ARGS]

Scenarios: send, stream, get, cancel. Errors print {"error": <class>, "message": ...}.
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
from a2a.client import ClientConfig, ClientFactory
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
)
from google.protobuf.json_format import MessageToDict


def _message(text: str) -> Message:
    return Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)])


async def run(base_url: str, key: str, scenario: str, args: dict[str, Any]) -> Any:
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    config = ClientConfig(httpx_client=http, streaming=scenario == "stream")
    client = await ClientFactory(config).create_from_url(base_url)
    try:
        if scenario in ("send", "stream"):
            request = SendMessageRequest(message=_message(args["text"]))
            if args.get("returnImmediately"):
                request.configuration.return_immediately = True
            if "historyLength" in args:
                request.configuration.history_length = args["historyLength"]
            events = [MessageToDict(event) async for event in client.send_message(request)]
            return events if scenario == "stream" else events[0]
        if scenario == "get":
            request = GetTaskRequest(id=args["taskId"])
            if "historyLength" in args:
                request.history_length = args["historyLength"]
            return MessageToDict(await client.get_task(request))
        if scenario == "cancel":
            return MessageToDict(await client.cancel_task(CancelTaskRequest(id=args["taskId"])))
        raise SystemExit(f"unknown scenario {scenario}")
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
