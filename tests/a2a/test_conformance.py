"""The conformance agent's scenarios, message-only replies, and the extended agent card."""

from __future__ import annotations

import hashlib
import json

import pytest

from a2a.agents.conformance import scenario_for
from a2a.card import rendered_card
from a2a.models import Message, Task
from tests.a2a.conftest import sse_frames
from tests.factories import message_params

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def conformance(settings):
    settings.WEBCAP_AGENT = "conformance"


async def _send(rpc, key, message_id, **kwargs):
    body = (
        await rpc("SendMessage", message_params("hi", message_id=message_id, **kwargs), key=key)
    ).json()
    return body["result"]


@pytest.mark.parametrize(
    ("message_id", "prefix"),
    [
        ("tck-artifact-file-url-1a2b", "tck-artifact-file-url"),
        ("tck-artifact-file-1a2b-jsonrpc", "tck-artifact-file"),
        ("tck-stream-artifact-chunked-x", "tck-stream-artifact-chunked"),
        ("tck-complete-task-x", "tck-complete-task"),
        ("tck-unknown", None),
    ],
)
def test_longest_prefix_wins(message_id, prefix):
    assert scenario_for(message_id) == prefix


async def test_complete_task(rpc, api_key):
    task = (await _send(rpc, api_key, "tck-complete-task-s1"))["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["role"] == "ROLE_AGENT"
    assert task["status"]["message"]["parts"] == [{"text": "Hello from TCK"}]
    assert "artifacts" not in task


@pytest.mark.parametrize(
    ("prefix", "part"),
    [
        ("tck-artifact-text", {"text": "Generated text content"}),
        (
            "tck-artifact-file-url",
            {
                "url": "https://example.com/output.txt",
                "mediaType": "text/plain",
                "filename": "output.txt",
            },
        ),
        ("tck-artifact-data", {"data": {"key": "value", "count": 42}}),
    ],
)
async def test_artifact_scenarios(rpc, api_key, prefix, part):
    task = (await _send(rpc, api_key, f"{prefix}-s1"))["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][0]["parts"] == [part]
    assert task["artifacts"][0]["artifactId"]


async def test_a_file_artifact_is_served_from_the_artifact_storage(rpc, api_key, async_client):
    """The scenario's raw bytes ("tck") come back as a URL part with their digest; the URL
    serves the bytes to the task's owner (the TCK accepts raw or url file parts)."""
    task = (await _send(rpc, api_key, "tck-artifact-file-s1"))["task"]
    [part] = task["artifacts"][0]["parts"]
    digest = hashlib.sha256(b"tck").hexdigest()
    assert part == {
        "url": part["url"],
        "mediaType": "text/plain",
        "filename": "output.txt",
        "metadata": {"size": 3, "sha256": digest},
    }
    path = part["url"].removeprefix("http://127.0.0.1:8000")
    assert path.startswith("/a2a/files/")
    response = await async_client.get(path, headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"tck"  # a file is read synchronously
    response.close()


async def test_direct_message_response_creates_no_task(rpc, api_key):
    result = await _send(rpc, api_key, "tck-message-response-s1", context_id="ctx-1")
    message = result["message"]
    assert message["parts"] == [{"text": "Direct message response"}]
    assert (message["role"], message["contextId"]) == ("ROLE_AGENT", "ctx-1")
    assert "taskId" not in message
    assert await Task.objects.acount() == 0
    assert [m.role async for m in Message.objects.order_by("created_at")] == ["user", "agent"]


async def test_direct_message_stream_is_one_message_then_close(rpc, api_key):
    params = message_params("hi", message_id="tck-message-response-s2")
    frames = await sse_frames(await rpc("SendStreamingMessage", params, key=api_key))
    assert len(frames) == 1
    assert "id" not in frames[0]
    assert frames[0]["data"]["result"]["message"]["parts"] == [{"text": "Direct message response"}]


async def test_input_required_then_follow_ups(rpc, api_key):
    task = (await _send(rpc, api_key, "tck-input-required-s1"))["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    for text in ("TCK history message 1", "TCK history message 2"):
        again = (
            await rpc(
                "SendMessage",
                message_params(text, message_id="tck-input-required-s1", task_id=task["id"]),
                key=api_key,
            )
        ).json()["result"]["task"]
        assert again["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    done = (
        await rpc(
            "SendMessage",
            message_params("bye", message_id="tck-complete-task-s1", task_id=task["id"]),
            key=api_key,
        )
    ).json()["result"]["task"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    texts = [p["text"] for m in done["history"] for p in m["parts"] if "text" in p]
    assert [t for t in texts if t.startswith("TCK history")] == [
        "TCK history message 1",
        "TCK history message 2",
    ]


async def test_reject_and_unknown_prefixes(rpc, api_key):
    rejected = (await _send(rpc, api_key, "tck-reject-task-s1"))["task"]
    assert rejected["status"]["state"] == "TASK_STATE_REJECTED"
    other = (await _send(rpc, api_key, "tck-dm-test-001"))["task"]
    assert other["status"]["state"] == "TASK_STATE_COMPLETED"
    assert other["status"]["message"]["parts"] == [
        {"text": "Unhandled messageId prefix: tck-dm-test-001"}
    ]


async def test_streaming_scenario_order(rpc, api_key):
    params = message_params("hi", message_id="tck-stream-001-s1")
    results = [
        f["data"]["result"]
        for f in await sse_frames(await rpc("SendStreamingMessage", params, key=api_key))
    ]
    assert [next(iter(r)) for r in results] == [
        "task",
        "statusUpdate",
        "artifactUpdate",
        "statusUpdate",
    ]
    assert results[2]["artifactUpdate"]["artifact"]["parts"] == [{"text": "Stream hello from TCK"}]


async def test_chunked_stream(rpc, api_key):
    params = message_params("hi", message_id="tck-stream-artifact-chunked-s1")
    results = [
        f["data"]["result"]
        for f in await sse_frames(await rpc("SendStreamingMessage", params, key=api_key))
    ]
    chunks = [r["artifactUpdate"] for r in results if "artifactUpdate" in r]
    assert [(c["artifact"]["parts"][0]["text"], c["append"], c["lastChunk"]) for c in chunks] == [
        ("chunk-1 ", False, False),
        ("chunk-2", True, True),
    ]
    assert chunks[0]["artifact"]["artifactId"] == chunks[1]["artifact"]["artifactId"]


# --- Extended agent card -----------------------------------------------------------------------


@pytest.fixture
def extended(settings, tmp_path):
    path = tmp_path / "extended.json"
    path.write_text(
        json.dumps(
            {
                "description": "For members: more skills.",
                "skills": [
                    {
                        "id": "secret",
                        "name": "Secret",
                        "description": "Members only.",
                        "tags": ["x"],
                    }
                ],
            }
        )
    )
    settings.WEBCAP_EXTENDED_AGENT_CARD = str(path)
    rendered_card.cache_clear()
    yield
    rendered_card.cache_clear()


async def test_extended_card_is_declared_and_served_to_callers(
    rpc, async_client, api_key, extended
):
    public = (await async_client.get("/.well-known/agent-card.json")).json()
    assert public["capabilities"]["extendedAgentCard"] is True
    assert [s["id"] for s in public["skills"]] == ["tck-scenarios"]
    card = (await rpc("GetExtendedAgentCard", {}, key=api_key)).json()["result"]
    assert card["description"] == "For members: more skills."
    assert [s["id"] for s in card["skills"]] == ["tck-scenarios", "secret"]
    rest = await async_client.get(
        "/a2a/rest/extendedAgentCard",
        headers={"Authorization": f"Bearer {api_key}", "A2A-Version": "1.0"},
    )
    assert rest.json() == card
    assert (await rpc("GetExtendedAgentCard", {})).status_code == 401


async def test_without_configuration_the_extended_card_is_unsupported(rpc, api_key):
    body = (await rpc("GetExtendedAgentCard", {}, key=api_key)).json()
    assert body["error"]["code"] == -32004
