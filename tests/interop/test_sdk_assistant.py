"""The a2a-sdk client against webcap as ``make run`` serves it: the assistant, offline model.

The offline model is a rule-based stand-in that needs no network; the tools it calls and
the approval that pauses the task are the real ones.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.live.server import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.interop]


@pytest.fixture(scope="module")
def key(assistant_server: LiveServer) -> str:
    return assistant_server.create_key("carol")


def _answer(task: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in task["artifacts"][-1]["parts"])


def _pending(task: dict[str, Any]) -> dict[str, Any]:
    """The one pending tool call an input-required task's status message names."""
    (data,) = [p["data"] for p in task["status"]["message"]["parts"] if "data" in p]
    (pending,) = data["pendingToolCalls"]
    assert isinstance(pending, dict)
    return pending


def _api(server: LiveServer, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method,
        f"{server.url}/api{path}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        **kwargs,
    )


def test_arithmetic_completes_through_the_calculator(assistant_sdk, assistant_server, key):
    task = assistant_sdk(key, "send", text="what is 12*7?")["task"]

    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert "84" in _answer(task)
    calls = _api(assistant_server, key, "GET", f"/tool-calls/?task={task['id']}").json()
    assert [(c["tool"], c["arguments"], c["status"]) for c in calls["results"]] == [
        ("calculator", {"expression": "12*7"}, "success")
    ]


def test_streaming_shows_the_answer_arriving_in_chunks(assistant_sdk, key):
    # Text is sent a few dozen characters at a time; the help text is long enough to split.
    events = assistant_sdk(key, "stream", text="hello, who are you?")

    chunks = [e["artifactUpdate"] for e in events if "artifactUpdate" in e]
    assert len(chunks) > 1
    assert [c.get("append", False) for c in chunks] == [False] + [True] * (len(chunks) - 1)
    assert "rule-based stand-in" in "".join(c["artifact"]["parts"][0]["text"] for c in chunks)
    assert chunks[-1]["lastChunk"] is True
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_fetch_waits_for_approval_and_approving_over_rest_finishes_it(
    assistant_sdk, assistant_server, key
):
    task = assistant_sdk(key, "send", text="fetch http://example.com")["task"]

    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    pending = _pending(task)
    assert pending["tool"] == "http_request"
    assert pending["arguments"]["url"] == "http://example.com"

    waiting = _api(assistant_server, key, "GET", "/tool-calls/?status=awaiting-approval").json()
    assert pending["toolCallId"] in [c["id"] for c in waiting["results"]]
    decided = _api(
        assistant_server,
        key,
        "POST",
        f"/tool-calls/{pending['toolCallId']}/approve/",
        json={"reason": "looks harmless"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["decision"] == "approved"

    # With no network the fetch itself fails; either way the model answers and the task ends.
    done = assistant_server.wait_for_state(
        key, task["id"], {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED"}, timeout=60
    )
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    fetched = assistant_sdk(key, "get", taskId=task["id"])
    assert fetched["status"]["state"] == "TASK_STATE_COMPLETED"
    assert "example.com" in _answer(fetched)
    (call,) = _api(assistant_server, key, "GET", f"/tool-calls/?task={task['id']}").json()[
        "results"
    ]
    assert call["status"] in ("success", "error")
    assert call["decision_reason"] == "looks harmless"


def test_another_user_cannot_approve(assistant_sdk, assistant_server, key):
    task = assistant_sdk(key, "send", text="fetch http://example.com/other")["task"]
    pending = _pending(task)
    stranger = assistant_server.create_key("mallory")

    refused = _api(
        assistant_server, stranger, "POST", f"/tool-calls/{pending['toolCallId']}/approve/"
    )

    assert refused.status_code == 404
    assert assistant_server.rpc(key, "GetTask", {"id": task["id"]})["result"]["status"][
        "state"
    ] == ("TASK_STATE_INPUT_REQUIRED")
