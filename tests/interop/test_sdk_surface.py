"""The a2a-sdk 1.3.0 client over JSON-RPC and HTTP+JSON: list, subscribe, push, equality.

Each scenario runs on both bindings; results and errors must come out the same.
"""

from __future__ import annotations

import uuid

import pytest

from tests.factories import normalized
from tests.live.server import LiveServer
from tests.webhook import WebhookReceiver

pytestmark = [pytest.mark.live, pytest.mark.interop]

BINDINGS = ["jsonrpc", "rest"]
# 160 chunks x 25 ms: still running after the next SDK process has started, even on a
# loaded two-core machine (40 chunks finished first there, and the cancel came too late).
LONG_WORDS = 160
LONG_TEXT = " ".join(f"w{i}" for i in range(LONG_WORDS))
# Long enough (240 chunks x 25 ms) to still be running after three SDK processes have started
# on a loaded two-core CI machine.
RESUBSCRIBE_WORDS = 240


@pytest.mark.parametrize("binding", BINDINGS)
def test_list_pages_through_a_context(sdk, live_keys, binding):
    key = live_keys["alice"]
    context = f"ctx-{uuid.uuid4()}"
    ids = [
        sdk(key, "send", text=f"t{i}", contextId=context, binding=binding)["task"]["id"]
        for i in range(3)
    ]
    first = sdk(key, "list", params={"contextId": context, "pageSize": 2}, binding=binding)
    assert [t["id"] for t in first["tasks"]] == [ids[2], ids[1]]
    assert (first["pageSize"], first["totalSize"]) == (2, 3)
    assert first["nextPageToken"]
    assert all("artifacts" not in t for t in first["tasks"])
    second = sdk(
        key,
        "list",
        params={
            "contextId": context,
            "pageSize": 2,
            "pageToken": first["nextPageToken"],
            "includeArtifacts": True,
        },
        binding=binding,
    )
    assert [t["id"] for t in second["tasks"]] == [ids[0]]
    assert second.get("nextPageToken", "") == ""  # ProtoJSON leaves the empty string out
    assert second["tasks"][0]["artifacts"][0]["parts"] == [{"text": "t0"}]
    done = sdk(
        key,
        "list",
        params={"contextId": context, "status": "TASK_STATE_COMPLETED"},
        binding=binding,
    )
    assert done["totalSize"] == 3


@pytest.mark.parametrize("binding", BINDINGS)
def test_subscribe_to_a_running_task(sdk, live_keys, binding):
    key = live_keys["alice"]
    task = sdk(key, "send", text=LONG_TEXT, returnImmediately=True, binding=binding)["task"]
    events = sdk(key, "subscribe", taskId=task["id"], binding=binding)
    assert list(events[0]) == ["task"]
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    snapshot_parts = len(events[0]["task"].get("artifacts", [{"parts": []}])[0]["parts"])
    chunks = [e for e in events if "artifactUpdate" in e]
    # Nothing missed between the snapshot and the live events.
    assert snapshot_parts + len(chunks) == LONG_WORDS
    again = sdk(key, "subscribe", taskId=task["id"], binding=binding)
    assert again["error"] == "UnsupportedOperationError"  # the task has finished


