"""A live webcap whose assistant runs on the OpenAI-compatible fake model (tests/fakellm.py)
delegates to another live webcap (the shared echo server) because the model calls the
``delegate`` tool: the remote's chunks reach the caller's stream in order while the remote
works, and the model reads the remote's answer as the tool's result."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.live.server import LiveServer
from tests.live.sse import sse_events, stream_request

pytestmark = [pytest.mark.live]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def caller(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeLLM, webcap_server: LiveServer
) -> Iterator[tuple[LiveServer, str]]:
    """A webcap on the fake model with the shared echo server registered as ``echo``."""
    server = LiveServer(
        tmp_path_factory.mktemp("fake-model-caller"),
        WEBCAP_AGENT="assistant",
        WEBCAP_MODEL="openai/fake-model",
        WEBCAP_MODEL_API_BASE=fake.base_url,
        WEBCAP_MODEL_API_KEY="test-key",
        WEBCAP_MODEL_CONTEXT_TOKENS="100000",
        WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS="127.0.0.1",
    )
    server.start()
    try:
        operator = server.manage("apikey", "create", "ops", "--create-user", "--role", "operator")
        response = httpx.post(
            f"{server.url}/api/agents/",
            json={
                "name": "echo",
                "card_url": f"{webcap_server.url}/.well-known/agent-card.json",
                "approval_policy": "never",
                "credential_kind": "bearer",
                "credential_secret": webcap_server.create_key("from-fake-model-caller"),
            },
            headers={"Authorization": f"Bearer {operator.strip().splitlines()[-1]}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        yield server, server.create_key("alice")
    finally:
        server.stop()


def test_the_scripted_model_delegates_and_the_caller_streams_the_remotes_chunks(
    caller: tuple[LiveServer, str], fake: FakeLLM, webcap_server: LiveServer
):
    server, key = caller
    words = "one two three four five six"
    fake.script(
        ToolCalls([("call-1", "delegate", {"agent": "echo", "message": words})]),
        Text("The echo agent said it back."),
    )
    message = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": "go"}]}
    started = time.monotonic()
    events: list[tuple[float, dict[str, Any]]] = []
    with stream_request(server.url, key, "SendStreamingMessage", {"message": message}) as r:
        assert r.status_code == 200
        for event in sse_events(r):
            events.append((time.monotonic() - started, event["data"]["result"]))
    forwarded = [
        (at, e["artifactUpdate"])
        for at, e in events
        if "artifactUpdate" in e and e["artifactUpdate"]["artifact"]["artifactId"] == "echo/echo"
    ]
    assert "".join(u["artifact"]["parts"][0]["text"] for _, u in forwarded) == words
    assert len(forwarded) == len(words.split())
    # The echo server waits 25 ms per chunk: they arrived while it worked, not all at once.
    assert forwarded[-1][0] > forwarded[0][0]
    assert events[-1][1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"

    # The model read the remote's answer as the delegate call's result.
    [tool_message] = [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    result = json.loads(tool_message["content"])["result"]
    assert (result["agent"], result["state"]) == ("echo", "completed")
    # Each chunk was a part of its own; the result gives one part per line.
    assert result["text"].replace("\n", "") == words
    # On the echo server, the task belongs to the key stored for it, not to alice.
    remote_task_id = forwarded[0][1]["artifact"]["metadata"]["webcap.delegation"]["remoteTaskId"]
    alice_there = webcap_server.create_key("alice-on-echo")
    assert webcap_server.rpc(alice_there, "GetTask", {"id": remote_task_id})["error"]["code"] == (
        -32001
    )
