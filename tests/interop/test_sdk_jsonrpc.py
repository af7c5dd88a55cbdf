"""The official a2a-sdk 1.3.0 client against a live webcap over JSON-RPC."""

from __future__ import annotations

import pytest

from tests.live.server import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.interop]


def test_blocking_send_completes_with_the_echo_artifact(sdk, live_keys):
    event = sdk(live_keys["alice"], "send", text="hello from the sdk")
    task = event["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    parts = task["artifacts"][0]["parts"]
    assert [p["text"] for p in parts] == ["hello", " from", " the", " sdk"]
    assert task["history"][0]["role"] == "ROLE_USER"
    assert task["history"][0]["parts"] == [{"text": "hello from the sdk"}]


def test_return_immediately_returns_before_the_task_is_done(
    sdk, live_keys, webcap_server: LiveServer
):
    words = " ".join(f"w{i}" for i in range(40))
    task = sdk(live_keys["alice"], "send", text=words, returnImmediately=True)["task"]
    assert task["status"]["state"] in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")
    done = webcap_server.wait_for_state(live_keys["alice"], task["id"], {"TASK_STATE_COMPLETED"})
    assert len(done["artifacts"][0]["parts"]) == 40


def test_stream_task_first_chunks_then_terminal(sdk, live_keys):
    events = sdk(live_keys["alice"], "stream", text="red green blue")
    assert list(events[0]) == ["task"]
    assert events[0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
    chunks = [e["artifactUpdate"] for e in events if "artifactUpdate" in e]
    assert [c["artifact"]["parts"][0]["text"] for c in chunks] == ["red", " green", " blue"]
    # ProtoJSON leaves false booleans out, as the SDK prints them.
    assert [c.get("append", False) for c in chunks] == [False, True, True]
    assert [c.get("lastChunk", False) for c in chunks] == [False, False, True]
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    states = [e["statusUpdate"]["status"]["state"] for e in events if "statusUpdate" in e]
    assert states == ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]


def test_get_with_history_length(sdk, live_keys):
    key = live_keys["alice"]
    task_id = sdk(key, "send", text="remember me")["task"]["id"]
    unset = sdk(key, "get", taskId=task_id)
    assert [m["parts"][0]["text"] for m in unset["history"]] == ["remember me"]
    assert "history" not in sdk(key, "get", taskId=task_id, historyLength=0)
    assert len(sdk(key, "get", taskId=task_id, historyLength=1)["history"]) == 1
    assert unset["artifacts"][0]["artifactId"] == "echo"


def test_cancel_persists_and_cancel_again_is_not_cancelable(
    sdk, live_keys, webcap_server: LiveServer
):
    key = live_keys["alice"]
    words = " ".join(f"w{i}" for i in range(200))
    task_id = sdk(key, "send", text=words, returnImmediately=True)["task"]["id"]
    canceled = sdk(key, "cancel", taskId=task_id)
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    assert sdk(key, "get", taskId=task_id)["status"]["state"] == "TASK_STATE_CANCELED"
    again = sdk(key, "cancel", taskId=task_id)
    assert again["error"] == "TaskNotCancelableError"


def test_unknown_task_is_task_not_found(sdk, live_keys):
    result = sdk(live_keys["alice"], "get", taskId="6f1c2e0a-0000-4000-8000-000000000000")
    assert result["error"] == "TaskNotFoundError"


def test_second_users_key_sees_task_not_found(sdk, live_keys):
    task_id = sdk(live_keys["alice"], "send", text="private")["task"]["id"]
    assert sdk(live_keys["bob"], "get", taskId=task_id)["error"] == "TaskNotFoundError"
    assert sdk(live_keys["bob"], "cancel", taskId=task_id)["error"] == "TaskNotFoundError"
    assert (
        sdk(live_keys["alice"], "get", taskId=task_id)["status"]["state"] == "TASK_STATE_COMPLETED"
    )