@pytest.mark.parametrize("binding", BINDINGS)
def test_resubscribe_after_a_dropped_subscription(sdk, live_keys, binding):
    key = live_keys["alice"]
    text = " ".join(f"w{i}" for i in range(RESUBSCRIBE_WORDS))
    task = sdk(key, "send", text=text, returnImmediately=True, binding=binding)["task"]
    dropped = sdk(key, "subscribe", taskId=task["id"], limit=3, binding=binding)
    assert len(dropped) == 3
    resumed = sdk(key, "subscribe", taskId=task["id"], binding=binding)
    assert list(resumed[0]) == ["task"]  # a fresh snapshot first, then live events
    assert resumed[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    snapshot_parts = len(resumed[0]["task"].get("artifacts", [{"parts": []}])[0]["parts"])
    assert snapshot_parts + sum("artifactUpdate" in e for e in resumed) == RESUBSCRIBE_WORDS


@pytest.mark.parametrize("binding", BINDINGS)
def test_push_config_operations(sdk, live_keys, binding):
    key = live_keys["alice"]
    task = sdk(key, "send", text="hello", binding=binding)["task"]
    hook = "http://127.0.0.1:9/hook"
    made = sdk(
        key,
        "push_create",
        taskId=task["id"],
        id="c1",
        url=hook,
        scheme="Bearer",
        credentials="s",
        binding=binding,
    )
    assert made == {
        "id": "c1",
        "taskId": task["id"],
        "url": hook,
        "authentication": {"scheme": "Bearer", "credentials": "s"},
    }
    generated = sdk(key, "push_create", taskId=task["id"], url=hook, binding=binding)
    assert len(generated["id"]) == 36
    assert sdk(key, "push_get", taskId=task["id"], id="c1", binding=binding) == made
    listed = sdk(key, "push_list", taskId=task["id"], binding=binding)
    assert [c["id"] for c in listed["configs"]] == ["c1", generated["id"]]
    assert sdk(key, "push_delete", taskId=task["id"], id="c1", binding=binding) == {"deleted": True}
    assert sdk(key, "push_delete", taskId=task["id"], id="c1", binding=binding) == {"deleted": True}
    assert (
        sdk(key, "push_get", taskId=task["id"], id="c1", binding=binding)["error"]
        == "TaskNotFoundError"
    )
    refused = sdk(
        key, "push_create", taskId=task["id"], url="http://169.254.169.254/latest", binding=binding
    )
    assert refused["error"] == "InvalidParamsError"
    assert "link-local" in refused["message"]
    foreign = sdk(live_keys["bob"], "push_list", taskId=task["id"], binding=binding)
    assert foreign["error"] == "TaskNotFoundError"


def test_results_and_errors_are_equal_across_bindings(sdk, live_keys):
    key = live_keys["alice"]
    runs = {b: sdk(key, "stream", text="same three words", binding=b) for b in BINDINGS}
    assert normalized(runs["jsonrpc"]) == normalized(runs["rest"])
    gets = {
        b: sdk(key, "get", taskId=runs[b][0]["task"]["id"], historyLength=1, binding=b)
        for b in BINDINGS
    }
    assert normalized(gets["jsonrpc"]) == normalized(gets["rest"])
    missing = {b: sdk(key, "get", taskId=str(uuid.uuid4()), binding=b) for b in BINDINGS}
    assert missing["jsonrpc"]["error"] == missing["rest"]["error"] == "TaskNotFoundError"
    finished = gets["jsonrpc"]["id"]
    cancels = {b: sdk(key, "cancel", taskId=finished, binding=b) for b in BINDINGS}
    assert cancels["jsonrpc"]["error"] == cancels["rest"]["error"] == "TaskNotCancelableError"


def test_push_notifications_reach_a_webhook_through_the_sdk(sdk, live_keys):
    receiver = WebhookReceiver()
    try:
        push = {
            "url": receiver.url,
            "token": "t-1",
            "authentication": {"scheme": "Bearer", "credentials": "c-1"},
        }
        task = sdk(live_keys["alice"], "send", text="a b", push=push)["task"]
        received = receiver.wait_for(5)
        assert [next(iter(r.body)) for r in received] == [
            "task",
            "statusUpdate",
            "artifactUpdate",
            "artifactUpdate",
            "statusUpdate",
        ]
        assert received[0].body["task"]["id"] == task["id"]
        assert received[0].headers["authorization"] == "Bearer c-1"
        assert received[0].headers["x-a2a-notification-token"] == "t-1"
    finally:
        receiver.close()


# --- The SDK's own A2A 0.3 transport --------------------------------------------------------------


def test_sdk_0_3_transport_send_stream_get_cancel(sdk, live_keys, webcap_server: LiveServer):
    key = live_keys["alice"]
    sent = sdk(key, "send", text="old client", binding="jsonrpc-0.3")
    assert sent["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [p["text"] for p in sent["task"]["artifacts"][0]["parts"]] == ["old", " client"]
    events = sdk(key, "stream", text="x y", binding="jsonrpc-0.3")
    assert list(events[0]) == ["task"]
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    got = sdk(key, "get", taskId=sent["task"]["id"], binding="jsonrpc-0.3")
    assert got["id"] == sent["task"]["id"]
    pending = sdk(key, "send", text=LONG_TEXT, returnImmediately=True, binding="jsonrpc-0.3")[
        "task"
    ]
    canceled = sdk(key, "cancel", taskId=pending["id"], binding="jsonrpc-0.3")
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    missing = sdk(key, "get", taskId=str(uuid.uuid4()), binding="jsonrpc-0.3")
    assert missing["error"] == "TaskNotFoundError"
